"""``filter-engine report``: show a run's report; ``--verify`` re-checks every output.

``report OUT`` also writes ``OUT/report.html`` again from the markers (also for a run that
was killed before it wrote ``report.json``: the page then says ``partial``).
``report --compare OUT_A OUT_B`` prints what two runs over the same input removed
differently (``--html FILE`` writes it as a page too).

A corrupt ``report.json`` or marker (not JSON, not an object, fields missing or of the
wrong type) is listed as a problem and the command exits 1, as for an output that differs
from its marker.
"""

from __future__ import annotations

import hashlib
import json
import sys
from functools import partial

NAME = "report"
HELP = ("print the summary of a run's output directory and rebuild its report.html; "
        "--verify re-checks outputs; --compare A B diffs two runs")


def add_arguments(parser) -> None:
    parser.add_argument("output", metavar="OUT", nargs="+",
                        help="a run's output directory (two with --compare)")
    parser.add_argument("--compare", action="store_true",
                        help="OUT_A OUT_B: rows removed by one run and not the other, by "
                        "reason, with samples")
    parser.add_argument("--html", metavar="FILE",
                        help="with --compare: also write the comparison as a page")
    parser.add_argument("--no-html", action="store_true",
                        help="do not rebuild OUT/report.html")
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


def _load(out, rel: str) -> tuple[dict | None, str | None]:
    """A JSON object from the output, or (None, what is wrong with the file)."""
    try:
        text = out.read_text(rel)
    except OSError as err:  # a directory in its place, unreadable
        return None, f"{rel}: cannot read it ({err})"
    except ValueError as err:  # UnicodeDecodeError
        return None, f"{rel}: corrupt, not UTF-8 text ({err})"
    if text is None:
        return None, f"{rel}: missing"
    try:
        data = json.loads(text)
    except ValueError as err:
        return None, f"{rel}: corrupt, not JSON ({err})"
    if not isinstance(data, dict):
        return None, f"{rel}: corrupt, not a JSON object"
    return data, None


def _compare(args) -> int:
    from pathlib import Path

    from engine.errors import fail
    from engine.execution import compare
    from engine.io.writers import Output

    if len(args.output) != 2:
        raise fail("E001", argument="--compare", problem="give two output directories: "
                   "--compare OUT_A OUT_B")
    outs = [Output(o) for o in args.output]
    for given, out in zip(args.output, outs, strict=True):
        if not out.exists("_manifest.json"):
            raise fail("E001", argument="OUT", problem=f"{given!r} has no _manifest.json; "
                       "is it a run's output?")
    result = compare.compare(outs[0], outs[1])
    if args.json:
        print(json.dumps(result, indent=1, ensure_ascii=False))
    else:
        print(compare.text(result))
    if args.html:
        Path(args.html).write_text(compare.html(result), encoding="utf-8")
        print(f"compare: {args.html}", file=sys.stderr)
    return 0


def _rebuild_html(out, report: dict | None) -> str | None:
    """Write ``report.html`` again from the markers; returns the problem, if any."""
    from engine.errors import EngineError
    from engine.execution import html_report
    from engine.execution.report import from_output

    manifest, _ = _load(out, "_manifest.json")
    try:
        html_report.write(out, from_output(out, report, manifest))
    except (EngineError, KeyError, TypeError, ValueError, AttributeError) as err:
        return f"report.html: not rebuilt ({err})"
    print(f"report: {out.path(html_report.NAME)}", file=sys.stderr)
    return None


def main(args) -> int:
    from engine.errors import fail
    from engine.execution.report import summary
    from engine.io.writers import Output

    if args.compare:
        return _compare(args)
    if len(args.output) != 1:
        raise fail("E001", argument="OUT", problem="give one output directory (two only "
                   "with --compare)")
    out = Output(args.output[0])
    if not out.exists("report.json"):
        if out.exists("_manifest.json") and not args.verify and not args.json:
            problem = _rebuild_html(out, None)  # killed before its report: a partial page
            print(f"report: {args.output[0]!r} has no report.json (the run did not finish); "
                  "report.html shows what its markers say", file=sys.stderr)
            return 1 if problem else 0
        raise fail("E001", argument="OUT", problem=f"{args.output[0]!r} has no report.json; "
                   "is it a run's output?")
    problems: list[str] = []  # a corrupt file is listed here, never a traceback
    report, problem = _load(out, "report.json")
    if report is not None:
        try:  # the summary reads every field it needs: it is the check, --json or not
            text = summary(report, out.path("report.json"))
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
            problem = f"report.json: corrupt, not a run report (bad or missing {err})"
        else:
            print(json.dumps(report, indent=1) if args.json else text)
            if not args.no_html:  # a read-only output is still reported on: a warning
                warning = _rebuild_html(out, report)
                if warning:
                    print(f"report: {warning}", file=sys.stderr)
    if problem:
        problems.append(problem)
    if args.verify:
        checked = 0
        for rel in sorted(out.list_files("_done")):
            if not rel.endswith(".json"):
                continue
            marker, problem = _load(out, rel)
            if marker is None:  # missing: deleted since the listing (a concurrent --force run)
                problems.append(problem or rel)
                continue
            try:
                problems += _verify(out, marker)
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
                problems.append(f"{rel}: corrupt, not a shard marker (bad or missing {err})")
            checked += 1
        for problem in problems:
            print(f"verify: {problem}", file=sys.stderr)
        print(f"verify: {checked} markers checked, {len(problems)} problem(s)")
    else:
        for problem in problems:
            print(f"report: {problem}", file=sys.stderr)
    return 1 if problems else 0
