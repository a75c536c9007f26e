"""Naive pure-Python matcher: the oracle for the compiled kernel.

It implements the documented semantics literally and slowly, one step at a time, on a
list of characters that each remember which original "unit" they came from:

1. units: one per original character, or one per HTML character reference (``html``);
2. ``nfkc``: neighbouring units are merged wherever NFKC does not split between them
   (a cut is kept only where the normalised halves add up to the normalised whole, and
   never before a combining mark); each merged unit is replaced by its NFKC;
3. lower-casing (``ignore_case``) of the whole string (final sigma needs context);
   every character owns what its own lowering produced;
4. ``ignorables``: Default_Ignorable_Code_Point characters are deleted;
5. ``confusables``: characters replaced by their skeleton string;
6. ``separators``: whitespace, Pd and Pc characters become a space.

A pattern goes through the same steps; its separator runs then become one space and the
ends are stripped. A pattern with spaces matches, with ``separators``, wherever each of
its spaces is a run of one or more spaces in the text (``join``: also the form with no
space at all), found with a regular expression tried at every position. Whole words:
the text position must be a unit edge and the neighbouring original unit (the nearest
one that still has characters) must not end (start) with an alphanumeric character;
a pattern end in a script written without spaces skips its check; ``inflect`` accepts
``s``/``es`` before the end check.
"""

from __future__ import annotations

import re
import unicodedata

from engine.match import robust_data
from engine.match.text_transform import PRESETS, written_without_spaces


def _steps(normalize) -> tuple[str, ...]:
    if isinstance(normalize, tuple):
        return normalize
    if normalize is True:
        return ("nfkc",)
    if normalize is False:
        return ()
    return PRESETS[normalize]


def _units(text: str, steps) -> list[tuple[int, int, str]]:
    """``(first char, end char, source)`` of each original unit."""
    refs = robust_data.html_references(text) if "html" in steps else []
    units = []
    i = 0
    for start, end, decoded in refs:
        units += [(k, k + 1, text[k]) for k in range(i, start)]
        units.append((start, end, decoded))
        i = end
    units += [(k, k + 1, text[k]) for k in range(i, len(text))]
    return units


def _nfkc_groups(units):
    """Merge units between which NFKC does not split; returns (first, end, src, nfkc)."""
    if not units:
        return []
    whole = "".join(u[2] for u in units)
    nfkc = unicodedata.normalize("NFKC", whole)
    cuts = [0]
    for k in range(1, len(units)):
        before = "".join(u[2] for u in units[:k])
        after = "".join(u[2] for u in units[k:])
        if after[:1] and unicodedata.combining(after[0]):
            continue
        if unicodedata.normalize("NFKC", before) + unicodedata.normalize("NFKC", after) == nfkc:
            cuts.append(k)
    cuts.append(len(units))
    groups = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        src = "".join(u[2] for u in units[a:b])
        groups.append((units[a][0], units[b - 1][1], src, unicodedata.normalize("NFKC", src)))
    if "".join(g[3] for g in groups) != nfkc:  # never seen; the whole text is one unit
        return [(units[0][0], units[-1][1], whole, nfkc)]
    return groups


def normalized(text: str, ignore_case=True, normalize=None):
    """``(chars, owner, units)``: the compared characters, the unit of each, the units."""
    steps = _steps(normalize)
    units = _units(text, steps)
    groups = (_nfkc_groups(units) if "nfkc" in steps
              else [(a, b, src, src) for a, b, src in units])
    chars = [(g, ch) for g, (_, _, _, out) in enumerate(groups) for ch in out]
    if ignore_case:
        lowered = "".join(ch for _, ch in chars).lower()
        owned = []
        cursor = 0
        for g, ch in chars:
            size = 1 if ch == "\u03a3" else len(ch.lower())
            owned += [(g, c) for c in lowered[cursor:cursor + size]]
            cursor += size
        chars = owned
    if "ignorables" in steps:
        chars = [(g, ch) for g, ch in chars if not robust_data.is_default_ignorable(ord(ch))]
    if "confusables" in steps:
        table = robust_data.confusable_skeleton()
        chars = [(g, c) for g, ch in chars for c in table.get(ch, ch)]
    if "separators" in steps:
        chars = [(g, " " if ch.isspace() or unicodedata.category(ch) in ("Pd", "Pc") else ch)
                 for g, ch in chars]
    return "".join(ch for _, ch in chars), [g for g, _ in chars], groups


