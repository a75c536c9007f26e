"""The exact (slow) text transform, for the rows the kernel hands back.

The kernel lower-cases most rows itself. Rows that need NFKC, or whose lower-casing
depends on context (capital sigma), come here: the text is transformed exactly as
``normalize_text`` would, and every output byte remembers which span of the original
UTF-8 it came from, so that match spans still point into the original text.
"""

from __future__ import annotations

import unicodedata

import numpy as np


def normalize_text(text: str, nfkc: bool, lower: bool) -> str:
    """The text the patterns are compared with: NFKC first, then ``str.lower``."""
    if nfkc:
        text = unicodedata.normalize("NFKC", text)
    return text.lower() if lower else text


def transform_with_map(text: str, nfkc: bool, lower: bool):
    """``normalize_text`` as UTF-8 bytes plus per-byte original byte ranges.

    Returns ``(data uint8[m], map_start int32[m], map_end int32[m])`` where output byte
    ``i`` came from original bytes ``[map_start[i], map_end[i])``.
    """
    pieces = _nfkc_pieces(text) if nfkc else _char_pieces(text)
    if lower:
        pieces = _lowered(pieces)
    out = bytearray()
    starts: list[int] = []
    ends: list[int] = []
    for begin, end, piece in pieces:
        encoded = piece.encode()
        out += encoded
        starts.extend([begin] * len(encoded))
        ends.extend([end] * len(encoded))
    return (
        np.frombuffer(bytes(out), dtype=np.uint8),
        np.asarray(starts, dtype=np.int32),
        np.asarray(ends, dtype=np.int32),
    )


def _byte_positions(text: str) -> list[int]:
    positions = [0]
    for ch in text:
        positions.append(positions[-1] + len(ch.encode()))
    return positions


def _char_pieces(text: str) -> list[tuple[int, int, str]]:
    pos = _byte_positions(text)
    return [(pos[i], pos[i + 1], ch) for i, ch in enumerate(text)]


def _nfkc_pieces(text: str) -> list[tuple[int, int, str]]:
    """Split ``text`` into runs that NFKC-normalise independently of each other.

    A run ends before a starter character whose normalisation does not interact with
    the run so far. If the pieces do not add up to the whole (they always should), the
    row becomes one piece: counts stay exact, spans widen to the whole row.
    """
    pos = _byte_positions(text)
    pieces = []
    start = 0
    for i in range(1, len(text) + 1):
        if i < len(text):
            ch = text[i]
            if unicodedata.combining(ch):
                continue
            run = text[start:i]
            if unicodedata.normalize("NFKC", run + ch) != (
                unicodedata.normalize("NFKC", run) + unicodedata.normalize("NFKC", ch)
            ):
                continue
        pieces.append((pos[start], pos[i], unicodedata.normalize("NFKC", text[start:i])))
        start = i
    if "".join(p for _, _, p in pieces) != unicodedata.normalize("NFKC", text):
        return [(0, pos[-1], unicodedata.normalize("NFKC", text))]
    return pieces


def _lowered(pieces: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Lower-case piece by piece with the context of the whole text (final sigma)."""
    whole = "".join(p for _, _, p in pieces)
    lowered = whole.lower()
    out = []
    cursor = 0
    for begin, end, piece in pieces:
        size = sum(1 if ch == "\u03a3" else len(ch.lower()) for ch in piece)
        out.append((begin, end, lowered[cursor : cursor + size]))
        cursor += size
    if cursor != len(lowered):  # never expected; keep counts exact regardless
        return [(pieces[0][0] if pieces else 0, pieces[-1][1] if pieces else 0, lowered)]
    return out
