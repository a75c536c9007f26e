"""``filter-engine eval -c``: a whole filter measured on labelled Parquet, end to end.

The ten-row case below is counted by hand (see ``TEN``); the figures the command writes
must be exactly those. The per-row decisions must be the ones ``Filter.apply`` (and so
``filter-engine run``) makes.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.classify.classifier import Classifier
from engine.filter.apply import Filter
from engine.filter.spec import FilterSpec
from engine.quality.trace import trace
from engine.train.metrics import roc_auc
from tests.runkit import REPO, cli, texts, write_lists

#: (text, label, category, source, list_source, split); the outcome under ``CONFIG``:
#: two_terms = bl.distinct >= 2 (checked first), cyber = bl.cyber >= 1.
TEN = [
    ("Sarin is a nerve agent.", "cbrn", "agent", "enc", True, "test"),        # two_terms TP
    ("the nerve agent sarin and tabun", "cbrn", "agent", "book", False, "test"),  # two_terms
    ("sarin alone here", "cbrn", "agent", "book", False, "test"),          # kept: FN [sarin]
    ("ransomware encrypts files", "cyber", "malware", "attack", True, "test"),  # cyber TP
    ("an exploit and ransomware", "cyber", "malware", "book", False, "test"),  # two_terms TP
    ("a phishing email", "cyber", "technique", "book", False, "test"),     # kept: FN, no term
    ("tabun cave in the philippines", "benign", "place", "dict", False, "test"),  # kept: TN
    ("the exploit of the hero", "benign", "word", "dict", False, "test"),  # cyber: FP
    ("a tabun and sarin surname list", "benign", "name", "dict", False, "test"),  # two_terms FP
    ("cats and dogs", "benign", "word", "dict", False, "tune"),            # kept: TN
]

CONFIG = """
[[blocklist]]
name = "bl"
files = ["lists/*.txt"]

