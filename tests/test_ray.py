"""Ray: the tests that start a Ray cluster (tests/test_ray_cluster.py) run in a network
namespace that has only loopback, because Ray picks its own address and does not keep to
127.0.0.1 even when asked. ``python -m pytest`` reaches them through
``test_ray_cluster_suite_in_a_loopback_namespace`` below, which runs that file under
``../shared/tools/loopback-only`` (or ``$FILTER_ENGINE_LOOPBACK``); it skips, saying why,
where no namespace can be made. The sizing rules and the CLI's argument checks need no
cluster and run here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import engine
from engine.errors import UsageError
from engine.integrations.rows import annotate_rows, annotating
from engine.ray.cluster import check_gpus, gpu_pool_size, pool_size
from engine.ray.pools import ClassifyActor, MatchActor
from tests.runkit import REPO, cli, write_cascade, write_lists, write_shards


def _loopback_tool() -> Path:
    """``$FILTER_ENGINE_LOOPBACK``, else ``shared/tools`` beside the checkout, else the
    workplace's copy (a CI clone may live anywhere)."""
    if "FILTER_ENGINE_LOOPBACK" in os.environ:
        return Path(os.environ["FILTER_ENGINE_LOOPBACK"])
    candidates = [REPO.parent / "shared" / "tools" / "loopback-only",
                  Path("/work/shared/tools/loopback-only")]
    return next((p for p in candidates if os.access(p, os.X_OK)), candidates[0])


LOOPBACK = _loopback_tool()
NAMESPACE_UNAVAILABLE = 77  # loopback-only's exit code where it cannot make a namespace
SUITE_TIMEOUT_S = 240


@pytest.mark.ray
def test_ray_cluster_suite_in_a_loopback_namespace():
    pytest.importorskip("ray", reason="install filter-engine[test] (ray[data])")
    if not os.access(LOOPBACK, os.X_OK):
        pytest.skip(f"no loopback-only tool at {LOOPBACK} (set FILTER_ENGINE_LOOPBACK)")
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [str(LOOPBACK), sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-m", "ray", "tests/test_ray_cluster.py"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=SUITE_TIMEOUT_S)
    if proc.returncode == NAMESPACE_UNAVAILABLE and "loopback-only:" in proc.stderr:
        pytest.skip(proc.stderr.strip().splitlines()[-1])
    assert proc.returncode == 0, (proc.stdout[-6000:], proc.stderr[-3000:])
    assert " passed" in proc.stdout and "skipped" not in proc.stdout, proc.stdout[-2000:]


@pytest.mark.parametrize(("cpus", "per_actor", "wanted", "reserve", "expect"), [
    (2, 1, None, 1, 1),  # one CPU left for Ray Data's read task
    (2, 0.5, None, 1, 2),
    (8, 1, None, 1, 7),
    (2, 1, None, 0, 2),  # the shard runner has no tasks to starve
    (2, 0.5, 2, 1, 2),
])
def test_pool_size_leaves_the_reserve(cpus, per_actor, wanted, reserve, expect):
    assert pool_size(cpus, per_actor, wanted, reserve, "x") == expect


def test_pool_that_would_hold_every_cpu_is_refused():
    """The hang seen in NVIDIA-NeMo/Curator#1544: 2 actors x 1 CPU on 2 CPUs leave the read
    task none; refused up front instead of hanging."""
    with pytest.raises(UsageError, match=r"\[E001\].*would hang"):
        pool_size(2, 1, 2, 1, "filter_stage(actors=...)")
    with pytest.raises(UsageError, match=r"\[E001\].*fractional"):
        pool_size(1, 1, None, 0.5, "filter_stage")


def test_gpu_request_the_cluster_cannot_meet_is_refused():
    check_gpus({"CPU": 2, "GPU": 1}, 0.5, "num_gpus")
    check_gpus({"CPU": 2}, 0, "num_gpus")
    with pytest.raises(UsageError, match=r"\[E001\] num_gpus: .*cluster has 0 GPUs"):
        check_gpus({"CPU": 2}, 1, "num_gpus")


@pytest.mark.parametrize(("gpus", "per_actor", "wanted", "expect"), [
    (1, 1, None, 1), (1, 0.5, None, 2), (4, 1, 3, 3), (0, 0, None, 1), (0, 0, 3, 3)])
def test_gpu_pool_size_fits_the_cluster_gpus(gpus, per_actor, wanted, expect):
    assert gpu_pool_size(gpus, per_actor, wanted, "x") == expect


def test_gpu_pool_that_needs_more_gpus_than_the_cluster_is_refused():
    with pytest.raises(UsageError, match=r"\[E001\] x: 3 actors x 0.5 GPU.*wait forever"):
        gpu_pool_size(1, 0.5, 3, "x")
    with pytest.raises(UsageError, match=r"cluster has 1 GPUs"):
        gpu_pool_size(1, 2, None, "x")


def test_match_then_classify_actors_give_the_filter_rows(tmp_path):
    """The two pools' actors, called in this process with the rows re-batched between
    them as Ray Data may, give ``Filter.apply``'s annotated rows exactly: the classifier
    cascade, the byte cap and the unreadable row included."""
    config = write_cascade(tmp_path)
    spec = engine.FilterSpec.from_toml(config)
    write_shards(tmp_path, count=1, rows=500)
    table = pq.read_table(tmp_path / "data" / "s0.parquet")
    odd = pa.array([b"\xff broken anthrax", b"win a free prize call now to claim payload"],
                   pa.binary()).view(pa.string())
    table = pa.concat_tables([table, pa.table({"id": ["x", "z"], "text": odd})])
    match, classify = MatchActor(spec, 150), ClassifyActor(spec, 150)
    matched = pa.concat_tables([match(table.slice(i, 70)) for i in range(0, 502, 70)])
    got = pa.concat_tables([classify(matched.slice(i, 128)) for i in range(0, 502, 128)])
    assert got.equals(annotate_rows(annotating(spec), table, 150))
    assert {"spam", "too_long", "invalid_utf8", "cbrn"} <= set(got["fe_reason"].to_pylist())
    # the audit of the rows it would remove: spans carried from the matching pool
    audited = got.select(["fe_reason", "fe_spans", "fe_rule"]).to_pylist()
    would_remove = [r for r in audited if r["fe_reason"] == "cbrn"]
    assert would_remove and all(r["fe_spans"] and r["fe_rule"] for r in would_remove)


def test_import_engine_ray_does_not_import_ray():
    code = "import sys, engine, engine.ray; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True)
    assert out.stdout.strip() == "False"


def test_cli_address_without_ray_executor_is_a_usage_error(tmp_path):
    write_shards(tmp_path, count=1, rows=10)
    result = cli("run", tmp_path / "data", "-o", tmp_path / "out", "-c",
                 write_lists(tmp_path), "--address", "127.0.0.1:6379")
    assert result.returncode == 2 and "[E001] --address" in result.stderr
