"""What a plain ``pip install filter-engine`` gives a user: the shipped files (``models``
command, ``-c default``), a light ``--help``, every imported package declared, and optional
packages that fail by naming their extra.

The sdist -> clean venv -> run path itself is exercised by ``.ci/check-sdist``.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from engine import defaults
from engine.cli import main
from engine.commands.models import blocklist_info
from engine.errors import UsageError
from engine.io.remote import url_to_fs

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("numpy", "pyarrow", "onnx", "onnxruntime")


def _pattern_count(path: Path) -> int:
    """Terms in a blocklist file, as the matcher reads them."""
    from engine.match.patterns import from_files

    return sum(1 for _ in from_files([path]))


def test_models_json_lists_every_shipped_file(capsys):
    assert main(["models", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    shipped = defaults.models_dir()
    assert info["path"] == str(shipped)
    lists = {b["category"]: b for b in info["blocklists"]}
    assert set(lists) == {p.stem for p in defaults.blocklist_files()} == {
        "chemical", "biological", "nuclear_radiological", "cyber_generic", "cyber_malware",
        "cyber_tool", "cyber_group", "cyber_technique"}
    for path in defaults.blocklist_files():
        assert lists[path.stem]["terms"] == _pattern_count(path)
        assert lists[path.stem]["source"], f"{path.name}: no source found in its header"
    models = {m["directory"]: m for m in info["models"]}
    assert set(models) == {"spam-hashed", "profanity", "hazard-cyber"}
    spam = models["spam-hashed"]
    assert spam["kind"] == "hashed-ngrams" and spam["labels"] == ["ham", "spam"]
    assert spam["threshold"] == 0.5 and "roc_auc" in spam["quality"]["held_out"]
    assert Path(info["default_filter"]) == defaults.default_filter_path()
    assert Path(info["sample"]) == defaults.sample_path()


def test_models_text_shows_sources_quality_and_default(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "malware" in out and "MITRE ATT&CK" in out
    assert "held_out.at_threshold: threshold 0.5, precision" in out
    assert "threading" not in out  # curves (lists) are left out
    assert f"default filter (-c default): {defaults.default_filter_path()}" in out


def test_models_path_follows_the_shipped_directory(tmp_path, monkeypatch, capsys):
    copy = tmp_path / "elsewhere"
    shutil.copytree(defaults.models_dir(), copy)
    monkeypatch.setenv("FILTER_ENGINE_MODELS", str(copy))
    assert main(["models", "--path"]) == 0
    assert capsys.readouterr().out == f"{copy}\n"
    assert defaults.resolve_config_name("default") == copy / "default-filter.toml"


def test_blocklist_source_on_the_line_after_a_bare_sources_header(tmp_path):
    path = tmp_path / "demo.txt"
    path.write_text("# Demo terms.\n#\n# Sources:\n#   - A public list (URL: x)\n"
                    "# Licence: none\nfoo\n\n# a comment\nbar baz\n", encoding="utf-8")
    assert blocklist_info(path) == {"category": "demo", "file": "demo.txt", "terms": 2,
                                    "title": "Demo terms.", "source": "A public list (URL: x)"}


def test_resolve_config_name_maps_default_and_keeps_paths():
    shipped = defaults.default_filter_path()
    assert shipped.is_file() and shipped.parent == defaults.models_dir()
    assert defaults.resolve_config_name(None) == shipped
    assert defaults.resolve_config_name("default") == shipped
    assert defaults.resolve_config_name("filter.toml") == Path("filter.toml")
    assert defaults.resolve_config_name("./default") == Path("default")
    assert defaults.resolve_config_name(Path("default")) == Path("default")


def test_dash_c_default_is_the_shipped_filter_from_any_directory(tmp_path, monkeypatch,
                                                                 capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["explain", "-c", "default", "Emotet and TrickBot", "hello world"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("REMOVE (hazard_terms)") and "KEEP  'hello world'" in lines


def test_default_filter_is_about_hazards_only():
    """Issue 10: no spam or profanity model in the default; every rule reads the hazard
    blocklist or the hazard classifier, which runs only on rows the blocklist escalated;
    the lists are matched robustly enough to see through case and width."""
    from engine.filter.spec import FilterSpec

    spec = FilterSpec.default()
    assert [(c.name, Path(c.model).name) for c in spec.classifiers] == [
        ("hazard_cyber", "hazard-cyber")]
    assert spec.classifiers[0].run_if.startswith("hazard.distinct == 2")
    assert [b.name for b in spec.blocklists] == ["hazard"]
    assert all(rule.startswith(("hazard.", "hazard_cyber.")) for _, rule in spec.drop_if)
    assert spec.blocklists[0].normalize == "robust"


@pytest.mark.parametrize(("text", "removed"), [
    ("Sarin is a nerve agent.", True),  # issue 10: was kept (one listed name)
    ("Mr. Sarin went home.", False),  # a surname alone
    ("The Regin malware.", True),
    ("Regin, a figure of Norse myth.", False),
    ("Nitrogen mustard is a chemotherapy drug.", False),
    ("They built a dirty bomb, a radiological weapon.", True),
    ("Hiroshima was destroyed by an atomic bomb.", False),  # history: needs company
    ("Weapons-grade uranium was seized.", True),
    ("LockBit 3.0 encrypted the files.", True),
    ("An exploit lets a remote attacker run arbitrary code on a vulnerable server.", True),
    ("Botox injections use botulinum toxin.", False),
    ("import zlib; zlib.compress(data)", False),
    ("地下鉄 サリン 事件", True),
    ("Il a utilisé du gaz moutarde.", True),
    ("ＳＡＲＩＮ ＮＥＲＶＥ ＡＧＥＮＴ", True),  # full width
    ("Ѕarin, a nerve-agent.", True),  # Cyrillic look-alike, hyphen between words
    ("s\u200barin is a nerve agent", True),  # zero-width space inside a word
    ("Keyloggers and botnets", True),  # plurals of listed terms
    ("An atomic bomb and a nuclear explosion.", True),  # two CBRN terms in company
])
def test_default_filter_decides_the_issue_examples(text, removed, capsys):
    assert main(["explain", "-c", "default", text]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("REMOVE" if removed else "KEEP"), first


def test_quality_filter_example_uses_the_shipped_models(capsys):
    """The spam and profanity models moved from the default filter to an example."""
    from engine.filter.spec import FilterSpec

    example = ROOT / "examples" / "quality-filter" / "filter.toml"
    spec = FilterSpec.from_toml(example)
    assert {c.name for c in spec.classifiers} == {"spam", "profanity"}
    assert all(Path(c.model).parent == defaults.models_dir() for c in spec.classifiers)
    assert main(["explain", "-c", str(example), "hello there",
                 "WINNER!! You have won a £1000 cash prize. Call 09061701461 to claim"]) == 0
    out = capsys.readouterr().out
    assert "KEEP  'hello there'" in out and "REMOVE (spam)  'WINNER!!" in out


def test_help_imports_no_heavy_module():
    """``--help`` of the CLI and of every command is instant: nothing heavy is imported."""
    code = f"""
