"""Shard readers on real files: formats by magic bytes, bad lines, truncation, bombs."""

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from engine.errors import ShardError
from tests.runkit import read_as_the_job_does

LINES = b"".join(json.dumps({"id": i, "text": f"doc {i}"}).encode() + b"\n" for i in range(50))


def read(path, **kw):
    """The reader, its row count and its batches, read as the job does."""
    reader, batches = read_as_the_job_does(path, **kw)
    return reader, sum(b.num_rows for b in batches), batches


def test_readers_parquet_one_row_group_at_a_time(tmp_path):
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"id": range(100), "text": [f"t{i}" for i in range(100)]}), path,
                   row_group_size=30)
    reader, rows, batches = read(path)
    assert rows == 100 and reader.stats.footer_rows == 100 and reader.stats.format == "parquet"
    assert max(b.num_rows for b in batches) <= 16
    assert batches[0].schema.names == ["id", "text"]


@pytest.mark.parametrize("name, compress", [
    ("plain.jsonl", lambda b: b),
    ("gzip.jsonl.gz", gzip.compress),
    ("zstd.jsonl.zst", lambda b: zstandard.ZstdCompressor().compress(b)),
    ("gzip-named-plain.jsonl", gzip.compress),
    ("zstd-named.parquet", lambda b: zstandard.ZstdCompressor().compress(b)),
    ("multi-member.jsonl.gz", lambda b: gzip.compress(b[:500]) + gzip.compress(b[500:])),
    ("multi-frame.jsonl.zst", lambda b: zstandard.ZstdCompressor().compress(b[:500])
     + zstandard.ZstdCompressor().compress(b[500:])),
])
def test_readers_jsonl_detected_by_magic_bytes_not_name(tmp_path, name, compress):
    path = tmp_path / name
    path.write_bytes(compress(LINES))
    reader, rows, batches = read(path)
    assert rows == 50 and not reader.stats.unreadable and reader.stats.truncated is None
    assert pa.Table.from_batches(batches)["id"].to_pylist() == list(range(50))


def test_readers_jsonl_bad_lines_are_unreadable_and_the_rest_kept(tmp_path):
    path = tmp_path / "bad.jsonl"
    body = (b"\xef\xbb\xbf" + LINES[:60] + b"{broken\n" + b"[1, 2]\r\n\n"
            + b'{"id": 7, "text": "bad \xff byte"}\r\n' + b'{"id": 8, "text": "crlf"}\r\n'
            + b'{"id": 9, "text": "no newline at end"}')
    path.write_bytes(body)
    reader, rows, batches = read(path)
    bad = reader.stats.unreadable
    assert [(u.row, u.reason) for u in bad] == [(2, "json"), (3, "json")]
    assert rows == 5  # 2 good lines before, the \xff line, the crlf line and the last line
    # a string holding invalid UTF-8 is well-formed JSON: the filter reports that row
    # unreadable (invalid_utf8), per row, like any other invalid UTF-8
    texts = pa.Table.from_batches(batches)["text"].cast(pa.binary()).to_pylist()
    assert texts == [b"doc 0", b"doc 1", b"bad \xff byte", b"crlf", b"no newline at end"]


def test_readers_truncated_gzip_and_zstd_keep_rows_before_the_cut(tmp_path):
    big = LINES * 4000  # ~2 MB
    for name, data in (("t.jsonl.gz", gzip.compress(big)),
                       ("t.jsonl.zst", zstandard.ZstdCompressor().compress(big))):
        path = tmp_path / name
        path.write_bytes(data[: len(data) * 2 // 3])
        reader, rows, _ = read(path, batch_rows=8192)
        assert reader.stats.truncated is not None, name
        assert reader.stats.truncated.reason == "truncated_stream"
        assert 0 < rows < 200000
        assert reader.stats.truncated.row == rows + reader.stats.unreadable_rows


def test_readers_decompression_bomb_stops_at_the_limit(tmp_path):
    path = tmp_path / "bomb.jsonl.gz"
    path.write_bytes(gzip.compress(LINES * 200000, 1))  # ~200 MB inflated
    reader, rows, _ = read(path, batch_rows=8192, max_decompressed_bytes=4 << 20)
    assert reader.stats.truncated.reason == "decompression_limit"
    assert 0 < rows < 200000


@pytest.mark.parametrize("make, code", [
    (lambda p: p.write_bytes(b""), "E043"),
    (lambda p: p.write_bytes(b"PAR1" + bytes(range(256)) * 4), "E043"),
    (lambda p: p.write_bytes(bytes(range(7, 256)) * 8), "E043"),
])
def test_readers_corrupt_files_raise_shard_errors_naming_the_shard(tmp_path, make, code):
    path = tmp_path / "x.parquet"
    make(path)
    with pytest.raises(ShardError) as info:
        read(path)
    if path.stat().st_size:
        assert f"[{code}]" in str(info.value)
    assert "x.parquet" in str(info.value)


def test_readers_truncated_parquet(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"text": ["x" * 100] * 1000}), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ShardError, match=r"\[E043\].*t.parquet"):
        read(path)


def test_readers_empty_jsonl_is_zero_rows(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_bytes(b"")
    reader, rows, _ = read(path)
    assert rows == 0 and not reader.stats.unreadable


def test_readers_text_column_missing_or_wrong_type(tmp_path):
    path = tmp_path / "m.parquet"
    pq.write_table(pa.table({"body": ["x"]}), path)
    with pytest.raises(ShardError, match=r"\[E041\].*no column 'text'"):
        read(path)
    pq.write_table(pa.table({"text": [1, 2]}), path)
    with pytest.raises(ShardError, match=r"\[E042\].*int64"):
        read(path)
    j = tmp_path / "m.jsonl"
    j.write_text('{"text": 5}\n')
    with pytest.raises(ShardError, match=r"\[E042\]"):
        read(j)


def test_readers_arrow_ipc_file_and_stream(tmp_path):
    table = pa.table({"text": [f"t{i}" for i in range(40)]})
    with pa.ipc.new_file(tmp_path / "f.arrow", table.schema) as w:
        w.write_table(table, max_chunksize=25)
    with pa.ipc.new_stream(tmp_path / "s.arrows", table.schema) as w:
        w.write_table(table)
    for name, fmt in (("f.arrow", "ipc-file"), ("s.arrows", "ipc-stream")):
        reader, rows, _ = read(tmp_path / name)
        assert rows == 40 and reader.stats.format == fmt


def test_readers_missing_file(tmp_path):
    with pytest.raises(ShardError, match=r"\[E046\].*not found"):
        read(tmp_path / "gone.parquet")


def test_readers_jsonl_types_settle_after_the_first_block(tmp_path, monkeypatch):
    from engine.io import readers

    monkeypatch.setattr(readers, "JSONL_BLOCK", 64)  # many small blocks
    monkeypatch.setattr(readers, "READ_SIZE", 64)
    lines = [{"text": f"t{i}", "url": None, "n": 1} for i in range(5)]
    lines += [{"text": "later", "url": "http://x", "n": 2.0}]
    path = tmp_path / "drift.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    reader, rows, batches = read(path)
    table = pa.Table.from_batches(batches)
    assert rows == 6 and table["url"].to_pylist()[-1] == "http://x"
    assert table["n"].to_pylist()[-1] == 2  # 2.0 fits int64: converted, losslessly
    assert not reader.stats.unreadable and not reader.string_columns
