"""``filter-engine explain``: why a text (or one row of a shard) is kept or removed.

For each text: the verdict, the text around its matches with the matched spans highlighted
(ANSI colour when stdout is a terminal or ``--color always``; ``[...]`` otherwise; control
characters shown as pictures, so a text never drives the terminal), each stage's output, every
drop rule with whether it holds and the one that decided. ``--run OUT --shard S --row N``
explains a row of a finished run with the run's config and says whether the run decided the
same (exit 1 if not).

Besides the stage values, every blocklist match is shown with its span in the original
text and the text as the matcher compared it (after its normalisation), so that a match
on ``s&#97;rin`` or ``Cobalt\nStrike`` explains itself.
"""

from __future__ import annotations

import json
import sys

NAME = "explain"
HELP = "show stage values, matched terms, scores and the decision for texts or a shard row"


def add_arguments(parser) -> None:
    parser.add_argument("texts", nargs="*", metavar="TEXT",
                        help="texts to explain (default: one per line on stdin)")
    parser.add_argument("-c", "--config", metavar="TOML",
                        help="filter config; 'default' (also when -c is not given) is the "
                        "shipped default filter")
    parser.add_argument("--shard", help="explain a row of this shard instead")
    parser.add_argument("--row", type=int, default=0, help="row index in --shard (default 0)")
    parser.add_argument("--json", action="store_true", help="one JSON object per text")
    parser.add_argument("--text", action="append", default=[], metavar="TEXT",
                        help="a text to explain (repeatable; the same as TEXT)")
    parser.add_argument("--run", metavar="OUT",
                        help="with --shard S --row N: explain that row of the finished run in "
                        "OUT (S as named in OUT/_done/, or its input path) with the run's "
                        "config, and say whether the run decided the same (exit 1 if not)")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                        help="colour the verdict and the matched spans (auto: when stdout is "
                        "a terminal)")


def _shard_row(spec, uri: str, row: int):
    import numpy as np
    import pyarrow as pa

    from engine.errors import fail
    from engine.io.readers import SchemaDrift, ShardReader

    reader = ShardReader(uri, spec.text_column, spec.batch_rows)
    seen = 0
    while True:
        try:  # rows are numbered as in markers: unreadable rows count too
            for batch in reader:
                numbers = reader.row_numbers
                if numbers is None:
                    numbers = np.arange(reader.position, reader.position + batch.num_rows)
                hit = np.flatnonzero(numbers == row)
                if len(hit):
                    return pa.Table.from_batches([batch.slice(int(hit[0]), 1)])
                seen = int(numbers[-1]) + 1 if len(numbers) else seen
        except SchemaDrift as drift:  # a JSONL column changed type: read again, it as text
            reader = reader.with_string_columns(drift.columns)
            continue
        break
    raise fail("E001", shard=uri, row=row, argument="--row",
               problem=f"row {row} of shard {uri!r} is unreadable or past its end (last "
               f"readable row: {seen - 1})")


