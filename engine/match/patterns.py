"""Reading blocklists into one deduplicated, normalised pattern set.

Sources are Python iterables (``str`` or ``(pattern, category[, weight])``) and files:
``.txt`` (one pattern per line, ``#`` comments and blank lines ignored), ``.tsv`` (header
row with ``pattern`` and optional ``category``, ``weight``) and ``.jsonl`` (objects with
the same keys). A file's stem is its default category. Patterns that are equal after
normalisation are merged: their categories are united and the highest weight is kept.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.errors import fail
from engine.match.text_transform import pattern_key

DEFAULT_CATEGORY = "default"


@dataclass(frozen=True)
class PatternLimits:
    """Checked before building so that a bad blocklist fails fast, not out of memory.

    ``dense_bytes`` is not a limit but the share of the automaton given to dense rows
    (the shallow states, where text spends its time): below it every state is dense;
    above it the deeper states are stored as edge lists, ~16 bytes each.
    """

    max_patterns: int = 10_000_000
    max_pattern_bytes: int = 1 << 30
    max_automaton_bytes: int = 8 << 30
    dense_bytes: int = 128 << 20


@dataclass
class PatternSet:
    """Unique normalised patterns with their categories and weights, in first-seen order."""

    keys: list[bytes]
    texts: list[str]
    weights: list[float]
    categories: list[str]
    pattern_categories: list[tuple[int, ...]]


def collect(
    items: Iterable[tuple[str, str, float, str]], steps: tuple[str, ...], lower: bool
) -> PatternSet:
    """Merge ``(pattern, category, weight, where)`` items into a ``PatternSet``.

    Each key is the pattern after the normalisation ``steps`` (and lower-casing). Built
    for a million patterns: parallel lists, and one shared tuple per single category.
    """
    index: dict[bytes, int] = {}
    texts: list[str] = []
    weights: list[float] = []
    cats: list[tuple[int, ...]] = []
    category_ids: dict[str, int] = {}
    alone: list[tuple[int, ...]] = []
    key_of = pattern_key(steps, lower)
    for pattern, category, weight, where in items:
        if not isinstance(pattern, str):
            raise fail("E012", where=where, problem=f"pattern is {type(pattern).__name__}")
        key = key_of(pattern).encode()
        if not key:
            raise fail("E011", where=where)
        if not math.isfinite(weight):
            raise fail("E013", where=where, weight=weight)
        cat = category_ids.get(category)
        if cat is None:
            cat = category_ids[category] = len(alone)
            alone.append((cat,))
        at = index.setdefault(key, len(texts))
        if at == len(texts):
            texts.append(pattern)
            weights.append(weight)
            cats.append(alone[cat])
        else:
            weights[at] = max(weights[at], weight)
            if cat not in cats[at]:
                cats[at] = tuple(sorted((*cats[at], cat)))
    return PatternSet(keys=list(index), texts=texts, weights=weights,
                      categories=list(category_ids), pattern_categories=cats)


def from_iterable(patterns, category: str = DEFAULT_CATEGORY) -> Iterator[tuple]:
    """Items from ``str``, ``(pattern, category[, weight])`` or ``Path`` (a file) values."""
    if isinstance(patterns, Path):
        patterns = [patterns]
    if isinstance(patterns, str | bytes):
        raise fail("E012", where="patterns", problem="expected an iterable, not one string "
                   "(for files pass pathlib.Path objects or use Matcher.from_files)")
    for i, item in enumerate(patterns):
        where = f"pattern #{i}"
        if isinstance(item, Path):
            yield from from_files([item])
        elif isinstance(item, tuple):
            if len(item) not in (2, 3):
                raise fail("E012", where=where, problem=f"a tuple of {len(item)} items")
            weight = _weight(item[2], where) if len(item) == 3 else 1.0
            yield item[0], str(item[1]), weight, where
        else:
            yield item, category, 1.0, where


def from_files(paths: Iterable[str | Path]) -> Iterator[tuple]:
    """Items from blocklist files; each file's stem is its default category."""
    for raw in paths:
        path = Path(raw)
        suffix = path.suffix.lower()
        reader = {".txt": _read_txt, ".tsv": _read_tsv, ".jsonl": _read_jsonl}.get(suffix)
        if reader is None:
            raise fail("E014", where=path, problem=f"unsupported format {suffix!r}; use "
                       ".txt, .tsv or .jsonl")
        yield from reader(path, _lines(path))


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise fail("E014", where=path, problem=f"cannot read it ({err.strerror})") from err
    for number, line in enumerate(raw.splitlines(), start=1):
        try:
            yield number, line.decode("utf-8")
        except UnicodeDecodeError as err:
            raise fail("E014", where=f"{path}:{number}",
                       problem=f"not valid UTF-8 ({err.reason})") from err


def _read_txt(path: Path, lines) -> Iterator[tuple]:
    for number, line in lines:
        pattern = line.strip()
        if pattern and not pattern.startswith("#"):
            yield pattern, path.stem, 1.0, f"{path}:{number}"


def _read_tsv(path: Path, lines) -> Iterator[tuple]:
    header = None
    for number, line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if header is None:
            header = [c.strip() for c in cells]
            if "pattern" not in header:
                raise fail("E014", where=f"{path}:{number}",
                           problem="header has no 'pattern' column")
            continue
        row = dict(zip(header, cells, strict=False))
        where = f"{path}:{number}"
        yield (
            row.get("pattern", "").strip(),
            row.get("category", "").strip() or path.stem,
            _weight(row["weight"], where) if row.get("weight", "").strip() else 1.0,
            where,
        )


def _read_jsonl(path: Path, lines) -> Iterator[tuple]:
    for number, line in lines:
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise fail("E014", where=where, problem=f"invalid JSON ({err.msg})") from err
        if not isinstance(obj, dict) or "pattern" not in obj:
            raise fail("E014", where=where, problem="expected an object with a 'pattern' key")
        category = obj.get("category") or path.stem
        weight = _weight(obj["weight"], where) if "weight" in obj else 1.0
        yield obj["pattern"], str(category), weight, where


def _weight(value, where: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as err:
        raise fail("E013", where=where, weight=value) from err
