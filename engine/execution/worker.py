"""The worker process: load the filter once, then process shards sent by the parent.

Workers are started with ``spawn`` (no inherited locks, threads or onnxruntime state).
They die with the parent: ``PR_SET_PDEATHSIG`` on Linux, and an end-of-file on the task
pipe everywhere, so killing the parent (even with ``kill -9``) leaves no orphans. SIGINT is
ignored here: Ctrl-C goes to the parent, which decides what to stop.

Start-up overlaps with the parent's work: a worker imports and loads its models, then
waits for ``"start"`` (sent once the parent has saved the matcher automata) before mapping
them. Messages to the parent: ``("ready", pid)``, ``("done", rel, (marker, seconds))``,
``("error", rel, message)`` for a shard that raised, ``("fatal", None, message)`` when the
filter cannot be loaded at all.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
import traceback

PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def main(conn, parent_pid: int, spec, saved_matchers: dict, out_root: str, fingerprint: str,
         options) -> None:
    """Worker entry point (run by ``multiprocessing`` in a spawned process)."""
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from engine.errors import EngineError
    from engine.execution.job import process_shard
    from engine.filter.apply import Filter
    from engine.io.writers import Output

    try:
        filt = Filter(spec, saved_matchers)
        for stage in filt.classifiers:  # while the parent still builds the automata
            _ = stage.model
        if conn.recv() != "start":  # the saved automata exist from here on
            return
        filt.load()
        out = Output(out_root, options.storage_options)
    except (EOFError, OSError):
        return
    except EngineError as err:
        conn.send(("fatal", None, str(err)))
        return
    except Exception as err:
        conn.send(("fatal", None, f"cannot load the filter: {type(err).__name__}: {err}"))
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
            marker = process_shard(shard, filt, out, fingerprint, options)
            conn.send(("done", shard.unit, (marker, time.perf_counter() - started)))
        except Exception as err:
            detail = "".join(traceback.format_exception_only(type(err), err)).strip()
            conn.send(("error", shard.unit, detail[-2000:]))
            if isinstance(err, MemoryError):  # native state may be damaged: start afresh
                return
