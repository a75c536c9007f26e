"""Issue 8, run and output side: hostile names, outputs inside the inputs, a failing output
disk, corrupt run files, half-published shards, outputs altered behind the run's back,
errors that would recur on every retry, and inputs skipped during discovery. Each ends
with a coded error and its documented exit code, never a traceback, and never a
final-named output without its marker."""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import engine
from engine.errors import UsageError
from engine.execution.job import JobOptions, process_shard
from engine.execution.supervisor import Supervisor
from engine.execution.worker import WorkerSetup
from engine.filter.spec import FilterSpec
from engine.io.shards import Shard, discover, split_large
from engine.io.writers import Output
from tests.runkit import (
    REPO,
    check_accounting,
    cli,
    env,
    markers,
    output_digests,
    write_lists,
    write_shards,
)

PAGE = 4096


def no_traceback(proc: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr


def cli_limited(*args, fsize: int | None = None, address_space: int | None = None):
    """``filter-engine ARGS`` with RLIMIT_FSIZE (writes past it fail with EFBIG, like a
    full disk) or RLIMIT_AS (allocations past it raise MemoryError)."""

    def limits():
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        if address_space is not None:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    return subprocess.run([sys.executable, "-m", "engine", *map(str, args)], cwd=REPO,
                          env=env(), capture_output=True, text=True, timeout=300,
                          preexec_fn=limits)


@contextlib.contextmanager
def tmpfs(path: Path, options: str):
    """A real small (or read-only, or inode-starved) filesystem at ``path``; skips the test
    where mounting is not allowed (no CAP_SYS_ADMIN)."""
    path.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True, text=True)
    if proc.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


# -- 1. split unit names ---------------------------------------------------------------

def test_issue_8_split_unit_name_colliding_with_a_real_input_is_refused(tmp_path):
    config = write_lists(tmp_path)
    (big,) = write_shards(tmp_path, count=1, rows=8000, row_group=1000, sub=False)
    limit = big.stat().st_size // 3
    units = split_large(discover(str(big)), limit)
    assert len(units) >= 3
    forged = tmp_path / "data" / f"{units[1].stem}.parquet"  # s0.rg0000A-0000B.parquet
    pq.write_table(pa.table({"text": ["an innocent row"] * 10}), forged)
    out = tmp_path / "out"
    proc = cli("run", tmp_path / "data", "-o", out, "-c", config, "--split-mb",
               str(limit / 1e6), "--progress", "none")
    assert proc.returncode == 2, proc.stderr
    assert "[E003]" in proc.stderr and forged.name in proc.stderr
    assert f"{big}' (row groups" in proc.stderr
    no_traceback(proc)
    assert not out.exists()  # refused before anything was written
    # the marker name too: an input literally named like a split unit's marker
    marker_twin = tmp_path / "data" / units[0].unit.rsplit("/", 1)[-1]
    marker_twin.write_bytes(forged.read_bytes())
    forged.unlink()
    with pytest.raises(UsageError, match=r"\[E003\].*rg00000"):
        split_large(discover(str(tmp_path / "data")), limit)


def test_issue_8_output_name_that_must_be_a_file_and_a_directory_is_refused(tmp_path):
    def shard(rel):
        return Shard(f"/in/{rel}", rel, 1, "1")

    with pytest.raises(UsageError, match="would be a file and a directory"):
        from engine.io.shards import check_collisions

        check_collisions([shard("a.jsonl"), shard("a.parquet/b.jsonl")])


# -- 2. output inside the input tree ---------------------------------------------------

