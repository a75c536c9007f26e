"""Unicode tables for the matcher kernel, derived from the running Python.

The matcher promises Python's own semantics (``str.lower`` and ``str.isalnum``), so the
tables are computed from this interpreter's Unicode database rather than shipped. Computing
them takes about half a second, so the result is kept in a cache file per Python and
Unicode version (``$XDG_CACHE_HOME/filter-engine``), which every worker process then loads
in milliseconds; without a writable cache they are simply computed.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import tempfile
import unicodedata
from pathlib import Path

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
def kernel_tables() -> dict[str, np.ndarray]:
    """Every table the kernel needs: ``alnum``, ``lower_pages``, ``lower_entries``,
    ``lower_pool``, ``cased``, ``ignorable`` (see the functions below)."""
    path = _cache_path()
    try:
        with np.load(path, allow_pickle=False) as cached:
            return {name: cached[name] for name in cached.files}
    except (OSError, ValueError, KeyError):
        pass
    pages, entries, pool = lower_tables()
    cased, ignorable = sigma_context_bitmaps()
    tables = {"alnum": alnum_bitmap(), "lower_pages": pages, "lower_entries": entries,
              "lower_pool": pool, "cased": cased, "ignorable": ignorable}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as f:
            np.savez(f, allow_pickle=False, **tables)
        os.replace(f.name, path)
    except OSError:
        pass
    return tables


def _cache_path() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    version = f"py{sys.version_info[0]}.{sys.version_info[1]}-ucd{unicodedata.unidata_version}"
    return root / "filter-engine" / f"unicode-tables-v1-{version}.npz"


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
                # The kernel's scratch buffer relies on this bound.
                assert len(encoded) <= min(7, 2 * len(ch.encode())), hex(ord(ch))
                entries[i] = (len(pool) << 3) | len(encoded)
                pool += encoded
        page_index[first >> 8] = len(pages)
        pages.append(entries)
    table = np.concatenate(pages) if pages else np.zeros(256, np.uint32)
    return page_index, table, np.frombuffer(bytes(pool), dtype=np.uint8)


@functools.cache
def sigma_context_bitmaps() -> tuple[np.ndarray, np.ndarray]:
    """``(cased, case_ignorable)`` bitmaps, as ``str.lower`` uses them for final sigma.

    Python lowers capital sigma to final sigma after a cased letter (skipping
    case-ignorable characters) unless a cased letter follows. The properties are read
    off ``str.lower`` itself, for every code point at once: in ``"AxΣ"`` the sigma is
    final iff ``x`` is case-ignorable or cased; in ``"1xΣ"`` iff ``x`` is cased and
    not case-ignorable. (Cased-ness of an ignorable character never matters.)
    """
    cps = np.arange(MAX_CODE_POINT, dtype=np.uint32)
    cps[(cps >= 0xD800) & (cps < 0xE000)] = 0x20  # surrogates cannot be encoded
    cps[0] = 0x20

    def sigma_is_final(first: str) -> np.ndarray:
        probe = np.empty((MAX_CODE_POINT, 4), dtype=np.uint32)
        probe[:, 0] = ord(first)
        probe[:, 1] = cps
        probe[:, 2] = 0x3A3
        probe[:, 3] = 0
        lowered = probe.tobytes().decode("utf-32-le").lower().encode("utf-32-le")
        out = np.frombuffer(lowered, dtype=np.uint32)
        return out[np.flatnonzero(out == 0) - 1] == 0x3C2

    after_cased = sigma_is_final("A")
    after_digit = sigma_is_final("1")
    ignorable = after_cased & ~after_digit
    cased = after_digit
    ignorable[0] = cased[0] = False
    return (np.packbits(cased, bitorder="little"), np.packbits(ignorable, bitorder="little"))


def lowering_needed_bitmap(used_bytes: np.ndarray) -> np.ndarray:
    """Code points whose lower-casing can change what an automaton sees.

    ``used_bytes[b]`` is True where byte ``b`` occurs in a (lower-cased) pattern. A code
    point matters if its lowering differs and either contains a used byte or changes
    whether its neighbours see an alphanumeric character. Others (most non-ASCII text
    against ASCII blocklists) can be scanned as they are: neither form can be part of a
    match, and both end the automaton's current match attempt alike.
    """
    tables = kernel_tables()
    page_index, entries = tables["lower_pages"], tables["lower_entries"]
    flags = np.zeros(MAX_CODE_POINT, dtype=bool)
    for page in np.flatnonzero(page_index != NO_PAGE):
        block = entries[page_index[page] * 256 : page_index[page] * 256 + 256]
        for offset in np.flatnonzero(block):
            ch = chr(int(page) * 256 + int(offset))
            forms = ["\u03c3", "\u03c2"] if ch == "\u03a3" else [ch.lower()]
            flags[ord(ch)] = any(
                any(used_bytes[b] for b in form.encode())
                or ch.isalnum() != form[0].isalnum() or ch.isalnum() != form[-1].isalnum()
                for form in forms)
    return np.packbits(flags, bitorder="little")
