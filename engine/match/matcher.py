"""``engine.Matcher``: a compiled blocklist matcher over Arrow string columns.

Semantics (the tests' oracle implements exactly these):

* every occurrence counts, overlapping ones too: each (pattern, position) pair once;
* ``ignore_case``: the same as matching ``pattern.lower()`` in ``text.lower()``;
* ``whole_words``: an occurrence counts only where the characters just before and after
  it (in the compared text) are a string edge or not ``str.isalnum()``;
* ``normalize="nfkc"``: text and patterns are compared after NFKC (then lower-casing);
  spans still point into the original text.

The automaton is built once, then frozen; it can be saved to a versioned binary file that
workers memory-map. Results are NumPy arrays, never a Python object per match.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from engine import _matcher
from engine._version import __version__
from engine.errors import UsageError, fail
from engine.io.arrow_buffers import TextChunk, check_text
from engine.match import file_format, patterns
from engine.match.patterns import PatternLimits, PatternSet
from engine.match.text_transform import transform_with_map
from engine.match.unicode_tables import kernel_tables, lowering_needed_bitmap

ROW_OK, ROW_NULL, ROW_INVALID_UTF8 = 0, 1, 2
_KERNEL = _matcher.ROW_STATUS
_FLAGS = _matcher.FLAGS
_NORMALIZE = (None, "nfkc")


@dataclass(frozen=True)
class MatchResult:
    """Per-row results of ``Matcher.scan``.

    Attributes:
        total: ``int32[n]`` occurrences per row.
        distinct: ``int32[n]`` distinct patterns per row.
        by_category: ``int32[n, n_categories]`` occurrences per row and category (a
            pattern in two categories counts in both).
        weight: ``float64[n]`` summed weights of the occurrences.
        status: ``uint8[n]``: ``ROW_OK``, ``ROW_NULL`` or ``ROW_INVALID_UTF8`` (rows not
            scanned, all counts 0).
        categories: category names, the columns of ``by_category``.
        spans: every occurrence (as ``Matcher.spans`` gives them) when the scan was asked
            for them (``scan(texts, with_spans=True)``), else None.
    """

    total: np.ndarray
    distinct: np.ndarray
    by_category: np.ndarray
    weight: np.ndarray
    status: np.ndarray
    categories: list[str]
    spans: SpanResult | None = None

    def category(self, name: str) -> np.ndarray:
        """The ``by_category`` column of one category."""
        try:
            return self.by_category[:, self.categories.index(name)]
        except ValueError:
            raise fail("E006", name=name, categories=self.categories) from None


@dataclass(frozen=True)
class SpanResult:
    """All occurrences as parallel arrays, sorted by row, start, end, pattern id.

    ``start``/``end`` are byte offsets into the row's original UTF-8 text.
    """

    row: np.ndarray
    start: np.ndarray
    end: np.ndarray
    pattern_id: np.ndarray

    def __len__(self) -> int:
        return len(self.row)


class Match(NamedTuple):
    """One occurrence found by ``Matcher.find`` (character offsets into the text)."""

    start: int
    end: int
    pattern: str
    categories: tuple[str, ...]


@dataclass(frozen=True)
class MatcherOptions:
    """How a matcher compares text with its patterns; fixed when it is built.

    Attributes:
        ignore_case: compare ``str.lower()`` of text and patterns.
        whole_words: count only occurrences not inside a longer alphanumeric run.
        normalize: ``None`` or ``"nfkc"``.
    """

    ignore_case: bool = True
    whole_words: bool = True
    normalize: str | None = None

    @classmethod
    def checked(cls, ignore_case: object, whole_words: object,
                normalize: object) -> MatcherOptions:
        """Options from user (or file header) values; ``UsageError`` for a bad normalize."""
        if normalize not in _NORMALIZE:
            raise fail("E007", value=normalize)
        return cls(bool(ignore_case), bool(whole_words), None if normalize is None else "nfkc")


class Matcher:
    """Compiled multi-pattern matcher (Aho-Corasick as a dense DFA over byte classes).

    Built once, then frozen: the options, patterns and categories are read-only
    properties (assigning one raises ``AttributeError``). Every way to get a matcher
    (this constructor, ``from_files``, ``load``, unpickling) ends in the same internal
    set-up from a header and the automaton's arrays, so they all give the same object.

    Args:
        patterns: iterable of ``str``, ``(pattern, category[, weight])`` tuples, or
            ``pathlib.Path`` blocklist files (``.txt``/``.tsv``/``.jsonl``; see
            ``Matcher.from_files``).
        ignore_case: compare ``str.lower()`` of text and patterns.
        whole_words: count only occurrences not inside a longer alphanumeric run.
        normalize: ``None`` or ``"nfkc"``.
        category: the category of plain ``str`` patterns.
        limits: size limits checked before building (``PatternLimits``).

    Raises:
        PatternError: empty or malformed patterns, or a blocklist over the limits.
        UsageError: ``normalize`` is not None or ``"nfkc"``.
    """

    __slots__ = ("_options", "_header", "_arrays", "_categories", "_patterns",
                 "_lowering_needed", "_kernel", "_path")

    _options: MatcherOptions
    _header: dict[str, Any]
    _arrays: dict[str, np.ndarray]
    _categories: tuple[str, ...]
    _patterns: tuple[str, ...] | None
    _lowering_needed: np.ndarray | None
    _kernel: _matcher.Automaton
    _path: Path | None

    def __init__(self, patterns_: Iterable[object] = (), ignore_case: bool = True,
                 whole_words: bool = True, normalize: str | None = None, *,
                 category: str = patterns.DEFAULT_CATEGORY,
                 limits: PatternLimits | None = None):
        options = MatcherOptions.checked(ignore_case, whole_words, normalize)
        items = patterns.from_iterable(patterns_, category)
        self._setup(*_compile(items, options, limits or PatternLimits()), path=None)

    @classmethod
    def from_files(cls, paths: Iterable[str | Path] | str | Path, ignore_case: bool = True,
                   whole_words: bool = True, normalize: str | None = None, *,
                   limits: PatternLimits | None = None) -> Matcher:
        """Build from ``.txt``/``.tsv``/``.jsonl`` blocklists (file stem = category)."""
        options = MatcherOptions.checked(ignore_case, whole_words, normalize)
        files = [paths] if isinstance(paths, str | Path) else list(paths)
        items = patterns.from_files(files)
        return cls._create(*_compile(items, options, limits or PatternLimits()), path=None)

    @classmethod
    def load(cls, path: str | Path) -> Matcher:
        """Memory-map a file written by ``save``; pages are shared between processes."""
        header, arrays = file_format.read(path)
        return cls._create(header, arrays, path=Path(path).resolve())

    def save(self, path: str | Path) -> Path:
        """Write the frozen automaton to ``path`` (versioned binary, memory-mappable)."""
        path = Path(path)
        header = {k: v for k, v in self._header.items() if k not in ("format_version", "sections")}
        file_format.write(path, header, self._arrays)
        return path

    def __reduce__(self) -> tuple[Any, ...]:
        """Send a loaded matcher as its path (workers map the same file), else as bytes."""
        if self._path is not None:
            return (Matcher.load, (str(self._path),))
        return (_from_bytes, (self._header, {k: np.asarray(v) for k, v in self._arrays.items()}))

    # ------------------------------------------------------------------ the one set-up

    @classmethod
    def _create(cls, header: dict[str, Any], arrays: dict[str, np.ndarray], *,
                path: Path | None) -> Matcher:
        """A matcher from a header and arrays, without ``__init__``'s build."""
        self = cls.__new__(cls)
        self._setup(header, arrays, path=path)
        return self

    def _setup(self, header: dict[str, Any], arrays: dict[str, np.ndarray], *,
               path: Path | None) -> None:
        """The only place a matcher's state is set; every construction path ends here.

        ``header`` and ``arrays`` are what ``_compile`` makes and ``file_format`` stores;
        ``path`` is the saved file the arrays are mapped from (pickles travel as it).
        """
        try:
            options = MatcherOptions.checked(header["ignore_case"], header["whole_words"],
                                             header["normalize"])
            categories = tuple(str(c) for c in header["categories"])
        except (KeyError, TypeError, UsageError) as err:
            raise fail("E018", path=path or "matcher", problem=f"header: {err}") from err
        self._options = options
        self._header = header
        self._arrays = arrays
        self._categories = categories
        self._patterns = None
        self._path = path
        self._lowering_needed = (
            lowering_needed_bitmap(np.asarray(arrays["classes"]) != 0)
            if options.ignore_case else None)
        kernel_arrays = {k: arrays[k] for k in (
            "table", "classes", "o_pat", "o_link", "o_total", "pat_len", "weight",
            "cat_start", "cat_ids")}
        tables = kernel_tables()
        self._kernel = _matcher.Automaton(
            kernel_arrays, len(categories), tables["alnum"],
            tuple(tables[name] for name in (
                "lower_pages", "lower_entries", "lower_pool", "cased", "ignorable")))

    # ------------------------------------------------------------------ introspection

    @property
    def options(self) -> MatcherOptions:
        """The matching options (frozen)."""
        return self._options

    @property
    def ignore_case(self) -> bool:
        """Text and patterns are compared after ``str.lower()``."""
        return self._options.ignore_case

    @property
    def whole_words(self) -> bool:
        """Occurrences inside a longer alphanumeric run do not count."""
        return self._options.whole_words

    @property
    def normalize(self) -> str | None:
        """``None`` or ``"nfkc"``."""
        return self._options.normalize

    @property
    def categories(self) -> list[str]:
        """Category names, the columns of ``MatchResult.by_category`` (a copy)."""
        return list(self._categories)

    @property
    def patterns(self) -> list[str]:
        """The patterns as given (first spelling of each merged duplicate), by id (a copy)."""
        return list(self._pattern_texts())

    def _pattern_texts(self) -> tuple[str, ...]:
        if self._patterns is None:
            data = self._arrays["text_data"].tobytes()
            offs = self._arrays["text_offsets"].tolist()
            self._patterns = tuple(data[offs[i]:offs[i + 1]].decode()
                                   for i in range(len(offs) - 1))
        return self._patterns

    @property
    def n_patterns(self) -> int:
        """How many distinct patterns the automaton holds."""
        return int(self._header["n_patterns"])

    def pattern_categories(self, pattern_id: int) -> tuple[str, ...]:
        """Category names of one pattern."""
        start, end = self._arrays["cat_start"][pattern_id : pattern_id + 2]
        return tuple(self._categories[c] for c in self._arrays["cat_ids"][start:end])

    @property
    def automaton_bytes(self) -> int:
        """Size of the transition table (the bulk of memory and of the saved file)."""
        return int(self._arrays["table"].nbytes)

    def __repr__(self) -> str:
        return (f"Matcher({self.n_patterns} patterns, {len(self._categories)} categories, "
                f"ignore_case={self.ignore_case}, whole_words={self.whole_words}, "
                f"normalize={self.normalize!r})")

    # ------------------------------------------------------------------ matching

    def count(self, texts: object) -> np.ndarray:
        """Occurrences per row as ``int32[n]``; null rows give 0.

        Args:
            texts: a pyarrow string column (``string``, ``large_string``, ``string_view``
                or dictionary-encoded; Array or ChunkedArray), a ``CheckedText``, or a
                list of ``str`` (None for nulls).

        Raises:
            TextError: a row is not valid UTF-8 (use ``scan`` to get a per-row status).
        """
        return self._run(texts, detail=False, spans=False, strict=True)[0].total

    def scan(self, texts: object, *, with_spans: bool = False) -> MatchResult:
        """Per-row totals, distinct patterns, per-category counts, weights and status.

        Never raises for bad rows: nulls and invalid UTF-8 are reported in ``status``.

        Args:
            texts: as for ``count``.
            with_spans: also return every occurrence (``result.spans``, as ``spans()``
                gives them) from the same pass over the text.
        """
        result, found = self._run(texts, detail=True, spans=with_spans, strict=False)
        return replace(result, spans=found) if with_spans else result

    def spans(self, texts: object) -> SpanResult:
        """Every occurrence as ``(row, start, end, pattern_id)`` arrays (byte offsets)."""
        found = self._run(texts, detail=False, spans=True, strict=True)[1]
        assert found is not None
        return found

    def find(self, text: str) -> list[Match]:
        """Occurrences in one string, with character offsets (``text[start:end]``)."""
        if not isinstance(text, str):
            raise fail("E004", got=type(text).__name__)
        found = self.spans([text])
        char_at = _byte_to_char_index(text)
        names = self._pattern_texts()
        return [
            Match(char_at[s], char_at[e], names[p], self.pattern_categories(p))
            for s, e, p in zip(found.start.tolist(), found.end.tolist(),
                               found.pattern_id.tolist(), strict=True)
        ]

    def _run(self, texts: object, detail: bool, spans: bool,
             strict: bool) -> tuple[MatchResult, SpanResult | None]:
        # A CheckedText comes back as it is: its type, offsets and (when it was validated)
        # UTF-8 are not checked again. Otherwise the kernel's row classification is the
        # one UTF-8 check.
        text = check_text(texts, utf8=False)
        n = len(text)
        n_cat = len(self._categories)
        total = np.zeros(n, np.int32)
        distinct = np.zeros(n if detail else 0, np.int32)
        by_cat = np.zeros((n if detail else 0, n_cat), np.int32)
        weight = np.zeros(n if detail else 0, np.float64)
        status = np.zeros(n, np.uint8)
        flags = (
            (_FLAGS["whole_words"] if self.whole_words else 0)
            | (_FLAGS["detail"] if detail else 0)
            | (_FLAGS["spans"] if spans else 0)
            | (_FLAGS["transform"] if self.ignore_case else 0)
        )
        parts: list[_Spans] = []
        for chunk in text.chunks:
            lo, hi = chunk.row_start, chunk.row_start + chunk.length
            known = None if text.invalid is None else text.invalid[lo:hi]
            parts += self._scan_chunk(
                chunk, known, flags, strict, total[lo:hi],
                distinct[lo:hi] if detail else distinct,
                by_cat[lo:hi] if detail else by_cat, weight[lo:hi] if detail else weight,
                status[lo:hi])
        result = MatchResult(total, distinct, by_cat, weight, status, list(self._categories))
        return result, (_merge_spans(parts) if spans else None)

    def _scan_chunk(self, chunk: TextChunk, known_invalid: np.ndarray | None, flags: int,
                    strict: bool, total: np.ndarray, distinct: np.ndarray,
                    by_cat: np.ndarray, weight: np.ndarray,
                    status: np.ndarray) -> list[_Spans]:
        kstatus = np.empty(chunk.length, np.uint8)
        _matcher.classify_rows(chunk.offsets, chunk.data, chunk.valid, kstatus,
                               self._lowering_needed)
        if known_invalid is None:
            invalid = np.flatnonzero(kstatus == _KERNEL["invalid"])
        else:  # checked upstream: those rows are already null here
            invalid = np.flatnonzero(known_invalid)
        if strict and len(invalid):
            row = chunk.row_start + int(invalid[0])
            raise fail("E026", row=row, count=len(invalid))
        if self.normalize == "nfkc":
            self._mark_unnormalized(chunk, kstatus)
        spans = [self._kernel.scan_chunk(
            chunk.offsets, chunk.data, kstatus, flags, chunk.row_start, total, distinct,
            by_cat, weight)]
        for r in np.flatnonzero(kstatus == _KERNEL["slow"]).tolist():
            text = chunk.data[chunk.offsets[r]:chunk.offsets[r + 1]].tobytes().decode()
            fed, map_start, map_end = transform_with_map(
                text, self.normalize == "nfkc", self.ignore_case)
            spans.append(self._kernel.scan_fed(
                fed, map_start, map_end, r, flags, chunk.row_start + r, total, distinct,
                by_cat, weight))
        status[kstatus == _KERNEL["null"]] = ROW_NULL
        status[invalid] = ROW_INVALID_UTF8
        return [s for s in spans if s is not None]

    def _mark_unnormalized(self, chunk: TextChunk, kstatus: np.ndarray) -> None:
        """Send non-ASCII rows that NFKC would change to the exact Python path."""
        unicode_rows = (kstatus == _KERNEL["unicode"]) | (kstatus == _KERNEL["unicode_plain"])
        for r in np.flatnonzero(unicode_rows).tolist():
            text = chunk.data[chunk.offsets[r]:chunk.offsets[r + 1]].tobytes().decode()
            if not unicodedata.is_normalized("NFKC", text):
                kstatus[r] = _KERNEL["slow"]


