"""The audit trail of a removal: which rule, which categories and spans, which list version.

Every removed row (drop mode), and every row annotate mode would remove (null on the
others), carries, besides ``fe_reason`` and the stage columns:

* ``fe_rule``: the text of the drop rule that removed it (``too_long``: the byte cap);
* ``fe_categories``: the ``<blocklist>.<category>`` names the row matched, sorted;
* ``fe_spans``: where it matched, as ``{stage, start, end, term}`` with byte offsets into
  the row's UTF-8 text, in text order, at most ``MAX_SPANS`` per row (the counts in
  ``fe_<stage>_count`` are exact);
* ``fe_decided_by``: ``{stage, kind, sha256}`` for each blocklist or model the deciding rule
  reads, where ``sha256`` is ``stage_hashes``'s content hash: a removal is traced to the
  exact list or model version.

``fe_<stage>_terms`` (distinct matched terms) is capped at ``MAX_TERMS`` per row and stage;
``fe_<stage>_distinct`` keeps the full count. Nothing here depends on time, host or worker,
so the removed output keeps the same bytes when a run is resumed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from engine.classify.card import sha256_of

if TYPE_CHECKING:
    from engine.match.matcher import SpanResult

#: ``fe_<stage>_terms`` holds at most this many distinct terms per row and stage.
MAX_TERMS = 64
#: ``fe_spans`` holds at most this many spans per row (the first in the text).
MAX_SPANS = 32

SPAN = pa.struct([("stage", pa.string()), ("start", pa.int64()), ("end", pa.int64()),
                  ("term", pa.string())])
SOURCE = pa.struct([("stage", pa.string()), ("kind", pa.string()), ("sha256", pa.string())])


def stage_hashes(spec) -> dict[str, dict]:
    """Content hashes of what each stage decides with: ``name -> {kind, sha256, files}``.

    A blocklist's ``sha256`` covers its list files (name and bytes, in name order), so the
    same lists give the same hash wherever they live; a classifier's is the sha256 of its
    ``model.onnx`` (``files`` lists every file of the model directory).
    """
    hashes: dict[str, dict] = {}
    for b in spec.blocklists:
        files = {Path(f).name: sha256_of(Path(f)) for f in b.files}
        combined = hashlib.sha256("".join(f"{n}\0{h}\n" for n, h in sorted(files.items()))
                                  .encode()).hexdigest()
        hashes[b.name] = {"kind": "blocklist", "sha256": combined, "files": files}
    for c in spec.classifiers:
        model = Path(c.model)
        files = {str(p.relative_to(model)): sha256_of(p)
                 for p in sorted(model.rglob("*")) if p.is_file()}
        hashes[c.name] = {"kind": "classifier", "sha256": files.get("model.onnx", ""),
                          "files": files}
    return hashes


def decided_by(drops, hashes: dict[str, dict]) -> list[list[dict]]:
    """Per reason code (0: ``too_long``, then each drop rule) the stages its rule reads."""
    out: list[list[dict]] = [[]]
    for _, rule in drops:
        stages = sorted({name.split(".", 1)[0] for name in rule.names} & hashes.keys())
        out.append([{"stage": s, "kind": hashes[s]["kind"], "sha256": hashes[s]["sha256"]}
                    for s in stages])
    return out


def _lists(lengths: np.ndarray, values: pa.Array) -> pa.ListArray:
    offsets = np.zeros(len(lengths) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)


def capped_take(found_rows: np.ndarray, rows: np.ndarray, cap: int) -> tuple[np.ndarray,
                                                                            np.ndarray]:
    """For ``found_rows`` sorted, the indices of the first ``cap`` entries of each row in
    ``rows`` (concatenated), and how many each row got."""
    first = np.searchsorted(found_rows, rows, side="left")
    lengths = np.minimum(np.searchsorted(found_rows, rows, side="right") - first, cap)
    starts = np.zeros(len(rows), np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    take = np.repeat(first - starts, lengths) + np.arange(int(lengths.sum()))
    return take.astype(np.int64), lengths


def categories(blocklists, outputs, rows: np.ndarray) -> pa.ListArray:
    """``fe_categories``: matched ``<stage>.<category>`` names per row, sorted."""
    names = sorted(f"{b.name}.{c}" for b in blocklists for c in b.spec.categories)
    columns = {o_name: col for o in outputs for o_name, col in o.columns.items()}
    hit = np.zeros((len(rows), len(names)), bool)
    for j, name in enumerate(names):
        hit[:, j] = np.asarray(columns[name])[rows] > 0
    cols = np.nonzero(hit)[1]
    return _lists(hit.sum(axis=1), pa.array(names, pa.string()).take(pa.array(cols,
                                                                              pa.int64())))


def spans(stages_spans: list[tuple[str, SpanResult, pa.Array]], rows: np.ndarray
          ) -> pa.ListArray:
    """``fe_spans`` for ``rows`` from each blocklist's spans ``(stage, SpanResult, names)``."""
    keep = np.zeros(int(rows.max()) + 1 if len(rows) else 0, bool)
    keep[rows] = True
    parts = []
    for i, (_, found, names) in enumerate(stages_spans):
        mine = found.row < len(keep)
        mine[mine] = keep[found.row[mine]]
        idx = np.flatnonzero(mine)
        parts.append((np.full(len(idx), i, np.int64), found.row[idx], found.start[idx],
                      found.end[idx], names.take(pa.array(found.pattern_id[idx], pa.int64()))))
    if not parts or not sum(len(p[1]) for p in parts):
        return _lists(np.zeros(len(rows), np.int64), pa.array([], SPAN))
    stage_of = np.concatenate([p[0] for p in parts])
    row = np.concatenate([p[1] for p in parts])
    start = np.concatenate([p[2] for p in parts])
    end = np.concatenate([p[3] for p in parts])
    terms = pa.concat_arrays([p[4] for p in parts])
    # each stage's spans are sorted by row, start, end already; several are merged
    order = np.arange(len(row)) if len(parts) == 1 else np.lexsort((end, start, row))
    take, lengths = capped_take(row[order], rows, MAX_SPANS)
    pick = order[take]
    values = pa.StructArray.from_arrays(
        [pa.array([s for s, _, _ in stages_spans], pa.string()).take(pa.array(stage_of[pick])),
         pa.array(start[pick], pa.int64()),
         pa.array(end[pick], pa.int64()), terms.take(pa.array(pick, pa.int64()))],
        fields=list(SPAN))
    return _lists(lengths, values)


def sources(per_reason: list[list[dict]], codes: np.ndarray) -> pa.ListArray:
    """``fe_decided_by`` per row from its reason code (see ``decided_by``)."""
    table = pa.array(per_reason, pa.list_(SOURCE))
    return table.take(pa.array(np.asarray(codes, np.int64)))
