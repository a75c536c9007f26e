"""``filter-engine screen``: per-term hits on benign and hazard text, counted by hand.

The ten labelled rows of ``tests/test_quality_eval.py``: 4 benign, 6 hazard (3 cbrn,
3 cyber). Documents containing each term (rows): sarin 0, 1, 2 | 8; tabun 1 | 6, 8;
nerve agent 0, 1 | -; exploit 4 | 7; ransomware 3, 4 | -  (hazard | benign).
"""

from __future__ import annotations

import csv

import pytest

from tests.runkit import cli
from tests.test_quality_eval import TEN, write_set


@pytest.fixture
def lists(tmp_path):
    folder = tmp_path / "lists"
    folder.mkdir()
    (folder / "cbrn.txt").write_text("sarin\nnerve agent\ntabun\n")
    (folder / "cyber.tsv").write_text("pattern\tweight\nransomware\t1\nexploit\t0.4\n")
    return [folder / "cbrn.txt", folder / "cyber.tsv"], write_set(tmp_path / "ref.parquet")


def read(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def test_screen_counts_documents_per_term_and_flags_ambiguous_ones(lists, tmp_path):
    (cbrn, cyber), data = lists
    done = cli("screen", "--lists", cbrn, cyber, data, "-o", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    rows = read(tmp_path / "out" / "cbrn.screen.tsv")
    assert [r["term"] for r in rows] == ["tabun", "sarin", "nerve agent"]  # benign desc
    tabun, sarin, nerve = rows
    assert (tabun["benign_docs"], tabun["hazard_docs"]) == ("2", "1")
    assert tabun["benign_per_m"] == "500000.00" and tabun["hazard_per_m"] == "166666.67"
    assert tabun["ratio"] == "0.33" and tabun["ambiguous"] == "true"
    assert (sarin["benign_docs"], sarin["hazard_docs"], sarin["ratio"]) == ("1", "3", "2.00")
    assert (sarin["docs_cbrn"], sarin["docs_cyber"]) == ("3", "0")
    assert nerve["ratio"] == "inf" and nerve["ambiguous"] == "false" and nerve["why"] == ""
    exploit, ransomware = read(tmp_path / "out" / "cyber.screen.tsv")
    assert (exploit["term"], exploit["weight"], exploit["categories"]) == (
        "exploit", "0.4", "cyber")
    assert (ransomware["hazard_docs"], ransomware["docs_cyber"]) == ("2", "2")
    assert "tabun" in done.stdout.split("most benign documents")[1]


def test_a_screen_is_never_read_as_a_blocklist(lists, tmp_path):
    """--beside writes into screen/, out of a blocklists/*.tsv glob; and a matcher handed a
    screen refuses it (no 'pattern' column) rather than reading its columns as terms."""
    from engine.errors import PatternError
    from engine.match.matcher import Matcher

    (cbrn, cyber), data = lists
    assert cli("screen", "--lists", cbrn, cyber, data, "--beside").returncode == 0
    assert sorted(p.name for p in cbrn.parent.glob("*.tsv")) == ["cyber.tsv"]
    with pytest.raises(PatternError, match="E014"):
        Matcher.from_files([cbrn.parent / "screen" / "cyber.screen.tsv"])


def test_screen_ambiguity_limits_are_options(lists, tmp_path):
    (cbrn, _), data = lists
    done = cli("screen", "--lists", cbrn, data, "--beside", "--max-benign-per-m", "300000",
               "--min-ratio", "1")
    assert done.returncode == 0, done.stderr
    rows = {r["term"]: r for r in read(cbrn.parent / "screen" / "cbrn.screen.tsv")}
    assert rows["tabun"]["why"] == "benign 500000.0/M > 300000"
    assert rows["sarin"]["ambiguous"] == "false"  # 250000/M and ratio 2 are within both
    done = cli("screen", "--lists", cbrn, data, "--beside", "--max-benign-per-m", "300000",
               "--min-ratio", "3")
    rows = {r["term"]: r for r in read(cbrn.parent / "screen" / "cbrn.screen.tsv")}
    assert rows["sarin"]["why"] == "ratio 2.00 < 3"


def test_screen_passes_the_matcher_options_and_the_split(lists, tmp_path):
    (cbrn, _), data = lists
    done = cli("screen", "--lists", cbrn, data, "-o", tmp_path / "cs", "--ignore-case",
               "false", "--normalize", "nfkc")
    assert done.returncode == 0, done.stderr
    rows = {r["term"]: r for r in read(tmp_path / "cs" / "cbrn.screen.tsv")}
    assert rows["sarin"]["hazard_docs"] == "2"  # "Sarin is ..." no longer matches
    assert "ignore_case=False" in done.stdout and "normalize=nfkc" in done.stdout
    done = cli("screen", "--lists", cbrn, data, "-o", tmp_path / "tune", "--split", "tune")
    assert done.returncode == 0, done.stderr
    assert "1 benign and 0 hazard documents" in done.stdout
    assert "no term hits a benign document" in done.stdout
    done = cli("screen", "--lists", cbrn, data, "-o", tmp_path / "x", "--exclude-label",
               "cyber", "--benign-label", "benign", "--benign-label", "cbrn")
    assert done.returncode == 0, done.stderr
    assert "7 benign and 0 hazard documents" in done.stdout


def test_screen_normalizes_robustly_where_the_matcher_can(lists, tmp_path):
    from engine.errors import UsageError
    from engine.match.matcher import Matcher

    try:
        Matcher(["x"], normalize="robust")
        expected = "robust"
    except UsageError:
        expected = "nfkc"
    (cbrn, _), data = lists
    done = cli("screen", "--lists", cbrn, data)
    assert done.returncode == 0, done.stderr
    assert f"normalize={expected}" in done.stdout
    assert ("no normalize='robust'" in done.stderr) == (expected == "nfkc")


def test_screen_refuses_a_bad_normalize_and_missing_data(lists):
    (cbrn, _), data = lists
    done = cli("screen", "--lists", cbrn, data, "--normalize", "bogus")
    assert done.returncode == 2 and "E007" in done.stderr
    done = cli("screen", "--lists", cbrn)
    assert done.returncode == 2 and "E001" in done.stderr


def test_ten_rows_are_the_ones_counted_above():
    assert sum(r[1] == "benign" for r in TEN) == 4 and len(TEN) == 10
