"""``engine.Filter``: a ``FilterSpec`` made live, applied to one batch or table.

``Filter(spec).apply(batch)`` checks the text column once, runs the stages
``text -> match -> classify -> decide`` on it (see ``engine.filter.stages``), and
returns every row in exactly one place: ``kept``, ``removed`` (with a ``fe_reason`` column
and the stage columns that explain it) or ``unreadable`` (rows whose text is not valid
UTF-8, listed by index). With ``max_doc_bytes``, a row whose text is longer is removed with
reason ``too_long`` and no stage reads its text (it is in the removed rows whole). In
``annotate`` mode every readable row is kept, with the decision and stage columns added.
The shard runner uses this same object, so a pipeline stage that
calls it gets exactly the columns and decisions a run over files writes.

Added columns: ``fe_reason`` (null when kept), ``fe_keep`` (annotate mode), per blocklist
``fe_<stage>_count``, ``_distinct``, ``_<category>``, ``_terms`` (distinct matched terms, at
most ``audit.MAX_TERMS``), per classifier ``fe_<stage>_score`` (null where the model did not
run); on removed rows (drop mode) also the audit trail ``fe_rule``, ``fe_categories``,
``fe_spans``, ``fe_decided_by`` (see ``engine.filter.audit``) and ``fe_row``, the row's index
in the data given (a run over files: in the shard).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from engine.errors import fail
from engine.filter import audit
from engine.filter.spec import FilterSpec
from engine.filter.stages import (
    KEEP,
    REASON,
    SCORE_BINS,
    BlocklistStage,
    ClassifierStage,
    DecisionStage,
    Stage,
    StageOutput,
    TextStage,
)
from engine.io.arrow_buffers import CheckedText, check_text, splittable

__all__ = ["SCORE_BINS", "Filter", "FilterResult"]


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
        removed_index: the removed rows' indices in the input (drop mode), in order.
    """

    kept: pa.Table
    removed: pa.Table | None
    unreadable: list[tuple[int, str]]
    rows: int
    by_reason: Counter[str] = field(default_factory=Counter)
    by_category: Counter[str] = field(default_factory=Counter)
    terms: Counter[str] = field(default_factory=Counter)
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    text_bytes: int = 0
    removed_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def removed_rows(self) -> int:
        return sum(self.by_reason.values())


