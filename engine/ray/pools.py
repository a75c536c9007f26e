"""The filter split across two actor pools: matching on CPUs, classifiers (on GPUs) apart.

A blocklist scan wants many CPU cores; a transformer classifier wants a GPU and only for
the rows its ``run_if`` cascade selects. ``filter_stage(..., classifier_num_gpus=...)``
therefore runs two ``map_batches`` stages:

1. ``MatchActor`` (CPU pool): checks the text column and runs every blocklist stage, and
   carries each stage's rule columns (``<stage>.count`` ...), its ``fe_`` annotations and
   its first ``audit.MAX_SPANS`` occurrences per row (for the audit's ``fe_spans``) to the
   next stage as extra columns named ``_fe_match:<stage>:<name>``. It adds columns and
   removes none, so every row goes on, the unreadable ones included.
2. ``ClassifyActor`` (GPU pool): the ``Filter`` of the same spec, with each blocklist stage
   replaced by a ``Matched`` stage that hands back what stage 1 carried instead of
   scanning again; the classifiers (with their ``run_if``) and the decision run as in
   ``Filter.apply``, through ``annotate_rows``. The carried columns are dropped.

The decision, columns and column order are those of the one-pool stage because the same
``Filter`` code makes them; only where each blocklist's columns were computed differs.
Ray Data may re-batch rows between the two stages; the carried columns travel in the
rows, so that does not matter.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from engine.errors import fail
from engine.filter import audit
from engine.filter.apply import Filter
from engine.filter.spec import FilterSpec
from engine.filter.stages import BlocklistStage, Counts, StageOutput
from engine.integrations.rows import annotate_rows, annotating
from engine.io.arrow_buffers import CheckedText, check_text
from engine.match.matcher import SpanResult

#: Prefix of the columns that carry matching results from stage 1 to stage 2.
CARRIED = "_fe_match:"
#: The carried occurrences of a stage: per row, a list of (start, end, term).
SPANS = "_spans"
SPAN_TYPE = pa.struct([("start", pa.int64()), ("end", pa.int64()), ("term", pa.string())])


def _carried(stage: str, name: str) -> str:
    return f"{CARRIED}{stage}:{name}"


class MatchActor:
    """Stage 1: the blocklist stages only (matchers built or mapped once per actor)."""

    def __init__(self, spec: FilterSpec, max_doc_bytes: int | None):
        self.filter = annotating(spec)
        for stage in self.filter.blocklists:
            stage.load()
        self.max_doc_bytes = max_doc_bytes

    def __call__(self, batch: pa.Table) -> pa.Table:
        name = self.filter.spec.text_column
        if name not in batch.column_names:
            raise fail("E024", column=name, columns=batch.column_names[:20])
        text = check_text(batch.column(name), where=f"column {name!r}").capped(
            self.max_doc_bytes)
        every = np.arange(len(text))
        for stage in self.filter.blocklists:
            output = stage.run(text, {})
            for field, values in output.columns.items():
                batch = batch.append_column(_carried(stage.name, field), pa.array(values))
            for field, array in stage.annotate(output, every).items():
                batch = batch.append_column(_carried(stage.name, field), array)
            batch = batch.append_column(_carried(stage.name, SPANS),
                                        _spans_per_row(stage.found_spans(output), every))
        return batch


def _spans_per_row(found: tuple[str, SpanResult, pa.Array], rows: np.ndarray) -> pa.Array:
    """Each row's first ``audit.MAX_SPANS`` occurrences, in the scan's order. The audit
    keeps a row's first ``MAX_SPANS`` over all stages, which are among these."""
    _, spans, names = found
    take, lengths = audit.capped_take(spans.row, rows, audit.MAX_SPANS)
    offsets = np.zeros(len(rows) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    values = pa.StructArray.from_arrays(
        [pa.array(spans.start[take], pa.int64()), pa.array(spans.end[take], pa.int64()),
         names.take(pa.array(spans.pattern_id[take], pa.int64())).cast(pa.string())],
        fields=list(SPAN_TYPE))
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)


class Matched:
    """A blocklist stage whose columns stage 1 computed: ``run`` and ``annotate`` read
    them from the batch set by ``given`` (the ``Stage`` protocol of
    ``engine.filter.stages``; nothing to load, no matcher in this process)."""

    def __init__(self, stage: BlocklistStage):
        self.name = stage.name
        self._fields = stage.fields()
        self._batch: pa.RecordBatch | None = None

    def given(self, batch: pa.RecordBatch) -> None:
        """The batch (with the carried columns) that the next ``run`` is for."""
        self._batch = batch

    def fields(self) -> dict[str, str]:
        return dict(self._fields)

    def load(self) -> None:
        """Nothing to load: stage 1 did the matching."""

    def run(self, text: CheckedText, columns: Mapping[str, np.ndarray]) -> StageOutput:
        batch = self._batch
        if batch is None or batch.num_rows != len(text):
            raise RuntimeError(f"stage {self.name!r}: run without its matched batch")
        return StageOutput({field: batch.column(_carried(self.name, field)).to_numpy(
            zero_copy_only=False) for field in self._fields})

    def annotate(self, output: StageOutput, rows: np.ndarray) -> dict[str, pa.Array]:
        assert self._batch is not None  # run() checked it
        head = _carried(self.name, "")
        take = pa.array(rows, pa.int64())
        return {name[len(head):]: self._batch.column(name).take(take)
                for name in self._batch.schema.names if name.startswith(head + "fe_")}

    def found_spans(self, output: StageOutput) -> tuple[str, SpanResult, pa.Array]:
        """The occurrences stage 1 carried, as ``BlocklistStage.found_spans`` gives them
        (in the same order; each one's term stands in the names array at its own index)."""
        assert self._batch is not None  # run() checked it
        lists = self._batch.column(_carried(self.name, SPANS))
        spans = lists.flatten()
        lengths = np.asarray(lists.value_lengths().fill_null(0), np.int64)
        rows = np.repeat(np.arange(len(lists), dtype=np.int64), lengths)
        found = SpanResult(rows, np.asarray(spans.field("start"), np.int64),
                           np.asarray(spans.field("end"), np.int64),
                           np.arange(len(rows), dtype=np.int32))
        return self.name, found, spans.field("term")

    def count(self, output: StageOutput, removed: np.ndarray, counts: Counts) -> None:
        """Nothing: ``filter_stage`` returns annotated rows, not the report's counters."""


class ClassifyActor:
    """Stage 2: classifiers and decision (models loaded once per actor), every row out."""

    def __init__(self, spec: FilterSpec, max_doc_bytes: int | None):
        self.filter: Filter = annotating(spec)
        self.matched = [Matched(stage) for stage in self.filter.blocklists]
        by_name = {stage.name: stage for stage in self.matched}
        self.filter.stages = [by_name.get(stage.name, stage)
                              if isinstance(stage, BlocklistStage) else stage
                              for stage in self.filter.stages]
        self.filter.load()
        self.max_doc_bytes = max_doc_bytes

    def __call__(self, table: pa.Table) -> pa.Table:
        inputs = [name for name in table.column_names if not name.startswith(CARRIED)]
        batches = table.combine_chunks().to_batches() or [
            pa.RecordBatch.from_pylist([], schema=table.schema)]
        out = []
        for batch in batches:
            for stage in self.matched:
                stage.given(batch)
            out.append(annotate_rows(self.filter, batch.select(inputs), self.max_doc_bytes))
        return pa.concat_tables(out)
