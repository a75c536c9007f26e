"""The options that pick rows of a labelled set, shared by ``eval -c`` and ``screen`` so
that both read a reference set the same way (kept light: ``--help`` imports nothing heavy).
"""

from __future__ import annotations


def add_label_arguments(group, split_example: str) -> None:
    """``--split``, ``--benign-label`` and ``--exclude-label`` on ``group``."""
    group.add_argument("--split", help="only rows whose split column has this value "
                       f"(e.g. {split_example})")
    group.add_argument("--benign-label", action="append", metavar="LABEL",
                       help="a label of rows that should be kept (default benign; repeat "
                       "for several); every other label counts as hazard")
    group.add_argument("--exclude-label", action="append", metavar="LABEL",
                       help="leave out rows with this label (repeatable), e.g. text about "
                       "defence that is neither benign nor hazard")
