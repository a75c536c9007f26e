"""The Markdown summary of a filter evaluation: the tables a reader checks first.

Built from the result dict alone (``engine.quality.filter_eval``), so a saved
``result.json`` can be summarised again without re-running the filter.
"""

from __future__ import annotations

from typing import Any

#: Rows of each category and source table (the JSON has them all).
TOP_GROUPS = 25
#: Terms listed in false positives and false negatives per blocklist stage.
TOP_TERMS = 15
#: Characters of a sample's text (around its first term when it has one) in the summary.
SAMPLE_CHARS = 200


def markdown(result: dict[str, Any]) -> str:
    """The summary as Markdown (title, detection, labels, reasons, stages, groups, terms)."""
    split = f" (split {result['split']})" if result.get("split") else ""
    lines = [
        f"# Filter evaluation: {result.get('config') or 'filter'}",
        "",
        f"Data: {', '.join(result.get('data') or ['(a table)'])}{split}.",
        "",
        f"{result['rows']:,} rows ({result['unreadable']} unreadable), "
        f"{result['removed']:,} removed ({_pct(result['removal_rate'])}); benign removed: "
        f"{_pct(result['benign_fpr'])}; {result['rows_per_second'] or 0:,} rows/s.",
        "",
        "## Detection: removed vs label not in " + repr(result["benign_labels"]),
        "",
        "| rows | hazard rows | caught | recall | precision | F1 | benign removed |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    detection = result["detection"]
    sets = [("all", detection["all"])]
    if detection.get("list_source"):
        sets += [("hazard from list sources", detection["list_source"]["true"]),
                 ("hazard held out (not list sources)", detection["list_source"]["false"])]
    for name, d in sets:
        lines.append(f"| {name} | {d['positives']:,} | {d['tp']:,} | {_pct(d['recall'])} | "
                     f"{_pct(d['precision'])} | {_num(d['f1'])} | {d['fp']:,} "
                     f"({_pct(d['benign_fpr'])}) |")
    lines += ["", "## Recall per hazard label", "",
              "| rows | label | rows | removed | recall | precision |",
              "|---|---|---:|---:|---:|---:|"]
    for name, d in sets:
        lines += [f"| {name} | {label} | {x['rows']:,} | {x['removed']:,} | "
                  f"{_pct(x['recall'])} | {_pct(x['precision'])} |"
                  for label, x in d["per_label"].items() if x["rows"]]
    lines += ["", "## Removal by label", "", "| label | rows | removed | rate |",
              "|---|---:|---:|---:|"]
    lines += [f"| {label} | {x['rows']:,} | {x['removed']:,} | {_pct(x['removal_rate'])} |"
              for label, x in result["labels"].items()]
    lines += ["", "## Reasons (removed: first rule that held; alone: rows the rule holds on)",
              "", "| reason | rule | removed | of them benign | alone | alone benign |",
              "|---|---|---:|---:|---:|---:|"]
    benign = result["benign_labels"]
    for r in result["reasons"]:
        lines.append(f"| {r['reason']} | `{r['rule']}` | {r['removed']:,} | "
                     f"{_sum(r['removed_by_label'], benign):,} | {r['alone']:,} | "
                     f"{_sum(r['alone_by_label'], benign):,} |")
    lines += ["", "## Stages", "", "| stage | kind | rows hit/scored | of them benign | removed "
              "by its rules | ROC-AUC | best F1 (threshold) |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for s in result["stages"]:
        seen = s.get("rows_hit_by_label", s.get("scored_by_label", {}))
        pr = s.get("pr")
        auc = _num(pr["roc_auc"]) if pr else ""
        best = f"{pr['best_f1']['f1']:.4f} ({pr['best_f1']['threshold']:.4f})" if pr else ""
        lines.append(f"| {s['name']} | {s['kind']} | {s.get('rows_hit', s.get('rows_scored')):,}"
                     f" | {_sum(seen, benign):,} | {s['removed_by_its_rules']:,} | {auc} | "
                     f"{best} |")
    for key in ("categories", "sources"):
        if result.get(key):
            lines += _groups(key, result[key])
    for stage, kinds in result.get("terms", {}).items():
        for kind in ("false_positives", "false_negatives"):
            if kinds[kind]:
                lines += ["", f"## {stage}: terms in {kind.replace('_', ' ')}", "",
                          "| term | categories | weight | rows |", "|---|---|---:|---:|"]
                lines += [f"| {t['term']} | {', '.join(t['categories'])} | {t['weight']:g} | "
                          f"{t['rows']:,} |" for t in kinds[kind][:TOP_TERMS]]
    samples = result.get("samples") or {}
    listed = [("false positives", samples.get("false_positives", []))] + [
        (f"false negatives: {label}", rows)
        for label, rows in samples.get("false_negatives", {}).items()]
    for title, rows in listed:
        if rows:
            lines += ["", f"## Samples, {title}", ""]
            lines += [_sample(row) for row in rows]
    return "\n".join(lines) + "\n"


def _sample(row: dict[str, Any]) -> str:
    """One sample as a list item: id, reason, terms with weights, scores, text."""
    terms = ", ".join(f"{t['term']} ({t['weight']:g})" for found in row["terms"].values()
                      for t in found)
    scores = ", ".join(f"{k} {v:.3f}" for k, v in row["scores"].items() if v is not None)
    text = (row.get("context") or row["text"])[:SAMPLE_CHARS].replace("\n", " ")
    decided = "; ".join(x for x in (f"reason {row['reason']}" if row["reason"] else "kept",
                                    terms and f"terms {terms}", scores and f"scores {scores}")
                        if x)
    return f"- `{row.get('id', row['row'])}` [{row['label']}] {decided}: {text}"


def _groups(key: str, groups: dict[str, dict[str, Any]]) -> list[str]:
    """Two tables: recall per value that holds hazard rows (most hazard rows first, so a
    large category that is missed cannot hide), and the values whose benign rows were
    removed (most first)."""
    word = "category" if key == "categories" else "source"
    hazard = sorted(((k, g) for k, g in groups.items() if g["hazard_rows"]),
                    key=lambda kv: (-kv[1]["hazard_rows"], kv[0]))
    benign = sorted(((k, g) for k, g in groups.items() if g["benign_removed"]),
                    key=lambda kv: (-kv[1]["benign_removed"], kv[0]))
    lines = []
    if hazard:
        lines += ["", f"## Recall per {word} of hazard rows{_more(hazard)}", "",
                  "| value | hazard rows | removed | recall |", "|---|---:|---:|---:|"]
        lines += [f"| {k} | {g['hazard_rows']:,} | {g['hazard_removed']:,} | "
                  f"{_pct(g['hazard_removed'] / g['hazard_rows'])} |"
                  for k, g in hazard[:TOP_GROUPS]]
    if benign:
        lines += ["", f"## Benign rows removed per {word}{_more(benign)}", "",
                  "| value | benign rows | removed | rate |", "|---|---:|---:|---:|"]
        lines += [f"| {k} | {g['benign_rows']:,} | {g['benign_removed']:,} | "
                  f"{_pct(g['benign_removed'] / g['benign_rows'])} |"
                  for k, g in benign[:TOP_GROUPS]]
    return lines


def _more(rows: list) -> str:
    extra = len(rows) - TOP_GROUPS
    return f" (first {TOP_GROUPS}; {extra} more in result.json)" if extra > 0 else ""


def _sum(by_label: dict[str, int], labels: list[str]) -> int:
    return sum(by_label.get(label, 0) for label in labels)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f} %"


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"
