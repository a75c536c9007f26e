"""``filter-engine models``: what ships with the package (blocklists, models, default filter).

An installed wheel keeps these under ``engine/_models``; this command says where, so users
can point ``run`` at the bundled sample and read the model cards without a checkout. It
reads only text files and cards (no onnxruntime), so it answers instantly.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

NAME = "models"
HELP = ("list the shipped blocklists (category, terms, source), models (card summary), "
        "default filter and sample; --path prints their directory")

#: A blocklist header line naming where the terms come from.
_SOURCE = re.compile(r"#\s*Sources?:\s*(.*)")


def add_arguments(parser) -> None:
    parser.add_argument("--path", action="store_true",
                        help="print only the shipped directory, e.g. for "
                        "\"$(filter-engine models --path)/samples/sample.parquet\"")
    parser.add_argument("--json", action="store_true", help="print the listing as JSON")


def blocklist_info(path: Path) -> dict:
    """Category, term count and header lines of a blocklist (as the matcher reads it: a
    ``.tsv`` file's first data line is its column header, not a term)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header = []
    for line in lines:
        if not line.startswith("#"):
            break
        header.append(line)
    source = ""
    for i, line in enumerate(header):
        match = _SOURCE.match(line)
        if match:  # "# Sources:" alone: the first item follows on the next line
            source = match.group(1) or (header[i + 1] if i + 1 < len(header) else "")
            source = source.lstrip("# -").strip()
            break
    terms = sum(1 for line in lines if line.strip() and not line.strip().startswith("#"))
    return {
        "category": path.stem,
        "file": path.name,
        "terms": terms - 1 if path.suffix == ".tsv" and terms else terms,
        "title": header[0].lstrip("# ").strip() if header else "",
        "source": source,
    }


def model_info(card_path: Path) -> dict:
    """The summary fields of a model card, plus its measured quality as recorded."""
    card = json.loads(card_path.read_text(encoding="utf-8"))
    return {
        "name": card.get("name", card_path.parent.name),
        "directory": card_path.parent.name,
        "kind": card.get("kind"),
        "labels": card.get("labels", []),
        "score_label": card.get("score_label"),
        "threshold": card.get("threshold"),
        "licence": card.get("licence"),
        "quality": card.get("quality", {}),
    }


def inventory(root: Path) -> dict:
    from engine.defaults import BLOCKLIST_SUFFIXES

    lists = sorted(p for p in (root / "blocklists").iterdir() if p.suffix in BLOCKLIST_SUFFIXES)
    return {
        "path": str(root),
        "blocklists": [blocklist_info(p) for p in lists],
        # a model directory is one with a card (engine.classify.card.CARD_FILE)
        "models": [model_info(p) for p in sorted(root.glob("*/model.json"))],
        "default_filter": str(root / "default-filter.toml"),
        "sample": str(root / "samples" / "sample.parquet"),
    }


def _scalars(value: dict) -> str:
    shown = (f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
             for k, v in value.items() if not isinstance(v, dict | list))
    return ", ".join(shown)


def _quality_lines(quality: dict, prefix: str = "") -> list[str]:
    """One line per measured group, nested groups flattened (curves are left out); the
    card's top-level notes get a line each."""
    lines = []
    flat = {k: v for k, v in quality.items() if not isinstance(v, dict | list)}
    if prefix and flat:
        lines.append(f"{prefix}: {_scalars(flat)}")
    elif flat:
        lines += [f"{k}: {v}" for k, v in flat.items()]
    for key, value in quality.items():
        if isinstance(value, dict):
            lines += _quality_lines(value, f"{prefix}.{key}" if prefix else key)
    return lines


def format_inventory(info: dict) -> str:
    lines = [f"shipped defaults: {info['path']}", "", "blocklists (category, terms, source):"]
    width = max((len(b["category"]) for b in info["blocklists"]), default=0)
    for b in info["blocklists"]:
        lines.append(f"  {b['category']:<{width}}  {b['terms']:>5}  {b['source']}")
    lines += ["", "models:"]
    for m in info["models"]:
        lines.append(f"  {m['directory']}: {m['kind']}, labels {', '.join(m['labels'])} "
                     f"(scores {m['score_label']!r}), threshold {m['threshold']}")
        lines.append(f"      licence: {m['licence']}")
        lines += [f"      {line}" for line in _quality_lines(m["quality"])]
    lines += ["", f"default filter (-c default): {info['default_filter']}",
              f"sample: {info['sample']}"]
    return "\n".join(lines)


def main(args) -> int:
    from engine.defaults import models_dir

    root = models_dir()
    if args.path:
        print(root)
    elif args.json:
        print(json.dumps(inventory(root), indent=1))
    else:
        print(format_inventory(inventory(root)))
    return 0
