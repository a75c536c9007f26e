"""A model's quality on labeled data: ``filter-engine eval`` as a library call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.classify.classifier import Classifier
from engine.errors import fail
from engine.train.metrics import at_threshold, best_f1, pr_curve, roc_auc
from engine.train.trainer import read_labeled


@dataclass(frozen=True)
class Evaluation:
    """A model scored on labeled rows.

    Attributes:
        figures: ``model``, ``score_label``, ``n``, ``positives``, ``at_card_threshold``
            and ``best_f1`` (``metrics.at_threshold`` dicts), ``roc_auc``.
        positive: ``bool[n]``, True where the row's label is the model's score label.
        scores: ``float64[n]``, the model's probability of that label.
    """

    figures: dict[str, Any]
    positive: np.ndarray
    scores: np.ndarray

    def write_pr_png(self, path: str | Path) -> Path:
        """Draw the precision/recall curve with both operating points (needs matplotlib)."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as err:
            raise fail("E005", feature="the PR curve (--png)", package="matplotlib",
                       install="'filter-engine[train]'") from err
        _, precision, recall = pr_curve(self.positive, self.scores)
        fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
        ax.plot(recall, precision, lw=1.5)
        for key, marker in (("at_card_threshold", "o"), ("best_f1", "s")):
            m = self.figures[key]
            ax.plot(m["recall"], m["precision"], marker, label=f"{key} {m['threshold']:.3f}")
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_title(f"{self.figures['model']}: '{self.figures['score_label']}' "
                     f"(AUC {self.figures['roc_auc']:.4f})")
        ax.set_xlim(0, 1.01)
        ax.set_ylim(0, 1.01)
        ax.legend(loc="lower left")
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        return Path(path)


def evaluate_model(
    model_dir: str | Path,
    data: Sequence[str | Path],
    *,
    text_column: str = "text",
    label_column: str = "label",
    threads: int = 1,
) -> Evaluation:
    """Score labeled Parquet/JSON-lines files with a model and measure it.

    Args:
        model_dir: the model directory.
        data: the labeled files.
        text_column, label_column: the columns to read.
        threads: onnxruntime intra-op threads.

    Returns:
        An ``Evaluation``. Raises ``UsageError`` if the data holds labels the model does
        not know (a wrong label column, most likely).
    """
    clf = Classifier.load(model_dir, threads=threads)
    texts, labels = read_labeled(data, text_column, label_column)
    unknown = sorted(set(labels) - set(clf.labels))
    if unknown:
        raise fail("E001", argument="--label-column", problem=f"labels {unknown[:5]} in the "
                   f"data are not the model's {list(clf.labels)}; is it the right column?")
    positive = np.array([x == clf.score_label for x in labels], bool)
    scores = clf.score(texts).astype(np.float64)
    figures = {
        "model": clf.name,
        "score_label": clf.score_label,
        "n": len(scores),
        "positives": int(positive.sum()),
        "at_card_threshold": at_threshold(positive, scores, clf.threshold),
        "best_f1": best_f1(positive, scores),
        "roc_auc": round(roc_auc(positive, scores), 5),
    }
    return Evaluation(figures, positive, scores)
