"""One row of a finished run: where its input is, which filter the run used, and what the run
decided for it (``explain --run OUT --shard S --row N``).

The run's decision is read back from its outputs, not recomputed: a removed row is found in
the shard's removed output by its ``fe_row``; a row listed unreadable in the marker was
unreadable; any other row below ``rows_in`` was kept. The filter is the run's config
(``report.json``), checked against the fingerprint in ``_manifest.json``, so an explanation
made with a config or list that has changed since is flagged, not silently different.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from engine.errors import fail
from engine.execution.job import MAX_DOC_BYTES, run_fingerprint
from engine.execution.samples import read_rows
from engine.filter.spec import FilterSpec
from engine.io.writers import Output


@dataclass(frozen=True)
class RunRow:
    """A row of a run and the run's decision for it.

    Attributes:
        shard: the work unit's name (as in ``_done/<shard>.json``).
        uri: the input file.
        row: the row's number in the shard (as ``fe_row`` and the markers count rows).
        spec: the run's filter, loaded from its config.
        same_filter: the config and every list and model file still have the fingerprint
            the run recorded.
        decision: ``"keep"``, ``"unreadable"`` or the drop reason the run recorded.
        rule: the rule text the run recorded (``fe_rule``), for a removed row.
    """

    shard: str
    uri: str
    row: int
    spec: FilterSpec
    same_filter: bool
    decision: str
    rule: str | None


def _json(out: Output, rel: str) -> dict | None:
    try:
        data = json.loads(out.read_text(rel) or "null")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def locate(root: str, shard: str, row: int) -> RunRow:
    """The run in ``root``'s row ``row`` of shard ``shard`` (its unit name, or its input
    path or URI).

    Raises:
        UsageError: E001 when ``root`` is not a run's output, the shard is not in it, or
            the row is past the shard's end.
    """
    out = Output(root)
    report, manifest = _json(out, "report.json"), _json(out, "_manifest.json")
    if report is None or manifest is None:
        raise fail("E001", argument="--run", problem=f"{root!r} has no readable report.json "
                   "and _manifest.json; is it a finished run's output?")
    marker = _json(out, f"_done/{shard}.json") if ".." not in shard else None
    if marker is None:  # an input path: find the marker whose uri names it
        from engine.execution.samples import iter_markers

        wanted = os.path.abspath(shard.removeprefix("file://"))
        marker = next((m for m in iter_markers(out) if m.get("row_groups") is None and (
            m.get("uri") == shard or m.get("uri", "").removeprefix("file://") == wanted)),
            None)
    if marker is None:
        raise fail("E001", argument="--shard", problem=f"{shard!r} is not a shard of the run "
                   f"in {root!r} (name it as in {root}/_done/, without .json)")
    config = (report.get("filter") or {}).get("config")
    spec = FilterSpec.load(config)
    same = run_fingerprint(spec.fingerprint(), MAX_DOC_BYTES) == manifest.get(
        "spec_fingerprint")
    rows_in = marker.get("rows_in") or 0
    if not 0 <= row < rows_in:
        raise fail("E001", argument="--row", problem=f"row {row} is past the end of shard "
                   f"{marker['shard']!r} ({rows_in} rows)")
    decision, rule = "keep", None
    if any(u.get("row") == row for u in marker.get("unreadable_rows") or []):
        decision = "unreadable"
    removed = (marker.get("outputs") or {}).get("removed")
    if isinstance(removed, dict):
        for found in read_rows(out, removed["path"], spec.text_column, rows={row}):
            decision, rule = found["fe_reason"], found.get("fe_rule")
    return RunRow(marker["shard"], marker["uri"], row, spec, same, decision, rule)
