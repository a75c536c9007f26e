"""End-to-end pipeline benchmark: read -> match (10k terms) -> classify (native, every
document) -> decide -> write -> commit, through ``engine.run`` with real worker processes.

Corpus: ``engine/bench/corpus.py`` (seeded, Parquet zstd, ~3 KB documents); size from
``FE_BENCH_MB`` (default 64 MB of text, 4 shards). Each case records wall-clock MB/s,
MB/s per worker, MB/s per busy core (excluding worker start) and peak worker RSS in
``extra_info``; nothing asserts a speed. ``filter-engine bench`` prints the same figures.
Run: ``pytest benchmarks/test_bench_pipeline.py --benchmark-enable -s``.
"""

from __future__ import annotations

import os

import pytest

from engine.bench.pipeline import machine, measure, prepare

MB = float(os.environ.get("FE_BENCH_MB", "64"))
SHARDS = int(os.environ.get("FE_BENCH_SHARDS", "4"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    pytest.importorskip("wordfreq")
    pytest.importorskip("psutil")
    workdir = tmp_path_factory.mktemp("pipeline-bench")
    paths, spec = prepare(workdir, MB, SHARDS)
    return paths, spec, workdir


@pytest.mark.parametrize("workers", [1, 2])
def test_bench_pipeline_end_to_end(benchmark, corpus, workers):
    paths, spec, workdir = corpus
    result = benchmark.pedantic(measure, args=(paths, spec, workers, workdir), rounds=1,
                                iterations=1)
    assert result["accounting_ok"] and result["exit_code"] == 0
    benchmark.extra_info.update(result)
    benchmark.extra_info["machine"] = machine()
