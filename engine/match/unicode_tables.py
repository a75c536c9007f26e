"""Unicode tables for the matcher kernel, derived from the running Python.

The matcher promises Python's own semantics (``str.lower``, ``str.isalnum``, NFKC), so the
tables are computed from this interpreter's Unicode database rather than shipped; the
normalisation steps' own data (ignorables, confusables) comes from
``engine.match.robust_data``. ``transform_tables`` turns the steps into one output per code
point for the kernel, and says which code points it must leave to the exact Python path. Computing
them takes about half a second, so the result is kept in a cache file per Python and
Unicode version (``$XDG_CACHE_HOME/filter-engine``), which every worker process then loads
in milliseconds; without a writable cache they are simply computed.
"""

from __future__ import annotations

import functools
import hashlib
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
    return _load_or_compute(_cache_path(), _compute_kernel_tables)


def _compute_kernel_tables() -> dict[str, np.ndarray]:
    pages, entries, pool = lower_tables()
    cased, ignorable = sigma_context_bitmaps()
    return {"alnum": alnum_bitmap(), "lower_pages": pages, "lower_entries": entries,
            "lower_pool": pool, "cased": cased, "ignorable": ignorable}


def _load_or_compute(path: Path, compute) -> dict[str, np.ndarray]:
    """The tables cached at ``path``, else ``compute()``'s, saved there atomically for the
    next process (without a writable cache they are simply computed)."""
    try:
        with np.load(path, allow_pickle=False) as cached:
            return {name: cached[name] for name in cached.files}
    except (OSError, ValueError, KeyError):
        pass
    tables = compute()
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


#: ``transform_tables`` entry for a code point whose output is empty (a removed
#: ignorable): offset 1 in the pool, length 0.
EMPTY_OUTPUT = 1 << 3
#: The longest output (UTF-8 bytes) the kernel writes for one code point; its scratch
#: buffer holds four output bytes per input byte. Longer outputs go the exact way.
MAX_OUTPUT = 7


def transform_tables(steps: tuple[str, ...], lower: bool) -> dict[str, np.ndarray]:
    """The kernel's per-code-point transform for ``steps`` (and lower-casing).

    Returns ``lower_pages``, ``lower_entries``, ``lower_pool`` (as ``lower_tables``: each
    non-ASCII code point's output on its own, 0 where unchanged, ``EMPTY_OUTPUT`` where
    removed); ``slow``: a bitmap of code points whose output depends on their
    neighbours (NFKC composition, combining marks, capital sigma once other steps
    apply) or is longer than ``MAX_OUTPUT``; rows with one go the exact Python way
    (``text_transform.transform_with_map``); and ``edge``: code points whose output
    is not a word edge where they are not (and the reverse), so that the rows that hold
    one get word edges judged on their original characters. Cached on disk like
    ``kernel_tables``.
    """
    if not steps:
        return _lower_only() if lower else _identity()
    return _cached_transform(tuple(s for s in steps if s != "html"), lower)