[drop_if]
two_terms = "bl.distinct >= 2"
cyber = "bl.cyber >= 1"
"""


def write_set(path, rows=TEN):
    cols = list(zip(*rows, strict=True))
    table = pa.table({"id": [f"r{i}" for i in range(len(rows))], "text": list(cols[0]),
                      "label": list(cols[1]), "category": list(cols[2]),
                      "source": list(cols[3]), "list_source": list(cols[4]),
                      "split": list(cols[5])})
    pq.write_table(table, path)
    return path


@pytest.fixture
def ten(tmp_path):
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "cbrn.txt").write_text("sarin\nnerve agent\ntabun\n")
    (tmp_path / "lists" / "cyber.txt").write_text("ransomware\nexploit\n")
    config = tmp_path / "filter.toml"
    config.write_text(CONFIG)
    return config, write_set(tmp_path / "ref.parquet")


def test_eval_counts_the_ten_rows_as_by_hand(ten, tmp_path):
    config, data = ten
    out = tmp_path / "out"
    done = cli("eval", "-c", config, data, "-o", out)
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "result.json").read_text())
    assert (result["rows"], result["removed"], result["unreadable"]) == (10, 6, 0)
    assert result["removal_rate"] == 0.6 and result["benign_fpr"] == 0.5
    d = result["detection"]["all"]
    assert (d["tp"], d["fp"], d["fn"], d["tn"]) == (4, 2, 2, 2)
    assert d["precision"] == d["recall"] == d["f1"] == round(4 / 6, 6)
    assert d["per_label"]["cbrn"] == {"rows": 3, "removed": 2, "recall": round(2 / 3, 6),
                                      "precision": 0.5}
    assert d["per_label"]["cyber"]["recall"] == round(2 / 3, 6)
    listed, held_out = (result["detection"]["list_source"][k] for k in ("true", "false"))
    assert (listed["tp"], listed["fn"], listed["fp"], listed["recall"]) == (2, 0, 2, 1.0)
    assert (held_out["tp"], held_out["fn"], held_out["recall"]) == (2, 2, 0.5)
    assert held_out["per_label"]["cbrn"] == {"rows": 2, "removed": 1, "recall": 0.5,
                                             "precision": round(1 / 3, 6)}
    assert result["labels"]["benign"] == {"rows": 4, "removed": 2, "removal_rate": 0.5}
    assert result["categories"]["agent"]["hazard_removed"] == 2
    assert result["sources"]["dict"] == {
        "rows": 4, "removed": 2, "removal_rate": 0.5, "benign_rows": 4,
        "benign_removed": 2, "hazard_rows": 0, "hazard_removed": 0}
    reasons = {r["reason"]: r for r in result["reasons"]}
    assert reasons["two_terms"]["removed"] == 4 and reasons["cyber"]["removed"] == 2
    assert reasons["two_terms"]["removed_by_label"] == {"benign": 1, "cbrn": 2, "cyber": 1}
    assert reasons["cyber"]["alone"] == 3  # row 4 is removed by two_terms, but fires too
    assert reasons["cyber"]["alone_by_label"] == {"benign": 1, "cyber": 2}
    assert reasons["too_long"] == {
        "reason": "too_long", "rule": f"text.bytes > {16 << 20}", "stages": [], "removed": 0,
        "removed_by_label": {}, "alone": 0, "alone_by_label": {}}
    (stage,) = result["stages"]
    assert (stage["name"], stage["rows_hit"], stage["removed_by_its_rules"]) == ("bl", 8, 6)
    fp_terms = {t["term"]: t for t in result["terms"]["bl"]["false_positives"]}
    assert {k: t["rows"] for k, t in fp_terms.items()} == {"exploit": 1, "sarin": 1,
                                                          "tabun": 1}
    assert fp_terms["tabun"]["categories"] == ["cbrn"] and fp_terms["tabun"]["weight"] == 1
    assert [t["term"] for t in result["terms"]["bl"]["false_negatives"]] == ["sarin"]
    samples = result["samples"]
    assert [s["id"] for s in samples["false_positives"]] == ["r7", "r8"]
    assert samples["false_positives"][1]["reason"] == "two_terms"
    assert {t["term"] for t in samples["false_positives"][1]["terms"]["bl"]} == {"tabun",
                                                                               "sarin"}
    assert [s["id"] for s in samples["false_negatives"]["cbrn"]] == ["r2"]
    assert samples["false_positives"][1]["context"] == "a tabun and sarin surname list"
    assert samples["false_negatives"]["cyber"][0]["context"] is None  # no term matched
    assert [s["id"] for s in samples["false_negatives"]["cyber"]] == ["r5"]
    summary = (out / "summary.md").read_text()
    assert summary in done.stdout
    assert "| two_terms | `bl.distinct >= 2` | 4 | 1 | 4 | 1 |" in summary
    assert "| bl | blocklist | 8 | 3 | 6 |  |  |" in summary  # rows 6, 7, 8 are benign
    assert (out / "removal_by_reason.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob("pr_*.png"))  # no classifier, no PR curve


def test_eval_split_and_column_options(ten, tmp_path):
    config, _ = ten
    renamed = pa.table({"body": [r[0] for r in TEN], "y": [r[1] for r in TEN],
                        "part": [r[5] for r in TEN]})
    pq.write_table(renamed, tmp_path / "renamed.parquet")
    done = cli("eval", "-c", config, tmp_path / "renamed.parquet", "--text-column", "body",
               "--label-column", "y", "--split-column", "part", "--split", "test",
               "--json", tmp_path / "r.json")
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["rows"] == 9 and result["labels"]["benign"]["rows"] == 3  # row 9 is tune
    assert result["categories"] is None and result["detection"]["list_source"] is None


def test_eval_benign_labels_and_excluded_labels(ten, tmp_path):
    config, data = ten
    done = cli("eval", "-c", config, data, "--exclude-label", "cyber", "--json",
               tmp_path / "x.json")
    assert done.returncode == 0, done.stderr
    d = json.loads((tmp_path / "x.json").read_text())["detection"]["all"]
    assert (d["rows"], d["tp"], d["fp"], d["fn"], d["tn"]) == (7, 2, 2, 1, 2)
    done = cli("eval", "-c", config, data, "--benign-label", "benign", "--benign-label",
               "cyber", "--json", tmp_path / "b.json")
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "b.json").read_text())
    d = result["detection"]["all"]
    assert result["benign_labels"] == ["benign", "cyber"]
    assert (d["tp"], d["fp"], d["fn"], d["tn"]) == (2, 4, 1, 3)
    assert list(d["per_label"]) == ["cbrn"] and result["benign_fpr"] == round(4 / 7, 6)


@pytest.mark.parametrize("args, word", [
    (["--split", "nope"], "--split"),
    (["--label-column", "missing"], "--label-column"),
    (["--png", "x.png"], "--png"),
    (["--samples", "-1"], "--samples"),
])
def test_eval_refuses_bad_options_with_a_usage_error(ten, args, word):
    config, data = ten
    done = cli("eval", "-c", config, data, *args)
    assert done.returncode == 2 and "E001" in done.stderr and word in done.stderr


def test_eval_of_one_model_refuses_filter_options(tmp_path):
    done = cli("eval", REPO / "models" / "spam-hashed", tmp_path / "x.parquet", "--split", "t")
    assert done.returncode == 2 and "--split" in done.stderr


CASCADE = """
[[classifier]]
name = "spam"
model = "{model}"
run_if = "bl.count >= 1"
"""


@pytest.mark.parametrize("cascade", [False, True])
def test_trace_decides_exactly_as_filter_apply(tmp_path, cascade):
    """The evaluation's reasons are the filter's own, row for row (seeded rows, the run
    tests' config with three reasons, a null row and an invalid-UTF-8 row; and with a
    classifier that runs only where the blocklist hit, and a reason that reads it)."""
    config = write_lists(tmp_path)
    if cascade:
        config.write_text(config.read_text().replace("[drop_if]", CASCADE.format(
            model=spam_model()) + "\n[drop_if]") + 'spammy = "spam.score > 0"\n')
    spec = FilterSpec.from_toml(config)
    rows = texts(3000, seed=7)
    data = pa.array(rows, pa.string())
    raw = pa.array([b"ok sarin anthrax", b"bad \xff sarin sarin"], pa.binary())
    data = pa.concat_arrays([data, raw.cast(pa.string(), safe=False)])
    flt = Filter(spec.with_options(mode="annotate"))
    applied = flt.apply(pa.table({"text": data}))
    found = trace(flt, data, max_doc_bytes=40)
    capped = flt.apply(pa.table({"text": data}), max_doc_bytes=40)
    assert [r for r, _ in applied.unreadable] == np.flatnonzero(found.unreadable).tolist()
    readable = np.flatnonzero(~found.unreadable)
    reasons = [found.reasons[c] if c >= 0 else None for c in found.reason[readable]]
    assert reasons == capped.kept["fe_reason"].to_pylist()
    assert "too_long" in reasons and "cbrn" in reasons and None in reasons
    if cascade:
        assert "spammy" in reasons
        scores = found.scores["spam"][readable]
        assert 0 < np.isnan(scores).sum() < len(scores)  # the cascade skipped some rows
        assert np.array_equal(np.isnan(scores), np.isnan(
            capped.kept["fe_spam_score"].to_numpy(zero_copy_only=False)))
    terms = found.terms["bl"].take(pa.array(readable)).to_pylist()
    assert [sorted(t) for t in terms] == [sorted(t) for t in capped.kept["fe_bl_terms"]
                                          .to_pylist()]


def spam_model():
    for where in ("models", "examples"):
        if (REPO / where / "spam-hashed" / "model.json").exists():
            return REPO / where / "spam-hashed"
    pytest.skip("no spam-hashed model shipped")


def test_eval_of_a_filter_with_a_classifier_draws_its_pr_curve(tmp_path):
    rng = random.Random(3)
    spam = ["WINNER!! call 09061701461 to claim your free prize now", "Free entry txt WIN "
            "to 87121 for a cash prize", "URGENT! your mobile won a 2000 bonus, call now"]
    ham = ["are we still meeting for lunch tomorrow", "ok see you at home later",
           "can you pick up the kids at five"]
    rows = [(rng.choice(spam), "spam") for _ in range(30)] + [
        (rng.choice(ham), "benign") for _ in range(50)] + [("sarin and tabun", "cbrn")]
    pq.write_table(pa.table({"text": [r[0] for r in rows], "label": [r[1] for r in rows]}),
                   tmp_path / "sms.parquet")
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "cbrn.txt").write_text("sarin\ntabun\n")
    config = tmp_path / "f.toml"
    config.write_text(f"""
