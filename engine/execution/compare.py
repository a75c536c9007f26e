"""``report --compare``: what two runs over the same input removed differently.

Rows are matched by shard and ``fe_row`` (the row's number in its shard, carried by every
removed row), so two configs, or two versions of one list, are compared row by row without
reading the input again. Shards are taken one at a time (only the ``fe_row`` and
``fe_reason`` columns of each removed output, then the text of the few sampled rows), so
memory is bounded by the largest shard's removed rows, not by the run.
"""

from __future__ import annotations

import json
from collections import Counter

import pyarrow.parquet as pq

from engine.errors import fail
from engine.execution import samples as sampling
from engine.execution.html_report import CSS, bars, esc, num, sample_block

#: Differing rows listed one by one (``rows``); the counts are always exact.
MAX_LISTED = 10_000


def _removed(out, marker: dict | None) -> dict[int, str]:
    """``fe_row -> fe_reason`` of a shard's removed output (empty when it has none)."""
    info = (marker or {}).get("outputs", {}).get("removed")
    if not isinstance(info, dict):
        return {}
    with out.open_read(info["path"]) as fh:
        pf = pq.ParquetFile(fh)
        if "fe_row" not in pf.schema_arrow.names:
            raise fail("E001", argument="--compare", problem=f"{out.root}/{info['path']} has "
                       "no fe_row column (written before rows were numbered); run it again "
                       "to compare")
        table = pf.read(columns=["fe_row", "fe_reason"])
    return dict(zip(table["fe_row"].to_pylist(), table["fe_reason"].to_pylist(), strict=True))


def _markers(out) -> dict[str, dict]:
    """``shard -> {removed output}`` (only what compare needs, so it stays small)."""
    return {m["shard"]: {"outputs": {k: v for k, v in m["outputs"].items() if k == "removed"},
                         "status": m.get("status")}
            for m in sampling.iter_markers(out)}


def _inputs(out) -> dict | None:
    try:
        manifest = json.loads(out.read_text("_manifest.json") or "null")
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict):
        return None
    return {i["rel"]: (i.get("size"), i.get("version")) for i in manifest.get("inputs", [])}


def compare(out_a, out_b, per_reason: int = 3, text_column: str = "text") -> dict:
    """Rows removed by one run and not the other, counted by reason, listed (up to
    ``MAX_LISTED``) and sampled (``per_reason`` per side and reason)."""
    a, b = _markers(out_a), _markers(out_b)
    only: dict[str, Counter[str]] = {"a": Counter(), "b": Counter()}
    changed: Counter[str] = Counter()
    listed: dict[str, list] = {"a": [], "b": [], "reason_changed": []}
    picks: dict[str, dict[str, list[tuple[str, int]]]] = {"a": {}, "b": {}}
    for shard in sorted(a.keys() & b.keys()):
        ra, rb = _removed(out_a, a[shard]), _removed(out_b, b[shard])
        for side, mine, other in (("a", ra, rb), ("b", rb, ra)):
            for row in sorted(mine.keys() - other.keys()):
                reason = mine[row]
                only[side][reason] += 1
                if len(listed[side]) < MAX_LISTED:
                    listed[side].append([shard, row, reason])
                bucket = picks[side].setdefault(reason, [])
                if len(bucket) < per_reason:
                    bucket.append((shard, row))
        for row in sorted(ra.keys() & rb.keys()):
            if ra[row] != rb[row]:
                changed[f"{ra[row]} -> {rb[row]}"] += 1
                if len(listed["reason_changed"]) < MAX_LISTED:
                    listed["reason_changed"].append([shard, row, ra[row], rb[row]])
    found = {side: _samples(out, picks[side], markers, text_column)
             for side, out, markers in (("a", out_a, a), ("b", out_b, b))}
    inputs_a, inputs_b = _inputs(out_a), _inputs(out_b)
    return {
        "a": out_a.root, "b": out_b.root,
        "same_inputs": inputs_a is not None and inputs_a == inputs_b,
        "shards_compared": len(a.keys() & b.keys()),
        "shards_only_in_a": sorted(a.keys() - b.keys())[:100],
        "shards_only_in_b": sorted(b.keys() - a.keys())[:100],
        "removed_only_by_a": sum(only["a"].values()),
        "removed_only_by_b": sum(only["b"].values()),
        "only_a_by_reason": dict(only["a"].most_common()),
        "only_b_by_reason": dict(only["b"].most_common()),
        "reason_changed": dict(changed.most_common()),
        "rows": {"only_a": listed["a"], "only_b": listed["b"],
                 "reason_changed": listed["reason_changed"],
                 "complete": max(map(len, listed.values())) < MAX_LISTED},
        "samples": found,
    }


