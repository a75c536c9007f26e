"""One shard from read to commit: the unit of work a worker process runs.

``process_shard`` reads the shard batch by batch, applies the ``Filter``, streams kept and
removed rows into staged Parquet files, commits them, and commits the shard's marker last.
The marker is the ledger entry: rows in, kept, removed by reason, unreadable rows (with
indices and reasons), the accounting check, output sizes and checksums. It holds nothing
that depends on time, process or attempt, so a resumed run writes the same bytes.

A shard that cannot be read at all (no footer, no text column) gets a marker too, with
status ``unreadable`` and the error, so it is reported and not retried forever.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa

from engine.errors import ShardError, fail
from engine.execution.faults import fault
from engine.execution.manifest import marker_path
from engine.filter.apply import Filter
from engine.io.readers import BATCH_BYTES, SchemaDrift, ShardReader
from engine.io.remote import retrying, url_to_fs
from engine.io.shards import Shard, is_remote
from engine.io.writers import ROW_GROUP_BYTES, Output, ShardOutputs

MAX_LISTED = 100  # unreadable rows listed one by one in a marker; the count is always exact
#: Default cap on one document's text: a longer one is removed (``too_long``), unscanned.
MAX_DOC_BYTES = 16 << 20


@dataclass(frozen=True)
class JobOptions:
    """Per-run settings every worker needs."""

    row_group_bytes: int = ROW_GROUP_BYTES
    max_decompressed_bytes: int = 64 << 30
    storage_options: dict = field(default_factory=dict)
    #: bytes of text per batch the filter is given (``ShardReader``'s ``batch_bytes``)
    batch_bytes: int = BATCH_BYTES
    #: a document whose text is longer is removed with reason ``too_long`` without being
    #: scanned (``Filter.apply``); None: no cap
    max_doc_bytes: int | None = MAX_DOC_BYTES
    #: JSONL columns read as text (grows when a column changes type within a shard)
    string_columns: frozenset[str] = frozenset()


def run_fingerprint(spec_fingerprint: str, max_doc_bytes: int | None) -> str:
    """The fingerprint markers and the manifest record: the filter's, and the document cap
    when it is not the default (the cap decides removals, so a resume must not change it)."""
    if max_doc_bytes == MAX_DOC_BYTES:
        return spec_fingerprint
    return hashlib.sha256(f"{spec_fingerprint}:max_doc_bytes={max_doc_bytes}".encode()
                          ).hexdigest()


def output_paths(shard: Shard) -> tuple[str, str]:
    return f"kept/{shard.stem}.parquet", f"removed/{shard.stem}.parquet"


def process_shard(shard: Shard, filt: Filter, out: Output, spec_fingerprint: str,
                  options: JobOptions, on_batch=None) -> dict:
    """Filter one shard and commit its outputs and marker; returns the marker."""
    kept_rel, removed_rel = output_paths(shard)
    reader = ShardReader(shard.uri, filt.spec.text_column, filt.spec.batch_rows,
                         options.max_decompressed_bytes, options.storage_options,
                         shard.row_groups, batch_bytes=options.batch_bytes,
                         string_columns=options.string_columns)
    outputs = ShardOutputs(out, shard.uri, {"kept": kept_rel, "removed": removed_rel},
                           options.row_group_bytes)
    tally = _Tally()
    try:
        for batch in reader:
            fault("batch", shard.unit)
            result = filt.apply(batch, max_doc_bytes=options.max_doc_bytes)
            tally.add(result, reader.position, reader.row_numbers)
            outputs.write("kept", result.kept)
            if result.removed is not None:
                outputs.write("removed", _numbered(result, reader.position,
                                                   reader.row_numbers))
            if on_batch:
                on_batch(batch.num_rows, tally.text_bytes_last)
        changed = _changed_since_discovery(shard, options.storage_options)
        if changed:
            raise fail("E064", shard=shard.uri, change=changed)
        if "kept" not in outputs and reader.schema is not None:
            outputs.write("kept", reader.schema.empty_table(), create_empty=True)
        outputs.finish()  # every output durable under its temp name first ...
    except ShardError as err:  # the input cannot be read: quarantine it with a marker
        outputs.abort()
        marker = _marker(shard, spec_fingerprint, reader, tally, {}, error=err)
        out.write_json(marker_path(shard), marker, "marker", shard=shard.uri)
        return marker
    except SchemaDrift as drift:  # a JSONL column changed type: redo the shard, it as text
        outputs.abort()
        wider = replace(options, string_columns=options.string_columns | drift.columns)
        return process_shard(shard, filt, out, spec_fingerprint, wider, on_batch)
    except BaseException:
        outputs.abort()
        raise
    # ... then published together: a failing disk leaves no final-named file behind
    published = outputs.publish()
    fault("before_marker", shard.unit)
    marker = _marker(shard, spec_fingerprint, reader, tally, published)
    try:
        out.write_json(marker_path(shard), marker, "marker", shard=shard.uri)
    except BaseException:  # no marker: take the outputs back, as if never published
        outputs.unpublish()
        raise
    return marker


def _numbered(result, position: int, row_numbers: np.ndarray | None) -> pa.Table:
    """The removed rows with ``fe_row`` (the filter's index in the batch) renumbered in the
    shard, as markers and ``explain --run OUT --shard S --row N`` number rows: the audit
    trail's way back to the input."""
    index = result.removed_index
    at = position + index if row_numbers is None else np.asarray(row_numbers)[index]
    table = result.removed
    return table.set_column(table.schema.get_field_index("fe_row"), "fe_row",
                            pa.array(at, pa.int64()))


def _changed_since_discovery(shard: Shard, storage_options: dict) -> str | None:
    """Compare the input's size and mtime (ETag on object stores) with what discovery saw;
    None when unchanged."""
    if is_remote(shard.uri):
        fs, path = url_to_fs(shard.uri, storage_options)
        fs.invalidate_cache(path)
        try:  # a store that keeps failing raises E069: the shard is left undone
            info = retrying(lambda: fs.info(path), shard.uri, "stat")
        except OSError as err:
            return f"cannot stat it: {err}"
        version = str(info.get("ETag") or info.get("etag") or info.get("mtime") or "")
        size, version = int(info.get("size") or 0), version.strip('"')
        if (size, version) != (shard.size, shard.version):
            return f"size {shard.size} -> {size}, version {shard.version} -> {version}"
        return None
    try:
        st = os.stat(shard.uri.removeprefix("file://"))
    except OSError as err:
        return f"cannot stat it: {err}"
    if (st.st_size, str(st.st_mtime_ns)) != (shard.size, shard.version):
        return f"size {shard.size} -> {st.st_size}, mtime {shard.version} -> {st.st_mtime_ns}"
    return None


class _Tally:
    """Counts over a shard's batches."""

    def __init__(self) -> None:
        self.rows = 0
        self.kept = 0
        self.removed = 0  # rows in the removed output (annotate mode: 0, all rows are kept)
        self.text_bytes = 0
        self.text_bytes_last = 0
        self.by_reason: Counter[str] = Counter()
        self.by_category: Counter[str] = Counter()
        self.terms: Counter[str] = Counter()
        self.scores: dict[str, np.ndarray] = {}
        self.bad_rows: list[dict] = []
        self.bad_count = 0

    def add(self, result, position: int, row_numbers: np.ndarray | None = None) -> None:
        """Count one batch's result; its rows are the shard's rows ``row_numbers``, or
        ``position`` on when None (consecutive)."""
        self.rows += result.rows
        self.kept += result.kept.num_rows
        self.removed += 0 if result.removed is None else result.removed.num_rows
        self.by_reason.update(result.by_reason)
        self.by_category.update(result.by_category)
        self.terms.update(result.terms)
        for name, hist in result.scores.items():
            self.scores[name] = self.scores.get(name, 0) + hist
        self.bad_count += len(result.unreadable)
        for row, message in result.unreadable[: max(0, MAX_LISTED - len(self.bad_rows))]:
            at = position + row if row_numbers is None else int(row_numbers[row])
            self.bad_rows.append({"row": at, "count": 1,
                                  "reason": "invalid_utf8", "message": message})
        self.text_bytes += result.text_bytes
        self.text_bytes_last = result.text_bytes


def _marker(shard: Shard, fingerprint: str, reader: ShardReader, tally: _Tally,
            outputs: dict, error: ShardError | None = None) -> dict:
    stats = reader.stats
    unreadable = tally.bad_count + stats.unreadable_rows
    listed = tally.bad_rows + [
        {"row": u.row, "count": u.count, "reason": u.reason, "message": u.message}
        for u in stats.unreadable]
    removed = tally.removed
    rows_in: int | None
    if stats.footer_rows is not None and error is None:
        rows_in = stats.footer_rows
    else:
        rows_in = tally.rows + stats.unreadable_rows if error is None else None
    if error is not None:
        status = "unreadable"
    elif unreadable or stats.truncated:
        status = "done_with_unreadable"
    else:
        status = "done"
    accounting = None if rows_in is None else rows_in == tally.kept + removed + unreadable
    return {
        "shard": shard.unit,
        "row_groups": None if shard.row_groups is None else list(shard.row_groups),
        "uri": shard.uri,
        "input": {"size": shard.size, "version": shard.version},
        "spec_fingerprint": fingerprint,
        "status": status,
        "error": None if error is None else {"reason": error.reason, "message": str(error)},
        "format": stats.format,
        "compression": stats.compression,
        "columns_as_text": sorted(reader.string_columns),  # JSONL columns that changed type
        "rows_in": rows_in,
        "kept": tally.kept,
        "removed": removed,
        # drop mode: rows removed per reason; annotate mode: rows flagged (and kept)
        "removed_by_reason": dict(sorted(tally.by_reason.items())),
        "unreadable": unreadable,
        "unreadable_rows": sorted(listed, key=lambda u: u["row"])[:MAX_LISTED],
        "truncated": None if stats.truncated is None else {
            "after_row": stats.truncated.row, "reason": stats.truncated.reason,
            "message": stats.truncated.message},
        "accounting_ok": accounting,
        "text_bytes": tally.text_bytes,
        "removed_by_category": dict(sorted(tally.by_category.items())),
        "top_terms": dict(sorted(tally.terms.items(), key=lambda kv: (-kv[1], kv[0]))[:50]),
        "score_histograms": {k: [int(x) for x in v] for k, v in sorted(tally.scores.items())},
        "outputs": outputs,
    }
