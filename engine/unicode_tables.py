"""Unicode tables for the matcher kernel, derived from the running Python.

The matcher promises Python's own semantics (``str.lower`` and ``str.isalnum``), so the
tables are computed from this interpreter's Unicode database rather than shipped. Both are
built once per process, a 256-code-point page at a time, in about 50 ms.
"""

from __future__ import annotations

import functools
import re

import numpy as np

MAX_CODE_POINT = 0x110000
NO_PAGE = 0xFFFFFFFF
#: Entry value for a code point whose lower-casing depends on its neighbours (capital
#: sigma becomes final sigma at the end of a word).
CONTEXT_DEPENDENT = 0xFFFFFFFF
_ANY_ALNUM = re.compile(r"[^\W_]")


def _page(first: int) -> str:
    return "".join(
        chr(cp) if not 0xD800 <= cp < 0xE000 else " " for cp in range(first, first + 256)
    )


@functools.cache
def alnum_bitmap() -> np.ndarray:
    """``uint8[0x110000 / 8]``, bit ``cp`` set where ``chr(cp).isalnum()``."""
    flags = np.zeros(MAX_CODE_POINT, dtype=bool)
    for first in range(0, MAX_CODE_POINT, 256):
        block = _page(first)
        if block.isalnum():
            flags[first : first + 256] = True
        elif _ANY_ALNUM.search(block):
            flags[first : first + 256] = [ch.isalnum() for ch in block]
    return np.packbits(flags, bitorder="little")


@functools.cache
def lower_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two-level table of ``str.lower`` for non-ASCII code points.

    Returns ``(page_index, entries, pool)``: ``page_index[cp >> 8]`` is a page number or
    ``NO_PAGE``; ``entries[page * 256 + (cp & 255)]`` is 0 (unchanged), or
    ``offset << 3 | length`` of the lowered UTF-8 bytes in ``pool``, or
    ``CONTEXT_DEPENDENT``.
    """
    page_index = np.full(MAX_CODE_POINT >> 8, NO_PAGE, dtype=np.uint32)
    pages: list[np.ndarray] = []
    pool = bytearray(b"\0")
    for first in range(0, MAX_CODE_POINT, 256):
        block = _page(first)
        if block.lower() == block:
            continue
        entries = np.zeros(256, dtype=np.uint32)
        for i, ch in enumerate(block):
            if ord(ch) < 0x80:
                continue
            lowered = ch.lower()
            if ch == "\u03a3":
                entries[i] = CONTEXT_DEPENDENT
            elif lowered != ch:
                encoded = lowered.encode()
                if len(encoded) > 7 or len(encoded) > 2 * len(ch.encode()):
                    entries[i] = CONTEXT_DEPENDENT  # the exact Python path handles it
                    continue
                entries[i] = (len(pool) << 3) | len(encoded)
                pool += encoded
        page_index[first >> 8] = len(pages)
        pages.append(entries)
    table = np.concatenate(pages) if pages else np.zeros(256, np.uint32)
    return page_index, table, np.frombuffer(bytes(pool), dtype=np.uint8)
