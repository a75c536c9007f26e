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

``--million`` measures memory as well (issue 11: 1M patterns in <= 1.5 GB): the realistic
pattern set of ``build_million.patterns(n)`` (default n = 1,000,000), whole words, a 5 MB
corpus, and each matcher built and run in its own fresh process, one at a time, so that
its peak RSS (whole process, read by the process itself at the end) is its own. A parent
guard kills a matcher that runs past ``--timeout`` seconds, grows past ``--max-rss-gb`` or
leaves the host under ``--min-free-gb``, and reports that as its result (Linux only)::

    taskset -c 1 python benchmarks/compare_matchers.py --million --write
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import build_million  # noqa: E402
import peers  # noqa: E402

from engine import _matcher  # noqa: E402
from engine.bench import corpus  # noqa: E402

RESULTS = Path(__file__).with_name("RESULTS.md")
BEGIN, END = "<!-- matcher:begin -->", "<!-- matcher:end -->"
MILLION = ("<!-- matcher-1m:begin -->", "<!-- matcher-1m:end -->",
           "## 1M patterns: peers, same run (issue 11)")


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


def _selected(args, n: int, whole_words: bool) -> list[peers.Peer]:
    """filter-engine first, then the peers asked for that can run this size and mode."""
    return [p for p in [peers.ENGINE, *peers.PEERS]
            if (p.name in args.libs or (p is peers.ENGINE and not args.no_engine))
            and (p.exact or whole_words)  # flashtext only knows whole words
            and n <= args.max_patterns.get(p.name, 10**9)]


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
            for peer in _selected(args, n, whole_words):
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


# ------------------------------------------------------- --million: one process per matcher

def _rss(pid: int | str = "self") -> int:
    """Bytes resident now in process ``pid``."""
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak() -> int:
    """Bytes: this process's resident high-water mark (``VmHWM``). Not ``ru_maxrss``: Linux
    carries that across ``execve``, so a child would report its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise OSError("no VmHWM in /proc/self/status")


def _available() -> int:
    """Bytes the host could still hand out (``MemAvailable``): others share this machine."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise OSError("no MemAvailable in /proc/meminfo")


def child(job: dict) -> dict:
    """Build and count one matcher in this fresh process; its peak RSS is the process's."""
    peer = {p.name: p for p in [peers.ENGINE, *peers.PEERS]}[job["lib"]]
    if job["simd"]:
        _matcher.set_simd_level(job["simd"])
    patterns = Path(job["patterns"]).read_text(encoding="utf-8").splitlines()
    arr = pa.ipc.open_file(job["corpus"]).read_all().column("text").combine_chunks()
    offsets, _ = peers._buffers(arr)
    nbytes = int(offsets[-1] - offsets[0])
    before = _rss()
    w, c = time.perf_counter(), time.process_time()
    state = peer.build(patterns, job["whole_words"])
    build, build_cpu = time.perf_counter() - w, time.process_time() - c
    wall, cpu, runs, counts = _timed(lambda: peer.count(state, arr), job["repeats"],
                                     job["budget"])
    np.save(job["counts"], np.asarray(counts, np.int64))
    return dict(build=build, build_cpu=build_cpu, wall=wall, cpu=cpu, runs=runs,
                mb_s=nbytes / wall / 1e6, cpu_mb_s=nbytes / cpu / 1e6, docs=len(arr),
                nbytes=nbytes, before_gb=before / 1e9,
                peak_gb=_peak() / 1e9)


