"""``filter-engine run``: filter shards into an output directory (resumable)."""

from __future__ import annotations

import sys

NAME = "run"
HELP = "filter shards (paths, globs, URLs) into OUT: kept/, removed/, markers, report.json"


def add_arguments(parser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="shard paths, globs ('data/**/*.parquet') or URLs (s3://...)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="output directory (local or URL); re-running resumes")
    parser.add_argument("-c", "--config", metavar="TOML",
                        help="filter config; 'default' (also when -c is not given) is the "
                        "shipped default filter")
    parser.add_argument("--mode", choices=("drop", "annotate"),
                        help="override the config's mode")
    parser.add_argument("--text-column", help="override the config's text column")
    parser.add_argument("--workers", type=int, help="worker processes (default: one per core)")
    parser.add_argument("--max-retries", type=int, default=2,
                        help="extra attempts for a shard whose worker died or hung (default 2)")
    parser.add_argument("--shard-timeout", type=float, metavar="SECONDS",
                        help="give up on one attempt of one shard after this long")
    parser.add_argument("--force", action="store_true",
                        help="redo what changed instead of refusing when inputs or config differ")
    parser.add_argument("--dry-run", action="store_true",
                        help="read a sample, estimate the removal rate and the run's time")
    parser.add_argument("--sample-rows", type=int, default=20000,
                        help="rows read by --dry-run (default 20000)")
    parser.add_argument("--row-group-mb", type=float, help="output row-group size (default 128)")
    parser.add_argument("--max-decompressed-bytes", type=int, default=64 << 30,
                        help="cap on one compressed JSONL shard's inflated size")
    parser.add_argument("--max-doc-bytes", type=int, metavar="BYTES",
                        help="remove a document whose text is longer than this with reason "
                        "too_long, without scanning it (default 16 MiB; 0: no cap)")
    parser.add_argument("--batch-mb", type=float,
                        help="MB of text per batch the filter works on (default 64); with "
                        "--max-doc-bytes it bounds a worker's memory")
    parser.add_argument("--split-mb", type=float, default=1024,
                        help="split Parquet files larger than this across workers by "
                        "row-group ranges (default 1024; 0: never)")
    parser.add_argument("--executor", choices=("local", "ray"), default="local",
                        help="who runs the shards: local worker processes (default) or a Ray "
                        "cluster (pip install 'filter-engine[ray]'); same outputs either way")
    parser.add_argument("--address", metavar="ADDR",
                        help="with --executor ray: the cluster's address (default: the "
                        "RAY_ADDRESS environment variable, else a new local Ray)")
    parser.add_argument("--progress", choices=("auto", "bar", "plain", "none"), default="auto",
                        help="live bar on a terminal, plain log lines otherwise (default auto)")


def main(args) -> int:
    from engine.errors import fail
    from engine.execution.progress import Progress
    from engine.execution.runner import default_workers, run
    from engine.filter.spec import FilterSpec

    spec = FilterSpec.load(args.config)
    changes = {k: v for k, v in (("mode", args.mode), ("text_column", args.text_column)) if v}
    if changes:
        spec = spec.with_options(**changes)
    if args.workers is not None and args.workers < 1:
        raise fail("E001", argument="--workers", problem=f"{args.workers} must be >= 1")
    if args.max_doc_bytes is not None and args.max_doc_bytes < 0:
        raise fail("E001", argument="--max-doc-bytes",
                   problem=f"{args.max_doc_bytes} must be >= 0 (0: no cap)")
    cap = {} if args.max_doc_bytes is None else {"max_doc_bytes": args.max_doc_bytes or None}
    if args.batch_mb is not None and args.batch_mb <= 0:
        raise fail("E001", argument="--batch-mb", problem=f"{args.batch_mb} must be > 0")
    if args.dry_run:
        from engine.execution.dryrun import dry_run

        estimate = dry_run(args.inputs, spec, args.sample_rows,
                           args.workers or default_workers())
        print(estimate.summary())
        return 0
    progress = None
    if args.progress != "none":
        live = {"auto": None, "bar": True, "plain": False}[args.progress]
        progress = Progress(live=live)  # the run tells it which shards are left ("plan")
    if args.address and args.executor != "ray":
        raise fail("E001", argument="--address", problem="only with --executor ray")
    runner, where = run, {"workers": args.workers}
    if args.executor == "ray":  # the same run, its shards scheduled by Ray
        from engine.ray import run as runner

        where = {"address": args.address, "actors": args.workers}
    result = runner(
        args.inputs, args.output, spec, max_retries=args.max_retries, **where,
        shard_timeout=args.shard_timeout, force=args.force, progress=progress,
        row_group_bytes=int(args.row_group_mb * 1e6) if args.row_group_mb else None,
        max_decompressed_bytes=args.max_decompressed_bytes,
        max_unit_bytes=int(args.split_mb * 1e6) or None, **cap,
        batch_bytes=int(args.batch_mb * 1e6) if args.batch_mb else None,
    )
    print(result.summary(), file=sys.stderr)
    return result.exit_code
