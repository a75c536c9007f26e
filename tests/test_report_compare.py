"""``filter-engine report --compare A B``: rows removed by one run and not the other, checked
against a pure-Python oracle of both configs on the same input."""

import json
import re
from collections import Counter

import pyarrow.parquet as pq

from tests.runkit import cli, write_lists, write_shards
from tests.test_report_html import CHROMIUM, chromium_console, parse

#: B: one list version later (cbrn gains "agent") and other thresholds.
CONFIG_B = """
[[blocklist]]
name = "bl"
files = ["lists_b/*.txt"]

[drop_if]
null_text = "text.null"
cbrn = "bl.cbrn >= 1 and bl.cyber == 0"
cyber = "bl.cyber >= 4"
"""
LISTS_A = {"cbrn": ["anthrax", "sarin", "nerve agent"], "cyber": ["exploit", "ransomware",
                                                                    "payload"]}
LISTS_B = {"cbrn": ["anthrax", "sarin", "nerve agent", "agent"], "cyber": LISTS_A["cyber"]}


def count(text: str, terms: list[str]) -> int:
    """Whole-word, case-insensitive occurrences, overlaps included (as the matcher counts)."""
    return sum(len(re.findall(rf"(?=\b{re.escape(t)}\b)", text, re.I)) for t in terms)


def reason_a(text):
    if text is None:
        return "null_text"
    cbrn, cyber = count(text, LISTS_A["cbrn"]), count(text, LISTS_A["cyber"])
    if cbrn >= 2:
        return "cbrn"
    return "cyber" if cyber >= 1 and cbrn + cyber >= 3 else None


def reason_b(text):
    if text is None:
        return "null_text"
    cbrn, cyber = count(text, LISTS_B["cbrn"]), count(text, LISTS_B["cyber"])
    if cbrn >= 1 and cyber == 0:
        return "cbrn"
    return "cyber" if cyber >= 4 else None


def test_compare_finds_exactly_the_rows_two_configs_remove_differently(tmp_path):
    config_a = write_lists(tmp_path)
    (tmp_path / "lists_b").mkdir()
    for name, terms in LISTS_B.items():
        (tmp_path / "lists_b" / f"{name}.txt").write_text("\n".join(terms) + "\n")
    config_b = tmp_path / "b.toml"
    config_b.write_text(CONFIG_B)
    inputs = write_shards(tmp_path, count=3, rows=700, row_group=200)
    glob = tmp_path / "data" / "**" / "*.parquet"
    for name, config in (("a", config_a), ("b", config_b)):
        proc = cli("run", glob, "-o", tmp_path / name, "-c", config, "--workers", "2")
        assert proc.returncode == 0, proc.stderr

    only_a, only_b, changed = set(), set(), Counter()
    for path in inputs:
        shard = str(path.relative_to(tmp_path / "data"))
        for row, text in enumerate(pq.read_table(path)["text"].to_pylist()):
            a, b = reason_a(text), reason_b(text)
            if a and not b:
                only_a.add((shard, row, a))
            elif b and not a:
                only_b.add((shard, row, b))
            elif a and b and a != b:
                changed[f"{a} -> {b}"] += 1
    assert only_a and only_b  # the configs really differ both ways on this input

    proc = cli("report", "--compare", tmp_path / "a", tmp_path / "b", "--json",
               "--html", tmp_path / "compare.html")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["same_inputs"] is True and result["shards_compared"] == 3
    assert result["rows"]["complete"] is True
    assert {tuple(r) for r in result["rows"]["only_a"]} == only_a
    assert {tuple(r) for r in result["rows"]["only_b"]} == only_b
    assert result["only_a_by_reason"] == Counter(r for _, _, r in only_a)
    assert result["only_b_by_reason"] == Counter(r for _, _, r in only_b)
    assert result["reason_changed"] == dict(changed)
    for side, expected in (("a", only_a), ("b", only_b)):
        for reason, picked in result["samples"][side].items():
            assert 0 < len(picked) <= 3
            assert all((s["shard"], s["row"], reason) in expected for s in picked)

    values = {tuple(k): v for k, v in parse(tmp_path / "compare.html").values}
    assert values[("removed_only_by_a",)] == len(only_a)
    assert values[("removed_only_by_b",)] == len(only_b)
    assert values[("only_a_by_reason", "cbrn")] == result["only_a_by_reason"]["cbrn"]
    if CHROMIUM:
        assert chromium_console(tmp_path / "compare.html", tmp_path / "compare.png") == []

    text = cli("report", "--compare", tmp_path / "a", tmp_path / "b")
    assert text.returncode == 0, text.stderr
    assert f"removed by A only: {len(only_a):,}" in text.stdout
    assert f"removed by B only: {len(only_b):,}" in text.stdout


def test_compare_needs_two_run_outputs(tmp_path):
    proc = cli("report", "--compare", tmp_path)
    assert proc.returncode == 2 and "[E001]" in proc.stderr
    proc = cli("report", "--compare", tmp_path, tmp_path)
    assert proc.returncode == 2 and "no _manifest.json" in proc.stderr


def test_compare_refuses_outputs_without_row_numbers(tmp_path):
    config = write_lists(tmp_path)
    write_shards(tmp_path, count=1, rows=200)
    glob = tmp_path / "data" / "**" / "*.parquet"
    for name in ("a", "b"):
        assert cli("run", glob, "-o", tmp_path / name, "-c", config).returncode == 0
    old = tmp_path / "a" / "removed" / "s0.parquet"
    pq.write_table(pq.read_table(old).drop_columns(["fe_row"]), old)  # as before fe_row
    proc = cli("report", "--compare", tmp_path / "a", tmp_path / "b")
    assert proc.returncode == 2 and "[E001]" in proc.stderr and "no fe_row" in proc.stderr
