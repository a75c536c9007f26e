"""What the matcher's normalisation costs: plain vs ``"nfkc"`` vs ``"robust"``.

Run pinned to one core::

    taskset -c 0 python benchmarks/bench_normalize.py [--corpus-mb 5] [--rounds 30]

The bench corpus (``engine/bench/corpus.py``, 6 % non-English documents) is counted with
whole-word matchers built from ``make_patterns(n)``. The three matchers are timed in
turn, round after round, and each one's fastest round is kept: on a shared host that is
the figure least disturbed by the others' load, and the ratio compares runs made under
the same conditions. Build times are the fastest of three, after one warm-up build per
option (the per-process Unicode tables, cached on disk).
"""

from __future__ import annotations

import argparse
import time

from engine import Matcher
from engine.bench import corpus

MODES = {"plain": None, "nfkc": "nfkc", "robust": "robust"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus-mb", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--patterns", default="1000,10000,100000")
    args = parser.parse_args()
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
