"""The audit trail: every removed row says which rule, categories, spans and list version
removed it, and the same content hashes are in the manifest and the report."""

import hashlib
import json

import pyarrow as pa
import pyarrow.parquet as pq

import engine
from engine.filter.apply import Filter
from engine.filter.audit import MAX_SPANS, MAX_TERMS
from engine.filter.spec import FilterSpec
from tests.runkit import CONFIG, check_accounting, cli, write_lists, write_shards

RULES = {"null_text": "text.null", "cbrn": "bl.cbrn >= 2",
         "cyber": "bl.cyber >= 1 and bl.count >= 3"}


def lists_sha256(root) -> str:
    """The documented recipe, computed here on its own: sha256 over 'name NUL sha256 LF'
    of every list file, in name order."""
    lines = []
    for path in sorted((root / "lists").iterdir()):
        lines.append(f"{path.name}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def test_every_removed_row_carries_rule_categories_spans_and_list_hash(tmp_path):
    config = write_lists(tmp_path)
    inputs = write_shards(tmp_path, count=2, rows=1500, row_group=300)
    out = tmp_path / "out"
    proc = cli("run", tmp_path / "data" / "**" / "*.parquet", "-o", out, "-c", config)
    assert proc.returncode == 0, proc.stderr
    report = check_accounting(out, 2)
    want = lists_sha256(tmp_path)
    assert report["filter"]["hashes"]["bl"]["sha256"] == want
    assert json.loads((out / "_manifest.json").read_text())["hashes"]["bl"]["sha256"] == want
    seen = 0
    for path in inputs:
        source = pq.read_table(path).to_pylist()
        rel = path.relative_to(tmp_path / "data")
        removed = pq.read_table(out / "removed" / rel).to_pylist()
        assert removed
        for row in removed:
            seen += 1
            assert row["fe_rule"] == RULES[row["fe_reason"]]
            assert source[row["fe_row"]]["id"] == row["id"]  # fe_row leads back to the input
            cats = sorted(f"bl.{c}" for c in ("cbrn", "cyber") if row[f"fe_bl_{c}"] > 0)
            assert row["fe_categories"] == cats
            data = (row["text"] or "").encode()
            spans = row["fe_spans"]
            assert len(spans) == min(row["fe_bl_count"], MAX_SPANS)
            assert [s["start"] for s in spans] == sorted(s["start"] for s in spans)
            for s in spans:
                assert data[s["start"]:s["end"]].decode().lower() == s["term"]
            assert {s["term"] for s in spans} <= set(row["fe_bl_terms"])
            decided = row["fe_decided_by"]
            if row["fe_reason"] == "null_text":
                assert decided == []
            else:
                assert decided == [{"stage": "bl", "kind": "blocklist", "sha256": want}]
    assert seen == report["rows"]["removed"]


def test_a_changed_list_changes_the_hash_the_removed_rows_carry(tmp_path):
    config = write_lists(tmp_path)
    table = pa.table({"text": ["anthrax and sarin", "a quiet river"]})
    before = Filter(str(config)).apply(table).removed["fe_decided_by"].to_pylist()
    (tmp_path / "lists" / "cbrn.txt").write_text("anthrax\nsarin\nnerve agent\ntabun\n")
    after = Filter(str(config)).apply(table).removed["fe_decided_by"].to_pylist()
    assert before[0][0]["sha256"] != after[0][0]["sha256"]
    assert after[0][0]["sha256"] == lists_sha256(tmp_path)


def test_terms_and_spans_are_capped_and_counts_stay_exact(tmp_path):
    words = [f"term{i:03d}" for i in range(MAX_TERMS + 40)]
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "many.txt").write_text("\n".join(words) + "\n")
    config = tmp_path / "f.toml"
    config.write_text('[[blocklist]]\nname = "bl"\nfiles = ["lists/*.txt"]\n'
                      '[drop_if]\nmany = "bl.count >= 1"\n')
    text = " ".join(words * 2)
    removed = Filter(str(config)).apply(pa.table({"text": [text]})).removed.to_pylist()[0]
    assert removed["fe_bl_distinct"] == len(words) and removed["fe_bl_count"] == 2 * len(words)
    assert removed["fe_bl_terms"] == words[:MAX_TERMS]
    assert len(removed["fe_spans"]) == MAX_SPANS
    assert [s["term"] for s in removed["fe_spans"]] == words[:MAX_SPANS]