def transform(text: str, ignore_case=True, normalize=None) -> str:
    """A pattern as compared: normalised, separator runs as one space, ends stripped."""
    t = normalized(text, ignore_case, normalize)[0]
    if "separators" in _steps(normalize):
        t = re.sub(" +", " ", t).strip(" ")
    return t


def unique_patterns(patterns, ignore_case=True, normalize=None) -> list[str]:
    """Transformed patterns, duplicates merged, in first-seen order (= pattern ids)."""
    seen: dict[str, int] = {}
    for p in patterns:
        seen.setdefault(transform(p, ignore_case, normalize), len(seen))
    return list(seen)


def occurrences(keys: list[str], text: str, ignore_case=True, whole_words=True,
                normalize=None, join=False, inflect=None):
    """``(pattern_id, first unit, end unit)`` of every occurrence, in the original units."""
    steps = _steps(normalize)
    if inflect is None:
        inflect = normalize == "robust"
    t, owner, units = normalized(text, ignore_case, normalize)

    def edge_before(k):  # a whole word may start at k
        if k == 0:
            return True
        return owner[k - 1] != owner[k] and not units[owner[k - 1]][2][-1:].isalnum()

    def edge_after(k):  # a whole word may end at k
        if k == len(t):
            return True
        return owner[k - 1] != owner[k] and not units[owner[k]][2][:1].isalnum()

    found = {}  # (pattern id, start in the compared text) -> units
    for pid, key in enumerate(keys):
        forms = [key] + ([key.replace(" ", "")] if join and " " in key else [])
        for form in forms:
            if "separators" in steps:
                regex = re.compile(" +".join(re.escape(w) for w in form.split(" ")))
            else:
                regex = re.compile(re.escape(form))
            for start in range(len(t)):
                m = regex.match(t, start)
                if not m:
                    continue
                end = m.end()
                if whole_words:
                    if not written_without_spaces(form[0]) and not edge_before(start):
                        continue
                    if not written_without_spaces(form[-1]) and not edge_after(end):
                        for suffix in ("s", "es") if inflect else ():
                            if t.startswith(suffix, end) and edge_after(end + len(suffix)):
                                end += len(suffix)
                                break
                        else:
                            continue
                found[pid, start] = (pid, owner[start], owner[end - 1] + 1)
    return [found[k] for k in sorted(found)]


def counts(patterns, texts, ignore_case=True, whole_words=True, normalize=None,
           join=False, inflect=None) -> list[int]:
    keys = unique_patterns(patterns, ignore_case, normalize)
    return [
        0 if text is None else len(occurrences(keys, text, ignore_case, whole_words,
                                               normalize, join, inflect))
        for text in texts
    ]


def byte_spans(patterns, texts, whole_words=True, ignore_case=True, normalize=None,
               join=False, inflect=None) -> list[tuple[int, int, int, int]]:
    """``(row, start_byte, end_byte, pattern_id)`` in the original UTF-8."""
    keys = unique_patterns(patterns, ignore_case, normalize)
    spans = []
    for row, text in enumerate(texts):
        if text is None:
            continue
        units = normalized(text, ignore_case, normalize)[2]
        byte_at = [0]
        for ch in text:
            byte_at.append(byte_at[-1] + len(ch.encode()))
        for pid, first, end in occurrences(keys, text, ignore_case, whole_words, normalize,
                                           join, inflect):
            spans.append((row, byte_at[units[first][0]], byte_at[units[end - 1][1]], pid))
    return sorted(spans)
