"""Build a matcher from one million realistic patterns and report time, size and memory.

Patterns: ``make_patterns(200_000)`` plus random 2-3-word phrases from the wordfreq English
top 200k (seeded). Run: ``python benchmarks/build_million.py [--patterns 1000000]``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import Matcher  # noqa: E402
from engine.bench import corpus  # noqa: E402


def patterns(n: int, seed: int = 7) -> list[str]:
    from wordfreq import top_n_list

    rng = np.random.default_rng(seed)
    words = top_n_list("en", 200_000)
    out = dict.fromkeys(corpus.make_patterns(min(n, 200_000)))
    while len(out) < n:
        for row, k in zip(rng.integers(0, len(words), (50_000, 3)),
                          rng.integers(2, 4, 50_000), strict=True):
            out[" ".join(words[i] for i in row[:k])] = None
    return list(out)[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patterns", type=int, default=1_000_000)
    args = parser.parse_args()
    pats = patterns(args.patterns)
    print(f"patterns {len(pats):,}, {sum(len(p.encode()) for p in pats):,} bytes", flush=True)
    t = time.perf_counter()
    m = Matcher(pats)
    print(f"build {time.perf_counter() - t:.1f} s, table {m.automaton_bytes / 1e9:.2f} GB, "
          f"{m._header['n_states']:,} states, {m._header['n_classes']} classes, peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.1f} GB", flush=True)
    texts = corpus.make_corpus(5_000_000)
    t = time.perf_counter()
    m.count(texts)
    print(f"count: {5 / (time.perf_counter() - t):.1f} MB/s on 5 MB", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        path = m.save(Path(tmp) / "m.fem")
        print(f"save {time.perf_counter() - t:.1f} s", flush=True)
        t = time.perf_counter()
        Matcher.load(path)
        print(f"load {time.perf_counter() - t:.1f} s", flush=True)


if __name__ == "__main__":
    main()
