"""Object-store inputs and outputs against a real S3-compatible server (moto) on 127.0.0.1.

The server is started here, in-process, on a free port; the CLI under test finds it through
the standard AWS environment variables, exactly as it would find a real endpoint.
"""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.runkit import cli, texts, write_lists

moto_server = pytest.importorskip("moto.server")
s3fs = pytest.importorskip("s3fs")


@pytest.fixture(scope="module")
def s3():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    port = server._server.server_port
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    fs = s3fs.S3FileSystem(key="testing", secret="testing",
                           client_kwargs={"endpoint_url": env["AWS_ENDPOINT_URL"]})
    yield fs, env
    server.stop()


def put_shards(fs, bucket):
    fs.mkdir(bucket)
    for i in range(3):
        table = pa.table({"id": range(500), "text": texts(500, i)})
        with fs.open(f"{bucket}/cc/{'deep/' if i else ''}s{i}.parquet", "wb") as fh:
            pq.write_table(table, fh, row_group_size=100)
    fs.pipe(f"{bucket}/cc/extra.jsonl", b'{"text": "sarin and anthrax"}\n{"text": "fine"}\n')


def test_s3_inputs_to_local_output(s3, tmp_path):
    fs, env = s3
    put_shards(fs, "in-local")
    config = write_lists(tmp_path)
    out = tmp_path / "out"
    proc = cli("run", "s3://in-local/cc/**", "-o", out, "-c", config, "--workers", "2", **env)
    assert proc.returncode == 0, proc.stderr
    done = sorted(str(p.relative_to(out / "_done")) for p in (out / "_done").rglob("*.json"))
    assert done == ["deep/s1.parquet.json", "deep/s2.parquet.json", "extra.jsonl.json",
                    "s0.parquet.json"]
    report = json.loads((out / "report.json").read_text())
    assert report["accounting"]["ok"] and report["rows"]["in"] == 1502
    marker = json.loads((out / "_done" / "s0.parquet.json").read_text())
    assert marker["input"]["version"]  # the ETag
    assert marker["rows_in"] == marker["kept"] + marker["removed"] + marker["unreadable"]


def test_s3_to_s3_commits_uploads_then_markers_and_resumes(s3, tmp_path):
    fs, env = s3
    put_shards(fs, "in-s3")
    fs.mkdir("out-s3")
    config = write_lists(tmp_path)
    args = ("run", "s3://in-s3/cc/*.parquet", "-o", "s3://out-s3/run1", "-c", config)
    proc = cli(*args, **env)
    assert proc.returncode == 0, proc.stderr
    fs.invalidate_cache()
    assert fs.exists("out-s3/run1/_done/s0.parquet.json")
    marker = json.loads(fs.cat("out-s3/run1/_done/s0.parquet.json"))
    kept = marker["outputs"]["kept"]
    with fs.open(f"out-s3/run1/{kept['path']}", "rb") as fh:
        assert pq.read_table(fh).num_rows == marker["kept"] == kept["rows"]
    assert fs.size(f"out-s3/run1/{kept['path']}") == kept["bytes"]
    again = cli(*args, **env)
    assert again.returncode == 0 and "1 already done" in again.stderr


def test_s3_stale_multipart_uploads_under_the_output_are_aborted(s3, tmp_path):
    fs, env = s3
    put_shards(fs, "in-mpu")
    fs.mkdir("out-mpu")
    stale = fs.call_s3("create_multipart_upload", Bucket="out-mpu", Key="run/kept/s0.parquet")
    other = fs.call_s3("create_multipart_upload", Bucket="out-mpu", Key="elsewhere/x")
    config = write_lists(tmp_path)
    proc = cli("run", "s3://in-mpu/cc/s0.parquet", "-o", "s3://out-mpu/run", "-c", config,
               **env)
    assert proc.returncode == 0, proc.stderr
    left = {u["UploadId"] for u in fs.list_multipart_uploads("out-mpu")}
    assert stale["UploadId"] not in left and other["UploadId"] in left


def test_s3_output_lock_is_create_only(s3, tmp_path):
    fs, env = s3
    put_shards(fs, "in-lock")
    fs.mkdir("out-lock")
    fs.pipe("out-lock/run/_lock", json.dumps({"pid": 1, "host": "elsewhere"}).encode())
    config = write_lists(tmp_path)
    proc = cli("run", "s3://in-lock/cc/s0.parquet", "-o", "s3://out-lock/run", "-c", config,
               **env)
    assert proc.returncode == 2 and "[E062]" in proc.stderr and "elsewhere" in proc.stderr
    fs.rm("out-lock/run/_lock")
    proc = cli("run", "s3://in-lock/cc/s0.parquet", "-o", "s3://out-lock/run", "-c", config,
               **env)
    assert proc.returncode == 0, proc.stderr
    fs.invalidate_cache()
    assert not fs.exists("out-lock/run/_lock")


def test_s3_report_verify_reads_outputs_from_the_store(s3, tmp_path):
    fs, env = s3
    put_shards(fs, "in-verify")
    fs.mkdir("out-verify")
    config = write_lists(tmp_path)
    assert cli("run", "s3://in-verify/cc/*.parquet", "-o", "s3://out-verify/r", "-c", config,
               **env).returncode == 0
    ok = cli("report", "s3://out-verify/r", "--verify", **env)
    assert ok.returncode == 0 and "1 markers checked, 0 problem(s)" in ok.stdout


def test_s3_resume_redoes_a_shard_whose_output_is_gone_or_truncated(s3, tmp_path):
    """A marker counts only while its outputs are there with the size it recorded (one
    HEAD per file; local outputs are re-hashed as well). Before, a remote output was
    trusted blindly: a deleted kept file stayed lost on resume."""
    fs, env = s3
    put_shards(fs, "in-gone")
    fs.mkdir("out-gone")
    config = write_lists(tmp_path)
    args = ("run", "s3://in-gone/cc/*.parquet", "-o", "s3://out-gone/run", "-c", config)
    assert cli(*args, **env).returncode == 0
    fs.invalidate_cache()
    marker = json.loads(fs.cat("out-gone/run/_done/s0.parquet.json"))
    fs.rm(f"out-gone/run/{marker['outputs']['kept']['path']}")
    again = cli(*args, **env)
    assert again.returncode == 0, again.stderr
    assert "0 already done" in again.stderr and "1 processed now" in again.stderr
    fs.invalidate_cache()
    kept = json.loads(fs.cat("out-gone/run/_done/s0.parquet.json"))["outputs"]["kept"]
    assert fs.size(f"out-gone/run/{kept['path']}") == kept["bytes"]
    fs.pipe(f"out-gone/run/{kept['path']}", b"PAR1 truncated")
    third = cli(*args, **env)
    assert third.returncode == 0 and "1 processed now" in third.stderr, third.stderr
