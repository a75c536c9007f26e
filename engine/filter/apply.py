"""``engine.Filter``: a ``FilterSpec`` made live, applied to one batch or table.

``Filter(spec).apply(batch)`` runs ``match -> classify -> decide`` on the text column and
returns every row in exactly one place: ``kept``, ``removed`` (with a ``fe_reason`` column
and the stage columns that explain it) or ``unreadable`` (rows whose text is not valid
UTF-8, listed by index). In ``annotate`` mode every readable row is kept, with the decision
and stage columns added. The shard runner uses this same object, so a pipeline stage that
calls it gets exactly the columns and decisions a run over files writes.

Added columns: ``fe_reason`` (null when kept), ``fe_keep`` (annotate mode), per blocklist
``fe_<stage>_count``, ``_distinct``, ``_<category>``, ``_terms`` (distinct matched terms),
per classifier ``fe_<stage>_score`` (null where the model did not run).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import SchemaError
from engine.filter.spec import FilterSpec
from engine.filter.stages import BlocklistStage, ClassifierStage, decide

SCORE_BINS = 10


@dataclass
class FilterResult:
    """Where each row of one ``apply`` call went, and the counts for the report.

    Attributes:
        kept: kept rows (drop mode: the input's columns; annotate: all readable rows plus
            the ``fe_`` columns).
        removed: removed rows with ``fe_reason`` and stage columns (None in annotate mode).
        unreadable: ``(row, message)`` for rows whose text is not valid UTF-8.
        rows: rows in.
        by_reason: removed rows per reason.
        by_category: removed rows that matched each blocklist category (``stage.category``).
        terms: removed rows per matched term.
        scores: per classifier, a histogram of scores over ``SCORE_BINS`` bins of [0, 1].
        text_bytes: UTF-8 bytes of text in (the throughput measure).
    """

    kept: pa.Table
    removed: pa.Table | None
    unreadable: list[tuple[int, str]]
    rows: int
    by_reason: Counter = field(default_factory=Counter)
    by_category: Counter = field(default_factory=Counter)
    terms: Counter = field(default_factory=Counter)
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    text_bytes: int = 0

    @property
    def removed_rows(self) -> int:
        return sum(self.by_reason.values())


class Filter:
    """Apply a ``FilterSpec`` to Arrow data.

    Args:
        spec: the filter; ``FilterSpec.default()`` for the shipped one.
        saved_matchers: stage name -> path of a saved automaton (set by the runner so that
            workers memory-map one build instead of rebuilding it).
    """

    def __init__(self, spec: FilterSpec | None = None, saved_matchers: dict | None = None):
        self.spec = spec or FilterSpec.default()
        saved = saved_matchers or {}
        run_if, self.drops = self.spec.compile_rules()
        self.reasons = [reason for reason, _ in self.drops]
        self.blocklists = [BlocklistStage(b, saved.get(b.name)) for b in self.spec.blocklists]
        self.classifiers = [ClassifierStage(c, run_if.get(c.name)) for c in self.spec.classifiers]

    def load(self) -> Filter:
        """Load every matcher and model now (workers do this once, before any shard)."""
        for stage in self.blocklists:
            _ = stage.matcher
        for stage in self.classifiers:
            _ = stage.model
        return self

    def apply(self, data: pa.RecordBatch | pa.Table) -> FilterResult:
        """Split (or annotate) one batch or table; see ``FilterResult``."""
        if isinstance(data, pa.Table):
            batches = data.combine_chunks().to_batches() or [
                pa.RecordBatch.from_pylist([], schema=data.schema)]
            results = [self.apply(b) for b in batches]
            return _merge(results, data.schema)
        return self._apply_batch(data)

    __call__ = apply

    def _text(self, batch: pa.RecordBatch) -> pa.Array:
        name = self.spec.text_column
        index = batch.schema.get_field_index(name)
        if index < 0:
            raise SchemaError(f"no column {name!r} in {batch.schema.names[:20]}; "
                              "set text_column", code="E021")
        text = batch.column(index)
        if pa.types.is_dictionary(text.type) or text.type == pa.null():
            text = text.cast(pa.string())
        if text.type not in (pa.string(), pa.large_string()):
            raise SchemaError(f"column {name!r} is {text.type}; expected strings", code="E021")
        return text

    def _apply_batch(self, batch: pa.RecordBatch) -> FilterResult:
        n = batch.num_rows
        text = self._text(batch)
        invalid, unreadable = _invalid_utf8(text)
        if invalid.any():
            text = pc.if_else(pa.array(~invalid), text, pa.scalar(None, text.type))
        null = np.asarray(text.is_null(), dtype=bool)
        nbytes = pc.binary_length(text).fill_null(0).to_numpy(zero_copy_only=False)
        columns: dict[str, object] = {
            "text.bytes": nbytes, "text.null": null, "text.empty": (nbytes == 0) & ~null,
        }
        for stage in self.blocklists:
            columns.update(stage.run(text))
        usable = ~null & ~invalid
        for stage in self.classifiers:
            columns.update(stage.run(text, columns, usable))
        reason = decide(self.drops, columns, n, eligible=~invalid)
        result = FilterResult(None, None, unreadable, n, text_bytes=int(nbytes.sum()))
        result.scores = {
            c.spec.name: _histogram(columns[f"{c.spec.name}.score"]) for c in self.classifiers
        }
        dropped = np.flatnonzero(reason >= 0)
        result.by_reason.update({self.reasons[r]: int(c) for r, c in zip(
            *np.unique(reason[dropped], return_counts=True), strict=True)})
        for stage in self.blocklists:
            for cat in stage.spec.categories:
                key = f"{stage.spec.name}.{cat}"
                hits = int(np.count_nonzero(np.asarray(columns[key])[dropped]))
                if hits:
                    result.by_category[key] += hits
        if self.spec.mode == "annotate":
            rows = np.flatnonzero(~invalid)
            extra = self._annotations(text, columns, reason, rows, result, dropped)
            extra["fe_keep"] = pa.array(reason[rows] < 0)
            result.kept = _with(batch.take(pa.array(rows)), extra)
            return result
        keep = (reason < 0) & ~invalid
        kept = batch if keep.all() else batch.filter(pa.array(keep))  # usually most rows
        result.kept = pa.Table.from_batches([kept])
        extra = self._annotations(text, columns, reason, dropped, result, dropped)
        result.removed = _with(batch.take(pa.array(dropped, pa.int64())), extra)
        return result

    def _annotations(self, text, columns, reason, rows, result, dropped) -> dict:
        """The ``fe_`` columns for ``rows``; counts matched terms of removed rows."""
        take = pa.array(rows, pa.int64())
        names = pa.array(self.reasons or [""], pa.string())
        codes = pa.array(np.where(reason[rows] >= 0, reason[rows], 0), pa.int64())
        extra = {"fe_reason": pc.if_else(pa.array(reason[rows] >= 0), names.take(codes),
                                         pa.scalar(None, pa.string()))}
        removed_here = np.isin(rows, dropped)
        for stage in self.blocklists:
            name = stage.spec.name
            for key in ("count", "distinct", *stage.spec.categories):
                extra[f"fe_{name}_{key}"] = pa.array(
                    np.asarray(columns[f"{name}.{key}"], np.int32)[rows])
            terms = stage.terms(text.take(take))
            extra[f"fe_{name}_terms"] = terms
            if removed_here.any():
                flat = pc.list_flatten(terms.filter(pa.array(removed_here)))
                for item in pc.value_counts(flat).to_pylist():
                    result.terms[item["values"]] += item["counts"]
        for stage in self.classifiers:
            name = stage.spec.name
            score = np.asarray(columns[f"{name}.score"], np.float32)[rows]
            extra[f"fe_{name}_score"] = pa.array(score, pa.float32(), mask=np.isnan(score))
        return extra


def _with(batch: pa.RecordBatch, extra: dict) -> pa.Table:
    """The batch with the ``fe_`` columns added; an input that already has one of them
    (an annotated output filtered again) gets it replaced, never duplicated."""
    table = pa.Table.from_batches([batch])
    for name, values in extra.items():
        index = table.schema.get_field_index(name)
        if index >= 0:
            table = table.set_column(index, name, values)
        else:
            table = table.append_column(name, values)
    return table


def _invalid_utf8(text: pa.Array) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Rows that are not valid UTF-8 (Parquet does not check); found with one fast pass."""
    invalid = np.zeros(len(text), bool)
    try:
        text.validate(full=True)
        return invalid, []
    except pa.ArrowInvalid:
        pass
    bad = []
    # Rare path: find the offending rows one by one, only in a batch that failed.
    for i, value in enumerate(text.cast(pa.binary()).to_pylist()):
        if value is None:
            continue
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as err:
            invalid[i] = True
            bad.append((i, f"invalid UTF-8 at byte {err.start}"))
    return invalid, bad


def _histogram(scores: np.ndarray) -> np.ndarray:
    finite = scores[~np.isnan(scores)]
    return np.histogram(np.clip(finite, 0, 1), bins=SCORE_BINS, range=(0, 1))[0]


def _merge(results: list[FilterResult], schema: pa.Schema) -> FilterResult:
    out = FilterResult(
        pa.concat_tables([r.kept for r in results]),
        None if results[0].removed is None else pa.concat_tables([r.removed for r in results]),
        [], 0,
    )
    offset = 0
    for r in results:
        out.unreadable += [(row + offset, msg) for row, msg in r.unreadable]
        offset += r.rows
        out.rows += r.rows
        out.text_bytes += r.text_bytes
        out.by_reason.update(r.by_reason)
        out.by_category.update(r.by_category)
        out.terms.update(r.terms)
        for k, v in r.scores.items():
            out.scores[k] = out.scores.get(k, 0) + v
    return out