[[blocklist]]
name = "bl"
files = ["lists/*.txt"]

[[classifier]]
name = "spam"
model = "{spam_model()}"

[drop_if]
terms = "bl.distinct >= 2"
spam = "spam.score > 0.9"
""")
    out = tmp_path / "out"
    done = cli("eval", "-c", config, tmp_path / "sms.parquet", "-o", out)
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "result.json").read_text())
    stage = next(s for s in result["stages"] if s["name"] == "spam")
    assert stage["kind"] == "classifier" and stage["rows_scored"] == len(rows)
    scores = Classifier.load(spam_model()).score([r[0] for r in rows]).astype(np.float64)
    positive = np.array([r[1] != "benign" for r in rows])
    assert stage["pr"]["roc_auc"] == round(roc_auc(positive, scores), 5)
    removed_spam = int(np.sum((scores > 0.9) & ~(np.arange(len(rows)) == len(rows) - 1)))
    assert {r["reason"]: r["removed"] for r in result["reasons"]}["spam"] == removed_spam
    assert result["labels"]["cbrn"]["removed"] == 1
    assert (out / "pr_spam.png").read_bytes()[:4] == b"\x89PNG"
    sample = result["samples"]["false_negatives"]["spam"]
    for s in sample:
        assert s["reason"] is None and s["scores"]["spam"] <= 0.9


def test_samples_of_one_list_do_not_depend_on_another():
    """The false negatives drawn for a label are the same whatever the false positives
    were (each list has its own seeded generator), and the seed decides them."""
    from engine.quality.samples import pick

    misses = np.arange(100, 400)
    first = pick(misses, 5, 0, "cbrn")
    pick(np.arange(50), 5, 0, "false_positives")  # another list, drawn in between
    assert np.array_equal(pick(misses, 5, 0, "cbrn"), first)
    assert np.all(np.diff(first) > 0) and set(first) <= set(misses)
    assert [pick(misses, 5, s, "cbrn").tolist() for s in range(3)] != [first.tolist()] * 3
    assert np.array_equal(pick(misses[:4], 5, 0, "cbrn"), misses[:4])  # fewer: all of them
