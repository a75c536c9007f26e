"""The normalisation steps of the matcher, done exactly in Python.

Patterns always come through here; text rows come here only when the kernel cannot
transform them on its own (a composing or context-dependent character, an HTML character
reference). The steps, in the order they apply (see ``Matcher`` for the user's view):

``html``
    Character references (``&#97;``, ``&#x61;``, ``&amp;``, HTML5 rules) become the
    characters they stand for.
``nfkc``
    Unicode NFKC.
(lower-casing, when ``ignore_case``)
    ``str.lower`` of the whole text (capital sigma depends on its neighbours).
``ignorables``
    Characters with the UCD property ``Default_Ignorable_Code_Point`` are removed.
``confusables``
    A character that Unicode TS #39 lists as confusable with a Latin prototype (Latin,
    Cyrillic, Greek and full-width look-alikes) becomes that prototype, lower-cased
    (``engine.match.robust_data.confusable_skeleton``).
``separators``
    Whitespace (``str.isspace``), dashes (category Pd) and connector punctuation such as
    ``_`` (category Pc) become one space each. In patterns, a run of them becomes one
    space and runs at either end are removed; in text a run matches that one space.

``transform_with_map`` keeps, for every output byte, the span of the original UTF-8 it
came from, so that match spans still point into the original text, and which output
positions are word edges judged on the original characters (see ``EDGE_START``).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable

import numpy as np

STEPS = ("html", "nfkc", "ignorables", "confusables", "separators")
PRESETS: dict[str | None, tuple[str, ...]] = {None: (), "nfkc": ("nfkc",), "robust": STEPS}
#: ``edges`` bits: a match may start here (the original character before is a word
#: edge), a match may end here (the original character after is a word edge).
EDGE_START, EDGE_END = 1, 2
#: Blocks of the scripts written without spaces between words (Thai, Lao, Myanmar,
#: Khmer, Han, Hiragana, Katakana): a pattern edge in one of them needs no word boundary.
NO_SPACE_BLOCKS = (
    (0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x19E0, 0x19FF),
    (0x2E80, 0x2FDF), (0x3005, 0x3007), (0x3021, 0x3029), (0x3038, 0x303B),
    (0x3040, 0x30FF), (0x31F0, 0x31FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
    (0xA9E0, 0xA9FF), (0xAA60, 0xAA7F), (0xF900, 0xFAFF), (0xFF66, 0xFF9F),
    (0x20000, 0x3FFFF),
)


def written_without_spaces(ch: str) -> bool:
    """Whether ``ch`` belongs to a script written without spaces between words."""
    cp = ord(ch)
    return cp >= NO_SPACE_BLOCKS[0][0] and any(lo <= cp <= hi for lo, hi in NO_SPACE_BLOCKS)


def is_separator(ch: str) -> bool:
    """Whitespace, a dash (Pd) or connector punctuation (Pc, e.g. ``_``)."""
    return ch.isspace() or unicodedata.category(ch) in ("Pd", "Pc")


@functools.cache
def _separator_run() -> re.Pattern[str]:
    """A run of separators (``\\s`` is ``str.isspace`` for str patterns; every Pd and
    Pc character lies below U+20000, which ``test_matcher_robust`` checks)."""
    punct = [chr(cp) for cp in range(0x20000)
             if unicodedata.category(chr(cp)) in ("Pd", "Pc")]
    return re.compile("[\\s" + "".join(re.escape(c) for c in punct) + "]+")


def separators_to_spaces(text: str, collapse: bool = False) -> str:
    """Each separator as a space (``collapse``: each run as one space)."""
    if collapse:
        return _separator_run().sub(" ", text)
    return "".join(" " if is_separator(c) else c for c in text)


@functools.cache
def _robust_data():
    from engine.match import robust_data
    return robust_data


@functools.cache
def skeleton() -> dict[str, str]:
    """TS #39 prototypes of non-ASCII look-alikes (see ``engine.match.robust_data``)."""
    return dict(_robust_data().confusable_skeleton())


def is_ignorable(ch: str) -> bool:
    """``Default_Ignorable_Code_Point`` (UCD)."""
    return bool(_robust_data().is_default_ignorable(ord(ch)))


