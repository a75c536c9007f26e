"""``filter-engine screen``: every blocklist term's hits on benign and on hazard text.

Writes ``<list stem>.screen.tsv`` per list (with ``--beside``, into a ``screen/`` folder
beside the list; or into ``-o DIR``) and prints the 20 terms that hit the most benign
documents. ``--beside`` uses a sub-folder because a filter config that globs
``blocklists/*.tsv`` (the default does) would otherwise read the screens as blocklists; and
the table's first column is ``term``, not ``pattern``, so that a screen handed to a matcher
by mistake is refused (E014) instead of read. The columns and the
ambiguity rule are documented in ``engine.quality.screening``. Argument parsing and
printing only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.commands._labelled_args import add_label_arguments

NAME = "screen"
HELP = ("screen blocklist terms on labelled text: documents hit per million, benign vs "
        "hazard, their ratio, and an ambiguous flag; writes <list>.screen.tsv")

#: Terms printed (the most benign documents first, over every list).
WORST = 20
#: What ``--normalize`` is when not given: the filter's robust matching, on an engine that
#: has it; ``nfkc`` otherwise (the option passes through to the matcher unchanged).
PREFERRED_NORMALIZE = ("robust", "nfkc")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.usage = ("filter-engine screen --lists LIST... DATA.parquet... [--split S] "
                    "[-o DIR | --beside] [options]")
    parser.add_argument("data", nargs="*", type=Path, metavar="DATA",
                        help="labelled Parquet files (named *.parquet, so that they may "
                        "follow the lists: --lists lists/*.txt data.parquet)")
    parser.add_argument("--lists", nargs="+", required=True, type=Path, metavar="LIST",
                        help="blocklist files (.txt/.tsv/.jsonl), each screened on its own")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", type=Path, metavar="DIR",
                       help="write <list stem>.screen.tsv files here")
    where.add_argument("--beside", action="store_true",
                       help="write <list stem>.screen.tsv into a screen/ folder beside each "
                       "list (not beside it: a config's blocklists/*.tsv glob would read it)")
    add_label_arguments(parser, split_example="tune")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--split-column", default="split")
    parser.add_argument("--normalize", help="matcher normalisation: robust (default where "
                        "this engine has it, else nfkc), nfkc or none")
    parser.add_argument("--ignore-case", type=_flag, default=True, metavar="true|false",
                        help="default true")
    parser.add_argument("--whole-words", type=_flag, default=True, metavar="true|false",
                        help="default true")
    parser.add_argument("--max-benign-per-m", type=float, default=10.0,
                        help="ambiguous above this many benign documents per million "
                        "(default 10)")
    parser.add_argument("--min-ratio", type=float, default=10.0,
                        help="ambiguous below this hazard/benign ratio when any benign "
                        "document is hit (default 10)")


def _flag(value: str) -> bool:
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def main(args: argparse.Namespace) -> int:
    import numpy as np

    from engine.errors import fail
    from engine.match.matcher import MatcherOptions
    from engine.quality.labelled import Columns, read_labelled
    from engine.quality.screening import ScreenRule, screen_lists

    lists = [p for p in args.lists if p.suffix != ".parquet"]
    data = [*args.data, *(p for p in args.lists if p.suffix == ".parquet")]
    if not data or not lists:
        raise fail("E001", argument="--lists" if data else "DATA", problem="give blocklist "
                   "files after --lists and labelled .parquet files")
    normalize = _normalize(args.normalize)
    table = read_labelled(data, Columns(text=args.text_column, label=args.label_column,
                                             split=args.split_column), args.split,
                          exclude=args.exclude_label or ())
    labels = np.asarray(table["label"].to_numpy(zero_copy_only=False), dtype=object)
    options = MatcherOptions(args.ignore_case, args.whole_words, normalize)
    screens = screen_lists(lists, table["text"], labels,
                           benign_labels=args.benign_label or ["benign"], options=options,
                           rule=ScreenRule(args.max_benign_per_m, args.min_ratio))
    first = screens[0]
    print(f"screened {sum(len(s.terms) for s in screens):,} terms of {len(screens)} lists on "
          f"{first.benign_rows:,} benign and {first.hazard_rows:,} hazard documents "
          f"(ignore_case={args.ignore_case}, whole_words={args.whole_words}, "
          f"normalize={normalize})")
    for screen in screens:
        target = screen.path.parent / "screen" if args.beside else args.output
        if target is None:
            continue
        target.mkdir(parents=True, exist_ok=True)
        path = target / f"{screen.stem}.screen.tsv"
        path.write_text(screen.tsv(), encoding="utf-8")
        flagged = sum(t.ambiguous for t in screen.terms)
        print(f"wrote {path} ({len(screen.terms)} terms, {flagged} ambiguous)")
    worst = sorted(((t, s.stem) for s in screens for t in s.terms if t.benign_docs),
                   key=lambda p: (-p[0].benign_docs, -p[0].hazard_docs, p[0].pattern))[:WORST]
    if not worst:
        print("no term hits a benign document")
        return 0
    print(f"\nthe {len(worst)} terms that hit the most benign documents:")
    print(f"{'term':<32} {'list':<22} {'benign':>7} {'ben/M':>8} {'haz/M':>9} {'ratio':>8}"
          "  ambiguous")
    for term, stem in worst:
        print(f"{term.pattern[:32]:<32} {stem[:22]:<22} {term.benign_docs:>7} "
              f"{_cell(term.benign_per_m):>8} {_cell(term.hazard_per_m):>9} "
              f"{_cell(term.ratio):>8}  {term.why if term.ambiguous else 'no'}")
    return 0


def _normalize(requested: str | None) -> str | None:
    """The matcher's normalize value: as given (``none``: None), or the first of
    ``PREFERRED_NORMALIZE`` this engine's matcher accepts."""
    from engine.errors import UsageError
    from engine.match.matcher import Matcher

    if requested is not None:
        return None if requested.lower() == "none" else requested
    for value in PREFERRED_NORMALIZE:
        try:
            Matcher(["probe"], normalize=value)
        except UsageError:
            print(f"note: this engine's matcher has no normalize={value!r}; trying the next",
                  file=sys.stderr)
            continue
        return value
    return None


def _cell(value: float | None) -> str:
    if value is None:
        return "-"
    return "inf" if value == float("inf") else f"{value:.1f}"