def _samples(out, picks: dict[str, list[tuple[str, int]]], markers: dict[str, dict],
             text_column: str) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    by_shard: dict[str, set[int]] = {}
    for pairs in picks.values():
        for shard, row in pairs:
            by_shard.setdefault(shard, set()).add(row)
    for shard, rows in sorted(by_shard.items()):
        path = markers[shard]["outputs"]["removed"]["path"]
        for data in sampling.read_rows(out, path, text_column, rows=rows):
            found.setdefault(data["fe_reason"], []).append(
                sampling.sample(shard, data, text_column))
    return found


def text(result: dict) -> str:
    """The comparison for the terminal."""
    lines = [f"A: {result['a']}", f"B: {result['b']}"]
    if not result["same_inputs"]:
        lines.append("warning: the two runs' manifests list different inputs; rows are "
                     "compared by shard and row number where both have the shard")
    lines.append(f"shards compared: {result['shards_compared']:,} (only in A: "
                 f"{len(result['shards_only_in_a'])}, only in B: "
                 f"{len(result['shards_only_in_b'])})")
    for side, name in (("a", "A"), ("b", "B")):
        counts = result[f"only_{side}_by_reason"]
        lines.append(f"removed by {name} only: {result[f'removed_only_by_{side}']:,}" + (
            " (" + ", ".join(f"{k} {v:,}" for k, v in counts.items()) + ")" if counts else ""))
        for reason, picked in result["samples"][side].items():
            for s in picked:
                shown = "".join(f"[{p}]" if hit else p for p, hit in s["pieces"])
                lines.append(f"  {reason}: {s['shard']} row {s['row']}: {shown[:200]!r}")
    if result["reason_changed"]:
        lines.append("removed by both, for another reason: " + ", ".join(
            f"{k} {v:,}" for k, v in result["reason_changed"].items()))
    return "\n".join(lines)


def html(result: dict) -> str:
    """The comparison as one self-contained page."""
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<link rel="icon" href="data:,">',
             f"<title>filter-engine compare</title><style>{CSS}</style></head><body>",
             "<h1>filter-engine: what two runs removed differently</h1>",
             f'<p class="meta">A: {esc(result["a"])}<br>B: {esc(result["b"])}<br>same inputs: '
             f'{esc(result["same_inputs"])} · shards compared: '
             f'{result["shards_compared"]:,}</p>']
    for side, name in (("a", "A"), ("b", "B")):
        parts.append(f"<h2>Removed by {name} only: "
                     f'{num(result[f"removed_only_by_{side}"], f"removed_only_by_{side}")}</h2>')
        parts.append(bars(list(result[f"only_{side}_by_reason"].items()),
                          f"only_{side}_by_reason"))
        for reason, picked in result["samples"][side].items():
            parts.append(f"<h3>{esc(reason)}</h3>" + "".join(sample_block(s) for s in picked))
    if result["reason_changed"]:
        parts += ["<h2>Removed by both, for another reason</h2>",
                  bars(list(result["reason_changed"].items()), "reason_changed")]
    parts.append("</body></html>\n")
    return "\n".join(parts)
