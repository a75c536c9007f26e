"""The end-to-end pipeline benchmark behind ``filter-engine bench`` and
``benchmarks/test_bench_pipeline.py``.

It generates a seeded corpus (``engine/bench/corpus.py``: Parquet, zstd, ~3 KB documents),
a 10,000-term blocklist from the same module, and a filter that matches every document and
scores every document with the native hashed classifier (no cascade), then times whole
runs (read, match, classify, decide, write, commit) at each worker count, in fresh
output directories. Throughput is text bytes over wall-clock time including worker start
(and, separately, over the seconds workers spent inside shards); peak memory is the
largest resident set of any one worker, sampled while it runs.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import threading
import time
from pathlib import Path

from engine import defaults
from engine.bench import corpus
from engine.execution.runner import run
from engine.filter.spec import FilterSpec

BENCH_CONFIG = """
text_column = "text"
mode = "drop"

[drop_if]
bench_terms = "bench.distinct >= 12"  # about 5 % of documents
spam = "spam.score > 0.99"

[[blocklist]]
name = "bench"
files = ["{patterns}"]

[[classifier]]
name = "spam"
model = "{model}"
"""


def prepare(workdir: Path, total_mb: float, shards: int, patterns: int = 10_000,
            seed: int = 1234) -> tuple[list[Path], FilterSpec]:
    """Write (or reuse) the corpus shards, the blocklist and the config under ``workdir``."""
    data = workdir / f"corpus-{total_mb:g}mb-{shards}-{seed}"
    data.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(shards):
        path = data / f"part-{i:03d}.parquet"
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            corpus.write_corpus_parquet(tmp, int(total_mb * 1e6 / shards), seed + i)
            os.replace(tmp, path)
        paths.append(path)
    plist = workdir / f"bench-{patterns}.txt"
    if not plist.exists():
        plist.write_text("\n".join(corpus.make_patterns(patterns)) + "\n", encoding="utf-8")
    config = workdir / "bench.toml"
    config.write_text(BENCH_CONFIG.format(
        patterns=plist, model=defaults.models_dir() / "spam-hashed"))
    return paths, FilterSpec.from_toml(config)


class _PeakRSS(threading.Thread):
    """Sample the resident set of every child process; keep the largest one seen."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak = 0
        self._halt = threading.Event()

    def run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._halt.wait(0.05):
            for child in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    self.peak = max(self.peak, child.memory_info().rss)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return self.peak


def measure(paths: list[Path], spec: FilterSpec, workers: int, workdir: Path) -> dict:
    """One timed run into a fresh output directory."""
    out = workdir / f"out-w{workers}"
    shutil.rmtree(out, ignore_errors=True)
    sampler = _PeakRSS()
    sampler.start()
    started = time.perf_counter()
    result = run([str(p) for p in paths], str(out), spec, workers=workers)
    elapsed = time.perf_counter() - started
    peak = sampler.stop()
    report = result.report
    text = report["bytes"]["text_processed_now"]
    shutil.rmtree(out, ignore_errors=True)
    return {
        "workers": workers,
        "seconds": round(elapsed, 3),
        "text_mb": round(text / 1e6, 1),
        "input_mb": round(sum(p.stat().st_size for p in paths) / 1e6, 1),
        "rows": report["rows"]["in"],
        "removed": report["rows"]["removed"],
        "text_mb_s": round(text / 1e6 / elapsed, 2),
        "text_mb_s_per_worker": round(text / 1e6 / elapsed / workers, 2),
        "text_mb_s_per_busy_core": report["throughput"]["text_mb_s_per_busy_core"],
        "peak_worker_rss_mb": round(peak / 1e6, 1),
        "accounting_ok": report["accounting"]["ok"],
        "exit_code": result.exit_code,
    }


def machine() -> dict:
    import numpy
    import onnxruntime
    import pyarrow

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on macOS or Windows
        cores = os.cpu_count() or 1
    return {"cpu": cpu, "cores": cores, "python": platform.python_version(),
            "pyarrow": pyarrow.__version__, "onnxruntime": onnxruntime.__version__,
            "numpy": numpy.__version__, "load_avg": [round(x, 2) for x in os.getloadavg()]}


def format_results(results: list[dict], info: dict) -> str:
    lines = [f"machine: {info['cpu']}, {info['cores']} cores, load {info['load_avg']}, "
             f"python {info['python']}, pyarrow {info['pyarrow']}, "
             f"onnxruntime {info['onnxruntime']}",
             "workers  seconds  text MB  MB/s  MB/s/worker  MB/s/busy core  "
             "peak worker RSS MB  accounting"]
    for r in results:
        lines.append(f"{r['workers']:>7}  {r['seconds']:>7.2f}  {r['text_mb']:>7.1f}  "
                     f"{r['text_mb_s']:>4.1f}  {r['text_mb_s_per_worker']:>11.1f}  "
                     f"{r['text_mb_s_per_busy_core'] or 0:>14.1f}  "
                     f"{r['peak_worker_rss_mb']:>18.1f}  "
                     f"{'OK' if r['accounting_ok'] else 'MISMATCH'}")
    if len(results) > 1 and results[0]["text_mb_s"]:
        base = results[0]
        for r in results[1:]:
            lines.append(f"speed-up {base['workers']} -> {r['workers']} workers: "
                         f"{r['text_mb_s'] / base['text_mb_s']:.2f}x")
    return "\n".join(lines)
