"""A whole filter measured on labelled text: ``filter-engine eval -c`` as a library call.

"Positive" means a label that is not one of the benign labels (``--benign-label``, by default
just ``benign``); "flagged" means the filter removed the row. Rows with an excluded label
never get here (``read_labelled``).
Rows whose text is not valid UTF-8 are counted apart (``unreadable``) and left out of
every rate. Precision with nothing removed is reported as null, not 1.

The result (``FilterEvaluation.result``, written as ``result.json``)::

    config, data, split, benign_labels, seed    what was measured
    rows, unreadable, removed, removal_rate     over readable rows
    benign_fpr                                  removed benign / benign rows
    seconds, rows_per_second                    the filter's time over the set
    detection:
      all:          D                           every readable row
      list_source:  {"true": D, "false": D}     benign rows + the hazard rows whose
                                                list_source is true (false); null when the
                                                set has no list_source column. "false" is
                                                the held-out figure: sources no list was
                                                built from.
      D = {rows, positives, removed, tp, fp, fn, tn, precision, recall, f1, benign_fpr,
           per_label: {label: {rows, removed, recall, precision}}}
           (a hazard label's precision: its removed rows / (those + removed benign rows);
           null where the set has no row of the label)
    labels:     {label: {rows, removed, removal_rate}}
    categories, sources: {value: G} (null without the column), G = {rows, removed,
                removal_rate, benign_rows, benign_removed, hazard_rows, hazard_removed}
    reasons:    [{reason, rule, stages, removed, removed_by_label, alone, alone_by_label}]
                removed: rows this reason removed (the first rule that held, as in a run);
                alone: rows its rule holds on by itself, whatever the rules before it did
    stages:     [{name, kind: "blocklist", rows_hit, rows_hit_by_label, removed_by_its_rules}
                 | {name, kind: "classifier", rows_scored, scored_by_label,
                    removed_by_its_rules, pr: {rows, positives, roc_auc,
                    at_card_threshold, best_f1} | null}]
                removed_by_its_rules: removed rows whose reason's rule reads the stage;
                pr: the stage's score against positive, over the rows it scored
    terms:      {blocklist stage: {false_positives | true_positives | false_negatives:
                 [{term, categories, weight, rows}]}}  (top ``TOP_TERMS`` each; rows that
                 matched the term among benign removed / hazard removed / hazard kept)
    samples:    {false_positives: [S], false_negatives: {label: [S]}}, S from
                ``engine.quality.samples.describe`` (seeded; N per label)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.filter.apply import Filter
from engine.filter.spec import FilterSpec
from engine.filter.stages import BlocklistStage, ClassifierStage
from engine.quality import samples
from engine.quality.trace import Trace, trace
from engine.train.metrics import at_threshold, best_f1, roc_auc

#: Terms listed per kind (false positives, true positives, false negatives) and stage.
TOP_TERMS = 50


@dataclass(frozen=True)
class FilterEvaluation:
    """A filter measured on a labelled set.

    Attributes:
        result: the JSON-able figures (schema in the module docstring).
        trace: every row's reason, terms and scores (``engine.quality.trace.Trace``).
        positive: ``bool[rows]``: the row's label is not the benign label.
    """

    result: dict[str, Any]
    trace: Trace
    positive: np.ndarray


def evaluate_filter(spec: FilterSpec, table: pa.Table, *,
                    benign_labels: Sequence[str] = ("benign",),
                    max_doc_bytes: int | None = None, samples_per_label: int = 5,
                    seed: int = 0, data: Sequence[str | Path] = (),
                    split: str | None = None) -> FilterEvaluation:
    """Run the filter over a labelled table (``engine.quality.labelled``) and measure it.

    Args:
        spec: the filter.
        table: ``text`` and ``label`` columns, optionally ``id``, ``category``, ``source``,
            ``list_source``.
        benign_labels: the labels of rows that should be kept; every other is hazard.
        max_doc_bytes: the run's cap on one document (longer: removed as ``too_long``).
        samples_per_label: false positives, and false negatives per hazard label, to list.
        seed: of the samples.
        data, split: recorded in the result.
    """
    flt = Filter(spec).load()  # the matchers and models, before the clock starts
    started = time.perf_counter()
    found = trace(flt, table["text"], max_doc_bytes=max_doc_bytes)
    seconds = time.perf_counter() - started
    labels = np.asarray(table["label"].to_numpy(zero_copy_only=False), dtype=object)
    readable = ~found.unreadable
    positive = ~np.isin(labels, list(benign_labels))
    removed = found.removed
    benign = readable & ~positive
    n = int(readable.sum())
    result: dict[str, Any] = {
        "config": spec.source,
        "data": [str(p) for p in data],
        "split": split,
        "benign_labels": list(benign_labels),
        "seed": seed,
        "rows": n,
        "unreadable": int(found.unreadable.sum()),
        "removed": int(removed.sum()),
        "removal_rate": _rate(removed.sum(), n),
        "benign_fpr": _rate((removed & benign).sum(), benign.sum()),
        "seconds": round(seconds, 3),
        "rows_per_second": round(len(labels) / seconds) if seconds else None,
    }
    hazard_labels = sorted(set(labels[readable & positive].tolist()))
    result["detection"] = {"all": detection(removed, positive, labels, readable,
                                            hazard_labels)}
    if "list_source" in table.column_names:
        listed = pc.fill_null(table["list_source"], False).to_numpy(zero_copy_only=False)
        result["detection"]["list_source"] = {
            key: detection(removed, positive, labels,
                           readable & (~positive | (listed == value)), hazard_labels)
            for key, value in (("true", True), ("false", False))}
    else:
        result["detection"]["list_source"] = None
    result["labels"] = {
        label: _share(removed, readable & (labels == label))
        for label in [*benign_labels, *hazard_labels] if (labels == label).any()}
    for column, key in (("category", "categories"), ("source", "sources")):
        result[key] = (_groups(table[column], removed, readable, positive)
                       if column in table.column_names else None)
    result["reasons"] = _reasons(found, labels, readable)
    result["stages"] = _stages(flt, found, labels, readable, positive)
    result["terms"] = _terms(found, removed & readable, positive)
    result["samples"] = {
        "false_positives": samples.describe(samples.pick(
            np.flatnonzero(removed & benign), samples_per_label, seed, "false_positives"),
            table, found),
        "false_negatives": {
            label: samples.describe(samples.pick(
                np.flatnonzero(readable & ~removed & (labels == label)), samples_per_label,
                seed, label), table, found)
            for label in hazard_labels},
    }
    return FilterEvaluation(result, found, positive)


def detection(removed: np.ndarray, positive: np.ndarray, labels: np.ndarray,
              rows: np.ndarray, hazard_labels: list[str]) -> dict[str, Any]:
    """Precision/recall/F1 of ``removed`` against ``positive`` over the rows in ``rows``."""
    tp = int((removed & positive & rows).sum())
    fp = int((removed & ~positive & rows).sum())
    fn = int((~removed & positive & rows).sum())
    tn = int((~removed & ~positive & rows).sum())
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = (2 * precision * recall / (precision + recall)
          if precision and recall else (0.0 if precision is not None and recall is not None
                                        else None))
    per_label = {}
    for label in hazard_labels:
        mine = rows & (labels == label)
        hit = int((removed & mine).sum())
        per_label[label] = {
            "rows": int(mine.sum()), "removed": hit,
            "recall": _rate(hit, mine.sum()),
            "precision": _rate(hit, hit + fp) if hit + fp and mine.any() else None}
    return {"rows": int(rows.sum()), "positives": tp + fn, "removed": tp + fp,
            "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "precision": _round(precision), "recall": _round(recall), "f1": _round(f1),
            "benign_fpr": _rate(fp, fp + tn), "per_label": per_label}


def _rate(part: Any, whole: Any) -> float | None:
    """``part / whole`` rounded, or None for an empty whole (counts may be NumPy ints)."""
    return round(int(part) / int(whole), 6) if int(whole) else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _share(removed: np.ndarray, rows: np.ndarray) -> dict[str, Any]:
    hit = int((removed & rows).sum())
    return {"rows": int(rows.sum()), "removed": hit, "removal_rate": _rate(hit, rows.sum())}


def _by_label(mask: np.ndarray, labels: np.ndarray) -> dict[str, int]:
    values, counts = np.unique(labels[mask].astype(str), return_counts=True)
    return dict(zip(values.tolist(), counts.tolist(), strict=True))


def _groups(column: pa.ChunkedArray, removed: np.ndarray, readable: np.ndarray,
            positive: np.ndarray) -> dict[str, dict[str, Any]]:
    """Removal per value of a column (null: ``"(none)"``), counted with ``bincount``."""
    encoded = pc.dictionary_encode(column.combine_chunks())
    names = [str(v) for v in encoded.dictionary.to_pylist()] + ["(none)"]
    codes = encoded.indices.fill_null(len(names) - 1).to_numpy().astype(np.int64)

    def count(mask: np.ndarray) -> list[int]:
        return np.bincount(codes[mask], minlength=len(names)).tolist()

    rows, hit = count(readable), count(readable & removed)
    b_rows, b_hit = count(readable & ~positive), count(readable & ~positive & removed)
    groups = {}
    for i, name in enumerate(names):
        if rows[i]:
            groups[name] = {"rows": rows[i], "removed": hit[i],
                            "removal_rate": _rate(hit[i], rows[i]),
                            "benign_rows": b_rows[i], "benign_removed": b_hit[i],
                            "hazard_rows": rows[i] - b_rows[i],
                            "hazard_removed": hit[i] - b_hit[i]}
    return groups


def _reasons(found: Trace, labels: np.ndarray, readable: np.ndarray) -> list[dict[str, Any]]:
    out = []
    for code, (reason, rule) in enumerate(zip(found.reasons, found.rules, strict=True)):
        mine = found.reason == code
        alone = found.alone[:, code] & readable
        out.append({
            "reason": reason, "rule": rule, "stages": sorted(found.reads[code]),
            "removed": int(mine.sum()), "removed_by_label": _by_label(mine, labels),
            "alone": int(alone.sum()), "alone_by_label": _by_label(alone, labels)})
    return out


def _stages(flt: Filter, found: Trace, labels: np.ndarray, readable: np.ndarray,
            positive: np.ndarray) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    stages: list[BlocklistStage | ClassifierStage] = [*flt.blocklists, *flt.classifiers]
    for stage in stages:
        codes = [c for c, names in enumerate(found.reads) if stage.name in names]
        by_rules = int(np.isin(found.reason, codes).sum()) if codes else 0
        if stage.name in found.hits:
            hit = (found.hits[stage.name] > 0) & readable
            out.append({"name": stage.name, "kind": "blocklist", "rows_hit": int(hit.sum()),
                        "rows_hit_by_label": _by_label(hit, labels),
                        "removed_by_its_rules": by_rules})
            continue
        scores = found.scores[stage.name]
        scored = ~np.isnan(scores) & readable
        out.append({"name": stage.name, "kind": "classifier", "rows_scored": int(scored.sum()),
                    "scored_by_label": _by_label(scored, labels),
                    "removed_by_its_rules": by_rules,
                    "pr": pr_figures(positive[scored], scores[scored].astype(np.float64),
                                     found.thresholds[stage.name])})
    return out


def pr_figures(positive: np.ndarray, scores: np.ndarray, threshold: float,
               ) -> dict[str, Any] | None:
    """ROC-AUC, the card threshold's and the best-F1 operating points (None: one class)."""
    if not len(scores) or positive.all() or not positive.any():
        return None
    return {"rows": len(scores), "positives": int(positive.sum()),
            "roc_auc": round(roc_auc(positive, scores), 5),
            "at_card_threshold": at_threshold(positive, scores, threshold),
            "best_f1": best_f1(positive, scores)}


def _terms(found: Trace, removed: np.ndarray, positive: np.ndarray,
           ) -> dict[str, dict[str, list[dict[str, Any]]]]:
    kinds = {"false_positives": removed & ~positive, "true_positives": removed & positive,
             "false_negatives": ~removed & positive & ~found.unreadable}
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for name, column in found.terms.items():
        info = found.term_info[name]
        out[name] = {}
        for kind, mask in kinds.items():
            flat = pc.list_flatten(column.filter(pa.array(mask)))
            counts = pc.value_counts(flat) if len(flat) else pa.array(
                [], pa.struct([("values", pa.string()), ("counts", pa.int64())]))
            pairs = sorted(zip(counts.field("values").to_pylist(),
                               counts.field("counts").to_pylist(), strict=True),
                           key=lambda p: (-p[1], p[0]))[:TOP_TERMS]
            out[name][kind] = [{**info[term].to_dict(), "rows": rows} for term, rows in pairs]
    return out
