"""``filter-engine train``: a hashed word (+ char) n-gram model from labeled Parquet/JSONL."""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np

from engine.classify.card import sha256_of
from engine.classify.hashed import save_hashed_model
from engine.errors import UsageError
from engine.train.metrics import report
from engine.train.trainer import TrainConfig, featurize, read_labeled, split_indices, train

HYPER_HELP = {
    "epochs": "passes over the training split",
    "lr": "Adam step size, decayed linearly to 0",
    "batch_size": "documents per update",
    "word_ngrams": "longest word n-gram (1 = words only)",
    "bucket": "hash buckets for n-grams; the model holds vocab + bucket floats",
    "minn": "shortest character n-gram (with --maxn; 0 = none)",
    "maxn": "longest character n-gram (0 = no character n-grams)",
    "min_count": "words seen fewer times in training are out of vocabulary",
    "l2": "L2 penalty on the weights",
    "seed": "seed of the train/validation split and the shuffling",
}

NAME = "train"
HELP = "Train a native hashed n-gram classifier (fastText features, NumPy trainer)."


def add_arguments(parser) -> None:
    parser.add_argument("data", nargs="+", type=Path, help="Parquet or JSON-lines files")
    parser.add_argument("-o", "--out", required=True, type=Path, help="model directory")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--score-label", help="label whose probability the model scores "
                        "(default: the last label in sorted order)")
    parser.add_argument("--name", help="model name (default: the output directory's name)")
    parser.add_argument("--valid-fraction", type=float, default=0.2,
                        help="held-out share for the card's quality figures")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--licence", default="unknown (set --licence to the data's licence)")
    parser.add_argument("--data-source", default="", help="where the data came from (card)")
    parser.add_argument("--rebuild", default="", help="how to rebuild this model from "
                        "scratch, e.g. a script path (recorded in the card)")
    for field, value in vars(TrainConfig()).items():
        parser.add_argument(f"--{field.replace('_', '-')}", type=type(value), default=value,
                            help=f"{HYPER_HELP[field]} (default {value})")


def main(args) -> int:
    config = TrainConfig(**{k: getattr(args, k) for k in vars(TrainConfig())})
    if not 0.0 < args.valid_fraction < 1.0:
        raise UsageError(f"--valid-fraction {args.valid_fraction} must be in (0, 1)")
    texts, raw_labels = read_labeled(args.data, args.text_column, args.label_column)
    labels = sorted(set(raw_labels))
    score_label = args.score_label or labels[-1]
    if score_label not in labels:
        raise UsageError(f"--score-label {score_label!r} is not among the labels {labels}")
    y = np.array([labels.index(x) for x in raw_labels], np.int64)
    train_rows, valid_rows = split_indices(len(y), args.valid_fraction, config.seed)
    words, spec, featurizer, model = train(texts.take(train_rows), y[train_rows], labels,
                                           config)
    ids, offsets = featurize(featurizer, texts.take(valid_rows))
    probs = model.probabilities(ids, offsets)
    index = labels.index(score_label)
    quality = report(y[valid_rows] == index, probs[:, index], args.threshold)
    quality["accuracy_argmax"] = round(float(np.mean(probs.argmax(1) == y[valid_rows])), 4)
    quality["split"] = (f"seeded shuffle (seed {config.seed}): {len(train_rows)} train, "
                        f"{len(valid_rows)} held out")
    table = model.table[:, 0] if spec["activation"] == "binary" else model.table
    out = save_hashed_model(
        args.out, name=args.name or args.out.name, words=words, table=table, spec=spec,
        labels=labels, score_label=score_label, threshold=args.threshold,
        extra={
            "description": f"Hashed word n-gram (n <= {config.word_ngrams}) linear model "
                           "trained by filter-engine train on "
                           f"{args.data_source or 'the data below'}.",
            "provenance": {
                "command": command_line(args),
                "data": [{"file": p.name, "sha256": sha256_of(p)} for p in args.data],
                "data_source": args.data_source,
                "rebuild": args.rebuild,
                "rows": len(y), "labels": {lab: int(np.sum(y == i))
                                           for i, lab in enumerate(labels)},
                "hyperparameters": vars(config),
            },
            "licence": args.licence,
            "quality": {"held_out": quality},
        },
    )
    best = quality["best_f1"]
    at = quality["at_threshold"]
    print(f"wrote {out}: held-out {len(valid_rows)} rows, P {at['precision']} "
          f"R {at['recall']} F1 {at['f1']} at {args.threshold}; ROC-AUC {quality['roc_auc']}; "
          f"best F1 {best['f1']} at {best['threshold']}")
    return 0


def command_line(args) -> str:
    """The command that reproduces this model (every setting spelled out)."""
    words = ["filter-engine", "train", *(p.name for p in args.data), "-o", args.out.name,
             "--text-column", args.text_column, "--label-column", args.label_column,
             "--valid-fraction", str(args.valid_fraction), "--threshold", str(args.threshold)]
    if args.score_label:
        words += ["--score-label", args.score_label]
    for field in vars(TrainConfig()):
        words += [f"--{field.replace('_', '-')}", str(getattr(args, field))]
    return " ".join(shlex.quote(w) for w in words)
