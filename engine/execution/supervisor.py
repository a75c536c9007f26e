"""A small process supervisor: one shard per worker at a time, with per-shard attribution.

``multiprocessing.Pool`` can hang forever when a worker is SIGKILLed, and
``ProcessPoolExecutor`` loses every in-flight task when one worker dies; neither says which
shard killed it. Here each worker is a ``Process`` with its own pipe; the parent waits on
the pipes and the process sentinels together, so a worker killed mid-shard (``kill -9``,
the OOM killer) is seen at once, reported with the shard, replaced, and the shard retried
up to ``max_retries`` times. A shard past ``shard_timeout`` has its worker terminated (then
killed) and counts as a failed attempt. The parent never waits without a timeout.
An error that will recur identically (its documented exit code is not 1: a changed input
E064, a symlink out of the output E065, a config or pattern error raised while processing)
is not retried: the shard fails at once and the run exits with that error's code.
A worker's errors arrive as ``ErrorRecord``s; one that cannot load the filter is raised here
as the same class with the same code, so the CLI exits as if it had happened in-process.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess

from engine.errors import EXIT_INCOMPLETE, exit_code_for, fail
from engine.execution import worker
from engine.execution.worker import WorkerSetup
from engine.io.shards import Shard

GRACE_S = 3.0
MAX_START_FAILURES = 3


@dataclass
class _Slot:
    proc: BaseProcess
    conn: Connection
    ready: bool = False
    shard: Shard | None = None
    deadline: float = float("inf")


@dataclass
class Outcome:
    """What happened to the shards the supervisor was given."""

    markers: dict[str, dict] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)  # every failed attempt
    failed: dict[str, list[str]] = field(default_factory=dict)  # shards out of retries
    #: shards failed by an error that would recur identically (not retried) -> its exit code
    exit_codes: dict[str, int] = field(default_factory=dict)
    attempts: Counter[str] = field(default_factory=Counter)
    busy_s: float = 0.0  # worker seconds spent on shards that completed


class Supervisor:
    """Run shards on ``workers`` processes.

    Args:
        workers: process count.
        setup: what every worker loads (see ``worker.WorkerSetup``).
        max_retries: extra attempts for a shard whose worker died, timed out or raised.
        shard_timeout: seconds one attempt may take (None: no limit).
        on_event: ``on_event(kind, rel, detail)`` for progress and logs; kinds are
            ``start``, ``done``, ``retry``, ``failed``.
    """

    def __init__(self, workers: int, setup: WorkerSetup, max_retries: int = 2,
                 shard_timeout: float | None = None, on_event=None):
        self.n = max(1, workers)
        self.setup = setup
        self.max_retries = max_retries
        self.shard_timeout = shard_timeout
        self.on_event = on_event or (lambda *a: None)
        self.ctx = mp.get_context("spawn")
        self.slots: list[_Slot] = []
        self.start_failures = 0
        self.released = False

    def prestart(self, shards: int) -> None:
        """Start workers now (imports, model loading) while the caller prepares the rest."""
        self._fill(shards)

    def release(self) -> None:
        """Let the workers load the saved automata and report ready (see ``worker``)."""
        self.released = True
        for slot in self.slots:
            self._send_start(slot)

    def _send_start(self, slot: _Slot) -> None:
        with contextlib.suppress(OSError):
            slot.conn.send("start")

    def run(self, shards: list[Shard]) -> Outcome:
        if not self.released:
            self.release()
        outcome = Outcome()
        queue = deque(shards)
        try:
            while queue or any(s.shard for s in self.slots):
                self._fill(len(queue))
                for slot in self.slots:
                    if slot.ready and slot.shard is None and queue:
                        self._dispatch(slot, queue.popleft())
                self._wait(queue, outcome)
        finally:
            self.close()
        return outcome

    # -- pool --------------------------------------------------------------------------
    def _fill(self, queued: int) -> None:
        busy = sum(1 for s in self.slots if s.shard)
        while len(self.slots) < min(self.n, busy + queued):
            parent, child = self.ctx.Pipe()
            proc = self.ctx.Process(target=worker.main, name="filter-engine-worker",
                                    args=(child, os.getpid(), self.setup), daemon=True)
            proc.start()
            child.close()
            self.slots.append(_Slot(proc, parent))
            if self.released:
                self._send_start(self.slots[-1])

    def _dispatch(self, slot: _Slot, shard: Shard) -> None:
        slot.shard = shard
        if self.shard_timeout:
            slot.deadline = time.monotonic() + self.shard_timeout
        slot.conn.send(shard)
        self.on_event("start", shard.unit, slot.proc.pid)

    def _wait(self, queue: deque, outcome: Outcome) -> None:
        now = time.monotonic()
        soonest = min((s.deadline for s in self.slots), default=float("inf"))
        timeout = max(0.0, min(0.5, soonest - now))
        handles: list[Connection | int] = [s.conn for s in self.slots]
        handles += [s.proc.sentinel for s in self.slots]
        ready = set(wait(handles, timeout)) if handles else set()
        for slot in list(self.slots):
            if slot.conn in ready:
                self._receive(slot, queue, outcome)
            if slot in self.slots and slot.proc.sentinel in ready:
                self._died(slot, queue, outcome)
        now = time.monotonic()
        for slot in list(self.slots):
            if slot.shard is not None and now > slot.deadline:
                shard = slot.shard
                self._stop(slot)
                self._attempt_failed(
                    shard, f"timed out after {self.shard_timeout:g} s (--shard-timeout) in "
                    f"worker pid {slot.proc.pid}", queue, outcome)

    def _receive(self, slot: _Slot, queue: deque, outcome: Outcome) -> None:
        messages = []
        try:
            while slot.conn.poll():
                messages.append(slot.conn.recv())
        except (EOFError, OSError):
            pass  # the sentinel reports the death
        # handled outside the try: a worker's ShardError or OutputError is an OSError too
        for kind, rel, detail in messages:
            if kind == "ready":
                slot.ready = True
            elif kind == "fatal":  # the filter cannot load: no worker ever will
                raise detail.rebuild()
            elif kind == "done":
                slot.shard, slot.deadline = None, float("inf")
                marker, seconds = detail
                outcome.attempts[rel] += 1
                outcome.markers[rel] = marker
                outcome.busy_s += seconds
                self.on_event("done", rel, marker)
            elif kind == "error":
                shard, slot.shard, slot.deadline = slot.shard, None, float("inf")
                assert shard is not None, "a worker reported an error with no shard"
                error = detail.rebuild()
                code = exit_code_for(error)
                self._attempt_failed(shard, str(error), queue, outcome,
                                     None if code == EXIT_INCOMPLETE.code else code)

    def _died(self, slot: _Slot, queue: deque, outcome: Outcome) -> None:
        slot.proc.join(timeout=GRACE_S)
        if slot.proc.is_alive():
            return
        self.slots.remove(slot)
        slot.conn.close()
        code = slot.proc.exitcode
        how = f"killed by {signal.Signals(-code).name}" if code and code < 0 else f"exit {code}"
        if slot.shard is None:
            if slot.ready:  # an idle worker went away (e.g. after a MemoryError): replace it
                return
            self.start_failures += 1
            if self.start_failures >= MAX_START_FAILURES:
                raise fail("E063", how=how)
            return
        hint = " (out of memory? check dmesg)" if code == -signal.SIGKILL else ""
        self._attempt_failed(slot.shard, f"worker pid {slot.proc.pid} {how}{hint} while "
                             f"processing {slot.shard.uri!r}", queue, outcome)

    def _attempt_failed(self, shard: Shard, why: str, queue: deque, outcome: Outcome,
                        deterministic: int | None = None) -> None:
        """Count a failed attempt; retry unless out of retries or ``deterministic`` (the
        exit code of an error that a retry would only raise again)."""
        outcome.attempts[shard.unit] += 1
        outcome.errors.setdefault(shard.unit, []).append(why)
        if deterministic is None and outcome.attempts[shard.unit] <= self.max_retries:
            queue.appendleft(shard)
            self.on_event("retry", shard.unit, why)
        else:
            outcome.failed[shard.unit] = outcome.errors[shard.unit]
            if deterministic is not None:
                outcome.exit_codes[shard.unit] = deterministic
            self.on_event("failed", shard.unit, why)

    def _stop(self, slot: _Slot) -> None:
        """Terminate one worker, then kill it if it does not go within the grace period."""
        if slot in self.slots:
            self.slots.remove(slot)
        slot.proc.terminate()
        slot.proc.join(GRACE_S)
        if slot.proc.is_alive():
            slot.proc.kill()
            slot.proc.join(GRACE_S)
        slot.conn.close()

    def close(self) -> None:
        """Stop every worker: ask idle ones to exit, terminate busy ones."""
        for slot in self.slots:
            if slot.shard is None:
                with contextlib.suppress(OSError):
                    slot.conn.send(None)
            else:
                slot.proc.terminate()
        deadline = time.monotonic() + GRACE_S
        for slot in self.slots:
            slot.proc.join(max(0.0, deadline - time.monotonic()))
            if slot.proc.is_alive():
                slot.proc.kill()
                slot.proc.join(GRACE_S)
            slot.conn.close()
        self.slots = []
