"""Binary classification quality: precision/recall/F1 at a threshold, ROC-AUC, PR curve.

Plain NumPy so that ``train`` and ``eval`` (and the model cards they write) need no
scikit-learn. ``positive`` is a bool array (the score label), ``scores`` its probability.
"""

from __future__ import annotations

import numpy as np


def at_threshold(positive: np.ndarray, scores: np.ndarray, threshold: float) -> dict:
    """Counts and precision/recall/F1/accuracy of ``scores >= threshold``."""
    flagged = scores >= threshold
    tp = int(np.sum(flagged & positive))
    fp = int(np.sum(flagged & ~positive))
    fn = int(np.sum(~flagged & positive))
    tn = int(np.sum(~flagged & ~positive))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"threshold": round(float(threshold), 6), "precision": round(precision, 4),
            "recall": round(recall, 4), "f1": round(f1, 4),
            "accuracy": round((tp + tn) / max(len(scores), 1), 4),
            "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def roc_auc(positive: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties)."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), np.float64)
    sorted_scores = scores[order]
    # average rank over runs of equal scores
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], len(scores)]
    average = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(average, ends - starts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def pr_curve(positive: np.ndarray, scores: np.ndarray):
    """``(thresholds, precision, recall)`` at every distinct score, thresholds descending."""
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], positive[order]
    tp = np.cumsum(y)
    fp = np.cumsum(~y)
    last = np.r_[s[1:] != s[:-1], True]
    tp, fp, thresholds = tp[last], fp[last], s[last]
    precision = tp / np.maximum(tp + fp, 1)
    recall = tp / max(int(positive.sum()), 1)
    return thresholds, precision, recall


def best_f1(positive: np.ndarray, scores: np.ndarray) -> dict:
    """The metrics at the threshold with the highest F1."""
    thresholds, precision, recall = pr_curve(positive, scores)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return at_threshold(positive, scores, float(thresholds[int(np.argmax(f1))]))


def report(positive: np.ndarray, scores: np.ndarray, threshold: float) -> dict:
    """Everything a model card records: metrics at ``threshold``, best F1, AUC, curve."""
    grid = np.round(np.arange(0.05, 1.0, 0.05), 2)
    return {
        "n": int(len(scores)),
        "positives": int(positive.sum()),
        "at_threshold": at_threshold(positive, scores, threshold),
        "best_f1": best_f1(positive, scores),
        "roc_auc": round(roc_auc(positive, scores), 5),
        "threshold_curve": [
            {k: v for k, v in at_threshold(positive, scores, t).items()
             if k in ("threshold", "precision", "recall", "f1")}
            for t in grid
        ],
    }
