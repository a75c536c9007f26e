"""Hugging Face ``datasets``: filter or annotate a ``Dataset`` in one call.

``filter_dataset(ds, spec)`` maps the filter over the dataset's Arrow batches
(``with_format("arrow")``, ``batched=True``, ``num_proc`` processes; the filter is built
once per process) and returns the annotated dataset, the keep-mask, and the kept and
removed datasets as index selections of it (no copy of the rows). Nothing is dropped by
the map itself: a row whose text is not valid UTF-8 is in ``removed`` with ``fe_reason =
"invalid_utf8"`` (see ``engine.integrations.rows``), so ``len(kept) + len(removed) ==
len(ds)`` always.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from engine.execution.job import MAX_DOC_BYTES
from engine.filter.spec import FilterSpec
from engine.integrations.rows import KEEP, annotate_rows, annotating

if TYPE_CHECKING:
    from engine.filter.apply import Filter


@dataclass
class DatasetSplit:
    """What ``filter_dataset`` returns.

    Attributes:
        annotated: every row, with the ``fe_`` columns (``fe_keep``, ``fe_reason``, counts,
            scores).
        mask: ``fe_keep`` as a NumPy bool array (True: kept).
        kept: the kept rows, with the input's columns only.
        removed: the removed rows, with the ``fe_`` columns that say why.
    """

    annotated: Any
    mask: np.ndarray
    kept: Any
    removed: Any


class _Annotate:
    """The map function: pickled to each ``num_proc`` process as its spec; the filter is
    built there on first use and kept for every later batch."""

    def __init__(self, spec: FilterSpec, max_doc_bytes: int | None):
        self.spec = spec
        self.max_doc_bytes = max_doc_bytes
        self._filter: Filter | None = None

    def __getstate__(self) -> dict:
        return {"spec": self.spec, "max_doc_bytes": self.max_doc_bytes, "_filter": None}

    def __call__(self, batch: pa.Table) -> pa.Table:
        if self._filter is None:
            self._filter = annotating(self.spec).load()
        return annotate_rows(self._filter, batch, self.max_doc_bytes)


def filter_dataset(ds, spec: FilterSpec | str | None = None, *, batch_size: int = 1000,
                   num_proc: int | None = None, max_doc_bytes: int | None = MAX_DOC_BYTES,
                   **map_kwargs) -> DatasetSplit:
    """Filter a ``datasets.Dataset``; see ``DatasetSplit``.

    Args:
        ds: the dataset (its text column is ``spec.text_column``).
        spec: a ``FilterSpec``, a TOML path, or None for the shipped default. Its mode is
            ignored: the result holds both the annotation and the split.
        batch_size: rows per batch given to the filter.
        num_proc: processes for ``Dataset.map`` (None: this process).
        max_doc_bytes: longer texts are removed as ``too_long`` unscanned (None: no cap).
        map_kwargs: passed to ``Dataset.map`` (``cache_file_name``, ``load_from_cache_file``,
            ``desc`` ...).
    """
    spec = FilterSpec.load(spec)
    annotated = ds.with_format("arrow").map(
        _Annotate(spec, max_doc_bytes), batched=True, batch_size=batch_size,
        num_proc=num_proc, **map_kwargs)
    mask = np.asarray(annotated[KEEP], dtype=bool)
    annotated = annotated.with_format(ds.format["type"], **ds.format["format_kwargs"])
    added = [c for c in annotated.column_names if c.startswith("fe_")
             and c not in ds.column_names]
    kept = annotated.select(np.flatnonzero(mask)).remove_columns(added)
    removed = annotated.select(np.flatnonzero(~mask))
    return DatasetSplit(annotated, mask, kept, removed)

