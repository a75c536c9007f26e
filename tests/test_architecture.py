"""The package's layers: imports point one way, and nothing in ``engine/`` reaches outside it.

commands -> execution -> filter -> classify/match -> io -> errors (``train``, ``bench`` and
``quality`` sit beside ``execution``; ``quality`` may use ``train``'s metrics and plots;
``integrations`` (datasets, datatrove, Arrow streams) sits on ``execution``, and ``ray`` on
both, with ``commands`` above it for ``run --executor ray``).
Every import in ``engine/`` is read from the source (function-level imports too), so a lazy
import cannot hide a back edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parent.parent / "engine"

LEAVES = {"errors", "_version", "defaults"}
#: What each part of the package may import besides itself (and the leaves above).
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "_version": set(),
    "defaults": {"errors"},
    "io": set(),
    "match": {"io", "_matcher"},
    "classify": {"io", "_featurize"},
    "train": {"classify", "io", "_featurize"},
    "filter": {"match", "classify", "io"},
    "execution": {"filter", "match", "classify", "io"},
    "bench": {"execution", "filter", "match", "classify", "io"},
    "quality": {"filter", "match", "classify", "train", "io"},
    "integrations": {"execution", "filter", "match", "classify", "io"},
    "ray": {"integrations", "execution", "filter", "match", "classify", "io"},
    "commands": {"bench", "execution", "filter", "match", "classify", "train", "quality", "io",
                 "ray"},
    "cli": {"commands"},
    "__main__": {"cli"},
    "__init__": set(),
}


def _part(path: Path) -> str:
    rel = path.relative_to(ENGINE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every absolute module name imported anywhere in the file, with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            if node.module == "engine":
                found += [(node.lineno, f"engine.{a.name}") for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:
            found.append((node.lineno, "<relative>"))
    return found


def _edges():
    for path in sorted(ENGINE.rglob("*.py")):
        for line, module in _imports(path):
            yield path, line, module


def test_every_part_of_engine_is_known():
    parts = {_part(p) for p in ENGINE.rglob("*.py")}
    assert parts <= set(ALLOWED), f"add {parts - set(ALLOWED)} to the layer map"


def test_imports_point_one_way():
    wrong = []
    for path, line, module in _edges():
        if module == "<relative>":
            wrong.append(f"{path.relative_to(ENGINE)}:{line}: relative import")
            continue
        if not module.startswith("engine.") or module == "engine":
            continue
        target = module.split(".")[1]
        if target[:1].isupper():  # a public name from engine/__init__
            target = "__init__"
        part = _part(path)
        if target == part or target in LEAVES or target in ALLOWED[part]:
            continue
        if target == "__init__" and part in {"commands", "cli", "__main__"}:
            continue
        wrong.append(f"{path.relative_to(ENGINE)}:{line}: {part} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_nothing_in_engine_imports_benchmarks_or_tests():
    wrong = [
        f"{path.relative_to(ENGINE)}:{line}: {module}"
        for path, line, module in _edges()
        if module.split(".")[0] in {"benchmarks", "tests", "peers", "corpus"}
    ]
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_a_back_edge(tmp_path):
    """The check itself can fail: a function-level import of a higher layer is found."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from engine.execution.runner import run\n")
    assert (2, "engine.execution.runner") in _imports(bad)
