"""The shipped defaults (blocklists, sample shard) and the benchmark data generator.

These guard what a user sees first: a blocklist without a stated source, a duplicate or a
two-letter pattern (which would fire all over English text), or a sample that does not load
would make the quick start wrong or untrustworthy.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from engine.bench import corpus

ROOT = Path(__file__).resolve().parent.parent
BLOCKLISTS = sorted((ROOT / "models" / "blocklists").glob("*.txt"))
SAMPLE = ROOT / "models" / "samples" / "sample.parquet"


def _patterns(path: Path) -> list[str]:
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def test_blocklists_exist_for_each_category():
    names = {p.stem for p in BLOCKLISTS}
    assert {"chemical_weapons", "biological_agents", "malware", "exploit_kits"} <= names


@pytest.mark.parametrize("path", BLOCKLISTS, ids=lambda p: p.name)
def test_blocklist_header_names_source_and_licence(path):
    header = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    text = "\n".join(header)
    assert re.search(r"^# Sources?:", text, re.M), f"{path.name}: no '# Source:' line"
    assert "URL" in text or "http" in text, f"{path.name}: header names no URL"
    assert re.search(r"Licen[cs]e", text), f"{path.name}: header has no licence note"


@pytest.mark.parametrize("path", BLOCKLISTS, ids=lambda p: p.name)
def test_blocklist_has_no_duplicates_or_short_patterns(path):
    patterns = _patterns(path)
    assert patterns, f"{path.name} is empty"
    folded = [p.casefold() for p in patterns]
    dups = sorted({p for p in folded if folded.count(p) > 1})
    assert not dups, f"{path.name}: duplicates {dups}"
    short = [p for p in patterns if len(p) < 3]
    assert not short, f"{path.name}: patterns shorter than 3 characters {short}"


def test_exploit_kit_list_has_no_bare_generic_words():
    patterns = {p.casefold() for p in _patterns(ROOT / "models/blocklists/exploit_kits.txt")}
    assert not patterns & {"angler", "rig", "magnitude", "nuclear", "neutrino", "fiesta"}


def test_sample_loads_with_string_text_and_enough_rows():
    table = pq.read_table(SAMPLE)
    assert table.num_rows >= 200
    assert pa.types.is_string(table.schema.field("text").type)
    assert pa.types.is_string(table.schema.field("id").type)
    assert table.column("id").null_count == 0 and table.column("text").null_count == 0
    assert len(set(table.column("id").to_pylist())) == table.num_rows
    assert SAMPLE.stat().st_size <= 2 * 1024 * 1024


def test_sample_contains_blocklist_terms():
    """The quick start must show hits: some sample documents name blocklisted malware."""
    terms = [p for path in BLOCKLISTS for p in _patterns(path)]
    pattern = re.compile(
        r"(?<!\w)(?:" + "|".join(map(re.escape, sorted(terms, key=len, reverse=True)))
        + r")(?!\w)",
        re.IGNORECASE,
    )
    texts = pq.read_table(SAMPLE, columns=["text"]).column("text").to_pylist()
    hits = sum(1 for t in texts if pattern.search(t))
    assert 0 < hits < len(texts) // 2


def test_corpus_is_deterministic_per_seed():
    a = corpus.make_corpus(200_000, seed=7)
    b = corpus.make_corpus(200_000, seed=7)
    c = corpus.make_corpus(200_000, seed=8)
    assert isinstance(a, pa.StringArray)
    assert a.equals(b)
    assert not a.equals(c)
    lengths = pc.binary_length(a).to_numpy()
    assert lengths.min() >= corpus.LEN_MIN and lengths.max() <= corpus.LEN_MAX
    assert 200_000 <= lengths.sum() < 200_000 + 64 * len(a)


def test_patterns_are_nested_unique_and_deterministic():
    big = corpus.make_patterns(1000)
    assert corpus.make_patterns(100) == big[:100]
    assert corpus.make_patterns(1000) == big
    assert len(set(big)) == len(big)
    assert all(p == p.lower() and p.isascii() and len(p) >= 3 for p in big)
    assert corpus.make_patterns(100, seed=1) != big[:100]


def test_write_corpus_parquet_row_groups(tmp_path):
    path = corpus.write_corpus_parquet(tmp_path / "c.parquet", 300_000, row_group_size=50)
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups > 1
    assert meta.row_group(0).num_rows == 50
    table = pq.read_table(path)
    assert table.column_names == ["id", "text"]
    assert table.column("text").combine_chunks().equals(corpus.make_corpus(300_000))


def test_corpus_needs_no_wordfreq():
    """``filter-engine bench`` runs from a plain install: the vocabulary ships as a table."""
    code = ("import sys; sys.modules['wordfreq'] = None\n"
            "from engine.bench import corpus\n"
            "print(len(corpus.make_corpus(10_000)), len(corpus.make_patterns(10_000)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[1] == "10000"


def test_shipped_vocabulary_is_wordfreqs():
    """The table gives the words and probabilities wordfreq itself gives (same corpus)."""
    wordfreq = pytest.importorskip("wordfreq")
    for lang, n in (("en", corpus.EN_VOCAB), ("zh", corpus.FOREIGN_VOCAB)):
        words, p = corpus._word_list(lang, n)
        assert words == wordfreq.top_n_list(lang, n)
        freq = wordfreq.get_frequency_dict(lang)
        expected = np.array([freq[w] for w in words])
        assert np.array_equal(p, expected / expected.sum())
    assert corpus._top_words("en", 120_000) == wordfreq.top_n_list("en", 120_000)
