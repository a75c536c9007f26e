"""datatrove: a filter step that runs ``engine.Filter`` on batches of ``Document``s.

``EngineFilter(spec)`` is a datatrove ``BaseFilter``: it drops in wherever datatrove's
own filters go (``LocalPipelineExecutor``, ``SlurmPipelineExecutor``, ``RayPipelineExecutor``),
keeps their conventions (stats ``total``/``forwarded``/``dropped``/``dropped_<reason>``,
``filter_reason`` in the metadata of documents sent to the ``exclusion_writer``), and
decides ``batch_size`` documents per call (one Arrow batch, one kernel call), not one
document at a time. The step pickles as its spec; the matcher and models load once per
task, on the first batch. A text that cannot be encoded as UTF-8 (a lone surrogate) is
dropped with reason ``invalid_utf8``, never passed on unscanned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from engine.execution.job import MAX_DOC_BYTES
from engine.filter.spec import FilterSpec
from engine.integrations.rows import KEEP, REASON, annotate_rows, annotating

if TYPE_CHECKING:
    from engine.filter.apply import Filter

try:
    from datatrove.pipeline.filters.base_filter import BaseFilter
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError("engine.integrations.datatrove needs datatrove "
                      "(pip install 'filter-engine[integrations]')") from err


class EngineFilter(BaseFilter):
    """A datatrove filter step backed by filter-engine.

    Args:
        spec: a ``FilterSpec``, a TOML path, or None for the shipped default; its text
            column is ignored (the step reads ``Document.text``).
        exclusion_writer: a datatrove writer for the dropped documents (their metadata gets
            ``filter_reason``, as with datatrove's own filters).
        batch_size: documents per filter call.
        max_doc_bytes: longer texts are dropped as ``too_long`` unscanned (None: no cap).
        metadata: also copy the ``fe_`` annotations (counts, scores, reason) into each
            document's metadata.
    """

    name = "filter-engine"

    def __init__(self, spec: FilterSpec | str | None = None, exclusion_writer=None,
                 batch_size: int = 1000, max_doc_bytes: int | None = MAX_DOC_BYTES,
                 metadata: bool = False):
        super().__init__(exclusion_writer, batch_size)
        self.spec = FilterSpec.load(spec).with_options(text_column="text")
        self.max_doc_bytes = max_doc_bytes
        self.metadata = metadata
        self._filter: Filter | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_filter"] = None  # send the spec; each task loads the filter itself
        return state

    def filter(self, doc) -> bool | tuple[bool, str]:
        """One document (datatrove requires it; the pipeline calls ``filter_batch``)."""
        return self.filter_batch([doc])[0]

    def filter_batch(self, batch: list) -> list[bool | tuple[bool, str]]:
        if self._filter is None:
            self._filter = annotating(self.spec).load()
        table = annotate_rows(self._filter, pa.record_batch({"text": _texts(batch)}),
                              self.max_doc_bytes)
        keep = table.column(KEEP).to_pylist()
        reasons = table.column(REASON).to_pylist()
        if self.metadata:
            extra = table.drop_columns(["text", KEEP]).to_pylist()
            for doc, values in zip(batch, extra, strict=True):
                doc.metadata.update(values)
        return [True if k else (False, r) for k, r in zip(keep, reasons, strict=True)]


def _texts(batch: list) -> pa.Array:
    """The documents' texts as one Arrow string column; a text with a lone surrogate goes
    in as its bytes (so the filter reports it as invalid UTF-8) instead of failing all."""
    texts = [doc.text for doc in batch]
    try:
        return pa.array(texts, pa.string())
    except (UnicodeEncodeError, pa.ArrowInvalid):
        raw = [None if t is None else t.encode("utf-8", "surrogatepass") for t in texts]
        return pa.array(raw, pa.binary()).view(pa.string())
