"""The error catalogue: each code defined once, every raise site uses a catalogued code with
its class and template fields, errors survive a process boundary, and the exit-code table is
the one the CLI help and the README state."""

from __future__ import annotations

import ast
import importlib
import pickle
import re
from pathlib import Path

import pytest

import engine
from engine import errors
from engine.errors import CATALOGUE, ErrorRecord, fail

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "engine"
CODE = re.compile(r"E\d{3}")
CLASSES = {cls.__name__ for cls in vars(errors).values()
           if isinstance(cls, type) and issubclass(cls, errors.EngineError)}
#: Field names ``fail`` takes besides the template's.
ERROR_FIELDS = {"shard", "row", "reason"}
#: Functions that pass their ``code`` argument on to ``fail`` (``card.model_error``): their
#: callers' code literals are checked instead.
HELPERS = {"model_error"}


def defined_codes(source: str) -> list[str]:
    """Every code the catalogue source defines, read from the text: ``Entry("E001", ...)``
    calls and dict-literal keys, so that neither a duplicate tuple entry nor a key that a
    later one overrides can hide."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Entry":
            found.append(node.args[0].value)
        elif isinstance(node, ast.Dict):
            found += [k.value for k in node.keys if isinstance(k, ast.Constant)
                      and isinstance(k.value, str) and CODE.fullmatch(k.value)]
    return found


def duplicates(codes: list[str]) -> list[str]:
    return sorted({c for c in codes if codes.count(c) > 1})


def test_catalogue_defines_each_code_once():
    codes = defined_codes((ENGINE / "errors.py").read_text(encoding="utf-8"))
    assert codes == [e.code for e in CATALOGUE]
    assert not duplicates(codes)
    assert all(CODE.fullmatch(c) for c in codes)


def test_duplicate_check_sees_a_dict_override():
    """The check can fail: a dict literal keeps only the last of two equal keys."""
    source = 'X = (Entry("E001", A, "a"), Entry("E002", A, "b"))\nY = {"E003": 1, "E003": 2}\n'
    assert duplicates(defined_codes(source)) == ["E003"]
    assert duplicates(defined_codes(source + 'Z = Entry("E001", B, "c")\n')) == ["E001", "E003"]


def test_import_refuses_a_duplicate_code(tmp_path, monkeypatch):
    source = (ENGINE / "errors.py").read_text(encoding="utf-8")
    doubled = source.replace('    Entry("E002",', '    Entry("E001", UsageError, "again"),\n'
                             '    Entry("E002",', 1)
    assert doubled != source
    (tmp_path / "errors_copy.py").write_text(doubled, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(RuntimeError, match="defines a code twice"):
        importlib.import_module("errors_copy")


def test_codes_sit_in_their_documented_ranges():
    ranges = {
        "E00": {errors.UsageError},
        "E01": {errors.PatternError, errors.MatcherStateError},
        "E02": {errors.SchemaError, errors.TextError},
        "E03": {errors.ModelError},
        "E04": {errors.ShardError, errors.OutputError},
        "E05": {errors.ConfigError},
        "E06": {errors.RunStateError, errors.EngineError},
    }
    wrong = [e.code for e in CATALOGUE if e.cls not in ranges[e.code[:3]]]
    assert not wrong


def raise_site_problems(path: Path, source: str) -> list[str]:
    """What is wrong with the error raise sites in one file of ``engine/``."""
    problems = []
    tree = ast.parse(source)
    in_helpers = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
                  and f.name in HELPERS for n in ast.walk(f)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and CODE.fullmatch(
                node.value) and node.value not in {e.code for e in CATALOGUE}:
            problems.append(f"{path}:{node.lineno}: {node.value} is not catalogued")
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        where = f"{path}:{node.lineno}"
        if name in CLASSES:
            problems.append(f"{where}: {name}(...) built directly; use errors.fail(code, ...)")
        elif name == "fail" and isinstance(node.func, ast.Name) and id(node) not in in_helpers:
            code = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) \
                else None
            if code not in {e.code for e in CATALOGUE}:
                problems.append(f"{where}: fail() needs a catalogued code literal, got {code}")
                continue
            entry = errors.entry_for(code)
            given = {k.arg for k in node.keywords}
            if None in given:  # **fields: checked when it runs
                continue
            if "reason" in given and not issubclass(entry.cls, errors.ShardError):
                problems.append(f"{where}: {code} is a {entry.cls.__name__}; no reason")
            filled = (given - ERROR_FIELDS) | (given & {"shard", "row"} & entry.fields)
            if filled != entry.fields:
                problems.append(f"{where}: {code} takes {sorted(entry.fields)}, "
                                f"got {sorted(given)}")
        elif name in {"fail", "model_error"}:  # card.fail(message, code): a model-dir code
            codes = [a.value for a in node.args[1:] if isinstance(a, ast.Constant)
                     and isinstance(a.value, str) and CODE.fullmatch(a.value)]
            for code in codes:
                entry = errors.entry_for(code)
                if entry.cls is not errors.ModelError or entry.fields != {"directory",
                                                                         "problem"}:
                    problems.append(f"{where}: {code} is not a model-directory ModelError")
    return problems


def test_every_raise_site_in_engine_uses_the_catalogue():
    problems = []
    for path in sorted(ENGINE.rglob("*.py")):
        if path.name != "errors.py":
            problems += raise_site_problems(path.relative_to(ROOT),
                                            path.read_text(encoding="utf-8"))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("source, problem", [
    ('raise ModelError("x", code="E032")', "built directly"),
    ('raise errors.ShardError("x", code="E043")', "built directly"),
    ('raise fail("E999")', "not catalogued"),
    ('raise fail("E041", shard=u, column=c)', "takes ['column', 'columns', 'shard']"),
    ('raise fail("E041", column=c, columns=x, reason="schema")', "takes"),
    ('raise fail("E024", column=c, columns=x, reason="schema")', "no reason"),
    ('raise card.fail("m", "E041")', "not a model-directory ModelError"),
    ("def f(code):\n    raise fail(code, problem=1)", "needs a catalogued code literal"),
])
def test_raise_site_check_finds_misuse(source, problem):
    found = raise_site_problems(Path("x.py"), source)
    assert any(problem in f for f in found), found


def sample(entry: errors.Entry) -> errors.EngineError:
    """The entry's error with every template field filled with its own name."""
    fields = {f: f"<{f}>" for f in entry.fields - {"shard", "row"}}
    return fail(entry.code, shard="s.parquet", row=7, **fields)