def main(args) -> int:
    import pyarrow as pa

    from engine.errors import fail
    from engine.execution.job import MAX_DOC_BYTES
    from engine.filter.apply import Filter
    from engine.filter.explanation import explain
    from engine.filter.spec import FilterSpec

    found = cap = None
    if args.run:
        from engine.execution.run_row import locate

        if not args.shard or args.config or args.texts or args.text:
            raise fail("E001", argument="--run", problem="name one row of the run: --run OUT "
                       "--shard S --row N (the run's own config is used; no -c, no TEXT)")
        found = locate(args.run, args.shard, args.row)
        spec = found.spec.with_options(mode="annotate")
        table = _shard_row(spec, found.uri, found.row)
        cap = MAX_DOC_BYTES  # as the run capped documents
    else:
        spec = FilterSpec.load(args.config).with_options(mode="annotate")
        if args.shard:
            table = _shard_row(spec, args.shard, args.row)
        else:
            texts = [*args.texts, *args.text] or [line.rstrip("\n") for line in sys.stdin]
            table = pa.table({spec.text_column: pa.array(texts, pa.string())})
    filt = Filter(spec)
    result = filt.apply(table, max_doc_bytes=cap)
    why = [e for e in explain(filt, table, cap) if e["verdict"] != "unreadable"]
    rows = result.kept.to_pylist()
    colour = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    agrees = True
    for i, _ in result.unreadable:
        print(f"row {i}: unreadable (invalid UTF-8)")
    for row, e in zip(rows, why, strict=True):
        info = {k: v for k, v in row.items() if k.startswith("fe_")}
        text = row[spec.text_column]
        matches = _matches(filt, text)
        decided = e["reason"] or "keep"
        if found is not None:
            agrees = decided == found.decision
        if args.json:
            extra = {} if found is None else {"run": {
                "out": args.run, "shard": found.shard, "row": found.row,
                "decision": found.decision, "rule": found.rule, "agrees": agrees,
                "same_filter": found.same_filter}}
            print(json.dumps({"text": text, **info, "matches": matches, "rule": e["rule"],
                              "stages": e["stages"], "rules": e["rules"], **extra},
                             ensure_ascii=False))
            continue
        shown = repr(text[:120] + ("..." if len(text) > 120 else "")) if text else repr(text)
        verdict = "KEEP" if info.pop("fe_keep") else f"REMOVE ({info['fe_reason']})"
        info.pop("fe_reason")
        print(f"{_paint(verdict, GREEN if verdict == 'KEEP' else RED, colour)}  {shown}")
        if matches:
            print(f"    text: {_highlighted(text, matches, colour)}")
        for stage, values in e["stages"].items():
            print(f"    stage {stage}: " + " ".join(f"{k}={v}" for k, v in values.items()))
        for r in e["rules"]:
            mark = "  <- decided" if r["reason"] == e["reason"] else ""
            print(f"    rule {r['reason']}: {r['rule']} -> {str(r['holds']).lower()}{mark}")
        if e["rule"] and e["reason"] not in {r["reason"] for r in e["rules"]}:
            print(f"    rule {e['reason']}: {e['rule']}  <- decided")
        for key, value in info.items():
            if value not in (0, [], None):
                print(f"    {key[3:]}: {value}")
        for m in matches:
            print(f"    match {m['stage']}: [{m['start']}:{m['end']}] {m['text']!r} "
                  f"as {m['normalized']!r} = {m['pattern']!r}")
        if found is not None:
            said = "KEEP" if found.decision == "keep" else (
                "unreadable" if found.decision == "unreadable" else
                f"REMOVE ({found.decision})")
            print(f"    run {args.run}: shard {found.shard} row {found.row}: the run decided "
                  f"{said}; explain {'agrees' if agrees else 'DISAGREES'}" + (
                      "" if found.same_filter else " (the config, a list or a model has "
                      "changed since the run)"))
    return 0 if agrees else 1


RED, GREEN, YELLOW = "31", "32", "1;33"
#: C0 controls (ESC included) as their Unicode pictures: a text never drives the terminal
_CONTROL = {c: 0x2400 + c for c in range(32)} | {0x7F: 0x2421}


def _paint(text: str, code: str, colour: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if colour else text


def _highlighted(text: str, matches: list[dict], colour: bool, width: int = 160) -> str:
    """``text`` around its first match, matched spans in colour (or ``[...]``), control
    characters shown as pictures."""
    spans = sorted((m["start"], m["end"]) for m in matches)
    lo = max(0, spans[0][0] - width // 4)
    hi = min(len(text), lo + width)
    pieces, at = ["..." if lo else ""], lo
    for start, end in spans:
        start, end = max(start, at), min(end, hi)
        if end <= start:
            continue
        hit = text[start:end].translate(_CONTROL)
        pieces += [text[at:start].translate(_CONTROL),
                   _paint(hit, YELLOW, colour) if colour else f"[{hit}]"]
        at = end
    pieces += [text[at:hi].translate(_CONTROL), "..." if hi < len(text) else ""]
    return "".join(pieces)


def _matches(filt, text: str | None) -> list[dict]:
    """Every blocklist match in ``text``: stage, character span, the original text there,
    what the matcher compared (normalised) and the pattern."""
    if not text:
        return []
    found = []
    for stage in filt.blocklists:
        matcher = stage.matcher
        for m in matcher.find(text):
            found.append({"stage": stage.name, "start": m.start, "end": m.end,
                          "text": text[m.start:m.end],
                          "normalized": matcher.normalized(text[m.start:m.end]),
                          "pattern": m.pattern})
    return found
