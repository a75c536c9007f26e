"""Issue 8, the input side: hostile input and faults while reading.

Damaged Arrow IPC offsets, one huge document, a bad JSON line in a big block, blank-looking
lines, a metadata column that changes type, a duplicated text column, and an object store
that fails for a while. Every test ends with the accounting check where a run is involved:
rows_in == kept + removed + unreadable, counted independently where the format allows.
"""

from __future__ import annotations

import gzip
import http.client
import http.server
import json
import math
import socket
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet as pq
import pytest

import engine
from engine.errors import EngineError, ShardError
from engine.io import readers, remote
from engine.io.readers import ShardReader, count_rows, is_blank
from tests.runkit import (
    REPO,
    check_accounting,
    cli,
    env,
    markers,
    read_as_the_job_does,
    write_lists,
)

read = read_as_the_job_does


# -- 1. damaged offsets in Arrow IPC ----------------------------------------------------

def _texts(batch: int) -> list[str]:
    """Four texts whose lengths differ from every other batch's (unique offsets bytes)."""
    return [f"b{batch} row {i} " + "x" * (3 * i + 11 * batch + 1) for i in range(4)]


def _offsets(texts: list[str]) -> np.ndarray:
    return np.cumsum([0] + [len(t.encode()) for t in texts]).astype("<i4")


DAMAGES = {
    "huge": lambda o: o.__setitem__(2, 2**30),
    "non_monotonic": lambda o: o.__setitem__(2, o[1] - 1),
    "negative": lambda o: o.__setitem__(0, -5),
    "past_the_end": lambda o: o.__setitem__(4, o[4] + 100),
}


def write_damaged_ipc(path: Path, fmt: str, damage: str | None, column: str = "text",
                      batches: int = 3, bad: int = 1) -> None:
    """An Arrow IPC file or stream of ``batches`` batches of 4 rows, written by pyarrow,
    then with the offsets of ``column`` in batch ``bad`` overwritten in place."""
    parts = [pa.record_batch({"id": pa.array(range(4 * k, 4 * k + 4)),
                              "url": pa.array([t[::-1] + "/u" for t in _texts(k + 7)]),
                              "text": pa.array(_texts(k))}) for k in range(batches)]
    sink = pa.BufferOutputStream()
    new = pa.ipc.new_file if fmt == "file" else pa.ipc.new_stream
    with new(sink, parts[0].schema) as writer:
        for part in parts:
            writer.write_batch(part)
    blob = bytearray(sink.getvalue().to_pybytes())
    if damage is not None:
        source = _texts(bad) if column == "text" else [t[::-1] + "/u" for t in _texts(bad + 7)]
        offsets = _offsets(source)
        at = blob.index(offsets.tobytes())
        assert blob.count(offsets.tobytes()) == 1
        DAMAGES[damage](offsets)
        blob[at:at + offsets.nbytes] = offsets.tobytes()
    path.write_bytes(bytes(blob))


@pytest.mark.parametrize("fmt", ["file", "stream"])
@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_issue_8_ipc_damaged_offsets_make_their_batch_unreadable(tmp_path, fmt, damage):
    path = tmp_path / f"d.{'arrow' if fmt == 'file' else 'arrows'}"
    write_damaged_ipc(path, fmt, damage)
    reader, batches = read(path)
    rows = [r for b in batches for r in b["id"].to_pylist()]
    assert rows == [0, 1, 2, 3, 8, 9, 10, 11]  # batch 1 (rows 4..7) out, the others read
    (bad,) = reader.stats.unreadable
    assert (bad.row, bad.count, bad.reason) == (4, 4, "malformed_batch")
    assert bad.message.startswith(f"[E044] shard '{path}': rows 4..7 are unreadable: ")
    assert reader.stats.truncated is None


def test_issue_8_ipc_damaged_offsets_in_another_column_too(tmp_path):
    path = tmp_path / "url.arrows"
    write_damaged_ipc(path, "stream", "huge", column="url")
    reader, batches = read(path)
    assert sum(b.num_rows for b in batches) == 8
    assert [(u.row, u.count, u.reason) for u in reader.stats.unreadable] == [
        (4, 4, "malformed_batch")]
    assert "column 'url'" in reader.stats.unreadable[0].message


