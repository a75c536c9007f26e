"""Data for the matcher's robust normalization steps, as plain Python look-ups.

* Default-ignorable code points: the Unicode Character Database property
  ``Default_Ignorable_Code_Point`` (soft hyphen, zero-width space/joiners, word joiner,
  variation selectors, BOM, Hangul fillers, tag characters...).
* A confusable skeleton: Unicode TS #39 confusables, restricted to single non-ASCII
  Latin, Cyrillic, Greek and half/full-width characters whose prototype is ASCII
  letters/digits once lower-cased, and made to fit the matcher's order of steps (NFKC,
  lower-casing, then the skeleton). No ASCII character is a key and every value is
  lower-case ASCII, so pure-ASCII text is untouched and the map is idempotent.
* HTML character references, decoded exactly as :func:`html.unescape` decodes them.

The two Unicode tables are generated, with their sources and versions in each file's
header, into ``engine/match/data/`` by ``src_cython/build_unicode_data.py`` and committed:
the matcher's behaviour must not depend on the source releases a build machine has.
``tests/test_robust_data.py`` rebuilds them from the installed sources and fails when the
committed files differ. Each table is parsed once per process (a few milliseconds).
"""

from __future__ import annotations

import bisect
import functools
import html
import re
from html.entities import html5
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
IGNORABLE_FILE = DATA / "default_ignorable.txt"
SKELETON_FILE = DATA / "confusable_skeleton.txt"

#: CPython's pattern for a character reference (``html._charref``): numeric decimal or
#: hexadecimal with an optional ``;``, or up to 32 name characters with an optional ``;``.
_CHARREF = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")


def _data_lines(path: Path) -> list[str]:
    """The lines of a table file without comments and blanks."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text("utf-8").splitlines())
    return [line for line in lines if line]


@functools.cache
def _ignorable_table() -> tuple[tuple[int, ...], tuple[int, ...]]:
    firsts, lasts = [], []
    for line in _data_lines(IGNORABLE_FILE):
        first, _, last = line.partition("..")
        firsts.append(int(first, 16))
        lasts.append(int(last or first, 16))
    return tuple(firsts), tuple(lasts)


def default_ignorable_ranges() -> list[tuple[int, int]]:
    """Inclusive ``(first, last)`` code point ranges of Default_Ignorable_Code_Point.

    Returns:
        The ranges in ascending order, disjoint and not adjacent.
    """
    firsts, lasts = _ignorable_table()
    return list(zip(firsts, lasts, strict=True))


def is_default_ignorable(cp: int) -> bool:
    """Whether code point ``cp`` has the property Default_Ignorable_Code_Point.

    Args:
        cp: a code point (any int; out-of-range values are simply not ignorable).
    """
    firsts, lasts = _ignorable_table()
    i = bisect.bisect_right(firsts, cp) - 1
    return i >= 0 and cp <= lasts[i]


@functools.cache
def _skeleton() -> dict[str, str]:
    table = {}
    for line in _data_lines(SKELETON_FILE):
        code_point, target, _kind = (field.strip() for field in line.split(";"))
        table[chr(int(code_point, 16))] = target
    return table


def confusable_skeleton() -> dict[str, str]:
    """``{character: lower-case ASCII letters/digits}`` to apply after NFKC + lower-casing.

    A key is a single non-ASCII character of script Latin, Cyrillic or Greek, or of the
    Halfwidth and Fullwidth Forms block. Its value is, in this order of preference:

    1. its UTS #39 prototype lower-cased, when that is ASCII letters/digits (``own``:
       Cyrillic ``а`` -> ``a``, Greek ``ο`` -> ``o``, ``æ`` -> ``ae``);
    2. otherwise the lower-cased ASCII prototype shared by every in-scope character that
       NFKC + lower-casing turn into this one (``case``: Greek capital ``Μ`` has prototype
       ``M`` and lowers to ``μ``, which UTS #39 leaves alone, so ``μ`` -> ``m``; Cyrillic
       ``м`` -> ``m`` from ``М``, although UTS #39 sends ``м`` to the non-ASCII ``ʍ``).

    Values may be longer than one character (``ы`` -> ``bl``, ``ﬁ`` -> ``fi``).

    Returns:
        A new dict on every call (the parsed table is cached).
    """
    return dict(_skeleton())


def html_references(text: str) -> list[tuple[int, int, str]]:
    """The character references in ``text`` with what :func:`html.unescape` makes of each.

    The rule is CPython's (HTML5 with its legacy forms): ``&#`` decimal digits or ``&#x``
    hex digits, ``;`` optional; or ``&name;`` for a name in :data:`html.entities.html5`,
    and for a name not in it, the longest prefix that is one of HTML5's legacy names
    without ``;`` (``&ampx`` is ``&amp`` then ``x``). An ``&`` that starts no reference is
    left alone. Numeric values follow HTML5's replacements: 0, surrogates and values above
    0x10FFFF become U+FFFD, 0x80-0x9F are read as windows-1252, and the other
    non-characters and controls that HTML5 forbids decode to the empty string.

    Args:
        text: any string.

    Returns:
        ``(start, end, decoded)`` per reference, in order and non-overlapping, with
        ``start``/``end`` character offsets into ``text``; replacing each span by its
        decoded text gives ``html.unescape(text)``.
    """
    if "&" not in text:
        return []
    found = []
    for match in _CHARREF.finditer(text):
        start, end, name = match.start(), match.end(), match.group(1)
        if name[0] != "#" and name not in html5:
            prefix = next((n for n in range(len(name) - 1, 1, -1) if name[:n] in html5), 0)
            if not prefix:
                continue
            end = start + 1 + prefix
        found.append((start, end, html.unescape(text[start:end])))
    return found
