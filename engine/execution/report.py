"""The run report: ``report.json`` and the human summary, built from the shard markers.

Everything is derived from the markers (plus the runner's list of failed shards and its
clock), so a resumed run reports on the whole output, not only the shards it redid. The
accounting check ``rows_in == kept + removed + unreadable`` is re-verified here for every
shard and its result stated in both forms. The exit code is one of ``engine.errors.EXIT_CODES``.
"""

from __future__ import annotations

import time
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
    totals = Totals()
    text_now = 0
    input_files: dict[str, int] = {}  # a split file counts once
    for shard in shards:
        m = markers.get(shard.unit)
        if m is None:
            continue
        totals.add(shard.unit, m)
        if shard.unit in processed:
            text_now += m["text_bytes"]
            input_files[shard.rel] = max(shard.size, 0)
    rows, mismatches, quarantined = totals.rows, totals.mismatches, totals.quarantined
    input_now = sum(input_files.values())
    done = sum(1 for s in shards if s.unit in markers)
    pending = len(shards) - done
    unreadable = bool(quarantined or rows["unreadable"] or totals.truncated)
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
        **totals.counts(),
        "bytes": {"input_processed_now": input_now, "text_processed_now": text_now,
                  "kept_output": totals.out_bytes["kept"],
                  "removed_output": totals.out_bytes["removed"]},
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
        "failed": [{"shard": rel, "attempts": len(errs), "errors": errs,
                    "retried": rel not in failed_exit_codes,
                    "exit_code": failed_exit_codes.get(rel, EXIT_INCOMPLETE.code)}
                   for rel, errs in sorted(failed.items())],
    }


class Totals:
    """The markers' counts summed one marker at a time: memory stays bounded by the number
    of distinct reasons, categories and terms (and the few problems listed), not by the
    number of shards, so a report over 100,000 shards is built streaming."""

    def __init__(self) -> None:
        self.shards = 0
        self.rows: Counter[str] = Counter()
        self.by_reason: Counter[str] = Counter()
        self.by_category: Counter[str] = Counter()
        self.terms: Counter[str] = Counter()
        self.hists: dict[str, list[int]] = {}
        self.mismatches: list[str] = []
        self.quarantined: list[dict] = []
        self.unreadable_rows: list[dict] = []
        self.out_bytes: Counter[str] = Counter()
        self.truncated = False

    def add(self, unit: str, m: dict) -> None:
        """Count one shard's marker."""
        self.shards += 1
        self.rows["kept"] += m["kept"]
        self.rows["removed"] += m["removed"]
        self.rows["unreadable"] += m["unreadable"]
        self.rows["in"] += m["rows_in"] or 0
        self.by_reason.update(m["removed_by_reason"])
        self.by_category.update(m["removed_by_category"])
        self.terms.update(m["top_terms"])
        for name, hist in m["score_histograms"].items():
            self.hists[name] = [a + b for a, b in zip(
                self.hists.get(name, [0] * len(hist)), hist, strict=True)]
        for name, info in m["outputs"].items():
            self.out_bytes[name] += info["bytes"]
        if m["status"] == "unreadable":
            self.quarantined.append({"shard": unit, "error": m["error"]["message"]})
        elif m["accounting_ok"] is False:
            self.mismatches.append(unit)
        if m["truncated"]:
            self.truncated = True
            if len(self.unreadable_rows) < 50:
                self.unreadable_rows.append({"shard": unit, **m["truncated"]})
        if len(self.unreadable_rows) < 50:
            self.unreadable_rows += [{"shard": unit, **u} for u in m["unreadable_rows"][:5]]


    def counts(self) -> dict:
        """The report's fields that come from the markers alone."""
        return {
            "rows": {"in": self.rows["in"], "kept": self.rows["kept"],
                     "removed": self.rows["removed"], "unreadable": self.rows["unreadable"]},
            "accounting": {"ok": not self.mismatches,
                           "checked_shards": self.shards - len(self.quarantined),
                           "mismatched_shards": self.mismatches,
                           "rule": "rows_in == kept + removed + unreadable, per shard"},
            "removed_by_reason": dict(self.by_reason.most_common()),
            "removed_by_category": dict(self.by_category.most_common()),
            "top_terms": dict(self.terms.most_common(25)),
            "score_histograms": self.hists,
            "quarantined": self.quarantined,
            "unreadable_sample": self.unreadable_rows[:50],
        }


def from_output(out, report: dict | None, manifest: dict | None) -> dict:
    """The report of an output directory as its markers say now (``filter-engine report``).

    The counts are summed again from the markers, streaming; what only the run knew (its
    timing, failures, status) comes from ``report`` (``report.json``) when there is one. A
    run killed before writing ``report.json``, or since resumed and killed again, is
    reported as ``partial``.
    """
    from engine.execution.samples import iter_markers

    totals = Totals()
    for marker in iter_markers(out):
        totals.add(marker["shard"], marker)
    if report is None:
        spec = (manifest or {}).get("spec") or {}
        inputs = len((manifest or {}).get("inputs") or [])
        report = {
            "status": "partial", "exit_code": None, "time_s": None, "workers": None,
            "shards": {"input_files": inputs, "done": totals.shards},
            "throughput": {}, "failed": [], "timeline": None,
            "filter": {"config": None, "mode": spec.get("mode"),
                       "fingerprint": (manifest or {}).get("spec_fingerprint"),
                       "drop_if": spec.get("drop_if") or [],
                       "text_column": spec.get("text_column") or "text",
                       "hashes": (manifest or {}).get("hashes") or {}},
        }
    report = {**report, **totals.counts()}
    if report["shards"].get("done") != totals.shards:
        report["status"], report["exit_code"] = "partial", None
        report["shards"] = {**report["shards"], "done": totals.shards}
    return report


class Timeline:
    """Wraps the run's event callback and records when each shard finished, for the
    report's throughput over time (``points``); everything else passes through."""

    def __init__(self, inner=None) -> None:
        self.inner = inner
        self.started = time.monotonic()
        self.done: list[tuple[float, int, int]] = []  # (seconds, rows in, text bytes)

    def __call__(self, kind: str, rel: str, detail) -> None:
        if kind == "done" and isinstance(detail, dict):
            self.done.append((time.monotonic() - self.started, detail.get("rows_in") or 0,
                              detail.get("text_bytes") or 0))
        if self.inner is not None:
            self.inner(kind, rel, detail)

    def close(self) -> None:
        if self.inner is not None and hasattr(self.inner, "close"):
            self.inner.close()

    def data(self, bins: int = 60) -> dict:
        """``{bin_s, bins, done}``: the run's wall time cut in ``bins`` equal bins, and for
        each bin in which shards finished ``[bin, shards, rows in, text bytes]``."""
        if not self.done:
            return {"bin_s": 0.0, "bins": bins, "done": []}
        width = (max(t for t, _, _ in self.done) or 1e-9) / bins
        found: dict[int, list[int]] = {}
        for t, rows, text in self.done:
            b = found.setdefault(min(int(t / width), bins - 1), [0, 0, 0])
            b[0] += 1
            b[1] += rows
            b[2] += text
        return {"bin_s": round(width, 6), "bins": bins,
                "done": [[i, *found[i]] for i in sorted(found)]}


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