def test_issue_8_output_inside_the_input_tree_is_refused(tmp_path):
    config = write_lists(tmp_path)
    write_shards(tmp_path, count=2, rows=200)
    data = tmp_path / "data"
    before = sorted(p.relative_to(data) for p in data.rglob("*"))
    for inputs, output in ((data, data), (data, data / "sub" / "out"),
                           (data / "**" / "*.parquet", data / "out")):
        proc = cli("run", inputs, "-o", output, "-c", config, "--progress", "none")
        assert proc.returncode == 2, (inputs, output, proc.stderr)
        assert "[E009]" in proc.stderr and str(output) in proc.stderr, proc.stderr
        assert "as a new input on the next run" in proc.stderr
        no_traceback(proc)
        assert sorted(p.relative_to(data) for p in data.rglob("*")) == before  # no writes
    # an input where the run writes its outputs: the output would replace the input
    (tmp_path / "o" / "kept").mkdir(parents=True)
    shutil.copy(data / "s0.parquet", tmp_path / "o" / "kept" / "s0.parquet")
    proc = cli("run", tmp_path / "o" / "kept", "-o", tmp_path / "o", "-c", config)
    assert proc.returncode == 2 and "[E009]" in proc.stderr and "'kept'" in proc.stderr
    # beside the inputs, out of the glob's reach: allowed, and a rerun has nothing to do
    proc = cli("run", data / "*.parquet", "-o", data / "out", "-c", config)
    assert proc.returncode == 0, proc.stderr
    again = cli("run", data / "*.parquet", "-o", data / "out", "-c", config)
    assert again.returncode == 0 and "nothing to do" in again.stderr, again.stderr


def test_issue_8_output_overlap_is_decided_from_names_for_urls_too():
    from engine.execution.runner import planned_files
    from engine.io.shards import check_output_outside_inputs

    shards = [Shard("s3://b/in/x.parquet", "x.parquet", 1, "e")]
    def planned():
        return planned_files(shards)

    for inputs in ("s3://b/in/", "s3://b/in/**", "s3://b/in/**/*.parquet", "s3://b/in"):
        with pytest.raises(UsageError, match=r"\[E009\]"):
            check_output_outside_inputs(inputs, "s3://b/in/out", planned, shards)
    for inputs in ("s3://b/in/*.parquet", "s3://b/other/", "gs://b/in/"):
        check_output_outside_inputs(inputs, "s3://b/in/out", planned, shards)
    inside = [Shard("s3://b/out/removed/x.parquet", "x.parquet", 1, "e")]
    with pytest.raises(UsageError, match="'removed' files"):
        check_output_outside_inputs("s3://b/out/removed/", "s3://b/out", planned, inside)


# -- 3. output-side and memory errors --------------------------------------------------

def test_issue_8_output_that_is_a_regular_file_is_a_usage_error(tmp_path):
    config = write_lists(tmp_path)
    write_shards(tmp_path, count=1, rows=100)
    target = tmp_path / "out.txt"
    target.write_text("not a directory")
    for output in (target, target / "sub"):
        proc = cli("run", tmp_path / "data", "-o", output, "-c", config)
        assert proc.returncode == 2, proc.stderr
        assert "[E001]" in proc.stderr and str(output) in proc.stderr, proc.stderr
        no_traceback(proc)
    assert target.read_text() == "not a directory"


def test_issue_8_read_only_output_filesystem_is_a_usage_error(tmp_path):
    config = write_lists(tmp_path)
    write_shards(tmp_path, count=1, rows=100)
    with tmpfs(tmp_path / "ro", "ro,size=64k") as ro:
        proc = cli("run", tmp_path / "data", "-o", ro / "out", "-c", config)
    assert proc.returncode == 2, proc.stderr
    assert "[E001]" in proc.stderr and f"{ro / 'out'}" in proc.stderr
    assert "Read-only file system" in proc.stderr
    no_traceback(proc)


def test_issue_8_file_too_large_for_manifest_and_report_is_a_coded_error(tmp_path):
    config = write_lists(tmp_path)
    write_shards(tmp_path, count=1, rows=100)
    out = tmp_path / "out"
    proc = cli_limited("run", tmp_path / "data", "-o", out, "-c", config, fsize=200)
    assert proc.returncode == 1, proc.stderr
    assert f"[E048] cannot write '{out / '_manifest.json'}': File too large" in proc.stderr
    no_traceback(proc)
    assert not (out / "_manifest.json").exists() and not (out / "_lock").exists()
    assert cli("run", tmp_path / "data", "-o", out, "-c", config).returncode == 0
    limit = (out / "report.json").stat().st_size // 2
    # a resume writes only the lock, the report and the best-effort cache of verified outputs
    proc = cli_limited("run", tmp_path / "data", "-o", out, "-c", config, fsize=limit)
    assert proc.returncode == 1, proc.stderr
    assert f"[E048] cannot write '{out / 'report.json'}': File too large" in proc.stderr
    no_traceback(proc)


