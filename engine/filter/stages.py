"""The filter's stages: blocklist matching, classification, and the decision.

Each stage holds only its config until first use, so a ``Filter`` is cheap to send to a
worker process; the matcher automaton (memory-mapped from its saved form when the runner
prepared one) and the model sessions are loaded there, once. A stage turns a text column
into named NumPy columns (``blocklist.count``, ``spam.score``...) that the rules read.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from engine.filter.rules import Rule
from engine.filter.spec import BlocklistSpec, ClassifierSpec


class BlocklistStage:
    """Count blocklist matches per row: total, distinct patterns, weight, per category.

    Args:
        spec: the stage's files and options.
        saved: path of the matcher's saved automaton (workers map it instead of building).
    """

    def __init__(self, spec: BlocklistSpec, saved: str | None = None):
        self.spec = spec
        self.saved = saved
        self._matcher = None

    @property
    def matcher(self):
        if self._matcher is None:
            from engine.match.matcher import Matcher

            if self.saved:
                self._matcher = Matcher.load(self.saved)
            else:
                self._matcher = Matcher.from_files(
                    self.spec.files, ignore_case=self.spec.ignore_case,
                    whole_words=self.spec.whole_words, normalize=self.spec.normalize)
        return self._matcher

    def __getstate__(self):
        return {"spec": self.spec, "saved": self.saved, "_matcher": None}

    def run(self, text: pa.Array) -> dict[str, np.ndarray]:
        """Columns for the rules (the caller has already set invalid UTF-8 rows to null)."""
        result = self.matcher.scan(text)
        name = self.spec.name
        columns = {
            f"{name}.count": result.total,
            f"{name}.distinct": result.distinct,
            f"{name}.weight": result.weight,
        }
        for category in self.spec.categories:
            if category in result.categories:
                columns[f"{name}.{category}"] = result.category(category)
            else:
                columns[f"{name}.{category}"] = np.zeros(len(result.total), np.int32)
        return columns

    def terms(self, text: pa.Array) -> pa.ListArray:
        """Distinct matched patterns per row (a list column, in pattern-id order).

        ``text`` must hold only valid UTF-8 (nulls allowed).
        """
        spans = self.matcher.spans(text)
        n = len(text)
        pairs = np.unique(np.stack([spans.row.astype(np.int64),
                                    spans.pattern_id.astype(np.int64)], axis=1), axis=0) \
            if len(spans) else np.zeros((0, 2), np.int64)
        rows, ids = pairs[:, 0], pairs[:, 1]
        offsets = np.zeros(n + 1, np.int32)
        np.cumsum(np.bincount(rows, minlength=n), out=offsets[1:])
        names = pa.array(self.matcher.patterns, pa.string())
        values = names.take(pa.array(ids, pa.int64()))
        return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)


class ClassifierStage:
    """Score rows with one model; with ``run_if``, only the rows the rule selects.

    Rows not scored (nulls, rows the cascade skipped) get NaN, which every comparison in a
    rule treats as false.
    """

    def __init__(self, spec: ClassifierSpec, run_if: Rule | None = None):
        self.spec = spec
        self.run_if = run_if
        self._model = None

    @property
    def model(self):
        if self._model is None:
            from engine.classify.classifier import Classifier

            self._model = Classifier.load(self.spec.model, device=self.spec.device,
                                          threads=self.spec.threads)
        return self._model

    def __getstate__(self):
        return {"spec": self.spec, "run_if": self.run_if, "_model": None}

    def run(self, text: pa.Array, columns: dict, usable: np.ndarray) -> dict[str, np.ndarray]:
        """Score columns (``name.score`` and per-label) for the rows that are selected."""
        n = len(text)
        selected = usable.copy()
        if self.run_if is not None:
            selected &= self.run_if.evaluate(columns, n)
        index = np.flatnonzero(selected)
        labels = self.spec.labels
        name = self.spec.name
        score = np.full(n, np.nan, np.float32)
        per_label = np.full((n, len(labels)), np.nan, np.float32)
        if len(index):
            subset = text if len(index) == n else text.take(pa.array(index))
            if labels:  # one inference gives every label; the score is one column of it
                probs = self.model.score(subset, all_labels=True)
                per_label[index] = probs
                score[index] = probs[:, list(self.model.labels).index(self.model.score_label)]
            else:
                score[index] = self.model.score(subset)
        out = {f"{name}.score": score}
        for j, label in enumerate(labels):
            out[f"{name}.{label}"] = per_label[:, j]
        return out


def decide(drops: list[tuple[str, Rule]], columns: dict, n: int,
           eligible: np.ndarray) -> np.ndarray:
    """Index of the first drop rule that holds per row, or -1 to keep it."""
    reason = np.full(n, -1, np.int16)
    for i, (_, rule) in enumerate(drops):
        hit = rule.evaluate(columns, n) & eligible & (reason < 0)
        reason[hit] = i
    return reason