def test_issue_8_ipc_damaged_offsets_through_the_cli_every_row_accounted(tmp_path):
    """A worker never crashes on damaged offsets and never loses the batch's rows: each
    damaged batch is unreadable (E044, named shard and rows), the rest is filtered, and
    rows_in equals the rows the IPC file holds. Invalid UTF-8 stays a per-row matter."""
    config = write_lists(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    for damage in DAMAGES:
        write_damaged_ipc(data / f"{damage}.arrow", "file", damage)
        write_damaged_ipc(data / f"{damage}.arrows", "stream", damage)
    bad_utf8 = pa.array([b"fine", b"bro\xffken", b"ok", b"sarin and anthrax"],
                        pa.binary()).view(pa.string())
    with pa.ipc.new_stream(data / "utf8.arrows", pa.schema([("text", pa.string())])) as w:
        w.write_batch(pa.record_batch({"text": bad_utf8}))
    out = tmp_path / "out"
    proc = cli("run", data, "-o", out, "-c", config, "--workers", "2", "--max-retries", "0")
    assert proc.returncode == 3, proc.stderr
    found = markers(out)
    assert len(found) == 2 * len(DAMAGES) + 1
    for damage in DAMAGES:
        for rel in (f"{damage}.arrow", f"{damage}.arrows"):
            m = found[rel]
            assert m["status"] == "done_with_unreadable", (rel, m)
            assert m["rows_in"] == 12 and m["kept"] + m["removed"] == 8, (rel, m)
            (row,) = m["unreadable_rows"]
            assert (row["row"], row["count"], row["reason"]) == (4, 4, "malformed_batch")
            assert f"[E044] shard '{data / rel}': rows 4..7" in row["message"]
    utf8 = found["utf8.arrows"]
    assert utf8["unreadable"] == 1 and utf8["unreadable_rows"][0]["reason"] == "invalid_utf8"
    assert utf8["unreadable_rows"][0]["row"] == 1 and utf8["removed"] == 1
    check_accounting(out, expect_shards=len(found))


# -- 2. batches sized by bytes; one document over the cap --------------------------------

def test_issue_8_batches_are_sized_by_bytes_too(tmp_path):
    texts = ["small text"] * 50 + ["y" * 300_000] + ["small text"] * 500 + ["z" * 90_000] * 6
    table = pa.table({"id": range(len(texts)), "text": texts})
    pq.write_table(table, tmp_path / "a.parquet", row_group_size=10_000)
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in table.to_pylist()))
    with pa.ipc.new_file(tmp_path / "a.arrow", table.schema) as w:
        w.write_table(table)
    budget = 200_000
    for name in ("a.parquet", "a.jsonl", "a.arrow"):
        reader = ShardReader(str(tmp_path / name), "text", batch_rows=8192, batch_bytes=budget)
        starts, seen = [], []
        for batch in reader:
            starts.append(reader.position)
            seen += batch["id"].to_pylist()
            nbytes = sum(len(t) for t in batch["text"].to_pylist())
            assert batch.num_rows == 1 or nbytes <= budget, (name, batch.num_rows, nbytes)
        assert seen == list(range(len(texts))), name
        assert 50 in starts and 51 in starts  # the long row is a batch of its own
        assert len(starts) >= 5, (name, starts)  # 6 x 90 kB cannot share one batch


def test_issue_8_a_document_over_max_doc_bytes_is_removed_unscanned(tmp_path):
    spec = engine.FilterSpec.from_toml(write_lists(tmp_path))
    long = "sarin anthrax exploit " * 1000  # 22 kB, matches every rule
    batch = pa.record_batch({"id": [1, 2, 3, 4], "text": ["fine", long, None, "sarin anthrax"]})
    result = engine.Filter(spec).apply(batch, max_doc_bytes=10_000)
    assert result.kept["id"].to_pylist() == [1]
    removed = result.removed
    assert removed["id"].to_pylist() == [2, 3, 4]
    assert removed["fe_reason"].to_pylist() == ["too_long", "null_text", "cbrn"]
    assert removed["text"].to_pylist()[0] == long  # the document itself is not lost
    assert removed["fe_bl_count"].to_pylist()[0] == 0  # never scanned
    assert result.by_reason == {"too_long": 1, "null_text": 1, "cbrn": 1}
    assert result.text_bytes == len("fine") + len("sarin anthrax")
    uncapped = engine.Filter(spec).apply(batch)
    assert "too_long" not in uncapped.by_reason
    notes = engine.Filter(spec.with_options(mode="annotate")).apply(batch, max_doc_bytes=10_000)
    assert notes.kept["fe_reason"].to_pylist()[1] == "too_long"
    assert notes.kept["fe_keep"].to_pylist() == [True, False, False, False]


