"""``engine.ray.run``: the shard runner with Ray scheduling the shards.

Ray only schedules: ``engine.execution.runner.run`` still expands the inputs, takes the
output lock, writes the manifest, skips shards with valid markers and writes the report;
each pending shard goes to an actor that runs the same ``process_shard`` as a local worker
(same reader, writer, staged commit and marker). So the outputs and markers are the bytes a
local run writes, whatever the cluster, and a run whose driver was killed resumes from its
markers like a local one.

Each actor builds the filter once: the driver builds every automaton once, puts the saved
files in the object store, and each actor writes them to its own temporary directory and
memory-maps them (a node need not see the driver's disk; the output must be a path every
node sees, or an object-store URL). An actor that dies mid-shard (node lost, OOM, kill -9)
costs that shard one attempt, as a dead worker process does locally: it is retried on a
new actor up to ``max_retries`` times. Errors that would recur (exit code other than 1)
fail the shard at once, as locally.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections import deque
from dataclasses import replace
from pathlib import Path

from engine.errors import EXIT_INCOMPLETE, EngineError, ErrorRecord, exit_code_for, fail
from engine.execution.job import MAX_DOC_BYTES
from engine.execution.runner import RunResult
from engine.execution.runner import run as run_shards
from engine.execution.supervisor import Outcome
from engine.execution.worker import WorkerSetup
from engine.filter.spec import FilterSpec
from engine.io.shards import Shard
from engine.ray.cluster import check_gpus, connect, pool_size

POLL_S = 0.5


class _ShardActor:
    """A Ray actor: the filter loaded once (as ``worker.main`` loads it), then one shard per
    call. A filter that cannot load is reported by every call as ``fatal``, so that the
    driver raises that error as a local run does (no retries: it would recur)."""

    def __init__(self, setup: WorkerSetup, automata: dict[str, bytes]):
        from engine.execution.faults import fault
        from engine.filter.apply import Filter
        from engine.io.writers import Output

        self.fatal: ErrorRecord | None = None
        self.workdir = tempfile.mkdtemp(prefix="filter-engine-ray-")
        try:
            fault("load", "")
            saved = {}
            for name, data in automata.items():
                saved[name] = os.path.join(self.workdir, f"{name}.matcher")
                Path(saved[name]).write_bytes(data)
            self.setup = replace(setup, saved_matchers=saved)
            self.filter = Filter(setup.spec, saved, setup.hashes).load()
            self.out = Output(setup.out_root, setup.options.storage_options)
        except EngineError as err:
            self.fatal = ErrorRecord.of(err)
        except Exception as err:
            self.fatal = ErrorRecord.of(fail("E066", error=f"{type(err).__name__}: {err}"))

    def process(self, shard: Shard):
        """``("done", (marker, seconds))``, ``("error", ErrorRecord)`` as a worker's, or
        ``("fatal", ErrorRecord)`` when the filter did not load."""
        from engine.execution.job import process_shard

        if self.fatal is not None:
            return "fatal", self.fatal
        started = time.perf_counter()
        try:
            marker = process_shard(shard, self.filter, self.out, self.setup.fingerprint,
                                   self.setup.options)
        except Exception as err:
            error = err if isinstance(err, EngineError) else fail(
                "E067", shard=shard.uri, error=f"{type(err).__name__}: {err}")
            return "error", ErrorRecord.of(error)
        return "done", (marker, time.perf_counter() - started)

    def __del__(self):
        shutil.rmtree(getattr(self, "workdir", ""), ignore_errors=True)


class RayExecutor:
    """Runs pending shards on a pool of ``_ShardActor``s; see ``runner.run(executor=)``.

    Args:
        actors: pool size (default: as many as the cluster's CPUs hold).
        num_cpus: CPUs per actor (the shard runner has no Ray Data tasks to starve, so
            the pool may hold every CPU).
        num_gpus: GPUs per actor (a spec whose classifiers run on CUDA).
        actor_options: more ``ray.remote`` options for the actors (``runtime_env``,
            ``resources``, ``scheduling_strategy`` ...).
    """

    def __init__(self, ray, actors: int | None = None, num_cpus: float = 1,
                 num_gpus: float = 0, actor_options: dict | None = None):
        self.ray = ray
        resources = ray.cluster_resources()
        check_gpus(resources, num_gpus, "num_gpus")
        cpus = float(resources.get("CPU", 0))
        self.workers = pool_size(cpus, num_cpus, actors, reserve=0,
                                 argument="--workers (actors)")
        self.options = {"num_cpus": num_cpus, "num_gpus": num_gpus, "max_restarts": 0,
                        **(actor_options or {})}

    def __call__(self, pending: list[Shard], setup: WorkerSetup, max_retries: int,
                 shard_timeout: float | None, on_event) -> Outcome:
        ray = self.ray
        on_event = on_event or (lambda *a: None)
        automata = {name: Path(path).read_bytes()
                    for name, path in setup.saved_matchers.items()}
        refs = (ray.put(setup), ray.put(automata))
        actor_class = ray.remote(**self.options)(_ShardActor)
        outcome = Outcome()
        queue = deque(pending)
        idle = [actor_class.remote(*refs) for _ in range(min(self.workers, len(pending)))]
        running: dict = {}  # ref -> (actor, shard, deadline)
        try:
            while queue or running:
                while idle and queue:
                    actor, shard = idle.pop(), queue.popleft()
                    deadline = time.monotonic() + shard_timeout if shard_timeout else None
                    running[actor.process.remote(shard)] = (actor, shard, deadline)
                    on_event("start", shard.unit, None)
                done, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
                for ref in done:
                    actor, shard, _ = running.pop(ref)
                    try:
                        kind, detail = ray.get(ref)
                    except ray.exceptions.RayError as err:  # the actor died mid-shard
                        ray.kill(actor)
                        idle.append(actor_class.remote(*refs))
                        self._failed(outcome, queue, shard, f"Ray actor lost: {err}",
                                     max_retries, on_event)
                        continue
                    idle.append(actor)
                    if kind == "fatal":  # the filter cannot load: no actor ever will
                        raise detail.rebuild()
                    if kind == "done":
                        marker, seconds = detail
                        outcome.attempts[shard.unit] += 1
                        outcome.markers[shard.unit] = marker
                        outcome.busy_s += seconds
                        on_event("done", shard.unit, marker)
                    else:
                        error = detail.rebuild()
                        code = exit_code_for(error)
                        self._failed(outcome, queue, shard, str(error), max_retries, on_event,
                                     None if code == EXIT_INCOMPLETE.code else code)
                now = time.monotonic()
                for ref, (actor, shard, deadline) in list(running.items()):
                    if deadline is not None and now > deadline:
                        del running[ref]
                        ray.kill(actor)
                        idle.append(actor_class.remote(*refs))
                        self._failed(outcome, queue, shard, f"timed out after "
                                     f"{shard_timeout:g} s (--shard-timeout) on Ray",
                                     max_retries, on_event)
        finally:
            for actor in idle + [a for a, _, _ in running.values()]:
                ray.kill(actor)
        return outcome

    @staticmethod
    def _failed(outcome: Outcome, queue: deque, shard: Shard, why: str, max_retries: int,
                on_event, deterministic: int | None = None) -> None:
        """Count a failed attempt; retry unless out of retries or ``deterministic``."""
        outcome.attempts[shard.unit] += 1
        outcome.errors.setdefault(shard.unit, []).append(why)
        if deterministic is None and outcome.attempts[shard.unit] <= max_retries:
            queue.appendleft(shard)
            on_event("retry", shard.unit, why)
        else:
            outcome.failed[shard.unit] = outcome.errors[shard.unit]
            if deterministic is not None:
                outcome.exit_codes[shard.unit] = deterministic
            on_event("failed", shard.unit, why)


def run(inputs, output: str, spec: FilterSpec | str | Path | None = None, *,
        address: str | None = None, actors: int | None = None, num_cpus: float = 1,
        num_gpus: float = 0, actor_options: dict | None = None,
        max_doc_bytes: int | None = MAX_DOC_BYTES, **options) -> RunResult:
    """``engine.run`` with the shards scheduled on a Ray cluster.

    Args:
        inputs, output, spec: as ``engine.run``.
        address: the cluster (``ray://...`` or ``host:port``); None: the cluster this
            process joined, else a new local one.
        actors: actors processing shards (default: one per ``num_cpus`` in the cluster).
        num_cpus, num_gpus: resources per actor.
        actor_options: more ``ray.remote`` options for the actors (``runtime_env`` ...).
        max_doc_bytes, options: as ``engine.run`` (``max_retries``, ``shard_timeout``,
            ``force``, ``progress``, ``storage_options`` ...; not ``workers``).

    Returns:
        RunResult, as ``engine.run``; the outputs and markers are byte-identical to a local
        run's on the same inputs.
    """
    if "workers" in options:
        raise fail("E001", argument="workers", problem="engine.ray.run takes actors=")
    ray = connect(address)
    executor = RayExecutor(ray, actors, num_cpus, num_gpus, actor_options)
    return run_shards(inputs, output, spec, max_doc_bytes=max_doc_bytes, executor=executor,
                      **options)
