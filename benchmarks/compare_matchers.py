"""filter-engine's matcher beside the matchers a data engineer would otherwise call.

Counts per document on the same seeded corpus and nested pattern sets
(``engine/bench/corpus.py``), whole-word and substring, for filter-engine, Hyperscan,
ahocorasick_rs, daachorse, pyahocorasick and flashtext. Checks that every exact peer's
counts equal filter-engine's, document by document, and writes a table to
``benchmarks/RESULTS.md`` (the section between the matcher markers).

Run it pinned to one core so that MB/s means "per core"::

    taskset -c 0 python benchmarks/compare_matchers.py --corpus-mb 20

Throughput is text bytes / wall seconds, median of ``--repeats`` runs, from the in-memory
Arrow array to one count per document; CPU seconds are reported beside it.
``--simd off|scalar|sse41|avx2`` forces filter-engine's prefilter and ASCII-skip level
(default: the best this CPU runs) for before/after comparisons.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import peers  # noqa: E402

from engine import _matcher  # noqa: E402
from engine.bench import corpus  # noqa: E402

RESULTS = Path(__file__).with_name("RESULTS.md")
BEGIN, END = "<!-- matcher:begin -->", "<!-- matcher:end -->"


def _timed(fn, repeats: int, budget_s: float):
    """Median wall and CPU seconds of ``fn()``; fewer runs if one run exceeds the budget."""
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        gc.collect()
        w, c = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
        if walls[-1] > budget_s:
            break
    return statistics.median(walls), statistics.median(cpus), len(walls), result


def run(args) -> list[dict]:
    arr = corpus.make_corpus(int(args.corpus_mb * 1e6), seed=args.seed)
    offsets, _ = peers._buffers(arr)
    nbytes = int(offsets[-1] - offsets[0])
    print(f"corpus: {len(arr):,} documents, {nbytes / 1e6:.1f} MB", flush=True)
    rows = []
    for n in args.patterns:
        patterns = corpus.make_patterns(n)
        for whole_words in (True, False):
            mode = "whole-word" if whole_words else "substring"
            expected = None
            for peer in [peers.ENGINE, *peers.PEERS]:
                if peer.name not in args.libs and peer is not peers.ENGINE:
                    continue
                if not peer.exact and not whole_words:
                    continue  # flashtext only knows whole words
                if n > args.max_patterns.get(peer.name, 10**9):
                    continue
                gc.collect()
                t0 = time.perf_counter()
                state = peer.build(patterns, whole_words)
                build_s = time.perf_counter() - t0
                wall, cpu, runs, counts = _timed(lambda s=state, p=peer: p.count(s, arr),
                                                 args.repeats, args.budget)
                counts = np.asarray(counts, np.int64)
                if expected is None:
                    expected = counts
                agree = float(np.mean(counts == expected)) * 100
                row = dict(patterns=n, mode=mode, lib=peer.name, mb_s=nbytes / wall / 1e6,
                           cpu_mb_s=nbytes / cpu / 1e6, wall=wall, cpu=cpu, build=build_s,
                           runs=runs, agree=agree, total=int(counts.sum()), exact=peer.exact)
                rows.append(row)
                print(f"{n:>7} {mode:<10} {peer.name:<24} {row['mb_s']:8.1f} MB/s "
                      f"({row['cpu_mb_s']:.1f} MB/CPU-s) build {build_s:6.2f}s "
                      f"agree {agree:6.2f}% total {row['total']}", flush=True)
                if peer.exact and agree != 100.0:
                    print(f"  !! {peer.name} disagrees with filter-engine", flush=True)
                del state
    return rows


def table(rows: list[dict], args, nbytes_note: str) -> str:
    libs = list(dict.fromkeys(r["lib"] for r in rows))
    ns = list(dict.fromkeys(r["patterns"] for r in rows))
    cell = {(r["lib"], r["patterns"], r["mode"]): r for r in rows}

    def fmt(lib, n, mode):
        r = cell.get((lib, n, mode))
        if r is None:
            return "–"
        text = f"{r['mb_s']:,.0f}" if r["mb_s"] >= 10 else f"{r['mb_s']:.1f}"
        return text if r["agree"] == 100.0 else f"{text} (≠{r['agree']:.1f}%)"

    lines = [
        f"Corpus: `engine/bench/corpus.py`, {nbytes_note}, seed {args.seed}; patterns "
        "`make_patterns(n)`. MB/s of text per core (wall, median), whole-word / substring, "
        "from the in-memory Arrow array to one count per document. `≠x%`: only x % of "
        "documents have filter-engine's count (different semantics).",
        "",
        "| library | " + " | ".join(f"{n:,} patterns" for n in ns) + " |",
        "|---|" + "---:|" * len(ns),
    ]
    for lib in libs:
        lines.append(f"| {lib} | " + " | ".join(
            f"{fmt(lib, n, 'whole-word')} / {fmt(lib, n, 'substring')}" for n in ns) + " |")
    ratios = []
    for n in ns:
        parts = []
        for mode in ("whole-word", "substring"):
            ours = cell.get(("filter-engine", n, mode))
            best = max((r for r in rows if r["patterns"] == n and r["mode"] == mode
                        and r["lib"] != "filter-engine" and r["exact"]),
                       key=lambda r: r["mb_s"], default=None)
            parts.append(f"{ours['mb_s'] / best['mb_s']:.1f}× {best['lib']}"
                         if ours and best else "–")
        ratios.append(" / ".join(parts))
    lines.append("| **filter-engine ÷ fastest exact peer** | " + " | ".join(ratios) + " |")
    lines += ["", "CPU seconds and build times (whole-word / substring):", "",
              "| library | patterns | CPU-s ww / sub | build s ww / sub | runs |",
              "|---|---:|---:|---:|---:|"]
    for lib in libs:
        for n in ns:
            ww, sub = cell.get((lib, n, "whole-word")), cell.get((lib, n, "substring"))
            if not ww and not sub:
                continue
            lines.append(
                f"| {lib} | {n:,} | {_num(ww, 'cpu')} / {_num(sub, 'cpu')} | "
                f"{_num(ww, 'build')} / {_num(sub, 'build')} | "
                f"{(ww or sub)['runs']} |")
    return "\n".join(lines)


def _num(r, key):
    return "–" if r is None else f"{r[key]:.3f}"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    return (f"{cpu}, {os.cpu_count()} cores ({affinity} allowed to this run), "
            f"{platform.system()} {platform.machine()}, Python {platform.python_version()}")


def write_results(text: str) -> None:
    old = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in old and END in old:
        new = old[: old.index(BEGIN)] + block + old[old.index(END) + len(END):]
    else:
        new = old.rstrip() + "\n\n## Matcher\n\n" + block + "\n"
    RESULTS.write_text(new)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus-mb", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--patterns", type=lambda s: [int(x) for x in s.split(",")],
                        default=[100, 1000, 10000, 100000])
    parser.add_argument("--libs", type=lambda s: s.split(","),
                        default=[p.name for p in peers.PEERS])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=float, default=30.0,
                        help="seconds: a run longer than this is not repeated")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    parser.add_argument("--simd", choices=["off", *_matcher.SIMD_LEVELS],
                        help="filter-engine's prefilter level (default: the CPU's best)")
    args = parser.parse_args(argv)
    if args.simd:
        _matcher.set_simd_level(args.simd)
    # flashtext (pure Python) would take minutes per run at 100k patterns.
    args.max_patterns = {"flashtext": 10_000}
    rows = run(args)
    mb = int(args.corpus_mb)
    simd = f" --simd {args.simd}" if args.simd else ""
    text = (f"Machine: {machine()}. Command: `taskset -c 0 python benchmarks/compare_matchers.py "
            f"--corpus-mb {args.corpus_mb:g}{simd} --write`. Date: {time.strftime('%Y-%m-%d')}. "
            f"filter-engine prefilter level: {_matcher.simd_level()}.\n\n"
            + table(rows, args, f"{mb} MB"))
    print(text)
    if args.write:
        write_results(text)
    bad = [r for r in rows if r["exact"] and r["agree"] != 100.0]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
