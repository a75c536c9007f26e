"""Real faults: kill -9 of workers and of the parent, hung shards; then resume and compare
byte for byte with an uninterrupted run."""

import contextlib
import os
import signal
import time

import psutil
import pytest

from tests.runkit import check_accounting, cli, output_digests, popen, write_lists, write_shards

pytestmark = pytest.mark.slow


@pytest.fixture
def job(tmp_path):
    config = write_lists(tmp_path)
    write_shards(tmp_path, count=4, rows=2000, row_group=250)
    glob = str(tmp_path / "data" / "**" / "*.parquet")
    clean = tmp_path / "clean"
    proc = cli("run", glob, "-o", clean, "-c", config, "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    return config, glob, tmp_path / "out", output_digests(clean)


def wait_for(condition, timeout=120):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.05)


def busy_workers(out) -> set[str]:
    """Pids of workers with a staged output file, i.e. mid-shard."""
    try:
        return {name.rsplit(".", 2)[-2] for name in os.listdir(out / "_tmp")}
    except FileNotFoundError:
        return set()


def workers_of(proc) -> list[psutil.Process]:
    try:
        return [c for c in psutil.Process(proc.pid).children(recursive=True)
                if "spawn_main" in " ".join(c.cmdline())]
    except psutil.NoSuchProcess:
        return []


def test_worker_killed_mid_shard_is_reported_and_retried(job, tmp_path):
    config, glob, out, clean = job
    state = tmp_path / "fault-state"
    state.mkdir()
    proc = cli("run", glob, "-o", out, "-c", config, "--workers", "2", ENGINE_TESTING=1,
               ENGINE_FAULT="crash_once:batch:s2", ENGINE_FAULT_STATE=state)
    assert proc.returncode == 0, proc.stderr
    assert "retry: s2.parquet: worker pid" in proc.stderr
    assert "killed by SIGKILL" in proc.stderr
    check_accounting(out, 4)
    assert output_digests(out) == clean


def test_worker_killed_between_rename_and_marker_redoes_the_shard(job, tmp_path):
    config, glob, out, clean = job
    state = tmp_path / "fault-state"
    state.mkdir()
    proc = cli("run", glob, "-o", out, "-c", config, "--workers", "2", ENGINE_TESTING=1,
               ENGINE_FAULT="crash_once:before_marker:s0", ENGINE_FAULT_STATE=state)
    assert proc.returncode == 0, proc.stderr
    assert "retry: s0.parquet" in proc.stderr
    check_accounting(out, 4)
    assert output_digests(out) == clean


def test_shard_that_always_kills_its_worker_fails_then_resume_finishes(job):
    config, glob, out, clean = job
    proc = cli("run", glob, "-o", out, "-c", config, "--workers", "2", "--max-retries", "1",
               ENGINE_TESTING=1, ENGINE_FAULT="crash:batch:s1")
    assert proc.returncode == 1, proc.stderr
    assert "FAILED shard sub/s1.parquet after 2 attempt(s)" in proc.stderr
    assert not (out / "_done" / "sub" / "s1.parquet.json").exists()
    assert not (out / "kept" / "sub" / "s1.parquet").exists()
    resumed = cli("run", glob, "-o", out, "-c", config)
    assert resumed.returncode == 0, resumed.stderr
    assert "1 processed now, 3 already done" in resumed.stderr
    check_accounting(out, 4)
    assert output_digests(out) == clean


def test_external_kill_9_of_a_worker_then_same_bytes(job):
    config, glob, out, clean = job
    proc = popen("run", glob, "-o", out, "-c", config, "--workers", "2",
                 ENGINE_TESTING=1, ENGINE_FAULT="slow:batch:*")
    wait_for(lambda: len(busy_workers(out)) == 2)
    victims = workers_of(proc)
    assert victims
    os.kill(victims[0].pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert "killed by SIGKILL" in err
    check_accounting(out, 4)
    assert output_digests(out) == clean


def test_parent_kill_9_leaves_no_orphans_and_resume_gives_same_bytes(job):
    config, glob, out, clean = job
    proc = popen("run", glob, "-o", out, "-c", config, "--workers", "2",
                 ENGINE_TESTING=1, ENGINE_FAULT="slow:batch:*")
    wait_for(lambda: len(busy_workers(out)) == 2)
    children = workers_of(proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    gone, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, f"orphan workers: {[p.pid for p in alive]}"
    resumed = cli("run", glob, "-o", out, "-c", config, "--workers", "1")
    assert resumed.returncode == 0, resumed.stderr
    check_accounting(out, 4)
    assert output_digests(out) == clean


def test_hung_shard_hits_the_timeout_and_others_finish(job):
    config, glob, out, _ = job
    proc = cli("run", glob, "-o", out, "-c", config, "--workers", "2", "--max-retries", "0",
               "--shard-timeout", "8", ENGINE_TESTING=1, ENGINE_FAULT="hang:batch:s3")
    assert proc.returncode == 1, proc.stderr
    assert "timed out after 8 s" in proc.stderr
    assert "FAILED shard sub/s3.parquet" in proc.stderr
    assert len(list((out / "_done").rglob("*.json"))) == 3


def test_kill_resume_soak_ends_with_the_clean_bytes(job):
    """A short soak: kill -9 the parent or a worker at seeded random moments, resume, repeat;
    the final output equals the uninterrupted run's, byte for byte."""
    import random

    config, glob, out, clean = job
    rng = random.Random(7)
    for _ in range(4):
        proc = popen("run", glob, "-o", out, "-c", config, "--workers", "2",
                     ENGINE_TESTING=1, ENGINE_FAULT="slow:batch:*")
        time.sleep(rng.uniform(0.5, 3.0))
        victims = [psutil.Process(proc.pid)] + workers_of(proc)
        target = rng.choice(victims)
        with contextlib.suppress(psutil.NoSuchProcess):
            children = workers_of(proc)
            target.send_signal(signal.SIGKILL)
        proc.wait(timeout=120)
        if target.pid == proc.pid:
            _, alive = psutil.wait_procs(children, timeout=30)
            assert not alive, "orphan workers after the parent was killed"
    final = cli("run", glob, "-o", out, "-c", config)
    assert final.returncode == 0, final.stderr
    check_accounting(out, 4)
    assert output_digests(out) == clean