def test_issue_8_disk_full_while_writing_the_manifest_is_a_coded_error(tmp_path):
    config = write_lists(tmp_path)
    write_shards(tmp_path, count=1, rows=100)
    with tmpfs(tmp_path / "disk", "size=16k") as disk:
        (disk / "filler").write_bytes(b"\0" * 3 * PAGE)  # one page left: the lock's
        proc = cli("run", tmp_path / "data", "-o", disk / "out", "-c", config)
        left = sorted(str(p.relative_to(disk)) for p in disk.rglob("*") if p.is_file())
    assert proc.returncode == 1, proc.stderr
    assert f"[E048] cannot write '{disk / 'out' / '_manifest.json'}': No space left on " \
        "device" in proc.stderr
    no_traceback(proc)
    assert left == ["filler"]


def test_issue_8_inodes_exhausted_while_writing_the_manifest_is_a_coded_error(tmp_path):
    config = write_lists(tmp_path)
    write_shards(tmp_path, count=1, rows=100)
    # inodes: the mount's root, out/, out/_lock, out/_tmp/; none for the manifest
    with tmpfs(tmp_path / "disk", "size=1m,nr_inodes=4") as disk:
        proc = cli("run", tmp_path / "data", "-o", disk / "out", "-c", config)
    assert proc.returncode == 1, proc.stderr
    assert "[E048]" in proc.stderr and "_manifest.json" in proc.stderr
    assert "No space left on device" in proc.stderr
    no_traceback(proc)


@pytest.mark.parametrize("options", ["size=12k", "size=1m,nr_inodes=5"],
                         ids=["no_space", "no_inodes"])
def test_issue_8_disk_full_while_writing_tmp_outputs_is_a_coded_error(tmp_path, options):
    config = write_lists(tmp_path)
    write_shards(tmp_path, count=1, rows=2000)
    # room (pages or inodes) for the lock and the manifest, not for a shard's outputs
    with tmpfs(tmp_path / "disk", options) as disk:
        out = disk / "out"
        proc = cli("run", tmp_path / "data", "-o", out, "-c", config, "--max-retries", "0",
                   "--progress", "plain")
        finals = [p for p in out.rglob("*") if p.is_file() and p.parent != out]
    assert proc.returncode == 1, proc.stderr
    assert "[E047] shard" in proc.stderr and "kept/s0.parquet" in proc.stderr
    assert "No space left on device" in proc.stderr
    no_traceback(proc)
    assert finals == []  # no output, no marker, no staged file left


def test_issue_8_disk_full_at_the_marker_takes_back_the_published_outputs(tmp_path):
    config = write_lists(tmp_path)
    write_shards(tmp_path, count=1, rows=2000)
    glob = tmp_path / "data" / "*.parquet"
    clean = tmp_path / "clean"
    assert cli("run", glob, "-o", clean, "-c", config).returncode == 0
    pages = sum(math.ceil((clean / sub / "s0.parquet").stat().st_size / PAGE)
                for sub in ("kept", "removed"))
    # room for the lock, the manifest and both outputs; none for the marker
    with tmpfs(tmp_path / "disk", f"size={(pages + 2) * PAGE // 1024}k") as disk:
        out = disk / "out"
        proc = cli("run", glob, "-o", out, "-c", config, "--max-retries", "0")
        finals = sorted(str(p.relative_to(out)) for p in out.rglob("*.parquet"))
        done = list((out / "_done").rglob("*.json")) if (out / "_done").exists() else []
        report = json.loads((out / "report.json").read_text()) if (
            out / "report.json").exists() else None
    assert proc.returncode == 1, proc.stderr
    assert "[E047] shard" in proc.stderr and "_done/s0.parquet.json" in proc.stderr
    assert "No space left on device" in proc.stderr
    no_traceback(proc)
    assert finals == [] and done == []  # nothing final-named without its marker
    assert report is not None and report["failed"][0]["shard"] == "s0.parquet"


