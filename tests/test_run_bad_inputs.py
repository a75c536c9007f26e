"""Bad shards through the CLI: each is quarantined or its bad rows reported, the others
finish, the exit code is 3, and the accounting check holds for every readable shard."""

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from tests.runkit import check_accounting, cli, markers, texts, write_lists, write_shards

# varied text, so that half of a compressed stream still holds whole blocks of lines
GOOD = b"".join(json.dumps({"text": t or ""}).encode() + b"\n" for t in texts(3000, 7))
BIG = b"".join(json.dumps({"text": t or ""}).encode() + b"\n" for t in texts(40000, 8))


def make_bad_inputs(data):
    good = (data / "s0.parquet").read_bytes()
    (data / "truncated.parquet").write_bytes(good[: len(good) // 2])
    (data / "empty.parquet").write_bytes(b"")
    (data / "garbage.parquet").write_bytes(b"\x07" * 1000)
    pq.write_table(pa.table({"body": ["no text column"]}), data / "notext.parquet")
    pq.write_table(pa.table({"text": [1, 2, 3]}), data / "inttext.parquet")
    bad_utf8 = pa.array([b"fine", b"bro\xffken", None, b"ok"], pa.binary()).view(pa.string())
    pq.write_table(pa.table({"text": bad_utf8}), data / "badutf8.parquet")
    (data / "lines.jsonl").write_bytes(GOOD[:200] + b"{oops\n" + GOOD[:100])
    gz = gzip.compress(BIG)
    (data / "cut.jsonl.gz").write_bytes(gz[: len(gz) // 2])
    zst = zstandard.ZstdCompressor().compress(BIG)
    (data / "cutz.jsonl.zst").write_bytes(zst[: len(zst) // 2])
    (data / "bomb.jsonl.gz").write_bytes(gzip.compress(GOOD * 2000, 1))
    (data / "none.jsonl").write_bytes(b"")


def test_run_quarantines_bad_shards_and_finishes_the_rest(tmp_path):
    config = write_lists(tmp_path)
    write_shards(tmp_path, count=2, sub=False)
    data = tmp_path / "data"
    make_bad_inputs(data)
    out = tmp_path / "out"
    proc = cli("run", str(data / "*"), "-o", out, "-c", config, "--workers", "2",
               "--max-decompressed-bytes", str(8 << 20))
    assert proc.returncode == 3, proc.stderr
    found = markers(out)
    status = {rel: m["status"] for rel, m in found.items()}
    assert status["s0.parquet"] == status["s1.parquet"] == status["none.jsonl"] == "done"
    for rel in ("truncated.parquet", "empty.parquet", "garbage.parquet", "notext.parquet",
                "inttext.parquet"):
        assert status[rel] == "unreadable", rel
        assert rel in found[rel]["error"]["message"]
    assert "[E041]" in found["notext.parquet"]["error"]["message"]
    assert "[E042]" in found["inttext.parquet"]["error"]["message"]
    utf8 = found["badutf8.parquet"]
    assert utf8["status"] == "done_with_unreadable" and utf8["unreadable"] == 1
    assert utf8["unreadable_rows"][0]["row"] == 1
    assert found["lines.jsonl"]["unreadable_rows"][0]["reason"] == "json"
    for rel in ("cut.jsonl.gz", "cutz.jsonl.zst"):
        assert found[rel]["truncated"]["reason"] == "truncated_stream", rel
        assert found[rel]["kept"] + found[rel]["removed"] > 0, rel
    assert found["bomb.jsonl.gz"]["truncated"]["reason"] == "decompression_limit"
    assert found["none.jsonl"]["rows_in"] == 0
    report = check_accounting(out, expect_shards=len(found))
    assert report["status"] == "finished_with_unreadable"
    assert len(report["quarantined"]) == 5
    assert "unreadable shard truncated.parquet" in proc.stderr
    again = cli("run", str(data / "*"), "-o", out, "-c", config,
                "--max-decompressed-bytes", str(8 << 20))
    assert again.returncode == 3 and "0 processed now" in again.stderr
