"""``filter-engine run`` end to end on real Parquet files, through the CLI."""

import json
import os
import signal

import pyarrow.parquet as pq
import pytest

from engine.execution.manifest import Lock
from engine.io.writers import Output
from tests.runkit import check_accounting, cli, output_digests, popen, write_lists, write_shards


def setup(tmp_path, **kw):
    config = write_lists(tmp_path)
    write_shards(tmp_path, **kw)
    return config, str(tmp_path / "data" / "**" / "*.parquet"), tmp_path / "out"


def test_run_clean_mirrors_paths_and_accounts_for_every_row(tmp_path):
    config, glob, out = setup(tmp_path)
    proc = cli("run", glob, "-o", out, "-c", config, "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    report = check_accounting(out, expect_shards=4)
    assert sorted(str(p.relative_to(out)) for p in (out / "kept").rglob("*.parquet")) == [
        "kept/s0.parquet", "kept/s2.parquet", "kept/sub/s1.parquet", "kept/sub/s3.parquet"]
    assert report["status"] == "clean" and report["rows"]["in"] == 8000
    assert set(report["removed_by_reason"]) == {"null_text", "cbrn", "cyber"}
    assert "accounting OK" in proc.stderr and "report:" in proc.stderr
    assert not (out / "_tmp").exists() and not (out / "_lock").exists()
    removed = pq.read_table(out / "removed" / "s0.parquet")
    assert {"id", "text", "fe_reason", "fe_bl_terms"} <= set(removed.column_names)
    kept = pq.ParquetFile(out / "kept" / "s0.parquet")
    assert kept.metadata.row_group(0).column(0).compression == "ZSTD"


def test_run_output_bytes_do_not_depend_on_worker_count(tmp_path):
    config, glob, out = setup(tmp_path)
    one = cli("run", glob, "-o", tmp_path / "one", "-c", config, "--workers", "1")
    two = cli("run", glob, "-o", tmp_path / "two", "-c", config, "--workers", "2")
    assert one.returncode == two.returncode == 0, one.stderr + two.stderr
    assert output_digests(tmp_path / "one") == output_digests(tmp_path / "two")
    check_accounting(tmp_path / "one", 4)


def test_run_again_resumes_and_does_nothing(tmp_path):
    config, glob, out = setup(tmp_path)
    assert cli("run", glob, "-o", out, "-c", config).returncode == 0
    before = {p: p.stat().st_mtime_ns for p in (out / "kept").rglob("*.parquet")}
    again = cli("run", glob, "-o", out, "-c", config)
    assert again.returncode == 0, again.stderr
    assert "0 processed now, 4 already done" in again.stderr
    assert "nothing to do" in again.stderr
    assert before == {p: p.stat().st_mtime_ns for p in (out / "kept").rglob("*.parquet")}
    check_accounting(out, 4)


def test_run_refuses_changed_inputs_then_force_redoes_only_them(tmp_path):
    config, glob, out = setup(tmp_path)
    assert cli("run", glob, "-o", out, "-c", config).returncode == 0
    changed = tmp_path / "data" / "s2.parquet"
    pq.write_table(pq.read_table(changed).slice(0, 100), changed)
    (tmp_path / "data" / "s0.parquet").unlink()
    refused = cli("run", glob, "-o", out, "-c", config)
    assert refused.returncode == 2
    assert "[E061]" in refused.stderr and "'s2.parquet' changed" in refused.stderr
    assert "'s0.parquet' is gone" in refused.stderr
    forced = cli("run", glob, "-o", out, "-c", config, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "1 processed now, 2 already done" in forced.stderr
    assert json.loads((out / "_done" / "s2.parquet.json").read_text())["rows_in"] == 100
    assert "from inputs no longer in this run" in forced.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["stale_markers"] == ["_done/s0.parquet.json"]


def test_run_refuses_a_changed_config(tmp_path):
    config, glob, out = setup(tmp_path, count=2)
    assert cli("run", glob, "-o", out, "-c", config).returncode == 0
    (tmp_path / "lists" / "cbrn.txt").write_text("anthrax\n")
    refused = cli("run", glob, "-o", out, "-c", config)
    assert refused.returncode == 2 and "the filter changed" in refused.stderr


def test_run_lock_stops_a_second_run_and_a_stale_lock_is_taken_over(tmp_path):
    config, glob, out = setup(tmp_path, count=2)
    holder = Lock(Output(str(out))).acquire()  # another run holding the output
    try:
        locked = cli("run", glob, "-o", out, "-c", config)
        assert locked.returncode == 2 and "[E062]" in locked.stderr
        assert str(os.getpid()) in locked.stderr
    finally:
        holder.release()
    (out / "_lock").write_text(json.dumps({"pid": 2**22 + 12345, "host": os.uname().nodename}))
    assert cli("run", glob, "-o", out, "-c", config).returncode == 0
    check_accounting(out, 2)


def test_run_usage_errors_exit_2(tmp_path):
    config, glob, out = setup(tmp_path, count=1)
    none = cli("run", str(tmp_path / "nothing" / "*.parquet"), "-o", out, "-c", config)
    assert none.returncode == 2 and "[E002] no input matched" in none.stderr
    (tmp_path / "data" / "s0.jsonl").write_text('{"text": "x"}\n')
    clash = cli("run", str(tmp_path / "data" / "*"), "-o", out, "-c", config)
    assert clash.returncode == 2 and "[E003] output names collide" in clash.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("mode = 'x'\n")
    assert cli("run", glob, "-o", out, "-c", bad).returncode == 2
    assert not out.exists()


def test_run_annotate_mode_keeps_all_rows_with_decisions(tmp_path):
    config, glob, out = setup(tmp_path, count=1)
    proc = cli("run", glob, "-o", out, "-c", config, "--mode", "annotate")
    assert proc.returncode == 0, proc.stderr
    table = pq.read_table(out / "kept" / "s0.parquet")
    assert table.num_rows == 2000 and "fe_keep" in table.column_names
    assert not (out / "removed").exists()
    check_accounting(out, 1)


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_run_interrupted_exits_128_plus_signal_and_resume_completes(tmp_path, sig, code):
    config, glob, out = setup(tmp_path, count=4)
    proc = popen("run", glob, "-o", out, "-c", config, "--workers", "1",
                 ENGINE_TESTING=1, ENGINE_FAULT="slow:batch:*")
    _wait_for(lambda: (out / "_done").exists())  # one shard committed, others pending
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "interrupted" in err and not (out / "_lock").exists()
    resumed = cli("run", glob, "-o", out, "-c", config)
    assert resumed.returncode == 0, resumed.stderr
    check_accounting(out, 4)


def _wait_for(condition, timeout=120):
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.05)


def test_run_splits_a_large_file_by_row_group_ranges(tmp_path):
    config = write_lists(tmp_path)
    write_shards(tmp_path, count=1, rows=8000, row_group=1000)
    glob = str(tmp_path / "data" / "*.parquet")
    size = (tmp_path / "data" / "s0.parquet").stat().st_size
    split = str(size / 3 / 1e6)  # about three units
    one = cli("run", glob, "-o", tmp_path / "one", "-c", config, "--workers", "1",
              "--split-mb", split)
    two = cli("run", glob, "-o", tmp_path / "two", "-c", config, "--workers", "2",
              "--split-mb", split)
    assert one.returncode == two.returncode == 0, one.stderr + two.stderr
    assert output_digests(tmp_path / "one") == output_digests(tmp_path / "two")
    kept = sorted(p.name for p in (tmp_path / "two" / "kept").glob("*.parquet"))
    assert len(kept) >= 3 and kept[0].startswith("s0.rg00000-")
    report = check_accounting(tmp_path / "two", expect_shards=len(kept))
    assert report["rows"]["in"] == 8000
    rows = sum(pq.ParquetFile(tmp_path / "two" / "kept" / k).metadata.num_rows for k in kept)
    assert rows == report["rows"]["kept"]


def test_explain_shows_the_decision_and_its_evidence(tmp_path):
    config = write_lists(tmp_path)
    proc = cli("explain", "-c", config, "anthrax then sarin", "a quiet river")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("REMOVE (cbrn)")
    assert "    bl_terms: ['anthrax', 'sarin']" in lines
    assert any(line.startswith("KEEP  'a quiet river'") for line in lines)


def test_dry_run_estimates_without_writing(tmp_path):
    config, glob, out = setup(tmp_path, count=2)
    proc = cli("run", glob, "-o", out, "-c", config, "--dry-run", "--sample-rows", "1000")
    assert proc.returncode == 0, proc.stderr
    assert "would remove" in proc.stdout and "estimated run time" in proc.stdout
    assert "cbrn:" in proc.stdout
    assert not out.exists()


def test_progress_bar_when_asked_and_report_has_the_figures(tmp_path):
    config, glob, out = setup(tmp_path, count=2)
    proc = cli("run", glob, "-o", out, "-c", config, "--progress", "bar")
    assert proc.returncode == 0, proc.stderr
    assert "[" + "#" * 30 + "] 2/2 shards" in proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["top_terms"] and report["removed_by_category"]
    assert report["throughput"]["text_mb_s"] > 0 and report["bytes"]["kept_output"] > 0


def test_resume_redoes_a_shard_whose_output_was_damaged(tmp_path):
    config, glob, out = setup(tmp_path, count=2)
    assert cli("run", glob, "-o", out, "-c", config).returncode == 0
    kept = out / "kept" / "s0.parquet"
    kept.write_bytes(kept.read_bytes()[:-100])
    again = cli("run", glob, "-o", out, "-c", config)
    assert again.returncode == 0, again.stderr
    assert "1 processed now, 1 already done" in again.stderr
    check_accounting(out, 2)


def test_report_verify_finds_a_flipped_byte(tmp_path):
    config, glob, out = setup(tmp_path, count=2)
    assert cli("run", glob, "-o", out, "-c", config).returncode == 0
    ok = cli("report", out, "--verify")
    assert ok.returncode == 0 and "2 markers checked, 0 problem(s)" in ok.stdout
    kept = out / "kept" / "s0.parquet"
    data = bytearray(kept.read_bytes())
    data[len(data) // 2] ^= 0xFF
    kept.write_bytes(bytes(data))
    bad = cli("report", out, "--verify")
    assert bad.returncode == 1 and "kept/s0.parquet: size/sha256 differ" in bad.stderr


def test_run_with_shipped_defaults_on_the_bundled_sample(tmp_path):
    from engine.defaults import sample_path

    out = tmp_path / "out"
    proc = cli("run", sample_path(), "-o", out)  # no -c: models/default-filter.toml
    assert proc.returncode == 0, proc.stderr
    report = check_accounting(out, 1)
    assert report["rows"]["in"] == 1908 and report["rows"]["removed"] > 0
    removed = pq.read_table(out / "removed" / "sample.parquet")
    assert all(i.startswith("attack-enterprise") for i in removed["id"].to_pylist())
    assert {"fe_hazard_terms", "fe_hazard_cyber_malware"} <= set(removed.column_names)
    assert not any(c.startswith(("fe_spam", "fe_profanity")) for c in removed.column_names)


def test_run_reads_a_dictionary_encoded_text_column_and_string_view_columns(tmp_path):
    """Parquet written from Arrow keeps dictionary text (and polars' string_view) types."""
    import pyarrow as pa

    from tests.runkit import texts

    config = write_lists(tmp_path)
    rows = texts(600, seed=7)
    (tmp_path / "data").mkdir()
    table = pa.table({"id": pa.array([f"r{i}" for i in range(len(rows))], pa.string_view()),
                      "text": pa.array(rows, pa.string()).dictionary_encode()})
    pq.write_table(table, tmp_path / "data" / "dict.parquet", row_group_size=200)
    schema = pq.read_schema(tmp_path / "data" / "dict.parquet")
    assert pa.types.is_dictionary(schema.field("text").type)
    assert schema.field("id").type == pa.string_view()
    out = tmp_path / "out"
    proc = cli("run", tmp_path / "data" / "dict.parquet", "-o", out, "-c", config,
               "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    report = check_accounting(out, 1)
    assert report["rows"]["in"] == 600 and report["rows"]["removed"] > 0
    kept = pq.read_table(out / "kept" / "dict.parquet")
    removed = pq.read_table(out / "removed" / "dict.parquet")
    expected = {r for r in rows if r is not None}
    assert set(kept["text"].to_pylist()) | set(removed["text"].to_pylist()) >= expected
    assert kept.num_rows + removed.num_rows == 600
    assert sorted(kept["id"].to_pylist() + removed["id"].to_pylist()) == sorted(
        table["id"].to_pylist())


def test_config_name_default_is_the_shipped_filter(tmp_path):
    proc = cli("explain", "-c", "default", "Emotet dropped a payload", "a quiet river")
    assert proc.returncode == 0, proc.stderr
    assert any(line.startswith("KEEP  'a quiet river'") for line in proc.stdout.splitlines())
    assert "REMOVE (hazard_terms)  'Emotet dropped a payload'" in proc.stdout
