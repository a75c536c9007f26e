"""Every input row, in order, with the filter's decision: the shape a library that maps
batches needs (a batch in, the same rows out).

``Filter.apply`` in annotate mode returns the readable rows only and lists the unreadable
ones (text that is not valid UTF-8) by index; a map over batches that returned that would
drop those rows silently. ``annotate_rows`` puts them back in place, with
``fe_keep = false`` and ``fe_reason = "invalid_utf8"``, so each row is kept, removed with
a reason, or marked unreadable, and no row is lost.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.execution.job import MAX_DOC_BYTES
from engine.filter.apply import Filter
from engine.filter.spec import FilterSpec
from engine.io.arrow_buffers import splittable

#: ``fe_reason`` of a row whose text is not valid UTF-8 (the runner's marker reason too).
INVALID_UTF8 = "invalid_utf8"
KEEP = "fe_keep"
REASON = "fe_reason"


def annotating(spec: FilterSpec | str | None) -> Filter:
    """A ``Filter`` for ``spec`` in annotate mode (every readable row kept, with the
    decision in ``fe_keep``/``fe_reason``), whatever mode the spec says."""
    spec = FilterSpec.load(spec)
    return Filter(spec if spec.mode == "annotate" else spec.with_options(mode="annotate"))


def annotate_rows(filt: Filter, data: pa.RecordBatch | pa.Table,
                  max_doc_bytes: int | None = MAX_DOC_BYTES) -> pa.Table:
    """``data``'s rows, all of them in order, with the ``fe_`` columns added.

    Args:
        filt: a filter in annotate mode (see ``annotating``).
        data: the rows.
        max_doc_bytes: longer texts are flagged ``too_long`` unscanned (None: no cap).
    """
    if filt.spec.mode != "annotate":
        raise ValueError("annotate_rows needs a Filter in annotate mode (see annotating)")
    result = filt.apply(data, max_doc_bytes=max_doc_bytes)
    if not result.unreadable:
        return result.kept
    good = np.ones(result.rows, bool)
    good[[row for row, _ in result.unreadable]] = False
    where = np.zeros(result.rows, np.int64)
    where[good] = np.arange(int(good.sum()))
    take = pa.array(where, pa.int64(), mask=~good)  # null: the row has no annotation
    table = data if isinstance(data, pa.Table) else pa.Table.from_batches([data])
    table = pa.Table.from_batches([splittable(b) for b in table.to_batches()])
    kept = result.kept
    for name in kept.column_names:
        if name in table.column_names and not name.startswith("fe_"):
            continue  # an input column: the unreadable row keeps its own values
        values = kept.column(name).take(take)
        if name == KEEP:
            values = pc.fill_null(values, False)
        elif name == REASON:
            values = pc.if_else(pa.array(good), values, pa.scalar(INVALID_UTF8, values.type))
        index = table.schema.get_field_index(name)
        field = kept.schema.field(name)
        table = (table.set_column(index, field, values) if index >= 0
                 else table.append_column(field, values))
    return table.select(kept.column_names)
