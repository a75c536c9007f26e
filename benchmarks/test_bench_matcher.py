"""pytest-benchmark suite for the matcher (seeded corpus, nested pattern sets).

Run pinned to one core::

    taskset -c 0 pytest benchmarks/test_bench_matcher.py --benchmark-enable

Each case first checks that filter-engine's per-document counts equal an independent
reference (pyahocorasick with Python boundary checks, from the ``bench`` extra), then
times ``Matcher.count`` from the in-memory Arrow array. ``extra_info`` carries MB/s.
The ``normalize="robust"`` cases have no peer to agree with (none normalises); they
check that every plain whole-word match is still found.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers  # noqa: E402

from engine import Matcher  # noqa: E402
from engine.bench import corpus  # noqa: E402

CORPUS_BYTES = 5_000_000
PATTERN_COUNTS = [100, 1_000, 10_000, 100_000]


@pytest.fixture(scope="module")
def texts():
    return corpus.make_corpus(CORPUS_BYTES, seed=1234)


@pytest.fixture(scope="module")
def text_bytes(texts):
    offsets, _ = peers._buffers(texts)
    return int(offsets[-1] - offsets[0])


@pytest.mark.parametrize("whole_words", [True, False], ids=["whole-word", "substring"])
@pytest.mark.parametrize("n_patterns", PATTERN_COUNTS)
def test_bench_count(benchmark, texts, text_bytes, n_patterns, whole_words):
    patterns = corpus.make_patterns(n_patterns)
    matcher = Matcher(patterns, whole_words=whole_words)
    pyahocorasick = pytest.importorskip("ahocorasick")
    del pyahocorasick
    reference = peers.PEERS[[p.name for p in peers.PEERS].index(peers.REFERENCE)]
    expected = reference.count(reference.build(patterns, whole_words), texts)
    counts = benchmark(matcher.count, texts)
    np.testing.assert_array_equal(counts, expected)
    benchmark.extra_info["MB/s"] = text_bytes / benchmark.stats["median"] / 1e6
    benchmark.extra_info["matches"] = int(counts.sum())


@pytest.mark.parametrize("n_rows", [1, 3, 6])
def test_bench_count_few_long_rows(benchmark, texts, n_rows):
    """The same text as ``n_rows`` long documents (books, web dumps): fewer rows than
    the scan has streams. Checked against the reference like the other cases."""
    joined = "".join(t for t in texts.to_pylist() if t)
    size = len(joined) // n_rows
    rows = pa.array([joined[i * size:(i + 1) * size] for i in range(n_rows)])
    patterns = corpus.make_patterns(100)
    matcher = Matcher(patterns)
    pytest.importorskip("ahocorasick")
    reference = peers.PEERS[[p.name for p in peers.PEERS].index(peers.REFERENCE)]
    expected = reference.count(reference.build(patterns, True), rows)
    counts = benchmark(matcher.count, rows)
    np.testing.assert_array_equal(counts, expected)
    offsets, _ = peers._buffers(rows)
    benchmark.extra_info["MB/s"] = int(offsets[-1] - offsets[0]) / benchmark.stats["median"] / 1e6


@pytest.mark.parametrize("with_spans", [False, True], ids=["counts", "spans"])
def test_bench_scan_default_hazard_list(benchmark, texts, text_bytes, with_spans):
    """The shipped filter's blocklist stage as the main job runs it: robust matching,
    inflections, per-category counts and (for the audit) spans."""
    from engine.defaults import default_filter_path
    from engine.filter.apply import Filter
    from engine.filter.spec import FilterSpec

    stage = Filter(FilterSpec.load(default_filter_path())).blocklists[0]
    matcher = stage.matcher
    expected = matcher.count(texts)
    result = benchmark(matcher.scan, texts, with_spans=with_spans)
    np.testing.assert_array_equal(result.total, expected)
    if with_spans:
        assert len(result.spans) == int(expected.sum())
    benchmark.extra_info["MB/s"] = text_bytes / benchmark.stats["median"] / 1e6


@pytest.mark.parametrize("dense_mb", [0, 8, 128], ids=["sparse", "8MB-dense", "all-dense"])
def test_bench_count_compact(benchmark, texts, text_bytes, dense_mb):
    """100k patterns with the compact automaton's dense share cut down (0: only the root
    has a row): the same counts as all-dense, and what the edge lists cost."""
    from engine.match.patterns import PatternLimits

    patterns = corpus.make_patterns(100_000)
    expected = Matcher(patterns).count(texts)
    matcher = Matcher(patterns, limits=PatternLimits(dense_bytes=max(dense_mb << 20, 1)))
    counts = benchmark(matcher.count, texts)
    np.testing.assert_array_equal(counts, expected)
    if benchmark.stats:
        benchmark.extra_info["MB/s"] = text_bytes / benchmark.stats["median"] / 1e6
    benchmark.extra_info["automaton MB"] = matcher.automaton_bytes / 1e6


def test_bench_million(benchmark, texts, text_bytes):
    """One million realistic patterns (benchmarks/build_million.py): count, compact."""
    import build_million

    matcher = Matcher(build_million.patterns(1_000_000))
    counts = benchmark.pedantic(matcher.count, args=(texts,), rounds=3, iterations=1)
    assert counts.sum() > 0
    if benchmark.stats:
        benchmark.extra_info["MB/s"] = text_bytes / benchmark.stats["median"] / 1e6
    benchmark.extra_info["automaton MB"] = matcher.automaton_bytes / 1e6


@pytest.mark.parametrize("n_patterns", [1_000, 10_000])
def test_bench_count_robust(benchmark, texts, text_bytes, n_patterns):
    patterns = corpus.make_patterns(n_patterns)
    matcher = Matcher(patterns, normalize="robust")
    plain = Matcher(patterns).count(texts)
    counts = benchmark(matcher.count, texts)
    # Lower-case ASCII patterns: robust loses none of the plain matches on this corpus
    # (it has no ignorables inside words), and finds inflected and re-spaced ones more.
    assert (counts >= plain).all() and counts.sum() > plain.sum()
    if benchmark.stats:  # None with --benchmark-disable
        benchmark.extra_info["MB/s"] = text_bytes / benchmark.stats["median"] / 1e6
    benchmark.extra_info["matches"] = int(counts.sum())


@pytest.mark.parametrize("normalize", [None, "robust"], ids=["plain", "robust"])
@pytest.mark.parametrize("n_patterns", [10_000, 100_000])
def test_bench_build(benchmark, n_patterns, normalize):
    patterns = corpus.make_patterns(n_patterns)
    Matcher(["warm"], normalize=normalize)  # per-process tables (cached on disk)
    matcher = benchmark.pedantic(Matcher, args=(patterns,), kwargs={"normalize": normalize},
                                 rounds=3, iterations=1)
    benchmark.extra_info["automaton MB"] = matcher.automaton_bytes / 1e6


def test_bench_load_saved(benchmark, tmp_path):
    path = Matcher(corpus.make_patterns(100_000)).save(tmp_path / "m.fem")
    benchmark.pedantic(Matcher.load, args=(path,), rounds=3, iterations=1)