@pytest.mark.parametrize("entry", CATALOGUE, ids=lambda e: e.code)
def test_every_template_fills_and_names_its_fields(entry):
    err = sample(entry)
    assert type(err) is entry.cls
    assert err.code == entry.code and (err.shard, err.row) == ("s.parquet", 7)
    assert str(err) == f"[{entry.code}] {err.message}"
    for name in entry.fields - {"shard", "row"}:
        assert f"<{name}>" in err.message
    if "shard" in entry.fields:
        assert "'s.parquet'" in err.message


@pytest.mark.parametrize("entry", CATALOGUE, ids=lambda e: e.code)
def test_errors_cross_a_process_boundary_unchanged(entry):
    err = sample(entry)
    for back in (ErrorRecord.of(err).rebuild(), pickle.loads(pickle.dumps(err))):
        assert type(back) is type(err)
        assert (back.code, str(back), back.shard, back.row) == (
            err.code, str(err), err.shard, err.row)


def test_a_template_names_the_shard_and_row_and_says_what_to_do():
    err = fail("E042", shard="a/b.parquet", reason="schema", column="text", type="int64")
    assert str(err) == ("[E042] shard 'a/b.parquet': column 'text' is int64; expected a "
                        "string column (--text-column?)")
    assert isinstance(err, engine.ShardError) and isinstance(err, OSError)
    assert (err.shard, err.reason) == ("a/b.parquet", "schema")
    text = fail("E026", row=12, count=3)
    assert isinstance(text, engine.TextError) and text.row == 12
    assert str(text).startswith("[E026] row 12: text is not valid UTF-8 (3 such rows")


def test_read_and_write_errors_are_different_classes():
    read = fail("E046", shard="in.parquet", reason="not_found", problem="file not found")
    write = fail("E047", shard="in.parquet", path="kept/in.parquet", root="/out",
                 problem="No space left on device")
    assert isinstance(read, engine.ShardError) and not isinstance(read, engine.OutputError)
    assert isinstance(write, engine.OutputError) and not isinstance(write, engine.ShardError)
    assert isinstance(write, OSError)
    assert "free space" in str(write) and "'kept/in.parquet'" in str(write)


def test_fail_refuses_wrong_fields_and_reasons():
    with pytest.raises(TypeError, match=r"E041 takes the fields \['column', 'columns', "):
        fail("E041", shard="s", column="text")
    with pytest.raises(TypeError, match="E041 takes"):
        fail("E041", column="text", columns=[])  # the template names the shard
    with pytest.raises(TypeError, match="E002 takes"):
        fail("E002", inputs=["x"], extra=1)
    with pytest.raises(TypeError, match="takes no reason"):
        fail("E002", inputs=["x"], reason="not_found")
    with pytest.raises(KeyError, match="E999"):
        fail("E999")


def test_a_code_is_raised_only_as_its_catalogued_class():
    with pytest.raises(TypeError, match="E021 is a SchemaError, not a ModelError"):
        errors.ModelError("x", code="E021")
    with pytest.raises(TypeError, match="E021 is a SchemaError"):
        ErrorRecord("ModelError", "E021", "x", None, None).rebuild()


def test_exit_codes_follow_the_nearest_listed_class():
    def code(c, **f):
        return errors.exit_code_for(fail(c, **f))

    assert code("E002", inputs=[]) == 2  # UsageError
    assert code("E016", path="p", problem="x") == 1  # MatcherStateError: not listed
    assert code("E043", shard="s", problem="x") == 3  # ShardError
    assert code("E047", shard="s", path="p", root="r", problem="x") == 1  # OutputError
    assert code("E066", error="x") == 1  # EngineError
    assert [s.code for s in errors.EXIT_CODES] == sorted({s.code for s in errors.EXIT_CODES})


def test_help_epilog_report_and_readme_state_the_exit_code_table():
    from engine.cli import build_parser
    from engine.execution import report

    line = errors.exit_codes_help()
    assert line == ("Exit codes: 0 clean, 1 incomplete (re-run to resume), 2 usage or config "
                    "error, 3 finished with unreadable input, 130/143 interrupted, 141 output "
                    "closed by the reader (| head).")
    parser = build_parser()
    assert parser.epilog == line
    assert line in " ".join(parser.format_help().split())
    readme = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert [x for x in readme if x.startswith("Exit codes:")] == [line]
    statuses = {s.code for s in errors.EXIT_CODES}
    assert report.build([], {}, {}, set(), 1.0, 1)["exit_code"] in statuses
    assert report.build([], {}, {}, set(), 1.0, 1, interrupted=15)["exit_code"] == 143
