"""``engine.Matcher``: a compiled blocklist matcher over Arrow string columns.

Semantics (the tests' oracle, ``tests/oracle.py``, implements exactly these):

* every occurrence counts, overlapping ones too: each (pattern, position) pair once;
* ``ignore_case``: the same as matching ``pattern.lower()`` in ``text.lower()``;
* ``normalize``: text and patterns are compared after the normalisation steps (see
  ``Matcher``); spans always point into the original text;
* ``whole_words``: an occurrence counts only where the original characters just before
  and after it are a string edge or not ``str.isalnum()`` (removed ignorables are
  skipped; an edge inside what one original character became is no edge); a pattern
  edge in a script written without spaces (Han, Hiragana, Katakana, Thai, Lao, Khmer,
  Myanmar) needs no boundary on that side; with ``inflect``, a last word may end in
  ``-s`` or ``-es`` before the boundary (``'s`` passes anyway).

The automaton is built once, then frozen; it can be saved to a versioned binary file that
workers memory-map. Results are NumPy arrays, never a Python object per match.
"""

from __future__ import annotations

import functools
import re
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
from engine.match.text_transform import (
    PRESETS,
    STEPS,
    exact_windows,
    html_references,
    normalize_text,
    splice,
    transform_with_map,
    written_without_spaces,
)
from engine.match.unicode_tables import kernel_tables, needed_bitmap, transform_tables

