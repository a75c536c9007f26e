"""``filter-engine explain``: why a text (or one row of a shard) is kept or removed.

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

    from engine.filter.apply import Filter
    from engine.filter.spec import FilterSpec

    spec = FilterSpec.load(args.config).with_options(mode="annotate")
    if args.shard:
        table = _shard_row(spec, args.shard, args.row)
    else:
        texts = args.texts or [line.rstrip("\n") for line in sys.stdin]
        table = pa.table({spec.text_column: pa.array(texts, pa.string())})
    filt = Filter(spec)
    result = filt.apply(table)
    rows = result.kept.to_pylist()
    for i, _ in result.unreadable:
        print(f"row {i}: unreadable (invalid UTF-8)")
    for row in rows:
        info = {k: v for k, v in row.items() if k.startswith("fe_")}
        text = row[spec.text_column]
        matches = _matches(filt, text)
        if args.json:
            print(json.dumps({"text": text, **info, "matches": matches}, ensure_ascii=False))
            continue
        shown = repr(text[:120] + ("..." if len(text) > 120 else "")) if text else repr(text)
        verdict = "KEEP" if info.pop("fe_keep") else f"REMOVE ({info['fe_reason']})"
        info.pop("fe_reason")
        print(f"{verdict}  {shown}")
        for key, value in info.items():
            if value not in (0, [], None):
                print(f"    {key[3:]}: {value}")
        for m in matches:
            print(f"    match {m['stage']}: [{m['start']}:{m['end']}] {m['text']!r} "
                  f"as {m['normalized']!r} = {m['pattern']!r}")
    return 0


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
