"""``filter-engine eval``: a model's quality on labeled data, and its PR curve as PNG."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine.classify.classifier import Classifier
from engine.errors import UsageError
from engine.train.metrics import at_threshold, best_f1, pr_curve, roc_auc
from engine.train.trainer import read_labeled

NAME = "eval"
HELP = "Precision/recall/F1/ROC-AUC of a model on labeled Parquet/JSONL, plus a PR curve PNG."


def add_arguments(parser) -> None:
    parser.add_argument("model", type=Path, help="model directory")
    parser.add_argument("data", nargs="+", type=Path, help="Parquet or JSON-lines files")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--png", type=Path, help="write the PR curve here (needs matplotlib)")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument("--threads", type=int, default=1)


def main(args) -> int:
    clf = Classifier.load(args.model, threads=args.threads)
    texts, labels = read_labeled(args.data, args.text_column, args.label_column)
    unknown = sorted(set(labels) - set(clf.labels))
    if unknown:
        raise UsageError(f"labels {unknown[:5]} in the data are not the model's {clf.labels}; "
                         "is --label-column right?")
    positive = np.array([x == clf.score_label for x in labels])
    scores = clf.score(texts).astype(np.float64)
    result = {
        "model": clf.name,
        "score_label": clf.score_label,
        "n": len(scores),
        "positives": int(positive.sum()),
        "at_card_threshold": at_threshold(positive, scores, clf.threshold),
        "best_f1": best_f1(positive, scores),
        "roc_auc": round(roc_auc(positive, scores), 5),
    }
    for key in ("at_card_threshold", "best_f1"):
        m = result[key]
        print(f"{key:>17}: threshold {m['threshold']:.4f}  P {m['precision']:.4f}  "
              f"R {m['recall']:.4f}  F1 {m['f1']:.4f}  (tp {m['tp']} fp {m['fp']} "
              f"fn {m['fn']} tn {m['tn']})")
    print(f"{'ROC-AUC':>17}: {result['roc_auc']:.5f}  over {len(scores)} rows, "
          f"{result['positives']} '{clf.score_label}'")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.png:
        write_pr_png(args.png, positive, scores, clf, result)
    return 0


def write_pr_png(path: Path, positive, scores, clf, result) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise UsageError("--png needs matplotlib (pip install 'filter-engine[train]')") from err
    _, precision, recall = pr_curve(positive, scores)
    fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
    ax.plot(recall, precision, lw=1.5)
    for key, marker in (("at_card_threshold", "o"), ("best_f1", "s")):
        m = result[key]
        ax.plot(m["recall"], m["precision"], marker, label=f"{key} {m['threshold']:.3f}")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"{clf.name}: '{clf.score_label}' (AUC {result['roc_auc']:.4f})")
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.01)
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    print(f"wrote {path}")
