"""Input discovery: globs, duplicates, symlink loops, dangling links, output collisions."""

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.errors import UsageError
from engine.io.shards import discover
from engine.io.writers import Output


def touch(path, rows=3):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"text": ["x"] * rows}), path)
    return path


def test_shards_recursive_glob_gives_sorted_relative_names(tmp_path):
    for rel in ("b.parquet", "a/c.parquet", "a/d/e.parquet", "a/skip.txt"):
        touch(tmp_path / rel)
    shards = discover(str(tmp_path / "**" / "*.parquet"))
    assert [s.rel for s in shards] == ["a/c.parquet", "a/d/e.parquet", "b.parquet"]
    assert [s.stem for s in shards] == ["a/c", "a/d/e", "b"]
    assert [s.rel for s in discover(str(tmp_path / "*.parquet"))] == ["b.parquet"]
    assert [s.rel for s in discover(f"file://{tmp_path}/a/*.parquet")] == ["c.parquet"]


def test_shards_duplicates_through_globs_symlinks_hardlinks_are_processed_once(tmp_path,
                                                                               capsys):
    real = touch(tmp_path / "d" / "x.parquet")
    os.symlink(real, tmp_path / "d" / "sym.parquet")
    os.link(real, tmp_path / "d" / "hard.parquet")
    shards = discover([str(tmp_path / "d" / "*.parquet"), str(real),
                       str(tmp_path / "d" / ".." / "d" / "x.parquet")])
    assert len(shards) == 1
    assert "duplicate input(s) processed once" in capsys.readouterr().err


def test_shards_symlink_loop_terminates_and_dangling_link_is_kept(tmp_path):
    touch(tmp_path / "d" / "x.parquet")
    os.symlink(tmp_path / "d", tmp_path / "d" / "loop")
    os.symlink(tmp_path / "gone.parquet", tmp_path / "d" / "dangling.parquet")
    shards = discover(str(tmp_path / "d" / "**" / "*.parquet"))
    assert [s.rel for s in shards] == ["dangling.parquet", "x.parquet"]
    assert shards[0].size == -1  # the run reports it unreadable (not_found)


def test_shards_nothing_matched_and_collisions_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="E002"):
        discover(str(tmp_path / "*.parquet"))
    touch(tmp_path / "x.parquet")
    (tmp_path / "x.jsonl.gz").write_bytes(b"")
    with pytest.raises(UsageError, match=r"\[E003\].*x.jsonl.gz"):
        discover(str(tmp_path / "x*"))


def test_outputs_cannot_escape_the_output_directory(tmp_path):
    out = Output(str(tmp_path / "out"))
    for bad in ("../x.parquet", "a/../../x", "/etc/passwd"):
        with pytest.raises(ValueError, match="escapes"):
            out.path(bad)
    assert out.path("a/./b.parquet") == str(tmp_path / "out" / "a" / "b.parquet")


def test_shards_fifo_is_skipped_with_a_note_not_opened(tmp_path, capsys):
    touch(tmp_path / "x.parquet")
    os.mkfifo(tmp_path / "pipe.jsonl")
    (tmp_path / "dir.parquet").mkdir()
    assert [s.rel for s in discover(str(tmp_path / "*"))] == ["x.parquet"]
    assert "pipe.jsonl" in capsys.readouterr().err
