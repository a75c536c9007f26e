"""``engine.run``: filter a set of shards into an output directory, resumably.

Order of work: expand the inputs and refuse colliding output names; take the output's lock;
write (or check) the manifest; build each blocklist automaton once and save it where the
workers memory-map it; skip shards whose marker is valid; run the rest on worker processes;
write ``report.json`` from all markers. Exit codes: see ``engine.errors.EXIT_CODES``.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from engine.execution import manifest, report
from engine.execution.job import JobOptions
from engine.execution.supervisor import Supervisor
from engine.execution.worker import WorkerSetup
from engine.filter.apply import Filter
from engine.filter.spec import FilterSpec
from engine.io.shards import discover, split_large
from engine.io.writers import Output

REPORT = "report.json"


@dataclass
class RunResult:
    """What ``run`` returns: the report (as written to ``report.json``) and where it is."""

    report: dict
    report_path: str

    @property
    def exit_code(self) -> int:
        return self.report["exit_code"]

    def summary(self) -> str:
        return report.summary(self.report, self.report_path)


class _Interrupted(Exception):
    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def run(inputs, output: str, spec: FilterSpec | str | Path | None = None, *,
        workers: int | None = None, max_retries: int = 2, shard_timeout: float | None = None,
        force: bool = False, progress=None, storage_options: dict | None = None,
        row_group_bytes: int | None = None, max_decompressed_bytes: int = 64 << 30,
        max_unit_bytes: int | None = 1 << 30) -> RunResult:
    """Filter ``inputs`` (paths, globs, URLs) into ``output``; resume if it was started.

    Args:
        inputs: a path, glob or URL, or a list of them.
        output: the output directory (local or an fsspec URL).
        spec: a ``FilterSpec``, a TOML path, or None (or ``"default"``) for the shipped
            default (``FilterSpec.load``).
        workers: worker processes (default: one per core).
        max_retries: extra attempts for a shard whose worker died, hung or raised.
        shard_timeout: seconds one attempt of one shard may take.
        force: redo what changed instead of refusing when inputs or filter differ.
        progress: ``callable(kind, rel, detail)`` for events (see ``engine.execution.progress``).
        storage_options: fsspec options for remote inputs and outputs.
        row_group_bytes: target row-group size of the outputs.
        max_decompressed_bytes: cap on a compressed JSONL shard's inflated size.
        max_unit_bytes: Parquet files larger than this are split into row-group ranges
            processed in parallel (outputs ``<stem>.rg00000-00007.parquet``); None: never.

    Returns:
        RunResult; ``result.exit_code`` follows the CLI's exit codes.

    Raises:
        UsageError, ConfigError, RunStateError: before any shard is touched.

    Workers are started with ``spawn``, which imports the calling script again in each
    worker: as with any ``multiprocessing`` program, call ``run`` from a script under
    ``if __name__ == "__main__":``.
    """
    started = time.monotonic()
    spec = FilterSpec.load(spec)
    files = discover(inputs, storage_options)
    shards = split_large(files, max_unit_bytes, storage_options)
    fingerprint = spec.fingerprint()
    out = Output(str(output), storage_options)
    options = JobOptions(storage_options=dict(storage_options or {}),
                         max_decompressed_bytes=max_decompressed_bytes,
                         **({"row_group_bytes": row_group_bytes} if row_group_bytes else {}))
    workers = workers or default_workers()
    with manifest.Lock(out):
        manifest.check_or_write(out, manifest.build_manifest(
            files, spec.to_dict(), fingerprint, max_unit_bytes), force)
        if out.remote:
            out.abort_stale_uploads()
        else:
            shutil.rmtree(out.path("_tmp"), ignore_errors=True)  # we hold the lock
        markers, pending = _partition(out, shards, fingerprint)
        stale = sorted(out.list_files("_done") - {manifest.marker_path(s) for s in shards})
        outcome, interrupted = _execute(pending, spec, out, fingerprint, options, workers,
                                        max_retries, shard_timeout, progress)
        processed, failed, busy_s = set(), {}, 0.0
        if outcome is not None:
            markers.update(outcome.markers)
            processed = set(outcome.markers)
            failed = outcome.failed
            busy_s = outcome.busy_s
        elif interrupted:  # markers committed before the signal still count
            done, _ = _partition(out, pending, fingerprint)
            markers.update(done)
            processed = set(done)
        data = report.build(shards, markers, failed, processed, time.monotonic() - started,
                            min(workers, max(len(pending), 1)), interrupted, busy_s)
        data["stale_markers"] = stale[:100]  # from inputs no longer in this run (--force)
        data["filter"] = {"config": spec.source, "fingerprint": fingerprint,
                          "mode": spec.mode, "rules": [r for r, _ in spec.drop_if]}
        out.write_json(REPORT, data, "report")
        if not out.remote:  # every worker has stopped: staged files left are dead attempts'
            shutil.rmtree(out.path("_tmp"), ignore_errors=True)
    return RunResult(data, out.path(REPORT))


def _partition(out: Output, shards, fingerprint: str) -> tuple[dict, list]:
    """Split shards into those with a valid marker (unit -> marker) and those to do."""
    markers, pending = {}, []
    existing = out.list_files("_done")
    for shard in shards:
        path = manifest.marker_path(shard)
        marker = manifest.read_marker(out, shard) if path in existing else None
        if manifest.marker_valid(marker, shard, fingerprint, out):
            markers[shard.unit] = marker
        else:
            pending.append(shard)
    return markers, pending


def _execute(pending, spec, out, fingerprint, options, workers, max_retries, shard_timeout,
             progress):
    """Run the pending shards on worker processes; returns (outcome, signal or None)."""
    if not pending:
        return None, None
    if progress is not None:
        progress("plan", "", pending)
    workdir = tempfile.mkdtemp(prefix="filter-engine-")
    saved = {b.name: os.path.join(workdir, f"{b.name}.matcher") for b in spec.blocklists}
    supervisor = Supervisor(
        min(workers, len(pending)), WorkerSetup(spec, saved, out.root, fingerprint, options),
        max_retries=max_retries, shard_timeout=shard_timeout, on_event=progress)
    previous = _catch_signals()
    try:
        supervisor.prestart(len(pending))  # workers import while we build the automata
        _save_matchers(spec, saved)
        return supervisor.run(pending), None
    except _Interrupted as stop:
        return None, stop.signum
    finally:
        supervisor.close()
        _restore_signals(previous)
        shutil.rmtree(workdir, ignore_errors=True)
        if progress is not None and hasattr(progress, "close"):
            progress.close()


def _save_matchers(spec: FilterSpec, paths: dict[str, str]) -> None:
    """Build each automaton once and save it; workers memory-map the saved file."""
    for stage in Filter(spec).blocklists:
        stage.matcher.save(paths[stage.spec.name])


def _catch_signals():
    """Turn SIGINT/SIGTERM into an exception the run loop handles (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, _frame):
        raise _Interrupted(signum)

    return {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}


def _restore_signals(previous) -> None:
    for sig, old in (previous or {}).items():
        signal.signal(sig, old)