@pytest.mark.skipif("asan" in os.environ.get("LD_PRELOAD", ""),
                    reason="AddressSanitizer reserves its shadow memory beyond RLIMIT_AS")
def test_issue_8_blocklist_too_big_for_memory_is_a_coded_error(tmp_path):
    config = write_lists(tmp_path)
    write_shards(tmp_path, count=1, rows=100)
    huge = tmp_path / "lists" / "huge.txt"
    huge.write_bytes(b"x" * 100_000_000 + b"\n")  # one 100 MB pattern
    proc = cli_limited("run", tmp_path / "data", "-o", tmp_path / "out", "-c", config,
                       "--workers", "1", address_space=1536 << 20)
    assert proc.returncode == 2, proc.stderr
    assert "[E019]" in proc.stderr and str(huge) in proc.stderr
    assert "out of memory" in proc.stderr
    no_traceback(proc)


# -- 4. report on corrupt run files ----------------------------------------------------

@pytest.mark.parametrize("damage", [b"{not json", b"\xff\xfe garbage", b"[]", b"{}",
                                    b'{"status": 1}'])
def test_issue_8_report_lists_a_corrupt_report_or_marker_and_exits_1(tmp_path, damage):
    config = write_lists(tmp_path)
    write_shards(tmp_path, count=2, rows=200, sub=False)
    out = tmp_path / "out"
    assert cli("run", tmp_path / "data", "-o", out, "-c", config).returncode == 0
    assert cli("report", out, "--verify").returncode == 0
    good = (out / "report.json").read_bytes()
    (out / "report.json").write_bytes(damage)
    for args in ((), ("--verify",), ("--json",)):
        proc = cli("report", out, *args)
        assert proc.returncode == 1, (args, proc.stderr)
        assert "report.json" in proc.stderr and "corrupt" in proc.stderr, proc.stderr
        no_traceback(proc)
    (out / "report.json").write_bytes(good)
    (out / "_done" / "s1.parquet.json").write_bytes(damage)
    proc = cli("report", out, "--verify")
    assert proc.returncode == 1, proc.stderr
    assert "verify: _done/s1.parquet.json: corrupt" in proc.stderr
    assert "2 markers checked" in proc.stdout or "1 markers checked" in proc.stdout
    no_traceback(proc)
    resumed = cli("run", tmp_path / "data", "-o", out, "-c", config)  # the shard is redone
    assert resumed.returncode == 0 and "1 processed now" in resumed.stderr, resumed.stderr
    assert cli("report", out, "--verify").returncode == 0


# -- 5. all of a shard's outputs or none -----------------------------------------------

def test_issue_8_unpublishable_output_leaves_no_final_output(tmp_path):
    config = write_lists(tmp_path)
    write_shards(tmp_path, count=1, rows=400)
    out = tmp_path / "out"
    out.mkdir()
    (out / "removed").write_text("a file where the removed/ directory goes")
    proc = cli("run", tmp_path / "data", "-o", out, "-c", config, "--max-retries", "0")
    assert proc.returncode == 1, proc.stderr
    assert "[E047]" in proc.stderr and "removed/s0.parquet" in proc.stderr
    no_traceback(proc)
    assert not (out / "kept").exists() or not list((out / "kept").iterdir())
    assert not (out / "_done").exists() or not list((out / "_done").iterdir())


