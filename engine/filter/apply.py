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
``fe_<stage>_count``, ``_distinct``, ``_<category>``, ``_terms`` (distinct matched terms),
per classifier ``fe_<stage>_score`` (null where the model did not run).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from engine.errors import fail
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
    """

    def __init__(self, spec: FilterSpec | str | Path | None = None,
                 saved_matchers: Mapping[str, str] | None = None):
        self.spec = FilterSpec.load(spec)
        saved = saved_matchers or {}
        run_if, drops = self.spec.compile_rules()
        self.blocklists = [BlocklistStage(b, saved.get(b.name)) for b in self.spec.blocklists]
        self.classifiers = [ClassifierStage(c, run_if.get(c.name)) for c in self.spec.classifiers]
        self.decision = DecisionStage(drops)
        self.stages: list[Stage] = [TextStage(), *self.blocklists, *self.classifiers,
                                    self.decision]

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
            return _merge(results)
        return self._apply_batch(data, max_doc_bytes)

    __call__ = apply

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
            result.kept = _with(batch.take(pa.array(rows, pa.int64())), extra)
            return result
        kept = batch if keep.all() else batch.filter(pa.array(keep))  # usually most rows
        result.kept = pa.Table.from_batches([kept])
        removed = batch if len(dropped) == n else batch.take(pa.array(dropped, pa.int64()))
        result.removed = _with(removed, self._annotations(outputs, dropped))
        return result

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