@functools.cache
def _identity() -> dict[str, np.ndarray]:
    empty = np.zeros(MAX_CODE_POINT // 8, np.uint8)
    return {"lower_pages": np.full(MAX_CODE_POINT >> 8, NO_PAGE, np.uint32),
            "lower_entries": np.zeros(256, np.uint32), "lower_pool": np.zeros(1, np.uint8),
            "slow": empty, "edge": empty}


@functools.cache
def _lower_only() -> dict[str, np.ndarray]:
    base = kernel_tables()
    pages, entries = base["lower_pages"], base["lower_entries"]
    edge = np.zeros(MAX_CODE_POINT, dtype=bool)
    for page in np.flatnonzero(pages != NO_PAGE):
        block = entries[pages[page] * 256 : pages[page] * 256 + 256]
        for offset in np.flatnonzero(block):
            ch = chr(int(page) * 256 + int(offset))
            edge[ord(ch)] = ch != "Σ" and _moves_edges(ch, ch.lower())
    return {"lower_pages": pages, "lower_entries": entries, "lower_pool": base["lower_pool"],
            "slow": np.zeros(MAX_CODE_POINT // 8, np.uint8),
            "edge": np.packbits(edge, bitorder="little")}


def _moves_edges(ch: str, out: str) -> bool:
    """Whether judging word edges on ``out`` could differ from judging them on ``ch``:
    a character of ``out`` differs from ``ch`` in being alphanumeric, or ``out`` has
    inner positions that would look like edges."""
    if not out:
        return False
    alnum = ch.isalnum()
    return any(c.isalnum() != alnum for c in out) or (len(out) > 1 and not alnum)


@functools.cache
def _cached_transform(steps: tuple[str, ...], lower: bool) -> dict[str, np.ndarray]:
    fingerprint = hashlib.sha1(repr((steps, lower)).encode())
    if "ignorables" in steps or "confusables" in steps:
        from engine.match import robust_data
        for data in (robust_data.IGNORABLE_FILE, robust_data.SKELETON_FILE):
            fingerprint.update(data.read_bytes())
    path = _cache_path().with_name(
        _cache_path().stem.replace("unicode-tables-v1", "transform-v2") + "-"
        + fingerprint.hexdigest()[:16] + ".npz")
    return _load_or_compute(path, lambda: _compute_transform(steps, lower))


def _compute_transform(steps: tuple[str, ...], lower: bool) -> dict[str, np.ndarray]:
    from engine.match import text_transform as tt

    nfkc = "nfkc" in steps
    candidates: set[int] = set()
    second = tt.composing_characters() if nfkc else frozenset()
    if lower:
        pages, entries, _ = lower_tables()
        for page in np.flatnonzero(pages != NO_PAGE):
            block = entries[pages[page] * 256 : pages[page] * 256 + 256]
            candidates.update(int(page) * 256 + int(i) for i in np.flatnonzero(block))
    if "ignorables" in steps:
        from engine.match import robust_data
        for first, last in robust_data.default_ignorable_ranges():
            candidates.update(range(first, last + 1))
    if "confusables" in steps:
        candidates.update(ord(ch) for ch in tt.skeleton())
    for cp in range(0x80, MAX_CODE_POINT):
        if 0xD800 <= cp < 0xE000:
            continue
        ch = chr(cp)
        if "separators" in steps and tt.is_separator(ch):
            candidates.add(cp)
        if nfkc and (unicodedata.combining(ch) or unicodedata.decomposition(ch)):
            candidates.add(cp)
    candidates.update(ord(ch) for ch in second)

    def composes(ch: str) -> bool:
        return bool(unicodedata.combining(ch)) or ch in second

    slow = np.zeros(MAX_CODE_POINT, dtype=bool)
    edge = np.zeros(MAX_CODE_POINT, dtype=bool)
    outputs: dict[int, bytes] = {}
    for cp in sorted(candidates):
        if cp < 0x80 or 0xD800 <= cp < 0xE000:
            continue
        ch = chr(cp)
        text = ch
        if nfkc:
            text = unicodedata.normalize("NFKC", ch)
            if composes(ch) or composes(text[0]):
                slow[cp] = True
                continue
        if lower and "\u03a3" in text:
            slow[cp] = True
            continue
        out = tt.map_chars(text.lower() if lower else text, steps)
        if "separators" in steps:
            out = tt.separators_to_spaces(out)
        if out == ch:
            continue
        edge[cp] = _moves_edges(ch, out)
        encoded = out.encode()
        if len(encoded) > MAX_OUTPUT:
            slow[cp] = True
        else:
            outputs[cp] = encoded
    page_index = np.full(MAX_CODE_POINT >> 8, NO_PAGE, dtype=np.uint32)
    pages_out: list[np.ndarray] = []
    pool = bytearray(b"\0")
    for cp, encoded in outputs.items():
        if page_index[cp >> 8] == NO_PAGE:
            page_index[cp >> 8] = len(pages_out)
            pages_out.append(np.zeros(256, dtype=np.uint32))
        page = pages_out[page_index[cp >> 8]]
        if encoded:
            page[cp & 255] = (len(pool) << 3) | len(encoded)
            pool += encoded
        else:
            page[cp & 255] = EMPTY_OUTPUT
    return {"lower_pages": page_index,
            "lower_entries": np.concatenate(pages_out) if pages_out else np.zeros(256, np.uint32),
            "lower_pool": np.frombuffer(bytes(pool), dtype=np.uint8),
            "slow": np.packbits(slow, bitorder="little"),
            "edge": np.packbits(edge, bitorder="little")}


def needed_bitmap(tables: dict[str, np.ndarray], used_bytes: np.ndarray) -> np.ndarray:
    """Code points whose transform can change what an automaton sees.

    ``used_bytes[b]`` is True where byte ``b`` occurs in a pattern. A code point matters
    if its output is removed (its neighbours join) or holds a used byte. A row with none
    of them is scanned as it is: boundaries are judged on the original characters
    anyway, and neither form of the others can be part of a match.
    """
    pages, entries, pool = tables["lower_pages"], tables["lower_entries"], tables["lower_pool"]
    flags = np.zeros(MAX_CODE_POINT, dtype=bool)
    used_prefix = np.concatenate([[0], np.cumsum(used_bytes[pool].astype(np.int64))])
    sigma_used = bool(used_bytes[0xCF])
    for page in np.flatnonzero(pages != NO_PAGE):
        block = entries[pages[page] * 256 : pages[page] * 256 + 256].astype(np.int64)
        hit = np.flatnonzero(block)
        values = block[hit]
        context = values == CONTEXT_DEPENDENT
        offset, length = values >> 3, values & 7
        safe_off = np.where(context, 0, offset)
        safe_end = np.where(context, 0, offset + length)
        holds_used = used_prefix[safe_end] > used_prefix[safe_off]
        matters = np.where(context, sigma_used, (length == 0) | holds_used)
        flags[int(page) * 256 + hit[matters]] = True
    return np.packbits(flags, bitorder="little")