import contextlib, io, sys
from engine.cli import build_parser, main
commands = build_parser()._subparsers._group_actions[0].choices
for argv in [["--help"], *[[name, "--help"] for name in commands]]:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        main(argv)
print(len(commands), sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r})))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    count, heavy = done.stdout.split(" ", 1)
    assert int(count) >= 8 and heavy.strip() == "[]", done.stdout


def _third_party_imports() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "engine").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "engine":
                    found.setdefault(top, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def _requirement_name(requirement: str) -> str:
    for stop in "<>=!~[; ":
        requirement = requirement.split(stop, 1)[0]
    return requirement.lower().replace("_", "-")


def test_every_imported_package_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {_requirement_name(r) for r in project["dependencies"]}
    for name, extra in project["optional-dependencies"].items():
        if name != "test":  # a user never installs the test extra to use a feature
            declared |= {_requirement_name(r) for r in extra}
    dists = packages_distributions()
    missing = {
        module: where for module, where in _third_party_imports().items()
        if not {d.lower().replace("_", "-") for d in dists.get(module, [module])} & declared
    }
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
    assert not any("tomli" in r for r in project["dependencies"])


def test_object_store_without_fsspec_names_the_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "fsspec", None)
    with pytest.raises(UsageError, match=r"filter-engine\[s3\]"):
        url_to_fs("s3://bucket/data.parquet")
    code = main(["run", "s3://bucket/data/*.parquet", "-o", str(tmp_path / "out")])
    assert code == 2
    assert "pip install 'filter-engine[s3]'" in capsys.readouterr().err


def test_local_paths_never_import_fsspec():
    code = ("import sys; sys.modules['fsspec'] = None\n"
            "from engine.io.shards import discover\n"
            f"print(len(discover([{str(defaults.sample_path())!r}])))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"


def test_output_closed_by_the_reader_ends_quietly_with_141():
    """`filter-engine models | head -0`: no BrokenPipeError traceback, exit 128 + SIGPIPE."""
    proc = subprocess.Popen([sys.executable, "-m", "engine", "models", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before anything is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err
