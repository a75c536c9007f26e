"""``filter-engine report``: show a run's report; ``--verify`` re-checks every output."""

from __future__ import annotations

import hashlib
import json
import sys
from functools import partial

NAME = "report"
HELP = "print the summary of a run's output directory; --verify re-checks outputs"


def add_arguments(parser) -> None:
    parser.add_argument("output", metavar="OUT", help="a run's output directory")
    parser.add_argument("--verify", action="store_true",
                        help="recompute every output's size and sha256 against its marker "
                        "and re-check the accounting; exit 1 on any difference")
    parser.add_argument("--json", action="store_true", help="print report.json as is")


def _verify(out, marker: dict) -> list[str]:
    problems = []
    m = marker
    if m["status"] != "unreadable" and m["rows_in"] != m["kept"] + m["removed"] + m[
            "unreadable"]:
        problems.append(f"{m['shard']}: rows_in {m['rows_in']} != kept + removed + unreadable")
    for info in m["outputs"].values():
        digest, size = hashlib.sha256(), 0
        try:
            with out.open_read(info["path"]) as fh:
                for block in iter(partial(fh.read, 1 << 20), b""):
                    digest.update(block)
                    size += len(block)
        except OSError as err:
            problems.append(f"{info['path']}: {err}")
            continue
        if size != info["bytes"] or digest.hexdigest() != info["sha256"]:
            problems.append(f"{info['path']}: size/sha256 differ from its marker "
                            f"({size} bytes, expected {info['bytes']})")
    return problems


def main(args) -> int:
    from engine.errors import fail
    from engine.execution.report import summary
    from engine.io.writers import Output

    out = Output(args.output)
    text = out.read_text("report.json")
    if text is None:
        raise fail("E001", argument="OUT", problem=f"{args.output!r} has no report.json; is "
                   "it a run's output?")
    report = json.loads(text)
    print(json.dumps(report, indent=1) if args.json else summary(report, out.path(
        "report.json")))
    if not args.verify:
        return 0
    problems, checked = [], 0
    for rel in sorted(out.list_files("_done")):
        if rel.endswith(".json"):
            marker = out.read_text(rel)
            if marker is None:  # deleted since the listing (a concurrent --force run)
                problems.append(f"{rel}: marker disappeared while verifying")
                continue
            problems += _verify(out, json.loads(marker))
            checked += 1
    for problem in problems:
        print(f"verify: {problem}", file=sys.stderr)
    print(f"verify: {checked} markers checked, {len(problems)} problem(s)")
    return 1 if problems else 0