def test_fe_row_is_the_row_in_the_input_when_a_file_is_split_into_row_groups(tmp_path):
    config = write_lists(tmp_path)
    (path,) = write_shards(tmp_path, count=1, rows=3000, row_group=250)
    result = engine.run(str(path), str(tmp_path / "out"), str(config), workers=2,
                        max_unit_bytes=path.stat().st_size // 4)
    assert result.exit_code == 0
    source = pq.read_table(path)["id"].to_pylist()
    parts = sorted((tmp_path / "out" / "removed").glob("*.parquet"))
    assert len(parts) > 1
    rows = [r for p in parts for r in pq.read_table(p, columns=["id", "fe_row"]).to_pylist()]
    assert rows and all(source[r["fe_row"]] == r["id"] for r in rows)
    assert len({r["fe_row"] for r in rows}) == len(rows) == result.report["rows"]["removed"]


def test_a_classifier_decision_names_the_model_hash(tmp_path):
    from engine import defaults

    model = defaults.models_dir() / "spam-hashed"
    spec = FilterSpec.from_dict({
        "classifier": [{"name": "spam", "model": str(model)}],
        "drop_if": {"spammy": "spam.score >= 0.0"}})
    removed = Filter(spec).apply(pa.table({"text": ["WIN a FREE prize now, call!"]})).removed
    (row,) = removed.to_pylist()
    onnx = hashlib.sha256((model / "model.onnx").read_bytes()).hexdigest()
    assert row["fe_decided_by"] == [{"stage": "spam", "kind": "classifier", "sha256": onnx}]
    assert row["fe_rule"] == "spam.score >= 0.0" and row["fe_spam_score"] is not None


def test_the_config_used_by_these_tests_names_the_rules_checked():
    assert all(f'{reason} = "{rule}"' in CONFIG for reason, rule in RULES.items())


def test_explanation_agrees_with_apply_row_by_row(tmp_path):
    from engine.filter.explanation import explain

    config = write_lists(tmp_path)
    texts = ["anthrax and sarin", "exploit ransomware payload", "a quiet river", None,
             "exploit once", "nerve agent anthrax"]
    table = pa.table({"text": texts})
    filt = Filter(str(config))
    removed = filt.apply(table).removed
    decided = dict(zip(removed["fe_row"].to_pylist(), removed["fe_reason"].to_pylist(),
                       strict=True))
    for i, e in enumerate(explain(filt, table)):
        assert e["reason"] == decided.get(i)
        assert e["verdict"] == ("remove" if i in decided else "keep")
        first = next((r for r in e["rules"] if r["holds"]), None)
        assert (first and first["reason"]) == decided.get(i)
        assert e["rule"] == (RULES[decided[i]] if i in decided else None)
    assert explain(filt, table)[1]["stages"]["bl"] == {
        "count": 3, "distinct": 3, "weight": 3.0, "cbrn": 0, "cyber": 3}


def test_explain_a_row_of_a_finished_run_agrees_with_the_run(tmp_path):
    config = write_lists(tmp_path)
    write_shards(tmp_path, count=2, rows=600)
    out = tmp_path / "out"
    assert cli("run", tmp_path / "data" / "**" / "*.parquet", "-o", out, "-c",
               config).returncode == 0
    removed = pq.read_table(out / "removed" / "sub" / "s1.parquet").to_pylist()
    by_row = {r["fe_row"]: r["fe_reason"] for r in removed}
    picks = {}  # one row per reason, and one kept row
    for row, reason in sorted(by_row.items()):
        picks.setdefault(reason, row)
    picks["keep"] = next(i for i in range(600) if i not in by_row)
    assert set(picks) == {"null_text", "cbrn", "cyber", "keep"}
    for decided, row in picks.items():
        proc = cli("explain", "--run", out, "--shard", "sub/s1.parquet", "--row", row, "--json")
        assert proc.returncode == 0, proc.stderr
        (shown,) = [json.loads(line) for line in proc.stdout.splitlines()]
        assert shown["run"]["decision"] == decided and shown["run"]["agrees"] is True
        assert (shown["fe_reason"] or "keep") == decided and shown["run"]["same_filter"]
        if decided != "keep":
            assert shown["rule"] == RULES[decided] == shown["run"]["rule"]
            first = next(r for r in shown["rules"] if r["holds"])
            assert first["reason"] == decided
    text = cli("explain", "--run", out, "--shard", "sub/s1.parquet", "--row", picks["cbrn"])
    assert "explain agrees" in text.stdout and "<- decided" in text.stdout
    assert "\x1b[" not in text.stdout  # not a terminal: no colour
    (tmp_path / "lists" / "cbrn.txt").write_text("anthrax\n")  # the list changed since
    changed = cli("explain", "--run", out, "--shard", "sub/s1.parquet", "--row", picks["cbrn"])
    assert "has changed since the run" in changed.stdout


def test_explain_colours_spans_only_when_asked_and_never_passes_control_text(tmp_path):
    config = write_lists(tmp_path)
    hostile = "anthrax \x1b[2J and sarin"
    plain = cli("explain", "-c", config, "--text", hostile)
    assert plain.returncode == 0, plain.stderr
    assert "\x1b" not in plain.stdout
    assert "    text: [anthrax] \u241b[2J and [sarin]" in plain.stdout
    coloured = cli("explain", "-c", config, "--text", hostile, "--color", "always")
    assert "\x1b[1;33manthrax\x1b[0m" in coloured.stdout
    assert "\x1b[2J" not in coloured.stdout
    assert "    stage bl: count=2 distinct=2 weight=2.0 cbrn=2 cyber=0" in coloured.stdout


def test_annotate_mode_carries_the_audit_of_every_row_it_would_remove(tmp_path):
    """Annotate keeps every row; the rows the filter would remove carry the same audit
    columns as in drop mode, the others nulls (they were missing before)."""
    config = write_lists(tmp_path)
    table = pq.read_table(write_shards(tmp_path, count=1, rows=400)[0])
    spec = FilterSpec.load(config)
    dropped = Filter(spec).apply(table).removed.to_pylist()
    annotated = Filter(spec.with_options(mode="annotate")).apply(table).kept.to_pylist()
    by_id = {row["id"]: row for row in annotated}
    assert dropped and len(annotated) == table.num_rows
    audit = ("fe_rule", "fe_categories", "fe_spans", "fe_decided_by")
    for row in dropped:
        assert {k: by_id[row["id"]][k] for k in audit} == {k: row[k] for k in audit}
    for row in annotated:
        if row["fe_keep"]:
            assert all(row[k] is None for k in audit), row