def test_issue_8_max_doc_bytes_on_the_command_line(tmp_path):
    config = write_lists(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    long = "a river and a house " * 400  # 8000 bytes
    rows = [{"id": i, "text": t} for i, t in
            enumerate(["fine", long, "sarin anthrax", "x" * 5000, "also fine"])]
    (data / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    proc = cli("run", data, "-o", out, "-c", config, "--max-doc-bytes", "6000")
    assert proc.returncode == 0, proc.stderr
    (m,) = markers(out).values()
    assert m["removed_by_reason"] == {"cbrn": 1, "too_long": 1}
    assert (m["rows_in"], m["kept"], m["removed"]) == (5, 3, 2)
    removed = pq.read_table(out / "removed" / "s.parquet")
    assert removed["text"].to_pylist() == [long, "sarin anthrax"]
    check_accounting(out, expect_shards=1)
    again = cli("run", data, "-o", out, "-c", config, "--max-doc-bytes", "9000")
    assert again.returncode == 2 and "[E061]" in again.stderr  # the cap decides removals
    assert cli("run", data, "-o", out, "-c", config, "--max-doc-bytes", "-1").returncode == 2


def _peak_worker_rss(args: list) -> tuple[int, int]:
    """(exit code, peak RSS in bytes of the largest process of ``filter-engine ARGS``),
    measured by the kernel: the run is started from a fresh helper process whose
    ``RUSAGE_CHILDREN`` then covers only it and its workers."""
    probe = ("import resource, subprocess, sys\n"
             "rc = subprocess.run([sys.executable, '-m', 'engine', *sys.argv[1:]],"
             " stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode\n"
             "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    done = subprocess.run([sys.executable, "-c", probe, *map(str, args)], cwd=REPO, env=env(),
                          capture_output=True, text=True, timeout=600, check=True)
    rc, kib = done.stdout.split()
    return int(rc), int(kib) * 1024


@pytest.mark.slow
def test_issue_8_one_huge_document_keeps_worker_memory_bounded(tmp_path):
    """A 48 MB document with the shipped filter (its robust blocklist stage):
    it is removed as too_long without being scanned, and the worker's peak memory stays
    that of small documents plus a few copies of the document itself (read, then written
    whole to removed/), instead of growing with what the stages would allocate for it."""
    rng = np.random.default_rng(8)
    words = np.array(["the", "river", "house", "sarin", "exploit", "garden", "music", "data"])
    small = [" ".join(rng.choice(words, 30)) for _ in range(400)]
    doc_mb = 48
    huge = (" ".join(rng.choice(words, 100_000)) + " ") * (doc_mb * 10**6 // 600_000)
    base_dir, big_dir = tmp_path / "small", tmp_path / "big"
    base_dir.mkdir()
    big_dir.mkdir()
    pq.write_table(pa.table({"text": small}), base_dir / "s.parquet")
    pq.write_table(pa.table({"text": small[:200] + [huge] + small[200:]}), big_dir / "s.parquet")
    common = ["-c", "default", "--workers", "1", "--max-retries", "0", "--progress", "none"]
    rc, base = _peak_worker_rss(["run", base_dir, "-o", tmp_path / "o1", *common])
    assert rc == 0
    rc, peak = _peak_worker_rss(["run", big_dir, "-o", tmp_path / "o2", *common])
    assert rc == 0
    (m,) = markers(tmp_path / "o2").values()
    assert m["removed_by_reason"].get("too_long") == 1 and m["accounting_ok"] is True
    grown = peak - base
    assert grown < 8 * len(huge), f"peak {peak >> 20} MiB, base {base >> 20} MiB"


def test_issue_8_raw_text_model_runs_are_sized_by_bytes(monkeypatch):
    """A string graph's tokenizer holds many times its input: the raw-text backend feeds it
    at most ``BATCH_BYTES`` of text per run (a longer text alone), with the same scores."""
    from engine.classify import rawtext

    clf = engine.Classifier.load(REPO / "models" / "profanity")
    texts = pa.array(["damn " * 2000, "a fine day", None, "what the hell " * 500, "ok"] * 3)
    whole = clf.score(texts)
    runs = []
    backend = clf._backend
    real = backend.session.run

    class Counting:
        def run(self, outputs, feed):
            runs.append(sum(len(str(x)) for x in np.asarray(next(iter(feed.values()))).ravel()))
            return real(outputs, feed)

    monkeypatch.setattr(backend, "session", Counting())
    monkeypatch.setattr(rawtext, "BATCH_BYTES", 12_000)
    np.testing.assert_allclose(clf.score(texts), whole, rtol=1e-6, equal_nan=True)
    assert len(runs) > 3 and all(n <= 12_000 for n in runs), runs  # one run before


# -- 3. a bad JSON line in a big block ----------------------------------------------------

def test_issue_8_a_bad_json_line_is_found_by_bisection(tmp_path, monkeypatch):
    lines = [json.dumps({"id": i, "text": f"line {i} " + "w" * 60}).encode()
             for i in range(60_000)]  # ~5 MB: one block
    lines[31_337] = b'{"id": 31337, "text": broken'
    path = tmp_path / "one-bad.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    calls = []
    real = readers.pajson.read_json

    def counted(*args, **kw):
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(readers.pajson, "read_json", counted)
    reader, batches = read(path, batch_rows=8192)
    assert sum(b.num_rows for b in batches) == 59_999
    assert [(u.row, u.reason) for u in reader.stats.unreadable] == [(31_337, "json")]
    ids = [i for b in batches for i in b["id"].to_pylist()]
    assert ids == [i for i in range(60_000) if i != 31_337]
    assert len(calls) <= 4 * math.ceil(math.log2(60_000)) + 4, len(calls)  # not 60,000


def test_issue_8_dense_bad_lines_are_screened_not_parsed_one_by_one(tmp_path, monkeypatch):
    """Every other line broken: bisecting each would cost more than the old line-by-line
    pass; once a block shows many bad lines the rest is screened with Python's json and the
    good lines are parsed together, each row keeping its own shard row number."""
    lines = [json.dumps({"id": i, "text": f"line {i}"}).encode() if i % 2 else b"{broken"
             for i in range(60_000)]
    lines[7] = b'{"id": 7, "text": "sarin \xff"}'  # invalid UTF-8: the filter's, per row
    path = tmp_path / "half.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    calls = []
    real = readers.pajson.read_json
    monkeypatch.setattr(readers.pajson, "read_json",
                        lambda *a, **kw: calls.append(1) or real(*a, **kw))
    reader = ShardReader(str(path), "text")
    seen = []
    for batch in reader:
        numbers = reader.row_numbers
        assert numbers is not None and len(numbers) == batch.num_rows
        assert batch["id"].to_pylist() == numbers.tolist()  # ids are the line numbers
        seen += numbers.tolist()
    assert seen == list(range(1, 60_000, 2))
    assert reader.stats.unreadable_rows == 30_000 and len(calls) < 100, len(calls)


# -- 4. one definition of a blank line ----------------------------------------------------

def test_issue_8_blank_line_has_one_definition():
    assert all(is_blank(x) for x in (b"", b" ", b"\t", b"\r", b" \t\r "))
    assert not any(is_blank(x) for x in (b"\x0b", b"\x0c", b"\x00", b"\xef\xbb\xbf", b"{}"))
    for data in (b"", b"\n", b"a", b"a\n", b"a\n\n b\r\n\x0b\n\t\n\x0c", b" \n\r\n"):
        lines = data.split(b"\n")
        assert count_rows(data) == sum(not is_blank(x) for x in lines), data


def test_issue_8_vertical_tab_and_form_feed_lines_are_rows(tmp_path):
    """A line holding only \\v or \\f is not blank: it is a row, and an unreadable one, so
    rows_in counts it and the rows after it keep their numbers."""
    config = write_lists(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    body = (b'{"text": "zero"}\n\x0b\n \t\r\n{"text": "two"}\n\x0c\n\n{"text": "sarin anthrax"}\n'
            b'{"text": "bad \xff utf8"}\n{"text": "six"}')
    (data / "ws.jsonl").write_bytes(body)
    expected_rows = sum(not is_blank(x) for x in body.split(b"\n"))
    assert expected_rows == 7
    out = tmp_path / "out"
    proc = cli("run", data, "-o", out, "-c", config)
    assert proc.returncode == 3, proc.stderr
    (m,) = markers(out).values()
    assert m["rows_in"] == expected_rows
    assert [(u["row"], u["reason"]) for u in m["unreadable_rows"]] == [
        (1, "json"), (3, "json"), (5, "invalid_utf8")]
    assert (m["kept"], m["removed"], m["unreadable"]) == (3, 1, 3)
    check_accounting(out, expect_shards=1)


# -- 5. a metadata column that changes type ---------------------------------------------

def _drift_lines(n_int: int) -> str:
    lines = [{"id": i, "text": f"doc {i}"} for i in range(n_int)]
    lines += [{"id": "abc-1", "text": "sarin anthrax"}, {"id": 2.5, "text": "later"},
              {"id": {"nested": [1]}, "text": "nested id"}, {"id": None, "text": "null id"}]
    return "".join(json.dumps(x) + "\n" for x in lines)


def test_issue_8_jsonl_column_that_changes_type_becomes_text(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "JSONL_BLOCK", 256)  # the change comes blocks later
    monkeypatch.setattr(readers, "READ_SIZE", 64)
    path = tmp_path / "drift.jsonl"
    path.write_text(_drift_lines(40))
    reader, batches = read(path)
    table = pa.Table.from_batches(batches)
    assert table.num_rows == 44 and not reader.stats.unreadable
    assert reader.string_columns == {"id"} and table.schema.field("id").type == pa.string()
    assert table["id"].to_pylist() == [str(i) for i in range(40)] + [
        "abc-1", "2.5", '{"nested": [1]}', None]
    assert table["text"].to_pylist()[-4:] == ["sarin anthrax", "later", "nested id", "null id"]


def test_issue_8_jsonl_column_that_changes_type_through_the_job(tmp_path, monkeypatch):
    """The job reads the shard again with the column as text; the marker says so and
    every row is kept or removed, none lost to its metadata."""
    from engine.execution.job import JobOptions, process_shard
    from engine.io.shards import discover
    from engine.io.writers import Output

    monkeypatch.setattr(readers, "JSONL_BLOCK", 256)
    monkeypatch.setattr(readers, "READ_SIZE", 64)
    spec = engine.FilterSpec.from_toml(write_lists(tmp_path))
    path = tmp_path / "data" / "drift.jsonl"
    path.parent.mkdir()
    path.write_text(_drift_lines(40))
    (shard,) = discover(str(path))
    out = tmp_path / "out"
    m = process_shard(shard, engine.Filter(spec), Output(str(out)), spec.fingerprint(),
                      JobOptions())
    assert m["status"] == "done" and m["columns_as_text"] == ["id"]
    assert (m["rows_in"], m["kept"], m["removed"], m["unreadable"]) == (44, 43, 1, 0)
    kept = pq.read_table(out / m["outputs"]["kept"]["path"])
    assert kept.schema.field("id").type == pa.string() and kept["id"][0].as_py() == "0"


# -- 6. a duplicated text column -------------------------------------------------------

def test_issue_8_duplicated_text_column_has_its_own_coded_message(tmp_path):
    table = pa.Table.from_arrays([pa.array(["a", "b"]), pa.array(["c", "d"])],
                                 names=["text", "text"])
    pq.write_table(table, tmp_path / "dup.parquet")
    with pa.ipc.new_file(tmp_path / "dup.arrow", table.schema) as w:
        w.write_table(table)
    for name in ("dup.parquet", "dup.arrow"):
        with pytest.raises(ShardError) as info:
            read(tmp_path / name)
        assert str(info.value).startswith(
            f"[E045] shard '{tmp_path / name}': the schema has 2 fields named 'text'")
        assert info.value.reason == "schema"
    path = tmp_path / "dup.jsonl"
    path.write_bytes(b'{"text": "a"}\n{"text": "benign", "text": "sarin"}\n'
                     b'{"text": "c", "id": 1, "id": 2}\n')
    reader, batches = read(path)
    assert [t for b in batches for t in b["text"].to_pylist()] == ["a", "c"]
    (bad,) = reader.stats.unreadable
    assert (bad.row, bad.reason) == (1, "duplicate_text")
    assert f"[E045] shard '{path}': row 1 (a JSON object) has 2 fields named 'text'" in (
        bad.message)


def test_issue_8_duplicated_text_column_through_the_cli(tmp_path):
    config = write_lists(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.Table.from_arrays([pa.array(["a"]), pa.array(["b"])],
                                        names=["text", "text"]), data / "dup.parquet")
    out = tmp_path / "out"
    proc = cli("run", data, "-o", out, "-c", config)
    assert proc.returncode == 3, proc.stderr
    (m,) = markers(out).values()
    assert m["status"] == "unreadable" and m["error"]["reason"] == "schema"
    assert m["error"]["message"].startswith(f"[E045] shard '{data / 'dup.parquet'}'")


# -- 7. an object store that fails for a while ------------------------------------------

class FaultyProxy:
    """An HTTP proxy on 127.0.0.1 in front of the moto server that answers some requests
    itself: ``faults[(method, path)] = [kind, count]`` makes the next ``count`` such
    requests fail with ``kind``: an HTTP status ("503", "500", "403", "404") with an S3
    error body, or "reset" (the connection is closed without an answer)."""

    CODES = {"500": "InternalError", "503": "ServiceUnavailable", "403": "AccessDenied",
             "404": "NoSuchKey"}

    def __init__(self, upstream_port: int):
        self.upstream = upstream_port
        self.faults: dict[tuple[str, str], list] = {}
        self.seen: list[tuple[str, str]] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_request(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                path = urlsplit(self.path).path
                proxy.seen.append((self.command, path))
                fault = proxy.faults.get((self.command, path))
                if fault and fault[1] > 0:
                    fault[1] -= 1
                    return self.fail(fault[0])
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream, timeout=30)
                conn.request(self.command, self.path, body,
                             {k: v for k, v in self.headers.items() if k.lower() != "connection"})
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for key, value in resp.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length",
                                           "date", "server"):
                        self.send_header(key, value)
                self.send_header("Content-Length", resp.getheader("Content-Length", "0")
                                 if self.command == "HEAD" else str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            def fail(self, kind: str):
                if kind == "reset":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                data = b"" if self.command == "HEAD" else (
                    f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>"
                    f"{FaultyProxy.CODES[kind]}</Code><Message>injected</Message></Error>"
                ).encode()
                self.send_response(int(kind))
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = handle_request

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def requests(self, path: str) -> list[str]:
        return [method for method, p in self.seen if p == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def store():
    moto_server = pytest.importorskip("moto.server")
    s3fs = pytest.importorskip("s3fs")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    port = server._server.server_port
    fs = s3fs.S3FileSystem(key="testing", secret="testing",
                           client_kwargs={"endpoint_url": f"http://127.0.0.1:{port}"})
    proxy = FaultyProxy(port)
    # botocore's own retries off, so that these tests see what the engine does
    run_env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "1",
               "AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}"}
    yield fs, proxy, run_env
    proxy.close()
    server.stop()


def put_inputs(fs, bucket: str) -> None:
    fs.mkdir(bucket)
    with fs.open(f"{bucket}/in/a.parquet", "wb") as fh:
        pq.write_table(pa.table({"text": [f"doc {i}" for i in range(300)] + ["sarin anthrax"]}),
                       fh, row_group_size=50)
    fs.pipe(f"{bucket}/in/b.jsonl.gz", gzip.compress(b"".join(
        json.dumps({"text": f"line {i}"}).encode() + b"\n" for i in range(200))))


@pytest.mark.slow
def test_issue_8_transient_store_errors_are_retried(store, tmp_path):
    fs, proxy, run_env = store
    put_inputs(fs, "fe-transient")
    a, b = "/fe-transient/in/a.parquet", "/fe-transient/in/b.jsonl.gz"
    proxy.faults = {("HEAD", a): ["503", 2], ("GET", a): ["500", 2],
                    ("GET", b): ["reset", 7]}  # s3fs itself retries a reset 5 times
    proxy.seen = []
    config = write_lists(tmp_path)
    out = tmp_path / "out"
    proc = cli("run", "s3://fe-transient/in/*", "-o", out, "-c", config, "--workers", "1",
               "--max-retries", "0", **run_env)
    assert proc.returncode == 0, proc.stderr
    found = markers(out)
    assert {rel: m["status"] for rel, m in found.items()} == {
        "a.parquet": "done", "b.jsonl.gz": "done"}
    assert found["a.parquet"]["rows_in"] == 301 and found["b.jsonl.gz"]["rows_in"] == 200
    assert all(f[1] == 0 for f in proxy.faults.values())  # every fault was met, and survived
    check_accounting(out, expect_shards=2)


def test_issue_8_permanent_store_errors_are_not_retried(store, tmp_path):
    fs, proxy, run_env = store
    put_inputs(fs, "fe-permanent")
    a, b = "/fe-permanent/in/a.parquet", "/fe-permanent/in/b.jsonl.gz"
    proxy.faults = {("HEAD", a): ["403", 1], ("GET", b): ["403", 100]}
    proxy.seen = []
    config = write_lists(tmp_path)
    out = tmp_path / "out"
    proc = cli("run", "s3://fe-permanent/in/*", "-o", out, "-c", config, "--workers", "1",
               "--max-retries", "0", **run_env)
    assert proc.returncode == 3, proc.stderr
    found = markers(out)
    for rel in ("a.parquet", "b.jsonl.gz"):
        assert found[rel]["status"] == "unreadable", found[rel]
        assert found[rel]["error"]["reason"] == "permission"
        assert "[E046]" in found[rel]["error"]["message"]
    assert proxy.requests(a) == ["HEAD"]  # asked once, never again
    assert proxy.requests(b).count("GET") == 1


@pytest.mark.slow
def test_issue_8_a_store_that_stays_down_leaves_the_shard_undone(store, tmp_path):
    fs, proxy, run_env = store
    put_inputs(fs, "fe-down")
    a = "/fe-down/in/a.parquet"
    proxy.faults = {("GET", a): ["503", remote.READ_TRIES]}
    proxy.seen = []
    config = write_lists(tmp_path)
    out = tmp_path / "out"
    args = ("run", "s3://fe-down/in/a.parquet", "-o", out, "-c", config, "--workers", "1",
            "--max-retries", "0")
    proc = cli(*args, **run_env)
    assert proc.returncode == 1, proc.stderr  # incomplete, not "unreadable"
    assert "[E069]" in proc.stderr and "a.parquet" in proc.stderr
    assert not markers(out)  # no marker: nothing says the shard is unreadable
    assert proxy.requests(a).count("GET") == remote.READ_TRIES
    again = cli(*args, **run_env)  # the store is back
    assert again.returncode == 0, again.stderr
    assert markers(out)["a.parquet"]["status"] == "done"


def test_issue_8_transient_or_permanent(monkeypatch):
    class ClientError(Exception):
        def __init__(self, status):
            super().__init__(f"status {status}")
            self.response = {"ResponseMetadata": {"HTTPStatusCode": status}}

    def caused(outer, inner):
        outer.__cause__ = inner
        return outer

    import errno

    for status in (500, 502, 503, 504, 408, 429):
        assert remote.transient(caused(OSError(errno.EIO, "x"), ClientError(status))), status
    for status in (400, 403, 404, 416):
        assert not remote.transient(caused(OSError(errno.EIO, "x"), ClientError(status)))
    assert remote.transient(TimeoutError()) and remote.transient(ConnectionResetError())
    assert remote.transient(type("ReadTimeoutError", (Exception,), {})())
    assert remote.transient(OSError(errno.EBUSY, "slow down"))
    assert not remote.transient(FileNotFoundError("gone"))
    assert not remote.transient(PermissionError("no"))
    assert not remote.transient(ValueError("bad data"))
    slept = []
    monkeypatch.setattr(remote.time, "sleep", slept.append)
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionResetError("reset")
        return "ok"

    assert remote.retrying(flaky, "s3://b/k", "read") == "ok" and len(slept) == 2
    with pytest.raises(EngineError, match=r"^\[E069\] shard 's3://b/k': reading failed 4 "):
        remote.retrying(lambda: (_ for _ in ()).throw(TimeoutError("t")), "s3://b/k", "read")
    with pytest.raises(FileNotFoundError):
        remote.retrying(lambda: (_ for _ in ()).throw(FileNotFoundError("f")), "s3://b/k", "r")


# -- a JSON line longer than the limit ---------------------------------------------------

def test_issue_8_a_line_over_the_limit_is_skipped_and_the_rest_read(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "JSONL_BLOCK", 256)  # lines longer than a block
    monkeypatch.setattr(readers, "READ_SIZE", 64)
    path = tmp_path / "long.jsonl"
    path.write_bytes(b'{"text": "a"}\n{"text": "' + b"x" * 5000 + b'"}\n{"text": "b"}\n'
                     + b'{"text": "' + b"y" * 5000 + b'"}')
    reader, batches = read(path, max_line_bytes=1000)
    assert [t for b in batches for t in b["text"].to_pylist()] == ["a", "b"]
    assert [(u.row, u.reason) for u in reader.stats.unreadable] == [
        (1, "line_too_long"), (3, "line_too_long")]
    assert reader.stats.truncated is None