class Filter:
    """Apply a ``FilterSpec`` to Arrow data.

    The text column is checked once per batch, here (``check_text``: converted from any
    string layout, offsets checked, UTF-8 validated), and every stage reads that checked
    column. Stages are driven only through the ``Stage`` protocol (``engine.filter.stages``),
    in the order ``text -> blocklists -> classifiers -> decision``.

    Args:
        spec: the filter: a ``FilterSpec``, a TOML path, or None (or ``"default"``) for
            the shipped default (see ``FilterSpec.load``).
        saved_matchers: stage name -> path of a saved automaton (set by the runner so that
            workers memory-map one build instead of rebuilding it).
        hashes: ``audit.stage_hashes(spec)`` when already computed (the runner does it
            once for every worker); else computed on first use.
    """

    def __init__(self, spec: FilterSpec | str | Path | None = None,
                 saved_matchers: Mapping[str, str] | None = None,
                 hashes: dict[str, dict] | None = None):
        self.spec = FilterSpec.load(spec)
        self._hashes = hashes
        saved = saved_matchers or {}
        run_if, drops = self.spec.compile_rules()
        self.blocklists = [BlocklistStage(b, saved.get(b.name)) for b in self.spec.blocklists]
        by_name = {b.name: b for b in self.blocklists}
        self.classifiers = [ClassifierStage(c, run_if.get(c.name),
                                            by_name[c.hits_from] if c.hits_from else None)
                            for c in self.spec.classifiers]
        self.decision = DecisionStage(drops)
        self.stages: list[Stage] = [TextStage(), *self.blocklists, *self.classifiers,
                                    self.decision]

    @property
    def hashes(self) -> dict[str, dict]:
        """Content hashes of every blocklist and model (``audit.stage_hashes``)."""
        if self._hashes is None:
            self._hashes = audit.stage_hashes(self.spec)
        return self._hashes

    @property
    def reasons(self) -> list[str]:
        """Drop reasons in the order they are checked: ``too_long`` (text over
        ``max_doc_bytes``), then the spec's ``drop_if`` reasons."""
        return list(self.decision.reasons)

    def load(self) -> Filter:
        """Load every matcher and model now (workers do this once, before any shard)."""
        for stage in self.stages:
            stage.load()
        return self

    def apply(self, data: pa.RecordBatch | pa.Table, *,
              max_doc_bytes: int | None = None) -> FilterResult:
        """Split (or annotate) one batch or table; see ``FilterResult``.

        Args:
            data: the rows.
            max_doc_bytes: a row whose text has more UTF-8 bytes is removed with reason
                ``too_long`` (``engine.filter.stages.TOO_LONG``) before any stage reads
                it; None: no cap (``engine.run`` caps at 16 MiB by default).
        """
        if isinstance(data, pa.Table):
            batches = data.combine_chunks().to_batches() or [
                pa.RecordBatch.from_pylist([], schema=data.schema)]
            results = [self.apply(b, max_doc_bytes=max_doc_bytes) for b in batches]
            merged = _merge(results)
            if merged.removed is not None:  # rows numbered in the table, not the batch
                at = merged.removed.schema.get_field_index("fe_row")
                merged.removed = merged.removed.set_column(
                    at, "fe_row", pa.array(merged.removed_index, pa.int64()))
            return merged
        return self._apply_batch(data, max_doc_bytes)

    __call__ = apply

    def trace(self, data: pa.RecordBatch | pa.Table, *, max_doc_bytes: int | None = None
              ) -> dict[str, np.ndarray]:
        """Every stage's columns for ``data`` (``<stage>.<field>``, what the rules read, and
        ``decision.reason``: an index into ``reasons``, -1 kept): ``explain`` shows them.
        The same stages run as in ``apply``, so the decision is the same."""
        if isinstance(data, pa.Table):
            data = data.combine_chunks().to_batches()[0] if data.num_rows else \
                pa.RecordBatch.from_pylist([], schema=data.schema)
        _, text = self._text(data, max_doc_bytes)
        columns: dict[str, np.ndarray] = {}
        for stage in self.stages:
            columns.update(stage.run(text, columns).columns)
        return columns

    def _text(self, batch: pa.RecordBatch, max_doc_bytes: int | None,
              ) -> tuple[pa.RecordBatch, CheckedText]:
        """The batch's text column, checked once for every stage (rows over
        ``max_doc_bytes`` nulled, see ``CheckedText.capped``); and the batch, with
        ``string_view`` columns (the text one as checked, long rows whole) in layouts that
        can be split."""
        name = self.spec.text_column
        index = batch.schema.get_field_index(name)
        if index < 0:
            raise fail("E024", column=name, columns=batch.schema.names[:20])
        text = check_text(batch.column(index), where=f"column {name!r}")
        return splittable(batch, {index: text.array}), text.capped(max_doc_bytes)

    def _apply_batch(self, batch: pa.RecordBatch, max_doc_bytes: int | None) -> FilterResult:
        n = batch.num_rows
        batch, text = self._text(batch, max_doc_bytes)
        columns: dict[str, np.ndarray] = {}
        outputs: list[StageOutput] = []
        for stage in self.stages:
            output = stage.run(text, columns)
            columns.update(output.columns)
            outputs.append(output)
        keep = columns[KEEP]
        dropped = np.flatnonzero(columns[REASON] >= 0)
        result = FilterResult(pa.table({}), None, list(text.problems), n,
                              text_bytes=int(columns["text.bytes"].sum()))
        for stage, output in zip(self.stages, outputs, strict=True):
            stage.count(output, dropped, result)
        if self.spec.mode == "annotate":
            rows = np.flatnonzero(~_invalid(text))
            extra = self._annotations(outputs, rows)
            extra["fe_keep"] = pa.array(keep[rows])
            # The rows it would remove carry drop mode's audit; the others nulls.
            at = np.full(n, -1, np.int64)
            at[dropped] = np.arange(len(dropped))
            where = pa.array(at[rows], pa.int64(), mask=at[rows] < 0)
            for name, values in self._audit(outputs, dropped).items():
                extra[name] = values.take(where)
            result.kept = _with(batch.take(pa.array(rows, pa.int64())), extra)
            return result
        kept = batch if keep.all() else batch.filter(pa.array(keep))  # usually most rows
        result.kept = pa.Table.from_batches([kept])
        removed = batch if len(dropped) == n else batch.take(pa.array(dropped, pa.int64()))
        extra = self._annotations(outputs, dropped)
        extra.update(self._audit(outputs, dropped))
        extra["fe_row"] = pa.array(dropped, pa.int64())  # a run numbers it in the shard
        result.removed = _with(removed, extra)
        result.removed_index = dropped.astype(np.int64)
        return result

    def _audit(self, outputs: list[StageOutput], rows: np.ndarray) -> dict[str, pa.Array]:
        """The audit columns of the removed ``rows`` (``engine.filter.audit``)."""
        codes = outputs[-1].columns[REASON][rows]
        rules = pa.array(["text longer than max_doc_bytes",
                          *(rule.source for _, rule in self.decision.drops)], pa.string())
        # Blocklist stages, or the Ray two-pool stage's stand-ins for them (ray/pools.py)
        found = [stage.found_spans(output) for stage, output in zip(
            self.stages, outputs, strict=True) if hasattr(stage, "found_spans")]
        return {
            "fe_rule": rules.take(pa.array(np.asarray(codes, np.int64))),
            "fe_categories": audit.categories(self.blocklists, outputs, rows),
            "fe_spans": audit.spans(found, rows),
            "fe_decided_by": audit.sources(
                audit.decided_by(self.decision.drops, self.hashes), codes),
        }

    def _annotations(self, outputs: list[StageOutput], rows: np.ndarray) -> dict[str, pa.Array]:
        """The ``fe_`` columns of ``rows``: the decision's first, then each stage's."""
        extra = self.decision.annotate(outputs[-1], rows)
        for stage, output in zip(self.stages[:-1], outputs[:-1], strict=True):
            extra.update(stage.annotate(output, rows))
        return extra


def _invalid(text: CheckedText) -> np.ndarray:
    return np.zeros(len(text), bool) if text.invalid is None else text.invalid


def _with(batch: pa.RecordBatch, extra: dict[str, pa.Array]) -> pa.Table:
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


def _merge(results: list[FilterResult]) -> FilterResult:
    removed = [r.removed for r in results if r.removed is not None]
    out = FilterResult(
        pa.concat_tables([r.kept for r in results]),
        pa.concat_tables(removed) if removed else None,
        [], 0,
    )
    offset = 0
    starts = np.cumsum([0] + [r.rows for r in results[:-1]])
    out.removed_index = np.concatenate([np.zeros(0, np.int64), *(
        r.removed_index + start for r, start in zip(results, starts, strict=True))])
    for r in results:
        out.unreadable += [(row + offset, msg) for row, msg in r.unreadable]
        offset += r.rows
        out.rows += r.rows
        out.text_bytes += r.text_bytes
        out.by_reason.update(r.by_reason)
        out.by_category.update(r.by_category)
        out.terms.update(r.terms)
        for k, v in r.scores.items():
            out.scores[k] = out.scores[k] + v if k in out.scores else v
    return out
