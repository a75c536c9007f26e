"""``filter-engine train``: a hashed word (+ char) n-gram model from labeled Parquet/JSONL.

Argument parsing only; the work is ``engine.train.trainer.train_model``.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from engine.train.config import TrainConfig

NAME = "train"
HELP = "Train a native hashed n-gram classifier (fastText features, NumPy trainer)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", nargs="+", type=Path, help="Parquet or JSON-lines files")
    parser.add_argument("-o", "--out", required=True, type=Path, help="model directory")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--score-label", help="label whose probability the model scores "
                        "(default: the last label in sorted order)")
    parser.add_argument("--name", help="model name (default: the output directory's name)")
    parser.add_argument("--valid", action="append", type=Path, default=[], metavar="FILE",
                        help="validation file (repeatable): the shipped model is measured "
                        "on it; without it, a model trained on a seeded split is measured on "
                        "the held-out rows. Either way the shipped weights are trained on "
                        "all of DATA")
    parser.add_argument("--valid-fraction", type=float, default=0.2,
                        help="held-out share for the card's quality figures (without "
                        "--valid)")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--licence", default="unknown (set --licence to the data's licence)")
    parser.add_argument("--data-source", default="", help="where the data came from (card)")
    parser.add_argument("--rebuild", default="", help="how to rebuild this model from "
                        "scratch, e.g. a script path (recorded in the card)")
    defaults = TrainConfig()
    for field in fields(TrainConfig):
        value = getattr(defaults, field.name)
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=type(value),
                            default=value, help=f"{field.metadata['help']} (default {value})")


def main(args: argparse.Namespace) -> int:
    from engine.train.trainer import train_model

    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    result = train_model(
        args.data, args.out, text_column=args.text_column, label_column=args.label_column,
        score_label=args.score_label, name=args.name, valid=args.valid,
        valid_fraction=args.valid_fraction,
        threshold=args.threshold, licence=args.licence, data_source=args.data_source,
        rebuild=args.rebuild, config=config,
    )
    best, at = result.quality["best_f1"], result.quality["at_threshold"]
    measured = ("the shipped model on the validation file"
                if result.validation == "validation file" else
                "a model trained on the rest with the same settings")
    print(f"wrote {result.directory}: trained on all {result.train_rows} rows; measured on "
          f"{result.valid_rows} held-out rows ({measured}): P {at['precision']} "
          f"R {at['recall']} F1 {at['f1']} at {args.threshold}; ROC-AUC "
          f"{result.quality['roc_auc']}; best F1 {best['f1']} at {best['threshold']}")
    return 0
