"""Local runner vs the Ray shard runner on this machine, Ray's fixed and per-batch costs,
and a check of docs/scale.md's time model against runs with many small shards.

Run it inside a loopback-only network namespace (Ray binds wherever it likes otherwise):

    ../shared/tools/loopback-only .venv/bin/python benchmarks/ray_vs_local.py --mb 64

Prints one JSON object; benchmarks/RESULTS.md quotes it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
from pathlib import Path

import pyarrow as pa


def _timed(fn):
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def _runs(paths, spec, workdir: Path, repeats: int) -> dict:
    import engine
    import engine.ray

    out: dict[str, list] = {"local": [], "ray": []}
    busy: dict[str, list] = {"local": [], "ray": []}
    for i in range(repeats):
        for kind, call in (("local", lambda o: engine.run(paths, o, spec, workers=2)),
                           ("ray", lambda o: engine.ray.run(paths, o, spec, actors=2))):
            target = workdir / f"out-{kind}-{i}"
            shutil.rmtree(target, ignore_errors=True)
            seconds, result = _timed(lambda c=call, t=target: c(str(t)))
            assert result.exit_code == 0 and result.report["accounting"]["ok"]
            out[kind].append(round(seconds, 3))
            busy[kind].append(result.report["throughput"]["worker_busy_s"])
            text = result.report["bytes"]["text_processed_now"]
            shutil.rmtree(target, ignore_errors=True)
    return {"text_mb": round(text / 1e6, 1), "wall_s": out, "worker_busy_s": busy,
            "median_wall_s": {k: statistics.median(v) for k, v in out.items()},
            "median_warm_wall_s": {k: statistics.median(v[1:]) for k, v in out.items()}}


class _Identity:
    def __call__(self, batch: pa.Table) -> pa.Table:
        return batch


def _per_batch(rows: int, repeats: int) -> dict:
    """Ray Data actor stage doing nothing: wall time at two batch sizes; the slope is the
    cost of one batch (scheduling, object store round trip)."""
    import ray

    table = pa.table({"text": ["x" * 100] * rows})
    sizes = (rows, 128)  # one batch, and many
    runs: dict[int, list[float]] = {s: [] for s in sizes}
    for i in range(repeats + 1):  # the first round warms the workers up; not counted
        for size in sizes:
            ds = ray.data.from_arrow(table).map_batches(
                _Identity, batch_format="pyarrow", batch_size=size,
                compute=ray.data.ActorPoolStrategy(size=1), num_cpus=1)
            seconds, _ = _timed(ds.materialize)
            if i:
                runs[size].append(seconds)
    times = {s: statistics.median(v) for s, v in runs.items()}
    batches = {s: -(-rows // s) for s in sizes}
    slope = (times[128] - times[rows]) / (batches[128] - batches[rows])
    return {"rows": rows, "wall_s": {k: [round(x, 3) for x in v] for k, v in runs.items()},
            "batches": batches, "per_batch_ms": round(slope * 1e3, 3),
            "one_batch_dataset_s": round(times[rows], 3)}


def _shard_overhead(workdir: Path, mb: float, counts: tuple[int, ...],
                    repeats: int, tiny_mb: float) -> dict:
    """The same text in more, smaller shards: the extra time per shard (open, footer,
    commit, marker, fsync; for Ray the task round trip), for both runners. The one-shard
    case uses ``tiny_mb`` of text: it measures the fixed cost of a run."""
    import engine
    import engine.ray
    from engine.bench.pipeline import prepare

    found: dict = {}
    for shards in counts:
        paths, spec = prepare(workdir, tiny_mb if shards == 1 else mb, shards)
        paths = [str(p) for p in paths]
        calls = {"local": lambda o, p=paths, s=spec: engine.run(p, o, s, workers=2),
                 "ray": lambda o, p=paths, s=spec: engine.ray.run(p, o, s, actors=2)}
        row: dict[str, list] = {"local": [], "ray": []}
        for _, kind in ((r, k) for r in range(repeats) for k in calls):
            call = calls[kind]
            target = workdir / f"shards-{kind}-{shards}"
            shutil.rmtree(target, ignore_errors=True)
            seconds, result = _timed(lambda c=call, t=target: c(str(t)))
            assert result.exit_code == 0
            row[kind].append(round(seconds, 3))
            shutil.rmtree(target, ignore_errors=True)
        found[shards] = {k: {"runs": v, "median": statistics.median(v)} for k, v in row.items()}
    return found


def _model_check(result: dict, mb: float, workers: int) -> dict:
    """docs/scale.md's model, T = T0 + (text / r + shards * c) / N, fitted on the small-shard
    runs (T0: the tiny one-shard run; c: 4 vs 64 shards; r: the 4-shard run), then used to
    predict the main job (more text, other shard count), which it never saw."""
    job = result["job"]
    shards = result["shards"]
    out = {}
    for kind in ("local", "ray"):
        t = {k: v[kind]["median"] for k, v in result["small_shards"].items()}
        t0 = t[1]
        c = (t[64] - t[4]) * workers / 60
        r = mb / (workers * (t[4] - t0) - 4 * c)
        predicted = t0 + (job["text_mb"] / r + shards * c) / workers
        measured = job["median_wall_s"][kind]
        out[kind] = {"T0_s": round(t0, 3), "c_per_shard_s": round(c, 4),
                     "r_mb_s_per_core": round(r, 2), "predicted_s": round(predicted, 3),
                     "measured_s": measured, "error": round(predicted / measured - 1, 3)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=64)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", default="/tmp/fe-ray-bench")
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    from engine.bench.pipeline import prepare

    paths, spec = prepare(workdir, args.mb, args.shards)
    import_s, ray = _timed(lambda: __import__("ray"))
    init_s, _ = _timed(lambda: ray.init(num_cpus=2, include_dashboard=False))
    result = {"ray_import_s": round(import_s, 3), "ray_init_s": round(init_s, 3),
              "job": _runs([str(p) for p in paths], spec, workdir, args.repeats),
              "shards": args.shards,
              "per_batch": _per_batch(100_000, args.repeats),
              "small_shards": _shard_overhead(workdir, args.mb / 2, (1, 4, 64), args.repeats,
                                              tiny_mb=0.25)}
    result["model_check"] = _model_check(result, args.mb / 2, workers=2)
    shutdown_s, _ = _timed(ray.shutdown)
    result["ray_shutdown_s"] = round(shutdown_s, 3)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
