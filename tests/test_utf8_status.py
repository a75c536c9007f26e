"""The row-status pass (its vector path, src_cython/utf8_status.h, and the scalar one)
against Python's decoder, and the vector path against the scalar pass, on every byte pair
and every lead byte's sequences placed across the 16- and 32-byte block edges. The
``level`` fixture (tests/conftest.py) runs each test at every SIMD level."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from engine import Matcher, _matcher

INVALID = _matcher.ROW_STATUS["invalid"]


def _rows(sequences: list[bytes]) -> list[bytes]:
    """Each sequence alone, after 14, 15, 63 and 64 ASCII bytes (across a 16-byte block
    edge, after the 64-byte ASCII skip), and followed by ASCII (a truncated sequence then
    ends before a letter, not at the end of the row)."""
    out = []
    for seq in sequences:
        out += [seq, b"a" * 14 + seq, b"b" * 15 + seq + b"c", seq + b"&" + b"d" * 16,
                b"e" * 63 + seq, b"f" * 64 + seq + b"g" * 70]
    return out


def _status(rows: list[bytes], prefixes, *bitmaps, amp: bool) -> np.ndarray:
    data = np.frombuffer(b"".join(rows), np.uint8)
    offsets = np.zeros(len(rows) + 1, np.int64)
    np.cumsum([len(r) for r in rows], out=offsets[1:])
    status = np.empty(len(rows), np.uint8)
    _matcher.classify_rows(offsets, data, None, status, *bitmaps, amp=amp,
                           prefixes=prefixes)
    return status


def _valid(row: bytes) -> bool:
    try:
        row.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


PAIRS = [bytes([a, b]) for a, b in itertools.product(range(256), repeat=2)]
TRIPLES = [bytes([a, b, c]) for a in range(0xC0, 0x100) for b in range(256)
           for c in (0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xE0, 0xFF)]
QUADS = [bytes([a, b, c, d]) for a in range(0xF0, 0x100) for b in range(0x80, 0xC0)
         for c in (0x41, 0x80, 0xBF, 0xC2) for d in (0x41, 0x80, 0xBF, 0xC2, 0xF0)]


@pytest.mark.parametrize("sequences", [PAIRS, TRIPLES, QUADS], ids=["pairs", "triples",
                                                                     "quads"])
def test_validation_is_pythons(level, sequences):
    rows = _rows(sequences)
    got = _status(rows, np.zeros((0, 3), np.uint8), amp=False) != INVALID
    want = np.array([_valid(r) for r in rows])
    bad = np.flatnonzero(got != want)
    assert not len(bad), [rows[i].hex() for i in bad[:10]]


@pytest.mark.parametrize("options", [{}, {"ignore_case": False}, {"whole_words": False}])
def test_vector_status_is_the_scalar_status(level, options):
    """With a real matcher's bitmaps: the rows that hold a listed prefix (K, İ, ...) go
    through the scalar pass; every other row must get the status it would give."""
    m = Matcher(["kelvin", "istanbul", "sarin"], **options)
    bitmaps = (m._lowering_needed, m._slow, m._edge)
    prefixes = _matcher.bitmap_prefixes(*bitmaps)
    assert prefixes is not None and len(prefixes) <= 8
    specials = ["\u212a", "\u0130", "\u2122", "é", "中", "\U0001f600", "&amp;", "Σ"]
    texts = [a + b for a, b in itertools.product(specials + ["x", " "], repeat=2)]
    rows = _rows([t.encode() for t in texts]) + _rows(PAIRS[::7]) + _rows(TRIPLES[::13])
    for amp in (False, True):
        assert np.array_equal(_status(rows, prefixes, *bitmaps, amp=amp),
                              _status(rows, None, *bitmaps, amp=amp))


def test_too_many_prefixes_turn_the_vector_path_off():
    bits = np.zeros(0x110000 // 8, np.uint8)
    for cp in range(0x100, 0x100 + 64 * 9, 64):  # nine different lead/next pairs
        bits[cp >> 3] |= 1 << (cp & 7)
    assert _matcher.bitmap_prefixes(bits) is None
    assert _matcher.bitmap_prefixes(None, None).shape == (0, 3)


def _bits(*cps: int) -> np.ndarray:
    bits = np.zeros(0x110000 // 8, np.uint8)
    for cp in cps:
        bits[cp >> 3] |= 1 << (cp & 7)
    return bits


def test_prefixes_are_three_bytes_where_the_list_allows():
    """The Kelvin sign's prefix is E2 84 AA, so the trade mark sign (E2 84 A2) no longer
    sends its rows to the scalar pass; two-byte characters are their own prefix; past
    eight three-byte prefixes the list falls back to two bytes."""
    assert _matcher.bitmap_prefixes(_bits(0x212A, 0x130, 0x1D400)).tolist() == [
        [0xC4, 0xB0, 0], [0xE2, 0x84, 0xAA], [0xF0, 0x9D, 0x90]]
    same_block = _bits(*range(0x2120, 0x2129))  # nine code points, one E2 84 prefix
    assert _matcher.bitmap_prefixes(same_block).tolist() == [[0xE2, 0x84, 0]]


def test_a_three_byte_prefix_is_found_across_block_edges(level):
    """The Kelvin sign's three bytes at every offset around the 16- and 32-byte edges,
    next to the trade mark sign that shares its first two: the vector path must send
    exactly the rows with the Kelvin sign to the scalar pass, which lowers it."""
    needed = _bits(0x212A)
    prefixes = _matcher.bitmap_prefixes(needed)
    rows = [b"x" * k + "\u212a".encode() for k in range(70)]
    rows += [b"x" * k + "\u2122".encode() for k in range(70)]
    got = _status(rows, prefixes, needed, amp=False)
    assert got.tolist() == _status(rows, None, needed, amp=False).tolist()
    kernel = _matcher.ROW_STATUS
    assert set(got[:70].tolist()) == {kernel["unicode"]}
    assert set(got[70:].tolist()) == {kernel["unicode_plain"]}
