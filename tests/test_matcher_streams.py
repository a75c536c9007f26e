"""The interleaved scan (``_scan_descs`` and ``dfa_step.h``) against the oracle.

The scan cuts a block's rows into several streams stepped in one loop, advances them all
by the bytes left in the shortest current row, stops at every step where some stream
lands on a state with output, and finishes the streams left over one by one. The other
property tests hold a handful of rows, fewer than the streams; here every example holds
up to 30 rows of very different lengths (empty, one byte, hundreds), with occurrences at
row starts and ends, so that rows end together, one by one, right after a match and
right before one, in every stream, in both table layouts, and with rows cut across the
streams (forced on short rows by lowering the threshold). Small pattern sets are scanned
with the prefilter instead (``_scan_prefiltered``), so every set here carries enough
never-seen filler patterns to turn it off, and each test checks that it is off.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import Matcher, _matcher
from engine.match.patterns import PatternLimits
from tests import oracle
from tests.test_matcher_properties import ALPHABET, _spans, options

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])
ASCII = list("abcsehAB -_.,'0")
FILLERS = [f"q{c}z" for c in "abcdefghijklmnopqrstuvwx"]  # 24 distinct prefixes: prefilter off


@pytest.fixture(params=["whole-rows", "split-rows"])
def split(request):
    """Long rows are cut across the streams (``_scan_split``); "split-rows" lowers the
    threshold to 5 bytes so that nearly every row here takes that path."""
    previous = _matcher.set_split_bytes(5 if request.param == "split-rows" else 1 << 16)
    yield request.param
    _matcher.set_split_bytes(previous)


def _streamed(patterns, dense_bytes, opts) -> Matcher:
    m = Matcher(patterns, limits=PatternLimits(dense_bytes=dense_bytes), **opts)
    assert not m._kernel.prefilter
    return m


@st.composite
def many_rows(draw):
    alphabet = draw(st.sampled_from([ASCII, ALPHABET]))
    patterns = draw(st.lists(
        st.text(alphabet=alphabet, min_size=1, max_size=5).filter(
            lambda p: all(oracle.transform(p, case, norm) for case in (True, False)
                          for norm in (None, "nfkc", "robust"))),
        min_size=1, max_size=8))
    filler = st.text(alphabet=alphabet, max_size=12)
    long_filler = st.integers(0, 300).map(lambda n: ("ab cs" * 60)[:n])
    piece = st.one_of(st.sampled_from(patterns), filler, long_filler)
    row = st.one_of(st.none(), st.just(""), st.sampled_from(patterns),
                    st.lists(piece, max_size=6).map("".join))
    return patterns + FILLERS, draw(st.lists(row, min_size=0, max_size=30))


@SETTINGS
@given(many_rows(), options(), st.sampled_from([PatternLimits().dense_bytes, 1]))
def test_many_rows_count_and_span_as_the_oracle(scan_level, split, data, opts, dense_bytes):
    """``dense_bytes`` 1: the mixed layout (only the root dense), else all dense."""
    patterns, texts = data
    m = _streamed(patterns, dense_bytes, opts)
    assert m.count(texts).tolist() == oracle.counts(patterns, texts, **opts)
    spans = oracle.byte_spans(patterns, texts, **opts)
    assert _spans(m.spans(texts)) == spans
    assert m.scan(texts).distinct.tolist() == _distinct(spans, len(texts))


@pytest.mark.parametrize("dense_bytes", [PatternLimits().dense_bytes, 1])
@pytest.mark.parametrize("n_rows", [1, 4, 5, 6, 7, 11, 12, 40])
def test_matches_in_every_stream_while_all_are_live(scan_level, split, n_rows, dense_bytes):
    """Rows of nearly equal length with occurrences at their starts, middles and ends:
    every stream holds rows with matches while all the streams are still running, and
    matches fall on the step where the shortest row ends."""
    patterns = ["sarin", "nerve agent", "a", *FILLERS]
    texts = [f"Sarin{'x' * (i % 3)} nerve agent {'ab ' * (i % 5)}a sarin" for i in range(n_rows)]
    for opts in ({"ignore_case": True, "whole_words": True},
                 {"ignore_case": False, "whole_words": False}):
        m = _streamed(patterns, dense_bytes, opts)
        assert m.count(texts).tolist() == oracle.counts(patterns, texts, **opts)
        assert _spans(m.spans(texts)) == oracle.byte_spans(patterns, texts, **opts)


def test_a_long_row_cut_across_the_streams_counts_as_a_whole(scan_level):
    """Rows just past the default threshold (64 KiB): occurrences on the cuts between
    pieces (each piece starts in the state the bytes before it leave), a pattern found
    in several pieces counted once in ``distinct``, word edges read across the cuts."""
    patterns = ["nerve agent", "sarin", "agent", *FILLERS]
    unit = "sarin nerve agent xx agentx nerve agen"
    text = (unit * (66_000 // len(unit) + 1))[:66_000]
    for shift in (0, 1, 7):  # moves the occurrences against the four cuts
        texts = [text[shift:], "short nerve agent row", None, text[:65_600 + shift]]
        for opts in ({"ignore_case": True, "whole_words": True},
                     {"ignore_case": False, "whole_words": False}):
            m = _streamed(patterns, PatternLimits().dense_bytes, opts)
            spans = oracle.byte_spans(patterns, texts, **opts)
            assert _spans(m.spans(texts)) == spans
            assert m.count(texts).tolist() == oracle.counts(patterns, texts, **opts)
            assert m.scan(texts).distinct.tolist() == _distinct(spans, len(texts))


def _distinct(spans, n_rows: int) -> list[int]:
    """Distinct patterns per row, from the oracle's spans."""
    found = [set() for _ in range(n_rows)]
    for row, _start, _end, pid in spans:
        found[row].add(pid)
    return [len(pids) for pids in found]