def html_references(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, decoded)`` character positions of each character reference."""
    return list(_robust_data().html_references(text))


def map_chars(text: str, steps: tuple[str, ...]) -> str:
    """The per-character steps after lower-casing: ignorables, then confusables.

    Neither touches ASCII.
    """
    if text.isascii():
        return text
    if "ignorables" in steps:
        text = "".join(ch for ch in text if not is_ignorable(ch))
    if "confusables" in steps:
        table = skeleton()
        text = "".join(table.get(ch, ch) for ch in text)
    return text


def normalize_text(text: str, steps: tuple[str, ...], lower: bool) -> str:
    """A string after every step; separator runs become one space, none at the ends.

    This is what a pattern is compared as, and what ``explain`` shows for a match.
    """
    if "html" in steps and "&" in text:
        text = _decode_references(text)
    if "nfkc" in steps and not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    if lower:
        text = text.lower()
    text = map_chars(text, steps)
    if "separators" in steps:
        text = separators_to_spaces(text, collapse=True).strip(" ")
    return text


def pattern_key(steps: tuple[str, ...], lower: bool) -> Callable[[str], str]:
    """``normalize_text`` for patterns, with a shortcut for the usual ones.

    Only lower-casing can change ASCII text without an ``&`` (``html``) or an ASCII
    separator (``separators``); a million-pattern list is nearly all such text.
    """
    ascii_separators = "".join(ch for ch in map(chr, range(128)) if is_separator(ch))
    special = ("&" if "html" in steps else "") + (
        ascii_separators if "separators" in steps else "")
    needs_steps = re.compile(f"[{re.escape(special)}]").search if special else None

    def key(text: str) -> str:
        if text.isascii() and (needs_steps is None or needs_steps(text) is None):
            return text.lower() if lower else text
        return normalize_text(text, steps, lower)

    return key


def _decode_references(text: str) -> str:
    out = []
    cursor = 0
    for start, end, decoded in html_references(text):
        out.append(text[cursor:start])
        out.append(decoded)
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


def transform_with_map(text: str, steps: tuple[str, ...], lower: bool):
    """The text after every step, as UTF-8 bytes, with original spans and word edges.

    Separators become one space each (not merged: the automaton treats a run of spaces
    as one). Returns ``(data uint8[m], map_start int32[m], map_end int32[m],
    edges uint8[m + 1])``: output byte ``i`` came from original bytes ``[map_start[i],
    map_end[i])``; ``edges[i]`` has ``EDGE_START`` where a match may begin at ``i`` as
    a whole word and ``EDGE_END`` where one may end there. Positions inside the output
    of one original character (or one reference, or one NFKC unit) are neither; at the
    others, the characters compared are the original neighbours, skipping removed
    ignorables.
    """
    pos = _byte_positions(text)
    units = _reference_pieces(text, pos) if "html" in steps else [
        (pos[i], pos[i + 1], ch) for i, ch in enumerate(text)]
    pieces = (_nfkc_pieces(units) if "nfkc" in steps
              else [(b, e, src, src) for b, e, src in units])
    if lower:
        pieces = _lowered(pieces)
    pieces = [(b, e, src, map_chars(out, steps)) for b, e, src, out in pieces]
    if "separators" in steps:
        pieces = [(b, e, src, separators_to_spaces(out)) for b, e, src, out in pieces]
    out = bytearray()
    starts: list[int] = []
    ends: list[int] = []
    edge_at: dict[int, int] = {}
    prev_alnum = False
    for begin, end, src, piece in pieces:
        encoded = piece.encode()
        if not encoded:
            continue
        edge_at[len(out)] = ((0 if prev_alnum else EDGE_START)
                             | (EDGE_END if not src[:1].isalnum() else 0))
        out += encoded
        starts.extend([begin] * len(encoded))
        ends.extend([end] * len(encoded))
        prev_alnum = src[-1:].isalnum()
    edges = np.zeros(len(out) + 1, dtype=np.uint8)
    for at, bits in edge_at.items():
        edges[at] = bits
    edges[len(out)] |= EDGE_END | (0 if prev_alnum else EDGE_START)
    return (
        np.frombuffer(bytes(out), dtype=np.uint8),
        np.asarray(starts, dtype=np.int32),
        np.asarray(ends, dtype=np.int32),
        edges,
    )


#: Where an exact window may begin or end: ASCII whitespace is neither cased nor
#: case-ignorable (final sigma looks no further) and NFKC never joins across it.
_WINDOW_EDGE = frozenset(" \t\n\r\f\v")


@functools.cache
def composing_characters() -> frozenset[str]:
    """Characters NFKC may join to the one before: second halves of canonical pairs and
    Hangul vowel and trailing jamo."""
    second = set()
    for cp in range(0x80, 0x110000):
        parts = unicodedata.decomposition(chr(cp)).split()
        if len(parts) == 2 and not parts[0].startswith("<"):
            second.add(chr(int(parts[1], 16)))
    second.update(chr(cp) for lo, hi in ((0x1161, 0x1175), (0x11A8, 0x11C2))
                  for cp in range(lo, hi + 1))
    return frozenset(second)


def exact_windows(text: str, slow: re.Pattern[str], steps: tuple[str, ...]
                  ) -> list[tuple[int, int]]:
    """Character ranges that need the exact transform: each whitespace-delimited word
    around a ``slow`` character or a character reference (``html``), widened while
    the word starts with a character NFKC could join to the whitespace before it."""
    hits = [m.start() for m in slow.finditer(text)]
    if "html" in steps:
        hits += [start for start, _, _ in html_references(text)]
    windows: list[tuple[int, int]] = []
    for at in sorted(hits):
        if windows and at < windows[-1][1]:
            continue
        start = at
        while start > 0 and not (text[start - 1] in _WINDOW_EDGE and not (
                unicodedata.combining(text[start]) or text[start] in composing_characters())):
            start -= 1
        end = at + 1
        while end < len(text) and text[end] not in _WINDOW_EDGE:
            end += 1
        if windows and start <= windows[-1][1]:
            start = windows.pop()[0]
        windows.append((start, end))
    return windows


def splice(text: str, steps: tuple[str, ...], lower: bool, windows: list[tuple[int, int]],
           kernel: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]):
    """The kernel's transform of ``text`` with each window redone by
    ``transform_with_map``: the same result as ``transform_with_map`` of the whole
    text, at the cost of the windows only."""
    fed, map_start, map_end, edges = kernel
    edges = edges.copy()
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    # Byte offsets counted forward and looked up in one call, in map_start's dtype: a
    # row with many windows (a page full of references) stays linear in its length.
    bounds = np.empty(2 * len(windows), dtype=map_start.dtype)
    char_at, byte_at = 0, 0
    for i, (start, end) in enumerate(windows):
        bounds[2 * i] = byte_at + len(text[char_at:start].encode())
        bounds[2 * i + 1] = byte_at = bounds[2 * i] + len(text[start:end].encode())
        char_at = end
    fed_bounds = np.searchsorted(map_start, bounds, "left").tolist()
    cursor = 0
    for i, (start, end) in enumerate(windows):
        byte_start = int(bounds[2 * i])
        fed_start, fed_end = fed_bounds[2 * i], fed_bounds[2 * i + 1]
        w_fed, w_start, w_end, w_edges = transform_with_map(text[start:end], steps, lower)
        w_edges = w_edges.copy()
        # The character before the window decides whether a word may start at it;
        # the window's last character, whether one may start after it.
        w_edges[0] = (w_edges[0] & EDGE_END) | (edges[fed_start] & EDGE_START)
        edges[fed_end] = (edges[fed_end] & EDGE_END) | (w_edges[-1] & EDGE_START)
        parts.append((fed[cursor:fed_start], map_start[cursor:fed_start],
                      map_end[cursor:fed_start], edges[cursor:fed_start]))
        parts.append((w_fed, w_start + byte_start, w_end + byte_start, w_edges[:-1]))
        cursor = fed_end
    parts.append((fed[cursor:], map_start[cursor:], map_end[cursor:], edges[cursor:]))
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(4))


def _byte_positions(text: str) -> list[int]:
    positions = [0]
    for ch in text:
        positions.append(positions[-1] + len(ch.encode()))
    return positions


def _reference_pieces(text: str, pos: list[int]) -> list[tuple[int, int, str]]:
    """One piece per character, except a character reference: one piece, decoded."""
    pieces = []
    cursor = 0
    for start, end, decoded in html_references(text):
        pieces += [(pos[i], pos[i + 1], text[i]) for i in range(cursor, start)]
        pieces.append((pos[start], pos[end], decoded))
        cursor = end
    pieces += [(pos[i], pos[i + 1], text[i]) for i in range(cursor, len(text))]
    return pieces


def _nfkc_pieces(pieces: list[tuple[int, int, str]]) -> list[tuple[int, int, str, str]]:
    """Merge pieces into runs that NFKC-normalise independently of each other.

    A run ends before a piece that does not start with a combining mark and whose
    normalisation does not interact with the run so far. If the runs do not add up to
    the whole (they always should), the row becomes one run: counts stay exact, spans
    widen to the whole row.
    """
    out = []
    start = 0
    for i in range(1, len(pieces) + 1):
        if i < len(pieces):
            nxt = pieces[i][2]
            if nxt and unicodedata.combining(nxt[0]):
                continue
            run = "".join(p[2] for p in pieces[start:i])
            if unicodedata.normalize("NFKC", run + nxt) != (
                unicodedata.normalize("NFKC", run) + unicodedata.normalize("NFKC", nxt)
            ):
                continue
        src = "".join(p[2] for p in pieces[start:i])
        out.append((pieces[start][0], pieces[i - 1][1], src,
                    unicodedata.normalize("NFKC", src)))
        start = i
    whole = "".join(p[2] for p in pieces)
    if "".join(p[3] for p in out) != unicodedata.normalize("NFKC", whole):
        return [(pieces[0][0], pieces[-1][1], whole, unicodedata.normalize("NFKC", whole))]
    return out


def _lowered(pieces: list[tuple[int, int, str, str]]) -> list[tuple[int, int, str, str]]:
    """Lower-case piece by piece with the context of the whole text (final sigma)."""
    whole = "".join(p[3] for p in pieces)
    lowered = whole.lower()
    out = []
    cursor = 0
    for begin, end, src, piece in pieces:
        size = sum(1 if ch == "\u03a3" else len(ch.lower()) for ch in piece)
        out.append((begin, end, src, lowered[cursor : cursor + size]))
        cursor += size
    if cursor != len(lowered):  # never expected; keep counts exact regardless
        return [(pieces[0][0], pieces[-1][1], "".join(p[2] for p in pieces), lowered)]
    return out
