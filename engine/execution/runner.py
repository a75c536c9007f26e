"""``engine.run``: filter a set of shards into an output directory, resumably.

Order of work: expand the inputs and refuse colliding output names (after splitting large
files, on the final names); refuse an output that overlaps the inputs (E009: the next run
would read this run's outputs as inputs, or an output would replace an input); take the
output's lock; write (or check) the manifest; build each blocklist automaton once and save
it where the workers memory-map it; skip shards whose marker is valid and whose outputs
still match its checksums; run the rest on worker processes; write ``report.json`` from all
markers. Every file the run itself writes that cannot be written is a coded error naming
it: E001 (exit 2) when the output cannot be used at all, E048 (exit 1) when the disk
fails or fills up. Exit codes: see ``engine.errors.EXIT_CODES``.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.errors import fail
from engine.execution import html_report, manifest, report
from engine.execution.job import MAX_DOC_BYTES, JobOptions, output_paths, run_fingerprint
from engine.execution.supervisor import Supervisor
from engine.execution.worker import WorkerSetup
from engine.filter.apply import Filter
from engine.filter.audit import stage_hashes
from engine.filter.spec import FilterSpec
from engine.io.shards import Shard, check_output_outside_inputs, discover, split_large
from engine.io.writers import Output

REPORT = "report.json"
REPORT_HTML = html_report.NAME


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
        max_unit_bytes: int | None = 1 << 30, max_doc_bytes: int | None = MAX_DOC_BYTES,
        batch_bytes: int | None = None, executor=None) -> RunResult:
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
        max_doc_bytes: a document whose text is longer is removed with reason ``too_long``
            without being scanned (16 MiB by default); None: no cap. Part of the run's
            fingerprint: a resume with another cap is refused like a changed filter.
        batch_bytes: bytes of text per batch given to the filter (default 64 MiB).
        executor: who runs the pending shards instead of local worker processes:
            ``executor(pending, setup, max_retries, shard_timeout, on_event)`` returns a
            ``supervisor.Outcome``, its ``workers`` attribute is what the report states
            (``engine.ray.run`` passes one). Everything else (discovery, lock, manifest,
            markers, resume, report) is this function's, so the outputs are the same.

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
    skipped: list[dict] = []
    files = discover(inputs, storage_options, skipped)
    shards = split_large(files, max_unit_bytes, storage_options)
    fingerprint = run_fingerprint(spec.fingerprint(), max_doc_bytes)
    out = Output(str(output), storage_options)
    out.check_usable()
    check_output_outside_inputs(inputs, out.root, lambda: planned_files(shards), shards)
    options = JobOptions(storage_options=dict(storage_options or {}),
                         max_decompressed_bytes=max_decompressed_bytes,
                         max_doc_bytes=max_doc_bytes,
                         batch_bytes=batch_bytes or JobOptions.batch_bytes,
                         row_group_bytes=row_group_bytes or JobOptions.row_group_bytes)
    workers = workers or default_workers()
    hashes = stage_hashes(spec)
    with manifest.Lock(out):
        manifest.check_or_write(out, manifest.build_manifest(
            files, spec.to_dict(), fingerprint, max_unit_bytes, hashes), force)
        if out.remote:
            out.abort_stale_uploads()
        else:
            shutil.rmtree(out.path("_tmp"), ignore_errors=True)  # we hold the lock
        check = manifest.OutputCheck(out)
        markers, pending = _partition(out, shards, fingerprint, check)
        verified = {"files": check.rehashed_files, "bytes": check.rehashed_bytes}
        stale = sorted(out.list_files("_done") - {manifest.marker_path(s) for s in shards})
        if executor is not None:
            workers = executor.workers
        timeline = report.Timeline(progress)
        outcome, interrupted = _execute(pending, spec, out, fingerprint, options, workers,
                                        max_retries, shard_timeout, timeline, executor, hashes)
        processed, failed, busy_s, exit_codes = set(), {}, 0.0, {}
        if outcome is not None:
            markers.update(outcome.markers)
            processed = set(outcome.markers)
            failed = outcome.failed
            busy_s = outcome.busy_s
            exit_codes = outcome.exit_codes
            for marker in outcome.markers.values():
                check.record(marker)
        elif interrupted:  # markers committed before the signal still count
            done, _ = _partition(out, pending, fingerprint, check)
            markers.update(done)
            processed = set(done)
        check.save()
        data = report.build(shards, markers, failed, processed, time.monotonic() - started,
                            min(workers, max(len(pending), 1)), interrupted, busy_s,
                            exit_codes)
        data["stale_markers"] = stale[:100]  # from inputs no longer in this run (--force)
        data["skipped_inputs"] = skipped[:100]  # FIFOs, devices: matched, never read
        # outputs of done shards whose sha256 was computed again to trust their markers
        data["outputs_rehashed"] = verified
        data["filter"] = {"config": spec.source, "fingerprint": fingerprint,
                          "mode": spec.mode, "rules": [r for r, _ in spec.drop_if],
                          "drop_if": [list(p) for p in spec.drop_if],
                          "text_column": spec.text_column, "hashes": hashes}
        data["timeline"] = timeline.data()
        out.write_json(REPORT, data, "report")
        html_report.write(out, data)
        if not out.remote:  # every worker has stopped: staged files left are dead attempts'
            shutil.rmtree(out.path("_tmp"), ignore_errors=True)
    return RunResult(data, out.path(REPORT))


def planned_files(shards: list[Shard]) -> Iterator[str]:
    """Every file a run over ``shards`` may write, relative to the output root."""
    for shard in shards:
        kept, removed = output_paths(shard)
        yield from (kept, removed, manifest.marker_path(shard),
                    "_tmp/" + kept.replace("/", "__") + ".kept.0.tmp")
    yield from (REPORT, REPORT_HTML, manifest.MANIFEST, manifest.LOCK, manifest.VERIFIED)


def _partition(out: Output, shards, fingerprint: str,
               check: manifest.OutputCheck | None = None) -> tuple[dict, list]:
    """Split shards into those with a valid marker (unit -> marker) and those to do."""
    markers, pending = {}, []
    existing = out.list_files("_done")
    for shard in shards:
        path = manifest.marker_path(shard)
        marker = manifest.read_marker(out, shard) if path in existing else None
        if manifest.marker_valid(marker, shard, fingerprint, out, check):
            markers[shard.unit] = marker
        else:
            pending.append(shard)
    return markers, pending


def _execute(pending, spec, out, fingerprint, options, workers, max_retries, shard_timeout,
             progress, executor=None, hashes=None):
    """Run the pending shards on worker processes (or ``executor``); returns (outcome,
    signal or None)."""
    if not pending:
        return None, None
    if progress is not None:
        progress("plan", "", pending)
    try:
        workdir = tempfile.mkdtemp(prefix="filter-engine-")
    except OSError as err:
        raise fail("E048", path=os.path.join(tempfile.gettempdir(), "filter-engine-*"),
                   problem=err.strerror or err) from err
    saved = {b.name: os.path.join(workdir, f"{b.name}.matcher") for b in spec.blocklists}
    setup = WorkerSetup(spec, saved, out.root, fingerprint, options, hashes)
    if executor is not None:
        previous = _catch_signals()
        try:
            _save_matchers(spec, saved)
            return executor(pending, setup, max_retries, shard_timeout, progress), None
        except _Interrupted as stop:
            return None, stop.signum
        finally:
            _restore_signals(previous)
            shutil.rmtree(workdir, ignore_errors=True)
            if progress is not None and hasattr(progress, "close"):
                progress.close()
    supervisor = Supervisor(
        min(workers, len(pending)), setup,
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
    """Build each automaton once and save it; workers memory-map the saved file.

    Raises:
        PatternError: E019 when building one runs out of memory (a huge pattern or list).
        OutputError: E048 when the saved file cannot be written (temp dir full).
    """
    for stage in Filter(spec).blocklists:
        path = paths[stage.spec.name]
        try:
            stage.matcher.save(path)
        except MemoryError as err:
            raise fail("E019", problem=f"blocklist {stage.spec.name!r} (files: "
                       f"{', '.join(map(str, stage.spec.files))}): out of memory while "
                       f"building its automaton ({err or 'MemoryError'}); split or shorten "
                       "the list, or run where more memory is free") from err
        except OSError as err:
            raise fail("E048", path=path, problem=err.strerror or err) from err


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
