"""The packed-literal prefilter (src_cython/teddy.h): every implementation against the oracle.

Each test forces one implementation (AVX2, SSE4.1, scalar) with the kernel's private
switch, so the scalar fallback is tested on every machine and the vector ones wherever
the CPU has them. Rows are built so that patterns fall on the edges of the 16- and
32-byte blocks and at the ends of rows shorter than one block.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import Matcher, _matcher
from tests import oracle
from tests.test_matcher_properties import ALPHABET, options

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])
ASCII = list("abcsehAB -_.,'0")


@st.composite
def edge_corpus(draw):
    """Patterns (mostly ASCII, as on the fast path) and rows where each occurrence sits
    after a filler of 0-40 bytes: across block edges, at row ends, in short rows."""
    alphabet = st.sampled_from([ASCII, ALPHABET])
    patterns = draw(st.lists(
        st.text(alphabet=draw(alphabet), min_size=1, max_size=6).filter(
            lambda p: all(oracle.transform(p, case, norm) for case in (True, False)
                          for norm in (None, "nfkc", "robust"))),
        min_size=1, max_size=12))
    filler = st.text(alphabet=draw(alphabet), max_size=40)
    piece = st.tuples(filler, st.sampled_from(patterns)).map("".join)
    texts = draw(st.lists(
        st.one_of(st.none(), st.lists(piece, max_size=5).map("".join).flatmap(
            lambda t: filler.map(lambda f: t + f))),
        min_size=1, max_size=6))
    return patterns, texts


@SETTINGS
@given(edge_corpus(), options())
def test_every_level_counts_as_the_oracle(level, data, opts):
    patterns, texts = data
    m = Matcher(patterns, **opts)
    assert m.count(texts).tolist() == oracle.counts(patterns, texts, **opts)
    found = m.spans(texts)
    assert sorted(zip(found.row.tolist(), found.start.tolist(), found.end.tolist(),
                      found.pattern_id.tolist(), strict=True)) == oracle.byte_spans(
        patterns, texts, **opts)


@pytest.mark.parametrize("whole_words", [False, True])
def test_every_offset_and_row_length(level, whole_words):
    # Each pattern at every offset of rows of every length up to three 32-byte blocks.
    patterns = ["a", "be", "cat", "dogs", "Eagle", "fish-x"]
    texts = [("." * offset + p + "." * tail) for p in patterns
             for offset in range(0, 70, 3) for tail in (0, 1, 2, 5, 31)]
    texts += ["." * n for n in range(0, 70)]
    m = Matcher(patterns, whole_words=whole_words)
    assert m._kernel.prefilter
    assert m.count(texts).tolist() == oracle.counts(patterns, texts,
                                                    whole_words=whole_words)


def test_same_counts_with_the_prefilter_off(level):
    words = ["sarin", "anthrax", "ricin", "vx", "of the", "tabun", "soman", "a"]
    text = pa.array([" ".join(words[(i * 7 + j) % len(words)] + "x" * (j % 3)
                              for j in range(i % 50)) for i in range(300)])
    for opts in ({}, {"whole_words": False}, {"ignore_case": False},
                 {"normalize": "nfkc", "inflect": True}):
        m = Matcher(words, **opts)
        assert m._kernel.prefilter
        with_prefilter = m.scan(text)
        previous = _matcher.set_simd_level("off")
        try:
            without = m.scan(text)
        finally:
            _matcher.set_simd_level(previous)
        assert with_prefilter.total.tolist() == without.total.tolist()
        assert with_prefilter.distinct.tolist() == without.distinct.tolist()
        assert with_prefilter.total.sum() > 0


def test_prefilter_is_off_where_it_would_be_unsound_or_useless():
    assert Matcher(["a b", "cd"])._kernel.prefilter
    # A run of separators matches one space: the fingerprint of "a b" cannot hold it.
    assert not Matcher(["a b", "cd"], normalize="robust")._kernel.prefilter
    assert Matcher(["ab", "cd"], normalize="robust")._kernel.prefilter
    many = [f"w{i:04d}" for i in range(_matcher.PREFILTER_MAX_ENTRIES + 1)]
    assert not Matcher(many)._kernel.prefilter
    spread = [chr(97 + i % 26) + chr(97 + i // 26) + "x"
              for i in range(_matcher.PREFILTER_MAX_PRINTS + 1)]
    assert Matcher(spread[:-1])._kernel.prefilter
    assert not Matcher(spread)._kernel.prefilter
    assert not Matcher(many)._kernel.prefilter


@pytest.mark.parametrize("amp", [False, True])
def test_row_status_at_every_offset(level, amp):
    # The status pass skips ASCII 16, 32 or 64 bytes at a time: a non-ASCII character,
    # a broken sequence or an '&' at any offset of a row must still be seen.
    rows = [b"a" * offset + odd + b"b" * tail for offset in range(0, 140, 5)
            for odd in (b"\xc3\xa9", b"&", b"\xff", b"\xe2\x80", b"")
            for tail in (0, 3, 64)]
    offsets = np.zeros(len(rows) + 1, np.int64)
    np.cumsum([len(r) for r in rows], out=offsets[1:])
    data = np.frombuffer(b"".join(rows), np.uint8)
    status = np.empty(len(rows), np.uint8)
    _matcher.classify_rows(offsets, data, None, status, amp=amp)
    codes = _matcher.ROW_STATUS
    for row, got in zip(rows, status.tolist(), strict=True):
        try:
            text = row.decode()
        except UnicodeDecodeError:
            assert got == codes["invalid"], row
            continue
        if amp and "&" in text:
            assert got == codes["amp"], row
        else:
            assert got == (codes["ascii"] if text.isascii() else codes["unicode"]), row


def test_level_switch():
    assert "scalar" in _matcher.simd_levels()
    with pytest.raises(ValueError):
        _matcher.set_simd_level("avx512")
    previous = _matcher.set_simd_level("off")
    assert _matcher.simd_level() == "off"
    _matcher.set_simd_level(previous)
    env = dict(os.environ, FILTER_ENGINE_SIMD="scalar")
    out = subprocess.run([sys.executable, "-c",
                          "from engine import _matcher; print(_matcher.simd_level())"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "scalar"