#: One kernel call's spans: ``(row, start, end, pattern_id)`` arrays.
_Spans = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _from_bytes(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> Matcher:
    """Unpickle a matcher that was sent as its arrays (one not loaded from a file)."""
    try:
        file_format.validate(header, arrays)
    except (KeyError, TypeError, ValueError) as err:
        raise fail("E018", path="pickled matcher", problem=str(err)) from err
    return Matcher._create(header, arrays, path=None)


def _compile(items: Iterable[tuple[str, str, float, str]], options: MatcherOptions,
             limits: PatternLimits) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Build the automaton: the header and arrays ``Matcher._setup`` takes."""
    pset = patterns.collect(items, options.normalize == "nfkc", options.ignore_case)
    if not pset.keys:
        raise fail("E010")
    pat_data = np.frombuffer(b"".join(pset.keys), dtype=np.uint8)
    _check_limits(pset, pat_data, limits)
    pat_offs = np.zeros(len(pset.keys) + 1, dtype=np.int64)
    np.cumsum([len(k) for k in pset.keys], out=pat_offs[1:])
    try:
        order = np.array(sorted(range(len(pset.keys)), key=pset.keys.__getitem__),
                         dtype=np.int64)
        built = _matcher.build_automaton(pat_data, pat_offs, order, options.ignore_case,
                                         limits.max_automaton_bytes)
    except OverflowError as err:
        raise fail("E019", problem=err) from err
    texts = [t.encode() for t in pset.texts]
    text_offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in texts], out=text_offsets[1:])
    cat_counts = [len(c) for c in pset.pattern_categories]
    cat_start = np.zeros(len(cat_counts) + 1, dtype=np.int32)
    np.cumsum(cat_counts, out=cat_start[1:])
    arrays = {
        "table": built["table"],
        "classes": built["classes"],
        "o_pat": built["o_pat"],
        "o_link": built["o_link"],
        "o_total": built["o_total"],
        "pat_len": np.diff(pat_offs).astype(np.int32),
        "weight": np.asarray(pset.weights, dtype=np.float64),
        "cat_start": cat_start,
        "cat_ids": np.fromiter((c for cs in pset.pattern_categories for c in cs),
                               dtype=np.int32, count=int(cat_start[-1])),
        "text_offsets": text_offsets,
        "text_data": np.frombuffer(b"".join(texts), dtype=np.uint8),
    }
    header = {
        "engine_version": __version__,
        "ignore_case": options.ignore_case,
        "whole_words": options.whole_words,
        "normalize": options.normalize,
        "n_states": int(built["n_states"]),
        "n_classes": int(built["n_classes"]),
        "stride": int(built["stride"]),
        "n_patterns": len(pset.keys),
        "categories": pset.categories,
    }
    return header, arrays


def _check_limits(pset: PatternSet, pat_data: np.ndarray, limits: PatternLimits) -> None:
    total_bytes = len(pat_data)
    if len(pset.keys) > limits.max_patterns:
        raise fail("E019", problem=f"{len(pset.keys):,} patterns, over the limit of "
                   f"{limits.max_patterns:,} (PatternLimits.max_patterns)")
    if total_bytes > limits.max_pattern_bytes:
        raise fail("E019", problem=f"patterns take {total_bytes:,} bytes, over the limit of "
                   f"{limits.max_pattern_bytes:,} (PatternLimits.max_pattern_bytes)")


def _merge_spans(parts: list[_Spans]) -> SpanResult:
    if not parts:
        empty = np.zeros(0, np.int64)
        return SpanResult(empty, empty.copy(), empty.copy(), np.zeros(0, np.int32))
    row, start, end, pid = (np.concatenate(cols) for cols in zip(*parts, strict=True))
    order = np.lexsort((pid, end, start, row))
    return SpanResult(row[order], start[order], end[order], pid[order])


def _byte_to_char_index(text: str) -> dict[int, int] | _Identity:
    if text.isascii():
        return _Identity()
    index = {}
    pos = 0
    for i, ch in enumerate(text):
        index[pos] = i
        pos += len(ch.encode())
    index[pos] = len(text)
    return index


class _Identity:
    def __getitem__(self, key: int) -> int:
        return key