ROW_OK, ROW_NULL, ROW_INVALID_UTF8 = 0, 1, 2
_KERNEL = _matcher.ROW_STATUS
_FLAGS = _matcher.FLAGS
_ENTRY = _matcher.ENTRY_FLAGS


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
        normalize: ``None``, ``"nfkc"``, ``"robust"`` or a tuple of steps (``STEPS``).
        join: a separator between two words of a pattern may also be missing altogether
            (all of them at once: ``CobaltStrike``); needs the ``separators`` step.
        inflect: whole words may end in ``-s``/``-es``; None: on with ``"robust"``.
    """

    ignore_case: bool = True
    whole_words: bool = True
    normalize: str | tuple[str, ...] | None = None
    join: bool = False
    inflect: bool | None = None

    def __post_init__(self) -> None:
        if self.inflect is None:
            object.__setattr__(self, "inflect", self.normalize == "robust")

    @property
    def steps(self) -> tuple[str, ...]:
        """The normalisation steps, in the order they apply."""
        if isinstance(self.normalize, tuple):
            return self.normalize
        return PRESETS[self.normalize]

    @classmethod
    def checked(cls, ignore_case: object, whole_words: object, normalize: object,
                join: object = False, inflect: object = None) -> MatcherOptions:
        """Options from user (or file header) values; ``UsageError`` for a bad normalize."""
        value: str | tuple[str, ...] | None
        if isinstance(normalize, list | tuple):
            if not all(isinstance(s, str) and s in STEPS for s in normalize):
                raise fail("E007", value=normalize, steps=STEPS)
            value = tuple(s for s in STEPS if s in normalize)
        elif normalize is None or (isinstance(normalize, str) and normalize in PRESETS):
            value = normalize
        else:
            raise fail("E007", value=normalize, steps=STEPS)
        options = cls(bool(ignore_case), bool(whole_words), value, bool(join),
                      None if inflect is None else bool(inflect))
        if options.join and "separators" not in options.steps:
            raise fail("E001", argument="join", problem="join=True needs the 'separators' "
                       "step (normalize='robust' or a tuple with 'separators')")
        return options


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
        whole_words: count only occurrences not inside a longer alphanumeric run (see
            the module docstring for the exact rule).
        normalize: how text and patterns are normalised before they are compared:
            ``None`` (not at all), ``"nfkc"`` (the ``nfkc`` step), ``"robust"`` (every
            step, and ``inflect`` on), or a tuple of step names. The steps apply in this
            order (``engine.match.text_transform`` has each exact rule):

            * ``"html"``: character references (``&#97;``, ``&#x61;``, ``&amp;``; HTML5
              rules, as ``html.unescape``) become the characters they stand for;
            * ``"nfkc"``: Unicode NFKC (full-width, ligatures, math letters...);
            * lower-casing with ``ignore_case`` (``str.lower``, not a step);
            * ``"ignorables"``: characters with the UCD property
              Default_Ignorable_Code_Point are removed (soft hyphen, zero-width space,
              ZWNJ/ZWJ, word joiner, variation selectors, BOM...);
            * ``"confusables"``: Latin, Cyrillic, Greek and full-width look-alikes become
              their Unicode TS #39 prototype (Cyrillic ``а`` -> ``a``), in patterns and
              text alike (``engine.match.robust_data``);
            * ``"separators"``: between two words of a pattern, any non-empty run of
              whitespace (line breaks and NBSP too), dashes (Pd) and connector
              punctuation (``_``) matches; separators at a pattern's ends are dropped.
        join: with ``separators``, a pattern of several words also matches with no
            separator at all between them (``CobaltStrike`` for "cobalt strike").
        inflect: with ``whole_words``, the last word may also end in ``-s`` or ``-es``
            (``sarins``; the span includes the ending). None: on for ``"robust"``.
        category: the category of plain ``str`` patterns.
        limits: size limits checked before building (``PatternLimits``).

    Raises:
        PatternError: empty or malformed patterns, or a blocklist over the limits.
        UsageError: a ``normalize`` that is none of these, or ``join`` without the
            ``separators`` step.
    """

    __slots__ = ("_options", "_header", "_arrays", "_categories", "_patterns",
                 "_lowering_needed", "_slow", "_edge", "_prefixes", "_kernel", "_path")

    _options: MatcherOptions
    _header: dict[str, Any]
    _arrays: dict[str, np.ndarray]
    _categories: tuple[str, ...]
    _patterns: tuple[str, ...] | None
    _lowering_needed: np.ndarray | None
    _slow: np.ndarray | None
    _edge: np.ndarray | None
    _prefixes: np.ndarray | None
    _kernel: _matcher.Automaton
    _path: Path | None

    def __init__(self, patterns_: Iterable[object] = (), ignore_case: bool = True,
                 whole_words: bool = True, normalize: str | tuple[str, ...] | None = None,
                 *, join: bool = False, inflect: bool | None = None,
                 category: str = patterns.DEFAULT_CATEGORY,
                 limits: PatternLimits | None = None):
        options = MatcherOptions.checked(ignore_case, whole_words, normalize, join, inflect)
        items = patterns.from_iterable(patterns_, category)
        self._setup(*_compile(items, options, limits or PatternLimits()), path=None)

    @classmethod
    def from_files(cls, paths: Iterable[str | Path] | str | Path, ignore_case: bool = True,
                   whole_words: bool = True, normalize: str | tuple[str, ...] | None = None,
                   *, join: bool = False, inflect: bool | None = None,
                   limits: PatternLimits | None = None) -> Matcher:
        """Build from ``.txt``/``.tsv``/``.jsonl`` blocklists (file stem = category)."""
        options = MatcherOptions.checked(ignore_case, whole_words, normalize, join, inflect)
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
                                             header["normalize"], header["join"],
                                             header["inflect"])
            categories = tuple(str(c) for c in header["categories"])
        except (KeyError, TypeError, UsageError) as err:
            raise fail("E018", path=path or "matcher", problem=f"header: {err}") from err
        self._options = options
        self._header = header
        self._arrays = arrays
        self._categories = categories
        self._patterns = None
        self._path = path
        steps = options.steps
        transform = transform_tables(steps, options.ignore_case)
        self._lowering_needed = (
            needed_bitmap(transform, np.asarray(arrays["classes"]) != 0)
            if _transforms(options) else None)
        self._slow = transform["slow"] if transform["slow"].any() else None
        self._edge = (transform["edge"] if options.whole_words and _transforms(options)
                      and transform["edge"].any() else None)
        # Lets the row-status pass validate most rows 32 bytes a step (utf8_status.h).
        self._prefixes = _matcher.bitmap_prefixes(self._lowering_needed, self._slow,
                                                  self._edge)
        kernel_arrays: dict[str, Any] = {k: arrays[k] for k in (
            "table", "classes", "outputs", "ent_flags",
            "ent_start", "ent_pid", "weight", "cat_start", "cat_ids", "sparse", "edges")}
        kernel_arrays["sep_class"] = int(header["sep_class"])
        kernel_arrays["n_dense"] = int(header["n_dense"])
        tables = kernel_tables()
        self._kernel = _matcher.Automaton(
            kernel_arrays, len(categories), tables["alnum"],
            (transform["lower_pages"], transform["lower_entries"], transform["lower_pool"],
             tables["cased"], tables["ignorable"]))

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
    def normalize(self) -> str | tuple[str, ...] | None:
        """``None``, ``"nfkc"``, ``"robust"`` or a tuple of steps."""
        return self._options.normalize

    def normalized(self, text: str) -> str:
        """``text`` as this matcher compares it with its patterns (separator runs as one
        space, none at the ends): what ``explain`` shows for a match."""
        return normalize_text(text, self._options.steps, self.ignore_case)

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

    @property
    def weights(self) -> np.ndarray:
        """Each pattern's weight, by pattern id (read-only), for tools that explain a score."""
        view = np.asarray(self._arrays["weight"], np.float64).view()
        view.flags.writeable = False
        return view

    def pattern_categories(self, pattern_id: int) -> tuple[str, ...]:
        """Category names of one pattern."""
        start, end = self._arrays["cat_start"][pattern_id : pattern_id + 2]
        return tuple(self._categories[c] for c in self._arrays["cat_ids"][start:end])

    @property
    def automaton_bytes(self) -> int:
        """Size of the transitions: dense rows and sparse edges (the bulk of memory and of
        the saved file)."""
        return sum(int(self._arrays[k].nbytes) for k in (
            "table", "sparse", "edges"))

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in (
            ("join", self._options.join), ("inflect", self._options.inflect)) if v)
        return (f"Matcher({self.n_patterns} patterns, {len(self._categories)} categories, "
                f"ignore_case={self.ignore_case}, whole_words={self.whole_words}, "
                f"normalize={self.normalize!r}{extra})")

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
            | (_FLAGS["transform"] if _transforms(self._options) else 0)
            | (_FLAGS["fold"] if self.ignore_case else 0)
            | (_FLAGS["inflect"] if self._options.inflect else 0)
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
                               self._lowering_needed, self._slow, self._edge,
                               "html" in self._options.steps, self._prefixes)
        if known_invalid is None:
            invalid = np.flatnonzero(kstatus == _KERNEL["invalid"])
        else:  # checked upstream: those rows are already null here
            invalid = np.flatnonzero(known_invalid)
        if strict and len(invalid):
            row = chunk.row_start + int(invalid[0])
            raise fail("E026", row=row, count=len(invalid))
        self._resolve_ampersands(chunk, kstatus)
        spans = [self._kernel.scan_chunk(
            chunk.offsets, chunk.data, kstatus, flags, chunk.row_start, total, distinct,
            by_cat, weight)]
        for r in np.flatnonzero(kstatus == _KERNEL["slow"]).tolist():
            text = chunk.data[chunk.offsets[r]:chunk.offsets[r + 1]].tobytes().decode()
            fed, map_start, map_end, edges = self._exact(text)
            spans.append(self._kernel.scan_fed(
                fed, map_start, map_end, edges, r, flags, chunk.row_start + r, total,
                distinct, by_cat, weight))
        status[kstatus == _KERNEL["null"]] = ROW_NULL
        status[invalid] = ROW_INVALID_UTF8
        return [s for s in spans if s is not None]

    def _exact(self, text: str):
        """``transform_with_map`` of a row, with the kernel doing all but the words
        around its slow characters and character references."""
        steps = self._options.steps
        windows = exact_windows(text, self._slow_in(text), steps)
        if len(windows) == 1 and windows[0][1] - windows[0][0] == len(text):
            return transform_with_map(text, steps, self.ignore_case)
        kernel = self._kernel.transform_row(np.frombuffer(text.encode(), np.uint8))
        return splice(text, steps, self.ignore_case, windows, kernel)

    def _slow_in(self, text: str) -> re.Pattern[str]:
        """A character class of the code points in ``text`` that the kernel leaves to
        Python. Built from the row's own characters: one class of every such code point
        (~100 ranges) was tested range by range at each character, 15 % of a robust
        scan for the 0.6 % of bytes in slow rows."""
        slow = self._slow
        present = () if slow is None else tuple(sorted(
            c for c in set(text) if ord(c) >= 0x80 and slow[ord(c) >> 3] >> (ord(c) & 7) & 1))
        return _class_of(present)

    def _resolve_ampersands(self, chunk: TextChunk, kstatus: np.ndarray) -> None:
        """Rows with an ``&`` (``html`` step): to the exact Python path if they hold a
        character reference, else to the kernel like any other row."""
        for r in np.flatnonzero(kstatus == _KERNEL["amp"]).tolist():
            text = chunk.data[chunk.offsets[r]:chunk.offsets[r + 1]].tobytes().decode()
            if html_references(text):
                kstatus[r] = _KERNEL["slow"]
            else:
                _matcher.classify_rows(chunk.offsets[r:r + 2], chunk.data, None,
                                       kstatus[r:r + 1], self._lowering_needed, self._slow,
                                       self._edge, False, self._prefixes)


