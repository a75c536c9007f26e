"""``filter-engine eval``: a model's quality on labeled data, and its PR curve as PNG.

Argument parsing and printing only; the work is ``engine.train.evaluate.evaluate_model``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

NAME = "eval"
HELP = "Precision/recall/F1/ROC-AUC of a model on labeled Parquet/JSONL, plus a PR curve PNG."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="model directory")
    parser.add_argument("data", nargs="+", type=Path, help="Parquet or JSON-lines files")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--png", type=Path, help="write the PR curve here (needs matplotlib)")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument("--threads", type=int, default=1)


def main(args: argparse.Namespace) -> int:
    from engine.train.evaluate import evaluate_model

    evaluation = evaluate_model(args.model, args.data, text_column=args.text_column,
                                label_column=args.label_column, threads=args.threads)
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
