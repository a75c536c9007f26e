"""Build the tables of ``engine/match/data/`` from their maintained sources.

Run ``python src_cython/build_unicode_data.py`` to rewrite them after a source update.
The tables are committed rather than built at install time so that what the matcher
matches does not depend on which release of a source the build machine happened to
have; ``tests/test_robust_data.py`` rebuilds them from the installed sources (both are
in the ``test`` extra) and fails if the committed files differ.

Sources, both from PyPI:

* ``regex``: the Unicode Character Database properties ``Default_Ignorable_Code_Point``
  and ``Script`` (``regex`` tracks the latest Unicode version; the version it carries is
  recorded in each table's header).
* ``confusable-homoglyphs`` (also packaged by Debian as python3-confusable-homoglyphs):
  its ``confusables.json`` is UTS #39 ``confusables.txt`` stored as an undirected graph,
  one edge per line of the file. The direction of each edge (source -> prototype) is
  recovered below; see :func:`ts39_prototypes`.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
import unicodedata
from importlib import resources
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "engine" / "match" / "data"
IGNORABLE_FILE = "default_ignorable.txt"
SKELETON_FILE = "confusable_skeleton.txt"
MAX_CODE_POINT = 0x110000

#: A code point first assigned in each Unicode version: the newest one ``regex`` knows
#: names the version of its tables (the package does not expose it).
_VERSION_PROBES = [("17.0.0", 0x16EA0), ("16.0.0", 0x1CC00), ("15.1.0", 0x2FFC),
                   ("15.0.0", 0x1FAE8), ("14.0.0", 0x1FAE7)]


def regex_unicode_version() -> str:
    """The Unicode version of the installed ``regex`` module's property tables."""
    import regex

    for version, code_point in _VERSION_PROBES:
        if regex.match(r"\p{Assigned}", chr(code_point)):
            return version
    raise RuntimeError("regex knows no Unicode version from 14.0 on")


def _all_code_points() -> str:
    """Every code point once, surrogates replaced by a space (they cannot be encoded)."""
    return "".join(chr(cp) if not 0xD800 <= cp < 0xE000 else " "
                   for cp in range(MAX_CODE_POINT))


def default_ignorable_ranges() -> list[tuple[int, int]]:
    """Inclusive ranges of ``\\p{Default_Ignorable_Code_Point}`` according to ``regex``."""
    import regex

    return [(m.start(), m.end() - 1)
            for m in regex.finditer(r"\p{Default_Ignorable_Code_Point}+", _all_code_points())]


def in_scope(ch: str) -> bool:
    """Non-ASCII and Script Latin, Cyrillic or Greek, or in the half/full-width forms block."""
    import regex

    return not ch.isascii() and bool(regex.match(
        r"[\p{sc=Latin}\p{sc=Cyrillic}\p{sc=Greek}\p{Block=Halfwidth_And_Fullwidth_Forms}]",
        ch))


def ts39_prototypes() -> dict[str, str]:
    """``{source: prototype}`` of UTS #39 for single-character sources.

    In confusables.txt every source occurs in exactly one line and a prototype is never a
    source, so in the package's graph a key with two or more neighbours is a prototype,
    and a key with one neighbour is a source unless that neighbour has only it as well.
    For such an isolated pair the package wrote the line's source first (it inserts the
    source's key before the prototype's), so the key that comes first is the source.
    """
    path = resources.files("confusable_homoglyphs") / "confusables.json"
    graph: dict[str, list[dict[str, str]]] = json.loads(path.read_text(encoding="utf-8"))
    order = {key: i for i, key in enumerate(graph)}
    prototypes = {}
    for key, neighbours in graph.items():
        if len(key) != 1 or len(neighbours) != 1:
            continue
        other = neighbours[0]["c"]
        if len(other) != 1 or len(graph.get(other, ())) != 1 or order[key] < order[other]:
            prototypes[key] = other
    return prototypes


def skeleton_entries() -> list[tuple[str, str, str, str]]:
    """``(char, target, kind, why)`` for the matcher's skeleton map, sorted by code point.

    ``own``: UTS #39 maps the character to a prototype that is ASCII letters/digits once
    lower-cased. ``case``: the matcher lower-cases (after NFKC) before it applies the
    skeleton, so a character ``k`` without an ASCII prototype of its own takes the one of
    the characters that become ``k`` under NFKC + lower-casing (Greek capital Mu has
    prototype ``M`` and lowers to mu, which has none: mu -> ``m``), when they agree.
    """
    own: dict[str, str] = {}
    for source, prototype in ts39_prototypes().items():
        target = prototype.lower()
        if in_scope(source) and target.isascii() and target.isalnum():
            own[source] = target
    votes: dict[str, dict[str, list[str]]] = {}
    for source, target in own.items():
        lowered = unicodedata.normalize("NFKC", source).lower()
        if len(lowered) == 1 and lowered != source and in_scope(lowered):
            votes.setdefault(lowered, {}).setdefault(target, []).append(source)
    entries = [(ch, target, "own", "") for ch, target in own.items()]
    for lowered, by_target in votes.items():
        if lowered not in own and len(by_target) == 1:
            (target, sources), = by_target.items()
            entries.append((lowered, target, "case", " ".join(f"{ord(s):04X}" for s in sources)))
    return sorted(entries)


def _provenance(package: str) -> str:
    return f"{package} {importlib.metadata.version(package)} (PyPI)"


def render_default_ignorable() -> str:
    """The text of ``default_ignorable.txt``."""
    lines = [
        "# Default_Ignorable_Code_Point (Unicode Character Database), inclusive ranges.",
        "# Generated by src_cython/build_unicode_data.py; do not edit.",
        f"# Source: {_provenance('regex')}, \\p{{Default_Ignorable_Code_Point}}.",
        f"# Unicode: {regex_unicode_version()}",
    ]
    lines += [f"{lo:04X}..{hi:04X}" if hi > lo else f"{lo:04X}"
              for lo, hi in default_ignorable_ranges()]
    return "\n".join(lines) + "\n"


def render_skeleton() -> str:
    """The text of ``confusable_skeleton.txt``."""
    lines = [
        "# Confusable skeleton for the matcher: UTS #39 confusables restricted to",
        "# non-ASCII Latin, Cyrillic, Greek and half/full-width characters whose prototype",
        "# is ASCII letters/digits once lower-cased. Fields: code point ; target ; kind.",
        "# kind own: UTS #39's own mapping. kind case: the character has no ASCII prototype",
        "# but is what NFKC + lower-casing make of the listed characters, which have one.",
        "# Generated by src_cython/build_unicode_data.py; do not edit.",
        f"# Source: {_provenance('confusable-homoglyphs')}, confusables.json.",
        "# UTS #39 version: not recorded by the package (it read security/latest/confusables.txt",
        "# from unicode.org when it was built).",
        f"# Scripts: {_provenance('regex')}, Script property.",
        f"# Unicode: {regex_unicode_version()}",
        f"# NFKC and lower-casing: Python's unicodedata {unicodedata.unidata_version}",
    ]
    for ch, target, kind, why in skeleton_entries():
        name = unicodedata.name(ch, "?")
        note = f" from {why}" if why else ""
        lines.append(f"{ord(ch):04X} ; {target} ; {kind} # {ch} {name}{note}")
    return "\n".join(lines) + "\n"


def main() -> int:
    (DATA / IGNORABLE_FILE).write_text(render_default_ignorable(), encoding="utf-8")
    (DATA / SKELETON_FILE).write_text(render_skeleton(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