#: One kernel call's spans: ``(row, start, end, pattern_id)`` arrays.
_Spans = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _from_bytes(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> Matcher:
    """Unpickle a matcher that was sent as its arrays (one not loaded from a file)."""
    try:
        file_format.validate(header, arrays)
    except (KeyError, TypeError, ValueError) as err:
        raise fail("E018", path="pickled matcher", problem=str(err)) from err
    return Matcher._create(header, arrays, path=None)


@functools.lru_cache(maxsize=1024)
def _class_of(chars: tuple[str, ...]) -> re.Pattern[str]:
    """A regex matching any one of ``chars`` (none: never matches)."""
    if not chars:
        return re.compile("(?!)")
    return re.compile("[" + "".join(re.escape(c) for c in chars) + "]")


def _transforms(options: MatcherOptions) -> bool:
    """Whether the kernel transforms non-ASCII rows (lower-casing or a per-character step)."""
    return options.ignore_case or any(s != "html" for s in options.steps)


def _entries(keys: list[bytes], options: MatcherOptions):
    """The automaton's entries: each key, and with ``join`` its form without spaces.

    Returns ``(entry keys, entry flags, ent_start, ent_pid)``: entry ``e`` reports the
    patterns ``ent_pid[ent_start[e]:ent_start[e + 1]]`` (a joined form may equal another
    pattern's key).
    """
    separators = "separators" in options.steps
    flags = np.zeros(len(keys), np.uint8)
    if not options.join:  # one entry per pattern
        _flag_entries(keys, flags, separators)
        every = np.arange(len(keys) + 1, dtype=np.int32)
        return keys, flags, every, every[:-1].copy()
    reports: dict[bytes, list[int]] = {}
    for pid, key in enumerate(keys):
        reports.setdefault(key, []).append(pid)
        if options.join and b" " in key:
            joined = key.replace(b" ", b"")
            if pid not in reports.setdefault(joined, []):
                reports[joined].append(pid)
    entry_keys = list(reports)
    flags = np.zeros(len(entry_keys), np.uint8)
    _flag_entries(entry_keys, flags, separators)
    counts = [len(pids) for pids in reports.values()]
    ent_start = np.zeros(len(entry_keys) + 1, np.int32)
    np.cumsum(counts, out=ent_start[1:])
    ent_pid = np.fromiter((p for pids in reports.values() for p in pids), np.int32,
                          count=int(ent_start[-1]))
    return entry_keys, flags, ent_start, ent_pid


def _flag_entries(keys: list[bytes], flags: np.ndarray, separators: bool) -> None:
    """Set each entry's flags: holds separators; starts or ends in a script written
    without spaces (no word boundary needed there)."""
    if separators:
        flags[[e for e, key in enumerate(keys) if b" " in key]] = _ENTRY["sep"]
    for e, key in enumerate(keys):
        if not key.isascii():
            text = key.decode()
            flags[e] |= ((_ENTRY["left_free"] if written_without_spaces(text[0]) else 0)
                         | (_ENTRY["right_free"] if written_without_spaces(text[-1]) else 0))


def _compile(items: Iterable[tuple[str, str, float, str]], options: MatcherOptions,
             limits: PatternLimits) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Build the automaton: the header and arrays ``Matcher._setup`` takes."""
    pset = patterns.collect(items, options.steps, options.ignore_case)
    if not pset.keys:
        raise fail("E010")
    _check_limits(pset, sum(len(k) for k in pset.keys), limits)
    entry_keys, ent_flags, ent_start, ent_pid = _entries(pset.keys, options)
    pat_data = np.frombuffer(b"".join(entry_keys), dtype=np.uint8)
    pat_offs = np.zeros(len(entry_keys) + 1, dtype=np.int64)
    np.cumsum([len(k) for k in entry_keys], out=pat_offs[1:])
    try:
        order = np.array(sorted(range(len(entry_keys)), key=entry_keys.__getitem__),
                         dtype=np.int64)
        built = _matcher.build_automaton(pat_data, pat_offs, order, options.ignore_case,
                                         limits.max_automaton_bytes, np.diff(ent_start),
                                         "separators" in options.steps, limits.dense_bytes)
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
        "sparse": built["sparse"],
        "edges": built["edges"],
        "classes": built["classes"],
        "outputs": built["outputs"],
        "pat_len": np.diff(pat_offs).astype(np.int32),
        "ent_flags": ent_flags,
        "ent_start": ent_start,
        "ent_pid": ent_pid,
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
        "normalize": (list(options.normalize) if isinstance(options.normalize, tuple)
                      else options.normalize),
        "join": options.join,
        "inflect": options.inflect,
        "sep_class": int(built["sep_class"]),
        "n_entries": len(entry_keys),
        "n_states": int(built["n_states"]),
        "n_dense": int(built["n_dense"]),
        "n_classes": int(built["n_classes"]),
        "stride": int(built["stride"]),
        "n_patterns": len(pset.keys),
        "categories": pset.categories,
    }
    return header, arrays


def _check_limits(pset: PatternSet, total_bytes: int, limits: PatternLimits) -> None:
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