def test_issue_8_failed_rename_takes_back_the_renames_before_it(tmp_path, monkeypatch):
    config = write_lists(tmp_path)
    (path,) = write_shards(tmp_path, count=1, rows=400)
    spec = FilterSpec.from_toml(config)
    out = tmp_path / "out"
    real_replace = os.replace

    def replace(src, dst):
        if "removed" in str(dst):
            raise OSError(5, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    (shard,) = discover(str(path))
    with pytest.raises(engine.OutputError, match=r"\[E047\].*removed/s0.parquet"):
        process_shard(shard, engine.Filter(spec), Output(str(out)), "fp", JobOptions())
    assert not list((out / "kept").rglob("*.parquet"))
    assert not (out / "_done").exists() or not list((out / "_done").iterdir())
    assert not list((out / "_tmp").iterdir())


# -- 6. resume checks checksums, cheaply -----------------------------------------------

def test_issue_8_resume_redoes_a_shard_whose_output_changed_with_the_same_size(tmp_path):
    config = write_lists(tmp_path)
    write_shards(tmp_path, count=2, rows=1000, sub=False)
    out = tmp_path / "out"
    assert cli("run", tmp_path / "data", "-o", out, "-c", config).returncode == 0
    clean = output_digests(out)
    kept = out / "kept" / "s0.parquet"
    st = kept.stat()
    data = bytearray(kept.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size; and the mtime put back, as touch -r would
    kept.write_bytes(bytes(data))
    os.utime(kept, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert kept.stat().st_size == st.st_size and kept.stat().st_mtime_ns == st.st_mtime_ns
    redo = cli("run", tmp_path / "data", "-o", out, "-c", config)
    assert redo.returncode == 0, redo.stderr
    assert "1 processed now, 1 already done" in redo.stderr, redo.stderr
    assert output_digests(out) == clean
    check_accounting(out, 2)
    again = cli("run", tmp_path / "data", "-o", out, "-c", config)
    assert again.returncode == 0 and "nothing to do" in again.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["outputs_rehashed"] == {"files": 0, "bytes": 0}  # one stat per output
    (out / "_verified.json").unlink()  # a lost cache: everything re-hashed, still valid
    again = cli("run", tmp_path / "data", "-o", out, "-c", config)
    assert again.returncode == 0 and "nothing to do" in again.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["outputs_rehashed"]["files"] == 4
    assert report["outputs_rehashed"]["bytes"] == sum(
        info["bytes"] for m in markers(out).values() for info in m["outputs"].values())


# -- 7. errors that would recur are not retried ----------------------------------------

def test_issue_8_deterministic_error_is_not_retried_and_exits_with_its_code(tmp_path):
    config = write_lists(tmp_path)
    write_shards(tmp_path, count=1, rows=200)
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    os.symlink(elsewhere, out / "kept")  # E065 on every attempt
    proc = cli("run", tmp_path / "data", "-o", out, "-c", config, "--max-retries", "2",
               "--progress", "plain")
    assert proc.returncode == 2, proc.stderr
    assert "[E065]" in proc.stderr and "retry:" not in proc.stderr
    no_traceback(proc)
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "failed" and report["exit_code"] == 2
    (failed,) = report["failed"]
    assert failed["attempts"] == 1 and failed["retried"] is False
    assert failed["exit_code"] == 2


def test_issue_8_input_changed_while_read_is_not_retried(tmp_path):
    spec = FilterSpec.from_toml(write_lists(tmp_path))
    (path,) = write_shards(tmp_path, count=1, rows=200)
    shards = discover(str(path))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # E064 every time
    from engine.execution.runner import _save_matchers

    saved = {b.name: str(tmp_path / f"{b.name}.matcher") for b in spec.blocklists}
    _save_matchers(spec, saved)
    setup = WorkerSetup(spec, saved, str(tmp_path / "out"), spec.fingerprint(), JobOptions())
    outcome = Supervisor(1, setup, max_retries=3).run(shards)
    assert outcome.attempts["s0.parquet"] == 1
    assert outcome.exit_codes == {"s0.parquet": 2}
    assert "[E064]" in outcome.failed["s0.parquet"][0]


# -- 8. skipped inputs are reported ----------------------------------------------------

def test_issue_8_skipped_fifo_is_in_the_report_and_the_summary(tmp_path):
    config = write_lists(tmp_path)
    write_shards(tmp_path, count=1, rows=100, sub=False)
    fifo = tmp_path / "data" / "pipe.jsonl"
    os.mkfifo(fifo)
    out = tmp_path / "out"
    proc = cli("run", tmp_path / "data", "-o", out, "-c", config)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["skipped_inputs"] == [{"path": str(fifo), "kind": "fifo"}]
    assert f"skipped 1 input(s) that are not regular files: {fifo} (fifo)" in proc.stderr
    shown = cli("report", out)
    assert shown.returncode == 0 and f"{fifo} (fifo)" in shown.stdout
