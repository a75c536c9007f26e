"""Dictionary entries (GCIDE, FOLDOC, Jargon File, VERA, Devil's Dictionary, elements) as documents.

Labels come from the headword's WordNet senses (``taxonomy.HeadwordLabeller``), never from the
entry's text. FOLDOC also files entries under subjects (``<security>`` ...): a security entry
that the taxonomy does not make a hazard is ``security_defense``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from . import dictd
from .doc import Doc
from .taxonomy import HeadwordLabeller

# dictd database -> (source name, read as a computing dictionary? None: no headword labels)
DATABASES: dict[str, tuple[str, bool | None]] = {
    "gcide": ("gcide", False),
    "foldoc": ("foldoc", True),
    "jargon": ("jargon", True),
    "vera": ("vera", None),  # acronyms: never labelled from WordNet (GB, SEB, BW collide)
    "devil": ("devil", False),
    "elements": ("elements", False),
}
_FOLDOC_SUBJECT = re.compile(r"\s*<([^>]+)>")


def _foldoc_subjects(text: str) -> list[str]:
    body = text.split("\n\n", 1)[1] if "\n\n" in text else ""
    m = _FOLDOC_SUBJECT.match(body)
    return [s.strip() for s in m.group(1).split(",")] if m else []


def docs(dict_dir: Path, db: str, labeller: HeadwordLabeller) -> Iterator[Doc]:
    """Yield every entry of ``db`` with its taxonomy-derived label."""
    source, computing = DATABASES[db]
    for entry in dictd.entries(dict_dir, db):
        if computing is None:
            label, category = "benign", "general"
        else:
            label, category = labeller.label(entry.headwords, computing)
        if (
            db == "foldoc"
            and label not in ("cbrn", "cyber")
            and "security" in _foldoc_subjects(entry.text)
        ):
            label, category = "security_defense", "foldoc_security"
        yield Doc(f"{source}:{entry.offset}", entry.text, label, category, source)
