"""The Python API: ``engine.run`` and ``engine.Filter`` give the same rows and decisions."""

import pyarrow as pa
import pyarrow.parquet as pq

import engine
from tests.runkit import check_accounting, write_lists, write_shards


def test_api_run_returns_the_report_and_matches_filter_on_the_same_rows(tmp_path):
    config = write_lists(tmp_path)
    (path,) = write_shards(tmp_path, count=1, rows=1500)
    spec = engine.FilterSpec.from_toml(config)
    result = engine.run(str(path), str(tmp_path / "out"), spec, workers=1)
    assert result.exit_code == 0 and result.report["status"] == "clean"
    assert "accounting OK" in result.summary()
    check_accounting(tmp_path / "out", 1)
    direct = engine.Filter(spec).apply(pq.read_table(path))
    assert pq.read_table(tmp_path / "out" / "kept" / "s0.parquet").equals(direct.kept)
    removed = pq.read_table(tmp_path / "out" / "removed" / "s0.parquet")
    assert removed.column_names == direct.removed.column_names
    assert removed["fe_reason"].to_pylist() == direct.removed["fe_reason"].to_pylist()
    assert removed["id"].to_pylist() == direct.removed["id"].to_pylist()


def test_api_input_changed_during_the_run_is_not_committed(tmp_path):
    config = write_lists(tmp_path)
    (path,) = write_shards(tmp_path, count=1, rows=300)
    spec = engine.FilterSpec.from_toml(config)
    from engine.execution.job import JobOptions, process_shard
    from engine.io.shards import discover
    from engine.io.writers import Output

    (shard,) = discover(str(path))
    pq.write_table(pa.table({"id": ["z"], "text": ["changed"]}), path)
    out = Output(str(tmp_path / "out"))
    try:
        process_shard(shard, engine.Filter(spec), out, spec.fingerprint(), JobOptions())
    except engine.RunStateError as err:
        assert "[E064]" in str(err) and "changed while it was read" in str(err)
    else:
        raise AssertionError("a changed input was committed")
    assert not (tmp_path / "out" / "_done").exists()
    assert not (tmp_path / "out" / "kept").exists()
