"""The run report: ``report.json`` and the human summary, built from the shard markers.

Everything is derived from the markers (plus the runner's list of failed shards and its
clock), so a resumed run reports on the whole output, not only the shards it redid. The
accounting check ``rows_in == kept + removed + unreadable`` is re-verified here for every
shard and its result stated in both forms. The exit code is one of ``engine.errors.EXIT_CODES``.
"""

from __future__ import annotations

from collections import Counter

from engine.errors import (
    EXIT_CLEAN,
    EXIT_INCOMPLETE,
    EXIT_UNREADABLE,
    EXIT_USAGE,
    exit_code_for_signal,
)


def build(shards, markers: dict, failed: dict, processed: set, elapsed: float,
          workers: int, interrupted: int | None = None, busy_s: float = 0.0,
          failed_exit_codes: dict[str, int] | None = None) -> dict:
    """The report as JSON-able data.

    Args:
        shards: every shard of the run.
        markers: shard rel -> marker, for shards done now or before.
        failed: shard rel -> error list, for shards out of retries.
        processed: rels processed by this invocation (throughput counts only these).
        elapsed: wall seconds of this invocation.
        workers: worker processes used.
        interrupted: the signal number that stopped the run, if any.
        busy_s: worker seconds spent inside completed shards (excludes process start and
            model loading): text / busy_s is the steady per-core speed.
        failed_exit_codes: shard rel -> exit code, for shards failed by an error that
            would recur identically (not retried); the run exits with that code (2 first).
    """
    failed_exit_codes = failed_exit_codes or {}
    rows: Counter[str] = Counter()
    by_reason: Counter[str] = Counter()
    by_category: Counter[str] = Counter()
    terms: Counter[str] = Counter()
    hists: dict[str, list[int]] = {}
    mismatches, quarantined, unreadable_rows = [], [], []
    text_now = 0
    input_files: dict[str, int] = {}  # a split file counts once
    out_bytes: Counter[str] = Counter()
    for shard in shards:
        m = markers.get(shard.unit)
        if m is None:
            continue
        rows["kept"] += m["kept"]
        rows["removed"] += m["removed"]
        rows["unreadable"] += m["unreadable"]
        rows["in"] += m["rows_in"] or 0
        by_reason.update(m["removed_by_reason"])
        by_category.update(m["removed_by_category"])
        terms.update(m["top_terms"])
        for name, hist in m["score_histograms"].items():
            hists[name] = [a + b for a, b in zip(hists.get(name, [0] * len(hist)), hist,
                                                   strict=True)]
        for name, info in m["outputs"].items():
            out_bytes[name] += info["bytes"]
        if m["status"] == "unreadable":
            quarantined.append({"shard": shard.unit, "error": m["error"]["message"]})
        elif m["accounting_ok"] is False:
            mismatches.append(shard.unit)
        if m["truncated"]:
            unreadable_rows.append({"shard": shard.unit, **m["truncated"]})
        unreadable_rows += [{"shard": shard.unit, **u} for u in m["unreadable_rows"][:5]]
        if shard.unit in processed:
            text_now += m["text_bytes"]
            input_files[shard.rel] = max(shard.size, 0)
    input_now = sum(input_files.values())
    done = sum(1 for s in shards if s.unit in markers)
    pending = len(shards) - done
    unreadable = bool(quarantined or rows["unreadable"] or any(
        markers[s.unit]["truncated"] for s in shards if s.unit in markers))
    if interrupted:
        status, code = "interrupted", exit_code_for_signal(interrupted)
    elif failed_exit_codes:
        codes = set(failed_exit_codes.values())
        status, code = "failed", EXIT_USAGE.code if EXIT_USAGE.code in codes else min(codes)
    elif pending or mismatches:
        status, code = "incomplete", EXIT_INCOMPLETE.code
    elif unreadable:
        status, code = "finished_with_unreadable", EXIT_UNREADABLE.code
    else:
        status, code = "clean", EXIT_CLEAN.code
    mb = 1e6
    return {
        "status": status,
        "exit_code": code,
        "shards": {"total": len(shards), "done": done, "processed_now": len(processed),
                   "resumed_skipped": done - len(processed & set(markers)),
                   "unreadable": len(quarantined), "failed": len(failed), "pending": pending},
        "rows": {"in": rows["in"], "kept": rows["kept"], "removed": rows["removed"],
                 "unreadable": rows["unreadable"]},
        "accounting": {"ok": not mismatches, "checked_shards": done - len(quarantined),
                       "mismatched_shards": mismatches,
                       "rule": "rows_in == kept + removed + unreadable, per shard"},
        "bytes": {"input_processed_now": input_now, "text_processed_now": text_now,
                  "kept_output": out_bytes["kept"], "removed_output": out_bytes["removed"]},
        "time_s": round(elapsed, 3),
        "workers": workers,
        "throughput": {
            "text_mb_s": round(text_now / mb / elapsed, 2) if elapsed else None,
            "text_mb_s_per_worker": round(text_now / mb / elapsed / workers, 2)
            if elapsed and workers else None,
            "input_mb_s": round(input_now / mb / elapsed, 2) if elapsed else None,
            "worker_busy_s": round(busy_s, 3),
            "text_mb_s_per_busy_core": round(text_now / mb / busy_s, 2) if busy_s else None,
        },
        "removed_by_reason": dict(by_reason.most_common()),
        "removed_by_category": dict(by_category.most_common()),
        "top_terms": dict(terms.most_common(25)),
        "score_histograms": hists,
        "failed": [{"shard": rel, "attempts": len(errs), "errors": errs,
                    "retried": rel not in failed_exit_codes,
                    "exit_code": failed_exit_codes.get(rel, EXIT_INCOMPLETE.code)}
                   for rel, errs in sorted(failed.items())],
        "quarantined": quarantined,
        "unreadable_sample": unreadable_rows[:50],
    }


