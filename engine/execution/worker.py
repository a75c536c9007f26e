"""The worker process: load the filter once, then process shards sent by the parent.

Workers are started with ``spawn`` (no inherited locks, threads or onnxruntime state).
They die with the parent: ``PR_SET_PDEATHSIG`` on Linux, and an end-of-file on the task
pipe everywhere, so killing the parent (even with ``kill -9``) leaves no orphans. SIGINT is
ignored here: Ctrl-C goes to the parent, which decides what to stop.

Start-up overlaps with the parent's work: a worker imports and loads its models, then
waits for ``"start"`` (sent once the parent has saved the matcher automata) before mapping
them. Messages to the parent: ``("ready", pid, None)``, ``("done", unit, (marker,
seconds))``, ``("error", unit, record)`` for a shard that raised, ``("fatal", None, record)``
when the filter cannot be loaded at all. A record is an ``ErrorRecord``, so the parent
raises or reports the same error class with the same code as the worker saw; anything that
is not an ``EngineError`` arrives wrapped as E066 (loading) or E067 (a shard).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from engine.execution.job import JobOptions
    from engine.filter.spec import FilterSpec

PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class WorkerSetup:
    """Everything a worker needs besides its pipe, built once by the runner.

    It is pickled once per spawned worker, so it holds configuration only: the spec (not
    live models), the paths of the saved automata, the output root, the filter's
    fingerprint for the markers, and the run's options.
    """

    spec: FilterSpec
    saved_matchers: dict[str, str]  # blocklist stage name -> saved automaton path
    out_root: str
    fingerprint: str
    options: JobOptions
    #: content hashes of the lists and models (``engine.filter.audit.stage_hashes``),
    #: computed once by the runner for the removed rows' ``fe_decided_by``
    hashes: dict | None = None


def _die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _described(err: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(err), err)).strip()[-2000:]


def main(conn: Connection, parent_pid: int, setup: WorkerSetup) -> None:
    """Worker entry point (run by ``multiprocessing`` in a spawned process)."""
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from engine.errors import EngineError, ErrorRecord, fail
    from engine.execution.faults import fault
    from engine.execution.job import process_shard
    from engine.filter.apply import Filter
    from engine.io.writers import Output

    try:
        fault("load", "")
        filt = Filter(setup.spec, setup.saved_matchers, setup.hashes)
        for stage in filt.classifiers:  # while the parent still builds the automata
            _ = stage.model
        if conn.recv() != "start":  # the saved automata exist from here on
            return
        filt.load()
        out = Output(setup.out_root, setup.options.storage_options)
    except EngineError as err:  # before OSError: a ShardError or OutputError is one too
        conn.send(("fatal", None, ErrorRecord.of(err)))
        return
    except (EOFError, OSError):
        return
    except Exception as err:
        conn.send(("fatal", None, ErrorRecord.of(fail("E066", error=_described(err)))))
        return
    conn.send(("ready", os.getpid(), None))
    while True:
        try:
            shard = conn.recv()
        except (EOFError, OSError):
            return
        if shard is None:
            return
        try:
            started = time.perf_counter()
            marker = process_shard(shard, filt, out, setup.fingerprint, setup.options)
            conn.send(("done", shard.unit, (marker, time.perf_counter() - started)))
        except Exception as err:
            error = err if isinstance(err, EngineError) else fail(
                "E067", shard=shard.uri, error=_described(err))
            conn.send(("error", shard.unit, ErrorRecord.of(error)))
            if isinstance(err, MemoryError):  # native state may be damaged: start afresh
                return
