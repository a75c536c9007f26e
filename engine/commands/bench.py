"""``filter-engine bench``: time the whole pipeline on a generated corpus and print it.

With ``--device cpu|cuda`` it times a transformer classifier instead (``engine/bench/
transformer.py``): docs/s and windows/s at each ``--lengths`` window size. Without
``--model`` the model is MiniLM-L6-shaped (6 layers, 384 wide, 12 heads, seeded random
weights: the speed of all-MiniLM-L6-v2, none of its judgement) with a WordPiece tokenizer
trained on the generated corpus, so the command runs from an installed wheel with no
download.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

NAME = "bench"
HELP = ("time read -> match (10k terms) -> classify (native, every row) -> write on a "
        "generated corpus, at each worker count; prints MB/s per core and the machine; "
        "with --device, time a transformer classifier instead")



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
    parser.add_argument("--device", choices=("cpu", "cuda"),
                        help="time a transformer classifier on this device instead")
    parser.add_argument("--model", help="with --device: a transformer model directory "
                        "(default: a MiniLM-L6-shaped model built here)")
    parser.add_argument("--lengths", default="128,512",
                        help="with --device: window sizes in tokens (default 128,512)")
    parser.add_argument("--docs", type=int, default=0, help="with --device: documents "
                        "(default 64 on cpu, 4096 on cuda)")
    parser.add_argument("--max-windows", type=int, default=16,
                        help="with --device: windows per document (default 16)")
    parser.add_argument("--token-budget", type=int, default=0, help="with --device: "
                        "tokens per batch (default 8192 on cpu, 131072 on cuda)")


def main(args) -> int:
    if args.device:
        return transformer_bench(args)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="filter-engine-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    from engine.bench.pipeline import format_results, machine, measure, prepare

    paths, spec = prepare(workdir, args.mb, args.shards, args.patterns)
    counts = [int(w) for w in args.workers.split(",") if w]
    results = [measure(paths, spec, w, workdir) for w in counts]
    info = machine()
    if args.json:
        print(json.dumps({"machine": info, "results": results}, indent=1))
    else:
        print(format_results(results, info))
    return 0 if all(r["accounting_ok"] and r["exit_code"] == 0 for r in results) else 1


def transformer_bench(args) -> int:
    from engine.bench import transformer
    from engine.bench.pipeline import machine
    from engine.classify.session import missing_provider
    from engine.errors import fail
    from engine.train import bench_model

    problem = missing_provider(args.device)
    if problem:  # before a minute of model building
        raise fail("E038", directory=args.model or "(the MiniLM-L6-shaped bench model)",
                   problem=problem)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="filter-engine-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    cuda = args.device == "cuda"
    docs = transformer.documents(args.docs or (4096 if cuda else 64))
    budget = args.token_budget or (131_072 if cuda else 8192)
    results = []
    for length in (int(x) for x in args.lengths.split(",") if x):
        spec = {"max_chars": 100_000, "max_length": length, "stride": length // 4,
                "max_windows": args.max_windows, "token_budget": max(budget, length),
                "token_type_ids": True}
        model = Path(args.model) if args.model else bench_model.minilm_shaped(workdir, docs,
                                                                               spec)
        results.append(transformer.measure(model, args.device, docs))
    info = machine()
    if args.json:
        print(json.dumps({"machine": info, "results": results}, indent=1))
    else:
        print(transformer.format_results(results))
    return 0