def summary(report: dict, where: str) -> str:
    """A few lines for the terminal."""
    s, r = report["shards"], report["rows"]
    acct = report["accounting"]
    check = "OK" if acct["ok"] else "MISMATCH: " + ", ".join(acct["mismatched_shards"][:5])
    lines = [
        f"filter-engine: {report['status']}: {s['total']} shards ({s['processed_now']} "
        f"processed now, {s['resumed_skipped']} already done, {s['unreadable']} unreadable, "
        f"{s['failed']} failed, {s['pending']} pending) in {report['time_s']:.1f} s "
        f"with {report['workers']} worker(s)",
        f"rows: {r['in']:,} in = {r['kept']:,} kept + {r['removed']:,} removed + "
        f"{r['unreadable']:,} unreadable  [accounting {check}]",
    ]
    if not s["processed_now"] and not s["pending"] and not s["failed"]:
        lines.append("nothing to do: every shard already has a valid marker")
    t = report["throughput"]
    if t["text_mb_s"] is not None and report["bytes"]["text_processed_now"]:
        lines.append(f"text: {report['bytes']['text_processed_now'] / 1e6:,.1f} MB at "
                     f"{t['text_mb_s']:,.1f} MB/s ({t['text_mb_s_per_worker']:,.1f} MB/s "
                     f"per worker; {t['text_mb_s_per_busy_core'] or 0:,.1f} MB/s per busy core "
                     "excluding worker start)")
    if report["removed_by_reason"]:
        total = max(r["in"], 1)
        label = ("flagged by reason (annotate mode: kept, see fe_reason)"
                 if report.get("filter", {}).get("mode") == "annotate" else "removed by reason")
        lines.append(f"{label}: " + ", ".join(
            f"{k} {v:,} ({100 * v / total:.2f}%)" for k, v in report["removed_by_reason"].items()))
    if report["top_terms"]:
        lines.append("top terms: " + ", ".join(
            f"{k} {v:,}" for k, v in list(report["top_terms"].items())[:10]))
    for q in report["quarantined"][:10]:
        lines.append(f"unreadable shard {q['shard']}: {q['error']}")
    for f in report["failed"][:10]:
        lines.append(f"FAILED shard {f['shard']} after {f['attempts']} attempt(s): "
                     f"{f['errors'][-1]}")
    skipped = report.get("skipped_inputs") or []
    if skipped:
        lines.append(f"skipped {len(skipped)} input(s) that are not regular files: " + ", ".join(
            f"{s['path']} ({s['kind']})" for s in skipped[:5]) + (" ..." if len(skipped) > 5
                                                               else ""))
    if report.get("stale_markers"):
        lines.append(f"note: {len(report['stale_markers'])} marker(s) (and their outputs) are "
                     "from inputs no longer in this run; left in place, see stale_markers")
    if report["status"] in ("incomplete", "interrupted"):
        lines.append("run the same command again to resume")
    elif report["status"] == "failed":
        lines.append("fix the error above, then run the same command again to resume (as it "
                     "is, the failed shard(s) would fail the same way, so they were not retried)")
    lines.append(f"report: {where}")
    return "\n".join(lines)
