"""The matchers a data engineer would otherwise call, each in its fastest honest use.

Every peer counts, per document of an Arrow string array, the case-insensitive
occurrences of lower-case ASCII patterns, overlapping ones included (each (pattern,
position) pair once), optionally only whole words (neighbours are an edge or not
``str.isalnum()``). Timings start at the in-memory Arrow array, so getting text out of
Arrow (and lower-casing it where the peer cannot fold case itself) counts against the peer,
as it would in a pipeline. See ``shared/research/matcher-baselines.md`` for the method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_ASCII_ALNUM = np.array([chr(b).isalnum() for b in range(128)] + [False] * 128)


@dataclass
class Peer:
    """A named matcher: ``build(patterns, whole_words) -> state``, ``count(state, arr)``."""

    name: str
    build: Callable
    count: Callable
    exact: bool = True  # False where its semantics differ (flashtext: longest, non-overlapping)


def _buffers(arr: pa.StringArray) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.frombuffer(arr.buffers()[1], np.int32, len(arr) + 1, arr.offset * 4)
    data = np.frombuffer(arr.buffers()[2], np.uint8)
    return offsets.astype(np.int64), data


def _alnum_at(data: np.ndarray, pos: np.ndarray, before: bool) -> np.ndarray:
    """Whether the character just before (or at) byte ``pos`` is alphanumeric."""
    idx = pos - 1 if before else pos
    byte = data[idx]
    out = _ASCII_ALNUM[byte]
    for i in np.flatnonzero(byte >= 0x80):
        j = int(idx[i])
        if before:
            while data[j] & 0xC0 == 0x80:
                j -= 1
        width = 2 if data[j] < 0xE0 else 3 if data[j] < 0xF0 else 4
        out[i] = bytes(data[j : j + width]).decode().isalnum()
    return out


def _per_doc(offsets, data, starts, ends, whole_words) -> np.ndarray:
    """Documents of absolute byte matches; drops matches across documents; ww filter."""
    starts = np.asarray(starts, np.int64)
    ends = np.asarray(ends, np.int64)
    doc = np.searchsorted(offsets, starts, side="right") - 1
    keep = ends <= offsets[doc + 1]
    if whole_words:
        at_start = starts == offsets[doc]
        at_end = ends == offsets[doc + 1]
        keep &= at_start | ~_alnum_at(data, np.where(at_start, 1, starts), True)
        keep &= at_end | ~_alnum_at(data, np.where(at_end, 0, ends), False)
    return np.bincount(doc[keep], minlength=len(offsets) - 1)


def _ww_str(text: str, start: int, end: int) -> bool:
    return (start == 0 or not text[start - 1].isalnum()) and (
        end == len(text) or not text[end].isalnum())


# --------------------------------------------------------------------------- peers

def _engine_build(patterns, whole_words):
    from engine import Matcher

    return Matcher(patterns, ignore_case=True, whole_words=whole_words)


def _engine_count(m, arr):
    return m.count(arr)


def _pyahocorasick_build(patterns, whole_words):
    import ahocorasick

    automaton = ahocorasick.Automaton()
    for p in patterns:
        automaton.add_word(p, len(p))
    automaton.make_automaton()
    return automaton, whole_words


def _pyahocorasick_count(state, arr):
    automaton, whole_words = state
    texts = pc.utf8_lower(arr).to_pylist()
    if not whole_words:
        return np.array([sum(1 for _ in automaton.iter(t)) for t in texts])
    return np.array([
        sum(1 for end, n in automaton.iter(t) if _ww_str(t, end - n + 1, end + 1))
        for t in texts
    ])


def _ahocorasick_rs_build(patterns, whole_words):
    import ahocorasick_rs

    impl = ahocorasick_rs.Implementation.DFA if len(patterns) <= 1000 else None
    matcher = ahocorasick_rs.BytesAhoCorasick(
        [p.encode() for p in patterns], matchkind=ahocorasick_rs.MATCHKIND_STANDARD,
        implementation=impl)
    return matcher, whole_words


def _ahocorasick_rs_count(state, arr):
    matcher, whole_words = state
    lowered = pc.utf8_lower(arr)
    offsets, data = _buffers(lowered)
    view = memoryview(data)
    starts, ends = [], []
    for i in range(len(offsets) - 1):
        a = int(offsets[i])
        for _, s, e in matcher.find_matches_as_indexes(view[a : offsets[i + 1]],
                                                       overlapping=True):
            starts.append(a + s)
            ends.append(a + e)
    return _per_doc(offsets, data, starts, ends, whole_words)


def _daachorse_build(patterns, whole_words):
    import daachorse

    return daachorse.DoubleArrayAhoCorasick([p.encode() for p in patterns]), whole_words


def _daachorse_count(state, arr):
    automaton, whole_words = state
    lowered = pc.utf8_lower(arr)
    offsets, data = _buffers(lowered)
    starts, ends = [], []
    for i, text in enumerate(lowered.cast(pa.binary()).to_pylist()):
        a = int(offsets[i])
        for s, e, _ in automaton.find_overlapping(text):
            starts.append(a + s)
            ends.append(a + e)
    return _per_doc(offsets, data, starts, ends, whole_words)


def _hyperscan_build(patterns, whole_words):
    import hyperscan

    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    literals = [p.encode() for p in patterns]
    db.compile(expressions=literals, ids=list(range(len(literals))),
               flags=[hyperscan.HS_FLAG_CASELESS] * len(literals), literal=True)
    return db, np.array([len(p) for p in literals]), whole_words


def _hyperscan_count(state, arr):
    """One block scan over the whole data buffer; documents recovered from offsets."""
    db, lengths, whole_words = state
    offsets, data = _buffers(arr)
    found = []
    db.scan(data[offsets[0]:offsets[-1]].tobytes(),
            match_event_handler=lambda pid, _f, to, _fl, _c: found.append((to << 24) | pid))
    packed = np.array(found, np.int64)
    ends = (packed >> 24) + offsets[0]
    starts = ends - lengths[packed & 0xFFFFFF]
    return _per_doc(offsets, data, starts, ends, whole_words)


def _flashtext_build(patterns, whole_words):
    from flashtext import KeywordProcessor

    processor = KeywordProcessor(case_sensitive=False)
    processor.add_keywords_from_list(list(patterns))
    return processor


def _flashtext_count(processor, arr):
    return np.array([0 if t is None else len(processor.extract_keywords(t))
                     for t in arr.to_pylist()])


ENGINE = Peer("filter-engine", _engine_build, _engine_count)
PEERS = [
    Peer("hyperscan", _hyperscan_build, _hyperscan_count),
    Peer("ahocorasick_rs (bytes)", _ahocorasick_rs_build, _ahocorasick_rs_count),
    Peer("daachorse", _daachorse_build, _daachorse_count),
    Peer("pyahocorasick", _pyahocorasick_build, _pyahocorasick_count),
    Peer("flashtext", _flashtext_build, _flashtext_count, exact=False),
]
REFERENCE = "pyahocorasick"
