"""Type stub for the compiled matcher kernel (src_cython/_matcher.pyx); use engine.match.matcher."""

import numpy as np
import numpy.typing as npt
from typing_extensions import disjoint_base

#: Row status codes written by ``classify_rows`` and the scan.
ROW_STATUS: dict[str, int]
#: Scan flags: whole_words, detail, spans, transform, fold, inflect.
FLAGS: dict[str, int]
#: Per-entry flags: sep, left_free, right_free.
ENTRY_FLAGS: dict[str, int]
#: ASCII bytes that are separators (``str.isspace``, ``-``, ``_``).
SEPARATOR_BYTES: bytes

#: Automata with more entries, or more distinct fingerprints, scan every byte.
PREFILTER_MAX_ENTRIES: int
PREFILTER_MAX_PRINTS: int
#: Prefilter implementations by name: scalar, sse41, avx2.
SIMD_LEVELS: dict[str, int]

def simd_levels() -> list[str]:
    """The prefilter implementations this CPU and build run, slowest first."""

def simd_level() -> str:
    """The implementation scans use now, or ``"off"``."""

def set_simd_level(name: str) -> str:
    """Use ``name`` (one of ``simd_levels()`` or ``"off"``) from now on; the previous one."""

def set_split_bytes(n: int) -> int:
    """Cut rows of at least ``n`` bytes across the scan's streams; the previous threshold."""

def prefilter_masks(
    table: npt.NDArray[np.uint32],
    outputs: npt.NDArray[np.int32],
    classes: npt.NDArray[np.uint8],
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]] | None:
    """Nibble masks ``(lo, hi)`` of the entries' first byte classes in 8 buckets, or None
    (too many fingerprints)."""

def build_automaton(
    pat_data: npt.NDArray[np.uint8],
    pat_offs: npt.NDArray[np.int64],
    order: npt.NDArray[np.int64],
    ignore_case: bool,
    max_table_bytes: int,
    counts: npt.NDArray[np.int32],
    separators: bool,
    dense_bytes: int,
) -> dict:
    """Automaton for unique, transformed entries given in byte ``order`` (``counts``:
    patterns per entry; ``separators``: a run of separators matches a space; dense rows
    for the first states up to ``dense_bytes``, edge lists for the rest): table, sparse,
    edges, classes, outputs, n_states, n_dense, n_classes, stride, sep_class.
    OverflowError if too large."""

def check_table(
    table: npt.NDArray[np.uint32],
    outputs: npt.NDArray[np.int32],
    S: int,
    D: int,
    C: int,
    W: int,
    sparse: npt.NDArray[np.uint32],
    edges: npt.NDArray[np.uint32],
) -> str | None:
    """First layout problem of a (loaded) automaton, or None."""

def bitmap_prefixes(*bitmaps: npt.NDArray[np.uint8] | None) -> npt.NDArray[np.uint8] | None:
    """First two or three UTF-8 bytes of the bitmaps' non-ASCII code points, ``(k, 3)``
    (third 0: a two-byte prefix); None when more than the vector path checks."""

def classify_rows(
    offsets: npt.NDArray[np.int64],
    data: npt.NDArray[np.uint8],
    valid: npt.NDArray[np.bool_] | None,
    status: npt.NDArray[np.uint8],
    needed_bits: npt.NDArray[np.uint8] | None = None,
    slow_bits: npt.NDArray[np.uint8] | None = None,
    edge_bits: npt.NDArray[np.uint8] | None = None,
    amp: bool = False,
    prefixes: npt.NDArray[np.uint8] | None = None,
) -> None:
    """Per-row status: ascii, unicode_plain, unicode (needs its transform), unicode_edges,
    slow, amp, invalid, null."""

@disjoint_base  # a cdef class: no multiple inheritance with another C base
class Automaton:
    """A frozen automaton over NumPy (possibly memory-mapped) arrays."""

    arrays: dict[str, np.ndarray]
    n_patterns: int
    @property
    def prefilter(self) -> bool:
        """Whether scans skip ahead with the packed-literal prefilter."""

    def __init__(
        self,
        arrays: dict[str, np.ndarray],
        n_categories: int,
        alnum_bits: npt.NDArray[np.uint8],
        lower_tables: tuple[np.ndarray, ...],
    ) -> None: ...
    def scan_chunk(
        self,
        offsets: npt.NDArray[np.int64],
        data: npt.NDArray[np.uint8],
        status: npt.NDArray[np.uint8],
        flags: int,
        span_row_base: int,
        total: npt.NDArray[np.int32],
        distinct: npt.NDArray[np.int32],
        by_cat: npt.NDArray[np.int32],
        wsum: npt.NDArray[np.float64],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """Scan the rows of one chunk; spans ``(row, start, end, pattern_id)`` if asked."""
    def transform_row(
        self, data: npt.NDArray[np.uint8]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The kernel's transform of one row: ``(fed, map_start, map_end, edges)``."""
    def scan_fed(
        self,
        fed: npt.NDArray[np.uint8],
        map_start: npt.NDArray[np.int32],
        map_end: npt.NDArray[np.int32],
        edges: npt.NDArray[np.uint8],
        row: int,
        flags: int,
        span_row: int,
        total: npt.NDArray[np.int32],
        distinct: npt.NDArray[np.int32],
        by_cat: npt.NDArray[np.int32],
        wsum: npt.NDArray[np.float64],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """Scan one row already transformed by the exact Python path."""
