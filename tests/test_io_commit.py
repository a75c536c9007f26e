"""The commit protocol itself: write -> fsync(file) -> rename -> fsync(dir), marker last;
and what a failing disk leaves behind (nothing under a final name)."""

import os
import resource
import subprocess
import sys

from engine.execution.job import JobOptions, process_shard
from engine.filter.apply import Filter
from engine.filter.spec import FilterSpec
from engine.io.shards import discover
from engine.io.writers import Output
from tests.runkit import REPO, check_accounting, cli, env, write_lists, write_shards


def test_commit_order_is_fsync_rename_fsync_dir_then_marker(tmp_path, monkeypatch):
    config = write_lists(tmp_path)
    (path,) = write_shards(tmp_path, count=1, rows=400)
    spec = FilterSpec.from_toml(config)
    calls = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        target = os.readlink(f"/proc/self/fd/{fd}")
        calls.append(("fsync", os.path.relpath(target, tmp_path / "out")))
        real_fsync(fd)

    def replace(src, dst):
        calls.append(("rename", os.path.relpath(dst, tmp_path / "out")))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    (shard,) = discover(str(path))
    process_shard(shard, Filter(spec), Output(str(tmp_path / "out")), "fp", JobOptions())
    renames = [c[1] for c in calls if c[0] == "rename"]
    assert renames == ["kept/s0.parquet", "removed/s0.parquet", "_done/s0.parquet.json"]
    first_rename = calls.index(("rename", renames[0]))
    for final in renames:
        i = calls.index(("rename", final))
        temp = [k for k, (op, p) in enumerate(calls)
                if op == "fsync" and p.startswith("_tmp/" + final.replace("/", "__"))]
        assert temp and temp[0] < i  # the temp file was durable before its rename
        if final.startswith(("kept/", "removed/")):
            assert temp[0] < first_rename  # all outputs durable before any is published
        assert calls[i + 1] == ("fsync", os.path.dirname(final))  # then its directory


def test_disk_errors_leave_no_final_outputs_and_resume_completes(tmp_path):
    config = write_lists(tmp_path)
    write_shards(tmp_path, count=2, rows=3000)
    glob = str(tmp_path / "data" / "**" / "*.parquet")
    out = tmp_path / "out"

    def small_files():  # like a full disk: writes past 20 kB fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    proc = subprocess.run([sys.executable, "-m", "engine", "run", glob, "-o", str(out), "-c",
                           str(config), "--max-retries", "1"], cwd=REPO, env=env(),
                          capture_output=True, text=True, timeout=180, preexec_fn=small_files)
    assert proc.returncode == 1, proc.stderr
    assert "[E047]" in proc.stderr and "File too large" in proc.stderr
    assert not list((out / "kept").rglob("*.parquet")) if (out / "kept").exists() else True
    assert not (out / "_done").exists()
    assert not (out / "_tmp").exists()
    done = cli("run", glob, "-o", out, "-c", config)
    assert done.returncode == 0, done.stderr
    check_accounting(out, 2)


def test_commit_refuses_a_symlink_leading_out_of_the_output(tmp_path):
    config = write_lists(tmp_path)
    write_shards(tmp_path, count=1, rows=200)
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    os.symlink(elsewhere, out / "kept")
    proc = cli("run", str(tmp_path / "data" / "*.parquet"), "-o", out, "-c", config,
               "--max-retries", "0")
    assert proc.returncode == 2 and "[E065]" in proc.stderr  # will recur: a usage error
    assert not list(elsewhere.iterdir())
    assert not (out / "_done").exists()
