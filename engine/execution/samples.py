"""Removed documents read back from a run's outputs, for the report's samples and compare.

Reading is bounded: markers are read one at a time, a removed output only when its shard
removed rows for a reason that still lacks samples, a few hundred rows per batch and only
the columns needed, and at most ``MAX_FILES`` outputs, so the report of a 100,000-shard run
costs no more memory than that of a small one. A sample's text is cut to a window around
its first matched span (``WINDOW`` bytes), so a huge row costs no more than a short one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pyarrow.parquet as pq

#: Removed outputs read at most, looking for samples.
MAX_FILES = 200
#: Bytes of text shown around a sample's first matched span.
WINDOW = 600


def iter_markers(out) -> Iterator[dict]:
    """Every readable shard marker under ``_done/``, in name order, one at a time."""
    for rel in sorted(out.list_files("_done")):
        if not rel.endswith(".json"):
            continue
        try:
            marker = json.loads(out.read_text(rel) or "")
        except (OSError, ValueError):
            continue
        if isinstance(marker, dict) and isinstance(marker.get("outputs"), dict):
            yield marker


def snippet(text: str | None, spans: list[dict] | None, window: int = WINDOW
            ) -> list[tuple[str, bool]]:
    """``(piece, matched)`` pieces of ``text`` around its first span (byte offsets), cut to
    about ``window`` bytes; overlapping spans are merged."""
    if text is None:
        return []
    data = text.encode("utf-8", "surrogatepass")
    spans = sorted(spans or [], key=lambda s: (s["start"], s["end"]))
    first = spans[0]["start"] if spans else 0
    lo = max(0, first - window // 3)
    hi = min(len(data), lo + window)
    pieces: list[tuple[str, bool]] = []
    at = lo
    if lo:
        pieces.append(("…", False))
    for span in spans:
        start, end = max(span["start"], at), min(span["end"], hi)
        if start >= hi:
            break
        if end <= start:
            continue
        pieces.append((data[at:start].decode("utf-8", "ignore"), False))
        pieces.append((data[start:end].decode("utf-8", "replace"), True))
        at = end
    pieces.append((data[at:hi].decode("utf-8", "ignore"), False))
    if hi < len(data):
        pieces.append((f"… ({len(data):,} bytes in all)", False))
    return [p for p in pieces if p[0]]


def _output_of(marker: dict, annotate: bool) -> str | None:
    info = marker["outputs"].get("kept" if annotate else "removed")
    return info["path"] if isinstance(info, dict) else None


def collect(out, report: dict, per_reason: int = 5, max_files: int = MAX_FILES) -> dict:
    """Up to ``per_reason`` removed rows per reason: ``reason -> [sample]``, a sample being
    ``{shard, row, rule, categories, pieces, decided_by}``."""
    filt = report.get("filter") or {}
    annotate = filt.get("mode") == "annotate"
    text_column = filt.get("text_column") or "text"
    wanted = {r for r in report.get("removed_by_reason") or {}}
    found: dict[str, list[dict]] = {r: [] for r in sorted(wanted)}
    files = 0
    for marker in iter_markers(out):
        need = {r for r in marker.get("removed_by_reason", {}) if len(found.get(r, ())) <
                per_reason and r in wanted}
        path = _output_of(marker, annotate)
        if not need or path is None:
            continue
        if files >= max_files:
            break
        files += 1
        for row in read_rows(out, path, text_column, need):
            bucket = found[row["fe_reason"]]
            if len(bucket) < per_reason:
                bucket.append(sample(marker["shard"], row, text_column))
            need = {r for r in need if len(found[r]) < per_reason}
            if not need:
                break
    return found


def sample(shard: str, row: dict, text_column: str) -> dict:
    return {"shard": shard, "row": row.get("fe_row"), "reason": row.get("fe_reason"),
            "rule": row.get("fe_rule"), "categories": row.get("fe_categories") or [],
            "decided_by": row.get("fe_decided_by") or [],
            "pieces": snippet(row.get(text_column), row.get("fe_spans"))}


def read_rows(out, path: str, text_column: str, reasons: set[str] | None = None,
              rows: set[int] | None = None, batch_size: int = 256) -> Iterator[dict]:
    """Rows of a removed (or annotated) output whose ``fe_reason`` is in ``reasons`` (or
    whose ``fe_row`` is in ``rows``), with the audit columns and the text, batch by batch."""
    try:
        fh = out.open_read(path)
    except OSError:
        return
    with fh:
        try:
            pf = pq.ParquetFile(fh)
        except (OSError, ValueError):
            return
        names = set(pf.schema_arrow.names)
        columns = [c for c in (text_column, "fe_reason", "fe_row", "fe_rule", "fe_categories",
                               "fe_spans", "fe_decided_by") if c in names]
        if "fe_reason" not in names:
            return
        for batch in pf.iter_batches(batch_size=batch_size, columns=columns):
            for row in batch.to_pylist():
                if row["fe_reason"] is None:
                    continue
                if reasons is not None and row["fe_reason"] not in reasons:
                    continue
                if rows is not None and row.get("fe_row") not in rows:
                    continue
                yield row
