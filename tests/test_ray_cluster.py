"""Against a real local Ray cluster (2 CPUs, 1 logical GPU): the Ray Data stage and the Ray
shard runner. The GPU is declared (``ray.init(num_gpus=1)``) on a machine that may have none:
it proves how Ray schedules the classifier pool, while the model itself runs on the CPU.

Runs only inside a network namespace with nothing but loopback (tests/test_ray.py starts
this file there); elsewhere every test here is skipped, saying so.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import engine
from engine.integrations.rows import annotate_rows, annotating
from tests.runkit import (
    REPO,
    check_accounting,
    cli,
    output_digests,
    write_cascade,
    write_lists,
    write_shards,
)

ray = pytest.importorskip("ray", reason="install filter-engine[test] (ray[data])")
import engine.ray  # noqa: E402

pytestmark = [
    pytest.mark.ray,
    pytest.mark.skipif([name for _, name in socket.if_nameindex()] != ["lo"],
                       reason="starts Ray: only inside a loopback-only network namespace "
                       "(python -m pytest tests/test_ray.py runs this file in one)"),
]
#: report fields that differ between any two runs (clock, how many ran now)
TIMING = {"time_s", "throughput", "workers", "outputs_rehashed", "timeline"}


@pytest.fixture(scope="module")
def cluster():
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture
def job(tmp_path):
    config = write_lists(tmp_path)
    write_shards(tmp_path, count=4, rows=800, row_group=200)
    return tmp_path, engine.FilterSpec.from_toml(config), str(tmp_path / "data" / "**" /
                                                              "*.parquet")


def _report(out):
    data = json.loads((out / "report.json").read_text())
    return {k: v for k, v in data.items() if k not in TIMING}


def test_filter_stage_annotates_every_row_as_filter_decides(cluster, job):
    root, spec, _ = job
    table = pq.read_table(root / "data" / "s0.parquet")
    bad = pa.array([b"anthrax sarin", b"\xff broken"], pa.binary()).view(pa.string())
    table = pa.concat_tables([table, pa.table({"id": ["x", "y"], "text": bad})])
    ds = ray.data.from_arrow(table)
    got = pa.concat_tables(ray.get(engine.ray.filter_stage(ds, spec, batch_size=256)
                                   .to_arrow_refs()))
    got = got.sort_by("id")
    assert got.num_rows == table.num_rows  # every row out, the unreadable one too
    direct = engine.Filter(spec).apply(table)
    removed = dict(zip(direct.removed["id"].to_pylist(),
                       direct.removed["fe_reason"].to_pylist(), strict=True))
    removed["y"] = "invalid_utf8"
    flagged = {i: r for i, r, k in zip(got["id"].to_pylist(), got["fe_reason"].to_pylist(),
                                       got["fe_keep"].to_pylist(), strict=True) if not k}
    assert flagged == removed


def test_filter_stage_drop_splits_without_losing_rows(cluster, job):
    root, spec, _ = job
    table = pq.read_table(root / "data" / "s0.parquet")
    split = engine.ray.filter_stage(ray.data.from_arrow(table), spec, drop=True,
                                    batch_size=300)
    direct = engine.Filter(spec).apply(table)
    kept = pa.concat_tables(ray.get(split.kept.to_arrow_refs()))
    assert kept.column_names == ["id", "text"]
    assert sorted(kept["id"].to_pylist()) == sorted(direct.kept["id"].to_pylist())
    assert split.removed.count() == direct.removed.num_rows


def test_filter_stage_refuses_a_pool_that_would_hang(cluster, job):
    _, spec, _ = job
    with pytest.raises(engine.UsageError, match="would hang"):
        engine.ray.filter_stage(ray.data.range(10), spec, actors=2, num_cpus=1)


@pytest.fixture
def cascade(tmp_path):
    """A blocklist, a real ONNX classifier run only on rows with a match, and rows of every
    kind: kept, removed by either, unreadable, over the byte cap, null."""
    config = write_cascade(tmp_path)
    write_shards(tmp_path, count=1, rows=800)
    table = pq.read_table(tmp_path / "data" / "s0.parquet")
    odd = pa.array([b"anthrax sarin", b"\xff broken", b"free prize call now payload " * 40,
                    b"win a free prize call now to claim payload"], pa.binary()).view(pa.string())
    table = pa.concat_tables([table, pa.table({"id": ["w", "x", "y", "z"], "text": odd})])
    return engine.FilterSpec.from_toml(config), table


def _rows(ds) -> pa.Table:
    return pa.concat_tables(ray.get(ds.to_arrow_refs())).sort_by("id")


def test_classifier_pool_holds_the_gpu_and_gives_the_one_pool_rows(cluster, cascade):
    """Matching on CPU actors, the classifier cascade and decision on an actor holding the
    cluster's one (logical) GPU: the same rows, columns and decisions as one pool and as
    ``Filter.apply``; the unreadable row flagged, none lost."""
    spec, table = cascade
    free_gpus = []
    running = threading.Event()
    running.set()

    def watch():
        while running.is_set():
            free_gpus.append(ray.available_resources().get("GPU", 0))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        ds = engine.ray.filter_stage(ray.data.from_arrow(table), spec, batch_size=128,
                                     classifier_num_gpus=1, max_doc_bytes=1000)
        two = _rows(ds)
    finally:
        running.clear()
        watcher.join()
    assert min(free_gpus) == 0  # the classifier actor held the GPU
    stats = ds.stats()
    assert "MapBatches(MatchActor)" in stats and "MapBatches(ClassifyActor)" in stats
    one = _rows(engine.ray.filter_stage(ray.data.from_arrow(table), spec, batch_size=128,
                                        max_doc_bytes=1000))
    direct = annotate_rows(annotating(spec), table, 1000).sort_by("id")
    assert two.num_rows == table.num_rows
    assert two.equals(one) and two.equals(direct)
    annotations = two.drop_columns(["text"]).to_pylist()  # one text is not UTF-8
    rows = {r["id"]: r for r in annotations}
    assert rows["x"]["fe_reason"] == "invalid_utf8" and rows["y"]["fe_reason"] == "too_long"
    assert rows["z"]["fe_reason"] == "spam" and rows["w"]["fe_reason"] == "cbrn"
    scored = [r["fe_spam_score"] is not None for r in annotations]
    matched = [bool(r["fe_bl_count"]) for r in annotations]
    assert scored == matched and 0 < sum(scored) < len(scored)  # the cascade held


def test_classifier_pool_drop_on_fractional_gpus_splits_as_filter_does(cluster, cascade):
    spec, table = cascade
    split = engine.ray.filter_stage(ray.data.from_arrow(table), spec, drop=True,
                                    classifier_num_gpus=0.5, classifier_actors=2,
                                    classifier_num_cpus=0.25)
    direct = engine.Filter(spec).apply(table)
    kept = _rows(split.kept)
    assert kept.column_names == ["id", "text"]
    assert kept["id"].to_pylist() == sorted(direct.kept["id"].to_pylist())
    removed = _rows(split.removed)
    assert sorted(removed["id"].to_pylist()) == sorted(direct.removed["id"].to_pylist() + ["x"])


def test_classifier_pool_requests_that_would_hang_are_refused(cluster, cascade):
    spec, _ = cascade
    ds = ray.data.range(10)
    with pytest.raises(engine.UsageError, match=r"2 actors x 1 GPU.*wait forever"):
        engine.ray.filter_stage(ds, spec, classifier_num_gpus=1, classifier_actors=2)
    with pytest.raises(engine.UsageError, match="does not fit"):  # both pools: every CPU
        engine.ray.filter_stage(ds, spec, classifier_num_gpus=0, classifier_num_cpus=1)
    with pytest.raises(engine.UsageError, match="give one of them"):
        engine.ray.filter_stage(ds, spec, num_gpus=1, classifier_num_gpus=1)
    with pytest.raises(engine.UsageError, match="give classifier_num_gpus too"):
        engine.ray.filter_stage(ds, spec, classifier_actors=2)


def test_ray_run_refuses_gpus_the_cluster_lacks_instead_of_hanging(cluster, job):
    root, spec, inputs = job
    with pytest.raises(engine.UsageError, match="would wait forever"):
        engine.ray.run(inputs, str(root / "ray"), spec, num_gpus=2)


def test_ray_run_writes_the_bytes_a_local_run_writes(cluster, job):
    """Files over 20 kB are split into row-group ranges: one Ray call per range, as one
    local worker task per range."""
    root, spec, inputs = job
    local = engine.run(inputs, str(root / "local"), spec, workers=2, max_unit_bytes=20_000)
    on_ray = engine.ray.run(inputs, str(root / "ray"), spec, max_unit_bytes=20_000)
    assert on_ray.exit_code == local.exit_code == 0
    assert on_ray.report["shards"]["total"] > 4  # ranges, not whole files
    check_accounting(root / "ray")
    assert output_digests(root / "ray") == output_digests(root / "local")
    assert _report(root / "ray") == _report(root / "local")
    again = engine.ray.run(inputs, str(root / "ray"), spec, max_unit_bytes=20_000)
    assert again.report["shards"]["resumed_skipped"] == on_ray.report["shards"]["total"]
    assert output_digests(root / "ray") == output_digests(root / "local")


def test_ray_run_actor_killed_mid_shard_is_retried_to_the_same_bytes(cluster, job):
    root, spec, inputs = job
    engine.run(inputs, str(root / "local"), spec, workers=1)
    state = root / "faults"
    state.mkdir()
    faults = {"ENGINE_TESTING": "1", "ENGINE_FAULT": "crash_once:batch:s1",
              "ENGINE_FAULT_STATE": str(state)}
    result = engine.ray.run(inputs, str(root / "ray"), spec,
                            actor_options={"runtime_env": {"env_vars": faults}})
    assert result.exit_code == 0, result.report["failed"]
    assert list(state.iterdir())  # the crash did happen
    assert output_digests(root / "ray") == output_digests(root / "local")


def test_ray_run_filter_that_cannot_load_raises_as_locally(cluster, job):
    root, spec, inputs = job
    faults = {"ENGINE_TESTING": "1", "ENGINE_FAULT": "raise:load:*"}
    with pytest.raises(engine.EngineError, match=r"\[E066\].*injected fault at load"):
        engine.ray.run(inputs, str(root / "ray"), spec,
                       actor_options={"runtime_env": {"env_vars": faults}})
    assert not list((root / "ray").rglob("*.parquet"))


def test_ray_run_resumes_after_the_driver_is_killed(cluster, job):
    root, spec, inputs = job
    engine.run(inputs, str(root / "local"), spec, workers=1)
    out = root / "ray"
    driver = (
        "import engine, engine.ray, sys\n"
        f"env = {{'ENGINE_TESTING': '1', 'ENGINE_FAULT': 'slow:batch:*'}}\n"
        f"engine.ray.run({inputs!r}, {str(out)!r}, engine.FilterSpec.from_toml("
        f"{str(root / 'filter.toml')!r}), address={cluster!r}, actors=1,"
        " actor_options={'runtime_env': {'env_vars': env}})\n")
    proc = subprocess.Popen([sys.executable, "-c", driver], cwd=REPO, start_new_session=True,
                            env=dict(os.environ, PYTHONPATH=str(REPO)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not list((out / "_done").rglob("*.json")) if (out / "_done").exists() else True:
        assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
        assert time.monotonic() < deadline, "the driver committed no shard in 60 s"
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list((out / "_done").rglob("*.json")))
    assert 1 <= done < 4, done
    result = engine.ray.run(inputs, str(out), spec)
    assert result.exit_code == 0
    assert result.report["shards"]["resumed_skipped"] == done
    check_accounting(out, 4)
    assert output_digests(out) == output_digests(root / "local")


def test_cli_executor_ray_matches_the_local_cli(cluster, job):
    root, _, inputs = job
    config = root / "filter.toml"
    local = cli("run", inputs, "-o", root / "local", "-c", config, "--progress", "none")
    on_ray = cli("run", inputs, "-o", root / "ray", "-c", config, "--progress", "none",
                 "--executor", "ray", "--address", cluster)
    assert local.returncode == on_ray.returncode == 0, on_ray.stderr[-3000:]
    assert output_digests(root / "ray") == output_digests(root / "local")
    assert _report(root / "ray") == _report(root / "local")
