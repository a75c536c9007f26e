"""Entries of a dictd database (``NAME.index`` + ``NAME.dict.dz``) from Debian's ``dict-*``.

One document is one block of the ``.dict`` file; several index lines may point into one block
(GCIDE lists sub-entries that way), so blocks are keyed by their offset, not by index line.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64 = {c: i for i, c in enumerate(_ALPHABET)}


def _b64(s: str) -> int:
    n = 0
    for c in s:
        n = n * 64 + _B64[c]
    return n


@dataclass
class Entry:
    """One dictionary block: ``headwords`` are the lines that name it, ``text`` the whole block."""

    offset: int
    headwords: list[str]
    text: str


def _headwords(db: str, block: str) -> list[str]:
    lines = block.strip("\n").split("\n")
    if db == "gcide":  # "Sarin \Sar"in\, n. ..." -> the spelling before the pronunciation
        return [lines[0].split(" \\")[0].strip()]
    if db == "devil":  # "WAR, n.  A by-product..." -> "war"
        return [lines[0].split(",")[0].strip().lower()]
    if db == "foldoc":  # name and aliases, one per line, until the first blank line
        heads = []
        for line in lines:
            if not line.strip():
                break
            heads.append(line.strip())
        return heads
    return [lines[0].strip()]


def entries(dict_dir: Path, db: str) -> Iterator[Entry]:
    """Yield every block of database ``db`` once, in file order, skipping dictd's own metadata."""
    with gzip.open(dict_dir / f"{db}.dict.dz") as fh:  # dictzip is gzip-compatible
        data = fh.read()
    blocks: dict[int, int] = {}
    with open(dict_dir / f"{db}.index", encoding="utf-8") as fh:
        for line in fh:
            head, off, length = line.rstrip("\n").split("\t")[:3]
            if head.startswith("00-database") or head.startswith("00database"):
                continue
            blocks[_b64(off)] = _b64(length)
    for off in sorted(blocks):
        block = data[off : off + blocks[off]].decode("utf-8", errors="replace")
        if block.strip():
            yield Entry(off, _headwords(db, block), block.strip())