def isolated(job: dict, args, log: Path) -> dict:
    """``child(job)`` in a new process under the time and memory guards; why it stopped."""
    started, seen, why = time.perf_counter(), 0, None
    with log.open("w+") as out:
        proc = subprocess.Popen([sys.executable, __file__, "--child", json.dumps(job)],
                                stdout=out, stderr=subprocess.STDOUT)
        while proc.poll() is None:
            time.sleep(0.1)
            elapsed = time.perf_counter() - started
            try:
                seen = max(seen, _rss(proc.pid))
            except OSError:
                continue  # it has just exited
            if elapsed > args.timeout:
                why = f"did not finish in {args.timeout:g} s"
            elif seen > args.max_rss_gb * 1e9:
                why = f"passed the {args.max_rss_gb:g} GB guard after {elapsed:.0f} s"
            elif _available() < args.min_free_gb * 1e9:
                why = (f"stopped after {elapsed:.0f} s: under {args.min_free_gb:g} GB "
                       "left on the host")
            if why:
                proc.kill()
                proc.wait()
                return dict(status=why, peak_gb=seen / 1e9)
        out.seek(0)
        lines = out.read().strip().splitlines() or ["(no output)"]
    if proc.returncode != 0:
        why = ("not installed" if lines[-1].startswith("ModuleNotFoundError")
               else f"failed (exit {proc.returncode}): {lines[-1][:120]}")
        return dict(status=why, peak_gb=seen / 1e9)
    return dict(json.loads(lines[-1]), status=None)


