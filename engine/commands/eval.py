"""``filter-engine eval``: a model's quality, or a whole filter's, on labelled data.

Two forms, told apart by ``-c``:

* ``eval MODEL DATA...``: one model's precision/recall/F1/ROC-AUC and its PR curve
  (``engine.train.evaluate.evaluate_model``);
* ``eval -c TOML DATA.parquet... [--split test] [-o OUTDIR]``: the whole filter, decided as
  ``filter-engine run`` decides, measured against the labels (``engine.quality``): the
  Markdown summary is printed, and OUTDIR gets ``result.json``, ``summary.md`` and the PNGs.

Argument parsing and printing only.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine.commands._labelled_args import add_label_arguments

NAME = "eval"
HELP = ("measure on labelled data: one model (eval MODEL DATA...) or a whole filter "
        "(eval -c TOML DATA... : removal and P/R per label, per reason, samples, plots)")

#: Options of each form; giving one to the other form is a usage error.
_MODEL_ONLY = ("png", "threads")
_FILTER_ONLY = ("split", "output", "benign_label", "exclude_label", "id_column", "category_column",
                "source_column", "list_source_column", "split_column", "samples", "seed",
                "max_doc_bytes", "no_plots")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.usage = ("filter-engine eval MODEL DATA... [options]\n"
                    "       filter-engine eval -c TOML DATA... [--split S] [-o OUTDIR] "
                    "[options]")
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                        help="MODEL (a model directory) then DATA files; with -c, DATA only "
                        "(Parquet with -c; Parquet or JSON lines for a model)")
    parser.add_argument("-c", "--config", metavar="TOML",
                        help="evaluate this whole filter ('default': the shipped one)")
    parser.add_argument("--text-column", help="text column (default: 'text', or the "
                        "config's text_column with -c)")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    model = parser.add_argument_group("one model (eval MODEL DATA...)")
    model.add_argument("--png", type=Path, help="write the PR curve here (needs matplotlib)")
    model.add_argument("--threads", type=int, help="onnxruntime threads (default 1)")
    whole = parser.add_argument_group("a whole filter (eval -c TOML DATA...)")
    whole.add_argument("-o", "--output", type=Path, metavar="OUTDIR",
                       help="write result.json, summary.md, removal_by_reason.png and "
                       "pr_<stage>.png here")
    add_label_arguments(whole, split_example="test")
    for name in ("id", "category", "source", "list_source", "split"):
        whole.add_argument(f"--{name.replace('_', '-')}-column",
                           help=f"(default {name}; optional column)")
    whole.add_argument("--samples", type=int, help="false positives, and false negatives per "
                       "hazard label, to list with their terms and scores (default 5)")
    whole.add_argument("--seed", type=int, help="seed of the samples (default 0)")
    whole.add_argument("--max-doc-bytes", type=int, metavar="BYTES",
                       help="as for run: longer documents are removed as too_long (default "
                       "16 MiB; 0: no cap)")
    whole.add_argument("--no-plots", action="store_true", help="write no PNGs")


def main(args: argparse.Namespace) -> int:
    from engine.errors import fail

    given = {k for k, v in vars(args).items() if v not in (None, False)}
    wrong = given & set(_MODEL_ONLY if args.config else _FILTER_ONLY)
    if wrong:
        option = "--" + sorted(wrong)[0].replace("_", "-")
        form = "a whole filter (-c)" if args.config else "one model (without -c)"
        raise fail("E001", argument=option, problem=f"is not an option of eval for {form}; "
                   "see filter-engine eval --help")
    return _filter(args) if args.config else _model(args)


def _model(args: argparse.Namespace) -> int:
    from engine.errors import fail
    from engine.train.evaluate import evaluate_model

    if len(args.paths) < 2:
        raise fail("E001", argument="PATH", problem="give a model directory and data files "
                   "(or -c TOML and data files to evaluate a whole filter)")
    evaluation = evaluate_model(args.paths[0], args.paths[1:],
                                text_column=args.text_column or "text",
                                label_column=args.label_column, threads=args.threads or 1)
    result = evaluation.figures
    for key in ("at_card_threshold", "best_f1"):
        m = result[key]
        print(f"{key:>17}: threshold {m['threshold']:.4f}  P {m['precision']:.4f}  "
              f"R {m['recall']:.4f}  F1 {m['f1']:.4f}  (tp {m['tp']} fp {m['fp']} "
              f"fn {m['fn']} tn {m['tn']})")
    print(f"{'ROC-AUC':>17}: {result['roc_auc']:.5f}  over {result['n']} rows, "
          f"{result['positives']} '{result['score_label']}'")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.png:
        print(f"wrote {evaluation.write_pr_png(args.png)}")
    return 0


def _filter(args: argparse.Namespace) -> int:
    from engine.errors import fail
    from engine.execution.job import MAX_DOC_BYTES
    from engine.filter.spec import FilterSpec
    from engine.quality.filter_eval import evaluate_filter
    from engine.quality.labelled import Columns, read_labelled
    from engine.quality.summary import markdown

    spec = FilterSpec.load(args.config)
    if args.text_column:
        spec = spec.with_options(text_column=args.text_column)
    for name in ("samples", "max_doc_bytes"):
        value = getattr(args, name)
        if value is not None and value < 0:
            raise fail("E001", argument="--" + name.replace("_", "-"),
                       problem=f"{value} must be >= 0")
    columns = Columns(text=spec.text_column, label=args.label_column, **{
        name: getattr(args, f"{name}_column") or name
        for name in ("id", "category", "source", "list_source", "split")})
    table = read_labelled(args.paths, columns, args.split, exclude=args.exclude_label or ())
    cap = MAX_DOC_BYTES if args.max_doc_bytes is None else (args.max_doc_bytes or None)
    evaluation = evaluate_filter(
        spec, table, benign_labels=args.benign_label or ["benign"], max_doc_bytes=cap,
        samples_per_label=5 if args.samples is None else args.samples, seed=args.seed or 0,
        data=args.paths, split=args.split)
    summary = markdown(evaluation.result)
    print(summary, end="")
    text = json.dumps(evaluation.result, indent=2, ensure_ascii=False) + "\n"
    if args.json:
        args.json.write_text(text, encoding="utf-8")
    if args.output:
        args.output.mkdir(parents=True, exist_ok=True)
        (args.output / "result.json").write_text(text, encoding="utf-8")
        (args.output / "summary.md").write_text(summary, encoding="utf-8")
        written = [args.output / "result.json", args.output / "summary.md"]
        if not args.no_plots:
            from engine.quality.plots import write_plots

            written += write_plots(evaluation, args.output)
        print("\nwrote " + ", ".join(str(p) for p in written))
    return 0
