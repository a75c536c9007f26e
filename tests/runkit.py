"""Helpers for the run tests: seeded shards, a small blocklist config, the CLI in a
subprocess, and the accounting check every run test ends with."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
WORDS = ["the", "a", "of", "and", "to", "data", "model", "river", "house", "music", "anthrax",
         "sarin", "nerve", "agent", "exploit", "ransomware", "payload", "cat", "dog", "garden"]

CONFIG = """
[[blocklist]]
name = "bl"
files = ["lists/*.txt"]

[drop_if]
null_text = "text.null"
cbrn = "bl.cbrn >= 2"
cyber = "bl.cyber >= 1 and bl.count >= 3"
"""


def write_lists(root: Path) -> Path:
    """Blocklists (two categories) and a config using them; returns the config path."""
    (root / "lists").mkdir(parents=True, exist_ok=True)
    (root / "lists" / "cbrn.txt").write_text("anthrax\nsarin\nnerve agent\n")
    (root / "lists" / "cyber.txt").write_text("exploit\nransomware\npayload\n")
    config = root / "filter.toml"
    config.write_text(CONFIG)
    return config


def write_cascade(root: Path) -> Path:
    """``write_lists``'s config plus the shipped spam model, run only on rows with a
    blocklist match (a classifier cascade); returns the config path."""
    config = write_lists(root)
    config.write_text(config.read_text() + f"""spam = "spam.score > 0.5"
[[classifier]]
name = "spam"
model = "{REPO / 'models' / 'spam-hashed'}"
run_if = "bl.count >= 1"
""")
    return config


def texts(n: int, seed: int) -> list[str | None]:
    rng = random.Random(seed)
    out = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 40))) for _ in range(n)]
    out[n // 2] = None
    return out


def write_shards(root: Path, count: int = 4, rows: int = 2000, row_group: int = 500,
                 sub: bool = True) -> list[Path]:
    """``count`` Parquet shards under root/data (some in a subdirectory)."""
    paths = []
    for i in range(count):
        path = root / "data" / ("sub" if sub and i % 2 else "") / f"s{i}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.table({"id": [f"{i}-{j}" for j in range(rows)], "text": texts(rows, i)})
        pq.write_table(table, path, row_group_size=row_group)
        paths.append(path)
    return paths


def env(**extra) -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    e.update({k: str(v) for k, v in extra.items()})
    return e


def cli(*args, timeout: float = 180, **env_extra) -> subprocess.CompletedProcess:
    """``filter-engine ARGS`` in a subprocess (real processes, real exit codes)."""
    return subprocess.run([sys.executable, "-m", "engine", *map(str, args)], cwd=REPO,
                          env=env(**env_extra), capture_output=True, text=True,
                          timeout=timeout)


def popen(*args, **env_extra) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "engine", *map(str, args)], cwd=REPO,
                            env=env(**env_extra), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def markers(out: Path) -> dict[str, dict]:
    return {str(p.relative_to(out / "_done"))[:-5]: json.loads(p.read_text())
            for p in sorted((out / "_done").rglob("*.json"))}


def check_accounting(out: Path, expect_shards: int | None = None) -> dict:
    """Every shard: rows_in == kept + removed + unreadable, re-counted from the outputs."""
    found = markers(out)
    if expect_shards is not None:
        assert len(found) == expect_shards, sorted(found)
    for rel, m in found.items():
        if m["status"] == "unreadable":
            assert m["kept"] == m["removed"] == 0 and not m["outputs"], rel
            continue
        assert m["rows_in"] == m["kept"] + m["removed"] + m["unreadable"], (rel, m)
        assert m["accounting_ok"] is True
        kept = m["outputs"].get("kept")
        if kept:
            assert pq.ParquetFile(out / kept["path"]).metadata.num_rows == m["kept"] == kept[
                "rows"]
        removed = m["outputs"].get("removed")
        assert (pq.ParquetFile(out / removed["path"]).metadata.num_rows if removed else 0) \
            == m["removed"]
    report = json.loads((out / "report.json").read_text())
    assert report["accounting"]["ok"] is True
    return report


def output_digests(out: Path) -> dict[str, str]:
    """sha256 of every data file and marker (not the report, which holds timings, nor the
    resume's cache of verified outputs, which holds inode numbers and times)."""
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*"))
            if p.is_file() and p.name not in ("report.json", "report.html", "_manifest.json",
                                              "_lock", "_verified.json")}


def read_as_the_job_does(path, **kw):
    """Read a shard as the job does: again, with the column as text, when one changes type.
    Returns the reader and its batches."""
    from engine.io.readers import SchemaDrift, ShardReader

    reader = ShardReader(str(path), "text", batch_rows=kw.pop("batch_rows", 16), **kw)
    while True:
        try:
            return reader, list(reader)
        except SchemaDrift as drift:
            reader = reader.with_string_columns(drift.columns)