def run_million(args) -> list[dict]:
    """Patterns and corpus are made here once and read from files by each child: the
    corpus generator's tables (~0.17 GB) would otherwise count in every peak."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        corpus_file = Path(tmp) / "corpus.arrow"
        table = pa.table({"text": corpus.make_corpus(int(args.corpus_mb * 1e6), seed=args.seed)})
        with pa.ipc.new_file(corpus_file, table.schema) as writer:
            writer.write_table(table)
        for n in args.patterns:
            pattern_file = Path(tmp) / f"patterns-{n}.txt"
            pattern_file.write_text("\n".join(build_million.patterns(n)) + "\n",
                                    encoding="utf-8")
            expected = None
            for peer in _selected(args, n, whole_words=True):
                job = dict(lib=peer.name, patterns=str(pattern_file), whole_words=True,
                           corpus=str(corpus_file), repeats=args.repeats,
                           budget=args.budget, simd=args.simd,
                           counts=str(Path(tmp) / "counts.npy"))
                row = dict(patterns=n, mode="whole-word", lib=peer.name, exact=peer.exact,
                           **isolated(job, args, Path(tmp) / "child.log"))
                if row["status"] is None:
                    counts = np.load(job["counts"])
                    if expected is None:
                        expected = peer.name, counts
                    row["agree_with"] = expected[0]
                    row["agree"] = float(np.mean(counts == expected[1])) * 100
                    row["total"] = int(counts.sum())
                    print(f"{n:>9,} {peer.name:<24} build {row['build']:6.2f} s "
                          f"({row['build_cpu']:.2f} CPU-s), peak {row['peak_gb']:.2f} GB "
                          f"({row['before_gb']:.2f} before build), {row['mb_s']:.1f} MB/s "
                          f"({row['cpu_mb_s']:.1f} MB/CPU-s), agree {row['agree']:.2f}% "
                          f"with {expected[0]}, total {row['total']:,}", flush=True)
                else:
                    print(f"{n:>9,} {peer.name:<24} {row['status']} "
                          f"(RSS seen {row['peak_gb']:.2f} GB)", flush=True)
                rows.append(row)
    return rows


def million_table(rows: list[dict], args) -> str:
    """Markdown to paste: one row per matcher and size, then filter-engine's ratios."""
    done = [r for r in rows if r["status"] is None]
    size = f"{done[0]['nbytes'] / 1e6:.1f} MB, {done[0]['docs']:,} documents" if done else "–"
    lines = [
        f"Patterns: `build_million.patterns(n)` (seed 7); corpus `engine/bench/corpus.py`, "
        f"{size}, seed {args.seed}; whole words, case-insensitive. Each matcher in its own "
        f"process, one at a time: peak RSS is that whole process's high-water mark (patterns "
        f"and corpus read from files, matcher built and run), RSS before the build in "
        f"brackets. Count: MB/s of text per core, wall (CPU) median of {args.repeats} runs, "
        f"from the in-memory Arrow array to one count per document. Guards: "
        f"{args.timeout:g} s wall, {args.max_rss_gb:g} GB RSS.",
        "",
        "| library | patterns | build s (CPU-s) | peak RSS GB (before build) "
        "| count MB/s (MB/CPU-s) | runs | documents with the same count |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        head = f"| {r['lib']} | {r['patterns']:,} |"
        if r["status"] is not None:
            lines.append(f"{head} {r['status']} | ≥ {r['peak_gb']:.2f} seen | – | – | – |")
            continue
        agree = ("(reference)" if r["agree_with"] == r["lib"]
                 else f"{r['agree']:.2f} % of {r['agree_with']}'s")
        lines.append(f"{head} {r['build']:.2f} ({r['build_cpu']:.2f}) | {r['peak_gb']:.2f} "
                     f"({r['before_gb']:.2f}) | {r['mb_s']:.1f} ({r['cpu_mb_s']:.1f}) | "
                     f"{r['runs']} | {agree} |")
    for n in dict.fromkeys(r["patterns"] for r in rows):
        ours = next((r for r in done if r["patterns"] == n and r["lib"] == "filter-engine"),
                    None)
        best = max((r for r in done if r["patterns"] == n and r["lib"] != "filter-engine"
                    and r["exact"]), key=lambda r: r["mb_s"], default=None)
        if ours and best:
            lines.append(f"| **filter-engine ÷ fastest peer that finished** | {n:,} | "
                         f"{ours['build'] / best['build']:.2f}× build time | "
                         f"{ours['peak_gb'] / best['peak_gb']:.2f}× peak | "
                         f"**{ours['mb_s'] / best['mb_s']:.2f}× {best['lib']}** "
                         f"({ours['cpu_mb_s'] / best['cpu_mb_s']:.2f}× per CPU-s) | | |")
    return "\n".join(lines)


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


def write_results(text: str, begin: str = BEGIN, end: str = END,
                  heading: str = "## Matcher") -> None:
    old = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    block = f"{begin}\n{text}\n{end}"
    if begin in old and end in old:
        new = old[: old.index(begin)] + block + old[old.index(end) + len(end):]
    else:
        new = old.rstrip() + f"\n\n{heading}\n\n" + block + "\n"
    RESULTS.write_text(new)


def command(argv: list[str]) -> str:
    """This run's command line, with the ``taskset`` that reproduces its pinning."""
    cpus = sorted(os.sched_getaffinity(0))
    pin = f"taskset -c {cpus[0]} " if len(cpus) == 1 else ""
    return f"{pin}python benchmarks/compare_matchers.py {shlex.join(argv)}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus-mb", type=float,
                        help="default 20, or 5 with --million")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--patterns", type=lambda s: [int(x) for x in s.split(",")],
                        help="default 100,1000,10000,100000, or 1000000 with --million")
    parser.add_argument("--libs", type=lambda s: s.split(","),
                        default=[p.name for p in peers.PEERS])
    parser.add_argument("--no-engine", action="store_true",
                        help="leave filter-engine out (peers only)")
    parser.add_argument("--million", action="store_true",
                        help="realistic patterns, one process per matcher, peak RSS")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="--million: seconds one matcher may take, build and counts")
    parser.add_argument("--max-rss-gb", type=float, default=10.0,
                        help="--million: a matcher that grows past this is stopped")
    parser.add_argument("--min-free-gb", type=float, default=2.0,
                        help="--million: stop a matcher that leaves the host less than this")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=float, default=30.0,
                        help="seconds: a run longer than this is not repeated")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    parser.add_argument("--simd", choices=["off", *_matcher.SIMD_LEVELS],
                        help="filter-engine's prefilter level (default: the CPU's best)")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    if args.simd:
        _matcher.set_simd_level(args.simd)
    # flashtext (pure Python) would take minutes per run at 100k patterns.
    args.max_patterns = {"flashtext": 10_000}
    if args.million:
        args.corpus_mb = args.corpus_mb or 5.0
        args.patterns = args.patterns or [1_000_000]
        rows = run_million(args)
        text = (f"Machine: {machine()}. Command: "
                f"`{command(sys.argv[1:] if argv is None else argv)}`. "
                f"Date: {time.strftime('%Y-%m-%d %H:%M %Z')}. filter-engine prefilter level: "
                f"{_matcher.simd_level()}.\n\n" + million_table(rows, args))
        print(text)
        if args.write:
            write_results(text, *MILLION)
        return 1 if any(r["status"] is None and r["exact"] and r["agree"] != 100.0
                        for r in rows) else 0
    args.corpus_mb = args.corpus_mb or 20.0
    args.patterns = args.patterns or [100, 1000, 10000, 100000]
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
