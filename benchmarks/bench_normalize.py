"""What the matcher's normalisation costs: plain vs ``"nfkc"`` vs ``"robust"``.

Run pinned to one core::

    taskset -c 0 python benchmarks/bench_normalize.py [--corpus-mb 5] [--rounds 30]
    taskset -c 0 python benchmarks/bench_normalize.py --worst [--row-mb 1]

The bench corpus (``engine/bench/corpus.py``, 6 % non-English documents) is counted with
whole-word matchers built from ``make_patterns(n)``. The three matchers are timed in
turn, round after round, and each one's fastest round is kept: on a shared host that is
the figure least disturbed by the others' load, and the ratio compares runs made under
the same conditions. Build times are the fastest of three, after one warm-up build per
option (the per-process Unicode tables, cached on disk).

``--worst`` times single rows made only of words the kernel leaves to the exact Python
transform (character references, combining marks, capital sigma): the floor of
``"robust"`` throughput, and a check that such rows cost time linear in their length.
"""

from __future__ import annotations

import argparse
import time

from engine import Matcher
from engine.bench import corpus

MODES = {"plain": None, "nfkc": "nfkc", "robust": "robust"}
WORST_ROWS = {"references": "s&#97;rin &amp; x ", "combining marks": "sa\u0301rin ",
              "capital sigma": "\u03a3\u03a3\u03a3\u03a3 "}


def worst(row_mb: float) -> None:
    """MB/s of ``"robust"`` on rows of exact-path words, at two sizes (linear: equal)."""
    m = Matcher(["sarin", "cobalt strike", "nerve agent"], normalize="robust")
    print("| row made of | MB/s at row_mb / 5 | MB/s at row_mb |")
    print("|---|---:|---:|")
    for name, word in WORST_ROWS.items():
        speeds = []
        for size in (row_mb / 5, row_mb):
            text = word * int(size * 1e6 / len(word.encode()))
            start = time.perf_counter()
            m.count([text])
            speeds.append(len(text.encode()) / (time.perf_counter() - start) / 1e6)
        print(f"| {name} | {speeds[0]:.2f} | {speeds[1]:.2f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus-mb", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--patterns", default="1000,10000,100000")
    parser.add_argument("--worst", action="store_true",
                        help="time rows of exact-path words instead of the corpus")
    parser.add_argument("--row-mb", type=float, default=1.0)
    args = parser.parse_args()
    if args.worst:
        worst(args.row_mb)
        return
    texts = corpus.make_corpus(int(args.corpus_mb * 1e6), seed=1234)
    size = len(texts.buffers()[2])
    print(f"corpus {size / 1e6:.1f} MB, {len(texts)} documents; MB/s whole-word, best of "
          f"{args.rounds} rounds; build s best of 3")
    print("| patterns | plain | nfkc | robust | robust ÷ plain | build plain | build robust |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n in (int(x) for x in args.patterns.split(",")):
        patterns = corpus.make_patterns(n)
        build = {}
        matchers = {}
        for name, normalize in MODES.items():
            Matcher(["warm up"], normalize=normalize)
            times = []
            for _ in range(3):
                start = time.perf_counter()
                matchers[name] = Matcher(patterns, normalize=normalize)
                times.append(time.perf_counter() - start)
            build[name] = min(times)
        best = dict.fromkeys(matchers, float("inf"))
        for _ in range(args.rounds):
            for name, matcher in matchers.items():
                start = time.perf_counter()
                matcher.count(texts)
                best[name] = min(best[name], time.perf_counter() - start)
        speed = {name: size / seconds / 1e6 for name, seconds in best.items()}
        print(f"| {n:,} | {speed['plain']:,.0f} | {speed['nfkc']:,.0f} | "
              f"{speed['robust']:,.0f} | {speed['robust'] / speed['plain']:.2f} | "
              f"{build['plain']:.3f} | {build['robust']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
