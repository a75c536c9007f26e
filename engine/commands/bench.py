"""``filter-engine bench``: time the whole pipeline on a generated corpus and print it."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

NAME = "bench"
HELP = ("time read -> match (10k terms) -> classify (native, every row) -> write on a "
        "generated corpus, at each worker count; prints MB/s per core and the machine")


def add_arguments(parser) -> None:
    parser.add_argument("--mb", type=float, default=128,
                        help="corpus size in MB of text (default 128)")
    parser.add_argument("--shards", type=int, default=4, help="Parquet shards (default 4)")
    parser.add_argument("--workers", default="1,2",
                        help="comma-separated worker counts to time (default 1,2)")
    parser.add_argument("--patterns", type=int, default=10_000,
                        help="blocklist size (default 10000)")
    parser.add_argument("--workdir", help="where the corpus is cached (default: a temp dir)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def main(args) -> int:
    from engine.bench.pipeline import format_results, machine, measure, prepare

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="filter-engine-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    paths, spec = prepare(workdir, args.mb, args.shards, args.patterns)
    counts = [int(w) for w in args.workers.split(",") if w]
    results = [measure(paths, spec, w, workdir) for w in counts]
    info = machine()
    if args.json:
        print(json.dumps({"machine": info, "results": results}, indent=1))
    else:
        print(format_results(results, info))
    return 0 if all(r["accounting_ok"] and r["exit_code"] == 0 for r in results) else 1
