"""Any Arrow stream through the filter: polars, duckdb, pyarrow datasets, and whatever else
speaks the Arrow C stream interface (``__arrow_c_stream__``).

The batches cross from the other library without a copy (``RecordBatchReader.from_stream``)
and are filtered one at a time, so memory stays at one batch plus what is kept. polars
hands its strings over as ``string_view``; the filter accepts that layout and converts the
text column once per batch to ``large_string`` (the one copy on this path: the kernels read
offsets + bytes). Kept rows keep every other column as it came. The results go back the
same way: ``polars.from_arrow(split.kept)``, ``duckdb.sql("select * from split.kept")``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa

from engine.execution.job import MAX_DOC_BYTES
from engine.filter.apply import Filter, FilterResult
from engine.filter.spec import FilterSpec


@dataclass
class ArrowSplit:
    """``filter_arrow``'s result: kept and removed rows as Arrow tables (their batches are
    the filter's outputs, not copied again), and the unreadable rows by stream position."""

    kept: pa.Table
    removed: pa.Table | None
    unreadable: list[tuple[int, str]]
    rows: int


def record_batches(source) -> Iterator[pa.RecordBatch]:
    """The batches of a ``Table``, ``RecordBatch``, ``RecordBatchReader`` or any object with
    ``__arrow_c_stream__`` (a polars ``DataFrame``, a duckdb relation); an empty source
    gives one empty batch, so its schema still reaches the outputs."""
    if isinstance(source, pa.RecordBatch):
        source = pa.Table.from_batches([source])
    if isinstance(source, pa.Table):
        reader = pa.RecordBatchReader.from_batches(source.schema, source.to_batches())
    elif isinstance(source, pa.RecordBatchReader):
        reader = source
    elif hasattr(source, "__arrow_c_stream__"):
        reader = pa.RecordBatchReader.from_stream(source)
    else:
        raise TypeError(f"not an Arrow source: {type(source).__name__} (give a pyarrow "
                        "Table/RecordBatchReader or an object with __arrow_c_stream__)")
    empty = True
    for batch in reader:
        empty = False
        yield batch
    if empty:
        yield pa.RecordBatch.from_pylist([], schema=reader.schema)


def filter_batches(source, spec: FilterSpec | str | Filter | None = None, *,
                   max_doc_bytes: int | None = MAX_DOC_BYTES) -> Iterator[FilterResult]:
    """Filter ``source`` batch by batch (see ``record_batches``); one ``FilterResult`` per
    batch, its ``unreadable`` rows numbered within that batch."""
    filt = spec if isinstance(spec, Filter) else Filter(spec)
    for batch in record_batches(source):
        yield filt.apply(batch, max_doc_bytes=max_doc_bytes)


def filter_arrow(source, spec: FilterSpec | str | Filter | None = None, *,
                 max_doc_bytes: int | None = MAX_DOC_BYTES) -> ArrowSplit:
    """Filter a whole Arrow source; see ``ArrowSplit`` and ``filter_batches``."""
    kept, removed, unreadable, rows = [], [], [], 0
    for result in filter_batches(source, spec, max_doc_bytes=max_doc_bytes):
        kept.append(result.kept)
        if result.removed is not None:
            removed.append(result.removed)
        unreadable += [(rows + row, message) for row, message in result.unreadable]
        rows += result.rows
    return ArrowSplit(pa.concat_tables(kept, promote_options="permissive"),
                      pa.concat_tables(removed, promote_options="permissive")
                      if removed else None, unreadable, rows)
