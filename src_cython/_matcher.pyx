# cython: language_level=3
"""Aho-Corasick automaton build and nogil batch scan (private; use engine.matcher).

The automaton is a DFA over byte classes: every byte that occurs in a pattern gets a class
of its own (ASCII upper case shares the lower-case class when case is ignored), every
other byte is class 0 and leads back to the root. The shallow states (breadth-first, up
to a byte budget) have dense rows with failure transitions folded in, ids premultiplied
by the row width and the output flag in the low bit, so the hot loop is one table load
per byte plus one compare. Deeper states, which a million patterns make by the ten
million but text rarely reaches, keep only their trie edges and a failure link (about
16 bytes a state instead of 4 per byte class): a step from one searches its few edges
and falls back along failure links to a dense row.

With the ``separators`` step, every ASCII separator byte shares the space's class and a
state entered by it loops on it, so a run of separators is one space; entries with a
space find their start by walking back over the text. Rows with non-ASCII text go
through a per-code-point transform table (lower-casing and the normalisation steps) into
a scratch buffer first, with word edges judged on the original characters where the
transform changes what is alphanumeric.

Rows are scanned several at a time (``N_STREAMS`` independent streams in one loop) so
that the table loads of different streams overlap instead of waiting on each other; the
dense-table step and its loop are C (``dfa_step.h``), so that the compiler keeps each
step one load long.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, getenv, malloc, realloc
from libc.string cimport memcpy, memset

cdef extern from "teddy.h" nogil:
    enum: FE_TEDDY_K
    enum: FE_SIMD_SCALAR
    enum: FE_SIMD_SSE41
    enum: FE_SIMD_AVX2
    ctypedef struct fe_teddy:
        uint8_t lo[3][16]
        uint8_t hi[3][16]
    int fe_simd_cpu_level()
    int64_t fe_teddy_find(const fe_teddy* t, int level, const uint8_t* p, int64_t n,
                          int64_t i)

cdef extern from "dfa_step.h" nogil:
    uint32_t fe_dfa_step(const uint32_t* table, uint32_t e, uint32_t c)
    enum: FE_DFA_STREAMS
    int64_t fe_dfa_run(const uint32_t* table, const uint8_t* cls, const uint8_t** p,
                       uint32_t* s, int64_t t, int64_t m)

cdef extern from "ascii_run.h" nogil:
    int64_t fe_ascii_run(int level, const uint8_t* p, int64_t n, int64_t i, int stop_amp)

cdef extern from "utf8_status.h" nogil:
    enum: FE_PREFIXES_MAX
    enum: FE_U8_INVALID
    enum: FE_U8_UNICODE
    enum: FE_U8_AMP
    enum: FE_U8_PREFIX
    ctypedef struct fe_prefixes:
        int n
        uint8_t lead[8]
        uint8_t next[8]
        uint8_t third[8]
    int fe_utf8_status(int level, const uint8_t* p, int64_t n, const fe_prefixes* pre,
                       int want_amp)

import numpy as np

cimport numpy as cnp

cnp.import_array()

# Row status codes shared with engine/matcher.py.
cdef enum:
    ROW_ASCII = 0
    ROW_UNICODE = 1
    ROW_INVALID = 2
    ROW_NULL = 3
    ROW_SLOW = 4
    ROW_UNICODE_PLAIN = 5   # valid UTF-8 whose lower-casing cannot change any match
    ROW_AMP = 6             # has '&': the caller looks for character references
    ROW_UNICODE_EDGES = 7   # unicode whose transform changes what is alphanumeric

cdef enum:
    F_WHOLE_WORDS = 1
    F_DETAIL = 4
    F_SPANS = 8
    F_TRANSFORM = 16
    F_FOLD = 32        # case is ignored: an inflection may be upper case in raw rows
    F_INFLECT = 64     # whole words may end in -s / -es

cdef enum:
    # Per automaton entry (a transformed pattern, or its joined form).
    ENT_SEP = 1         # holds separators: its start is found by walking back
    ENT_LEFT_FREE = 2   # starts in a script written without spaces: no boundary before
    ENT_RIGHT_FREE = 4  # ends in such a script: no boundary after

cdef enum:
    EDGE_START = 1
    EDGE_END = 2

cdef enum:
    N_STREAMS = FE_DFA_STREAMS
    IDLE_BYTES = 4096

cdef uint32_t LOWER_CONTEXT = 0xFFFFFFFFU
cdef uint32_t NO_PAGE = 0xFFFFFFFFU

ROW_STATUS = {
    "ascii": ROW_ASCII, "unicode": ROW_UNICODE, "invalid": ROW_INVALID,
    "null": ROW_NULL, "slow": ROW_SLOW, "unicode_plain": ROW_UNICODE_PLAIN, "amp": ROW_AMP,
    "unicode_edges": ROW_UNICODE_EDGES,
}
FLAGS = {
    "whole_words": F_WHOLE_WORDS, "detail": F_DETAIL, "spans": F_SPANS,
    "transform": F_TRANSFORM, "fold": F_FOLD, "inflect": F_INFLECT,
}
ENTRY_FLAGS = {"sep": ENT_SEP, "left_free": ENT_LEFT_FREE, "right_free": ENT_RIGHT_FREE}
#: ASCII bytes that are separators (``str.isspace``, ``-``, ``_``).
SEPARATOR_BYTES = bytes([9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 45, 95])


# --------------------------------------------------------------------------- build

def build_automaton(const uint8_t[::1] pat_data, const int64_t[::1] pat_offs,
                    const int64_t[::1] order, bint ignore_case, int64_t max_table_bytes,
                    const int32_t[::1] counts, bint separators, int64_t dense_bytes):
    """Build the automaton for deduplicated, already transformed UTF-8 patterns.

    Three passes: a sparse trie (sibling lists), breadth-first ids, then failure links,
    dense rows for the first states (up to ``dense_bytes``) and edge lists for the
    rest in one breadth-first sweep (``_finish_build``). Returns a dict of NumPy
    arrays and sizes (see ``Automaton``). Patterns must be non-empty and unique, and
    ``order`` must list them in byte order (it makes the trie a single sweep).
    ``counts[p]``: how many reported patterns entry ``p`` stands for. With
    ``separators`` every ASCII separator byte shares the class of the space, and a
    state entered by a space stays there on another one: a run of separators in the
    text matches the one space of a pattern (patterns must hold no space at either end
    and no two in a row). Raises OverflowError, before the tables are allocated, if
    they would exceed ``max_table_bytes`` or 32-bit transitions.
    """
    cdef Py_ssize_t n_pat = pat_offs.shape[0] - 1
    cdef uint8_t cls[256]
    cdef uint8_t used[256]
    cdef int b
    cdef uint32_t C = 1
    cdef Py_ssize_t k
    memset(used, 0, sizeof(used))
    for k in range(pat_data.shape[0]):
        b = pat_data[k]
        if ignore_case and 65 <= b <= 90:
            b += 32
        used[b] = 1
    for b in range(256):
        if used[b]:
            cls[b] = C
            C += 1
        else:
            cls[b] = 0
    if ignore_case:
        for b in range(65, 91):
            cls[b] = cls[b + 32]
    cdef int sep_cls = -1
    if separators and used[32]:
        sep_cls = cls[32]
        for b in SEPARATOR_BYTES:
            cls[b] = cls[32]

    cdef int64_t max_states = pat_data.shape[0] + 1
    trie_a = np.zeros((4, max_states), np.int32)  # first_child, next_sibling, class, pattern
    cdef int32_t[:, ::1] trie = trie_a
    cdef int32_t* first_child = &trie[0, 0]
    cdef int32_t* sibling = &trie[1, 0]
    cdef int32_t* label = &trie[2, 0]
    cdef int32_t* pat_at = &trie[3, 0]
    cdef int32_t root_child[256]
    cdef int64_t S = 1, s, p, t, c, i, a, length, lcp, prev_a = 0, prev_len = 0
    cdef int64_t max_len = 0
    for p in range(n_pat):
        max_len = max(max_len, pat_offs[p + 1] - pat_offs[p])
    path_a = np.zeros(max_len + 1, np.int64)
    cdef int64_t[::1] path = path_a
    with nogil:
        # Patterns in byte order: each shares its path with the previous one up to their
        # common prefix and adds new states after it, so no child is ever searched for.
        memset(root_child, 0, sizeof(root_child))
        for t in range(max_states):
            pat_at[t] = -1
        for i in range(n_pat):
            p = order[i]
            a = pat_offs[p]
            length = pat_offs[p + 1] - a
            lcp = 0
            while lcp < length and lcp < prev_len and pat_data[a + lcp] == pat_data[prev_a + lcp]:
                lcp += 1
            s = path[lcp]
            for k in range(a + lcp, a + length):
                c = cls[pat_data[k]]
                t = S
                S += 1
                label[t] = <int32_t> c
                if s == 0:
                    root_child[c] = <int32_t> t
                sibling[t] = first_child[s]
                first_child[s] = <int32_t> t
                path[k - a + 1] = t
                s = t
            pat_at[s] = <int32_t> p
            prev_a = a
            prev_len = length
    bfs = _breadth_first(first_child, sibling, label, pat_at, root_child, S, C)
    trie_a = trie = None  # twice the size of the breadth-first arrays: free it now
    cdef uint32_t W = (C + 2) & ~1u
    # Dense rows for the first states in breadth-first order (the shallow, hot ones) up
    # to ``dense_bytes``; the deeper states keep only their trie edges and failure link.
    cdef int64_t D = min(S, max(1, dense_bytes // (W * 4)))
    if <uint64_t> D * W + 2 * <uint64_t> (S - D) >= 0xFFFFFFFF:
        raise OverflowError(
            f"{S:,} states ({D:,} dense x {W} slots) do not fit 32-bit transitions; "
            "split the blocklist")
    cdef int64_t total = D * W * 4 + (S - D) * 16
    if total > max_table_bytes:
        raise OverflowError(
            f"the automaton would take {total:,} bytes ({S:,} states, {D:,} of them dense "
            f"x {W} slots), over the limit of {max_table_bytes:,} "
            "(PatternLimits.max_automaton_bytes)")
    return _finish_build(bfs, S, D, C, W, cls, &counts[0], &pat_offs[0], sep_cls)


cdef object _breadth_first(const int32_t* first_child, const int32_t* sibling,
                           const int32_t* label, const int32_t* pat_at,
                           const int32_t* root_child, int64_t S, uint32_t C):
    """The trie renumbered breadth-first: ``(first, label, pattern)``, where the children
    of state ``i`` are the states ``first[i] .. first[i + 1] - 1`` (breadth-first order
    puts a state's children side by side), so that ``_finish_build`` reads every array
    in order instead of chasing sibling lists across the trie."""
    order_a = np.empty(S, np.int32)
    first_a = np.empty(S + 1, np.int32)
    lab_a = np.zeros(S, np.uint8)
    pat_a = np.empty(S, np.int32)
    cdef int32_t[::1] order = order_a
    cdef int32_t[::1] first = first_a
    cdef uint8_t[::1] lab = lab_a
    cdef int32_t[::1] pat = pat_a
    cdef int64_t head = 0, tail = 1, s, t, i
    cdef uint32_t c
    with nogil:
        order[0] = 0
        while head < tail:
            s = order[head]
            first[head] = <int32_t> tail
            head += 1
            if s == 0:
                for c in range(C):
                    if root_child[c]:
                        order[tail] = root_child[c]
                        tail += 1
            t = first_child[s] if s else 0
            while t:
                order[tail] = <int32_t> t
                tail += 1
                t = sibling[t]
        first[S] = <int32_t> S
        for i in range(S):
            s = order[i]
            lab[i] = <uint8_t> label[s]
            pat[i] = pat_at[s]
    return first_a, lab_a, pat_a


cdef inline uint32_t _entry_of(int64_t i, int64_t D, uint32_t W, bint out) noexcept nogil:
    """The transition value that leads to state ``i`` (see ``_finish_build``)."""
    if i < D:
        return <uint32_t> (i * W + out)
    return <uint32_t> (D * W + 2 * (i - D) + out)


cdef inline uint32_t _transition(const uint32_t* table, const uint32_t* sparse,
                                 const uint32_t* edges, uint32_t DW, uint32_t e,
                                 uint32_t c) noexcept nogil:
    """The transition from the state of value ``e`` on byte class ``c``: one load from a
    dense row; from a sparse state, its first edge (in its record), then its other
    edges, then the same from its failure, until an edge or a dense row answers. A state
    without edges holds class 0 and the root: class 0 (bytes in no pattern) always
    leads to the root, so it may answer for it."""
    cdef const uint32_t* rec
    cdef size_t k, end
    while e >= DW:
        rec = &sparse[2 * <size_t> ((e - DW) & ~1u)]  # 64-bit: past 2^30 sparse states
        if (rec[2] & 0xFF) == c:
            return rec[3]
        k = rec[0]
        end = k + (rec[2] >> 8)
        while k < end:
            if edges[2 * k] == c:
                return edges[2 * k + 1]
            k += 1
        e = rec[1]
    return fe_dfa_step(table, e, c)


cdef inline void _add_edge(uint32_t* rec, uint32_t* edges, int64_t* n_edges, uint32_t c,
                           uint32_t to) noexcept nogil:
    """Give a sparse state (its record ``rec``) an edge on class ``c`` (never 0)."""
    if rec[2] == 0:
        rec[2] = c
        rec[3] = to
    else:
        edges[2 * n_edges[0]] = c
        edges[2 * n_edges[0] + 1] = to
        n_edges[0] += 1
        rec[2] += 256


cdef object _finish_build(tuple bfs, int64_t S, int64_t D, uint32_t C, uint32_t W,
                          uint8_t* cls, const int32_t* counts, const int64_t* pat_offs,
                          int sep_cls):
    """Failure and output links, dense rows and sparse edges in one breadth-first pass.

    States ``0 .. D-1`` (breadth-first, so the shallow ones) are dense: state ``i`` owns
    ``W`` slots from ``i * W`` (``W`` even, > ``C``); a transition to it stores ``i * W +
    has_output(i)`` and its row sits at that address, so the scan indexes
    ``T[entry + class]`` directly and tests ``entry & 1`` for outputs. An output state
    keeps its own id in the slot just before its row. A dense row is its failure
    state's row with its own children written over it (failure folded in).

    States ``D ..`` are sparse: a transition to ``i`` stores ``D * W + 2 * (i - D) +
    has_output(i)``, and its record is the four words from ``4 * (i - D)`` in ``sparse``:
    where its other edges start in ``edges``, the transition value of its failure state
    (shallower, so following failures always ends on a dense row), the class of its
    first edge plus 256 times the number of other edges, and where the first edge
    leads. Most deep states have one edge (a pattern's tail), so a step from one reads
    one record; each other edge is two words in ``edges``, class and transition value. A state
    entered by the separator class ``sep_cls`` (if >= 0) loops on it (a dense slot, or
    an edge to itself).
    """
    cdef const int32_t[::1] first = bfs[0]
    cdef const uint8_t[::1] lab = bfs[1]
    cdef const int32_t[::1] pat = bfs[2]
    cdef int64_t n_sparse = S - D
    fail_a = np.zeros(S, np.int32)
    out_a = np.zeros(S, np.uint8)
    # Per state, side by side so that one cache line answers a match: the entry it ends
    # (-1: none), the next state down its suffix chain with an entry (-1: none), how
    # many patterns end here in all, and the entry's length.
    outputs_a = np.zeros(4 * S, np.int32)
    table_a = np.empty(D * W, np.uint32)
    sparse_a = np.zeros(4 * n_sparse, np.uint32)
    # Other edges: at most one per sparse state (each is some state's child), plus
    # separator loops.
    edges_a = np.empty(2 * n_sparse * (2 if sep_cls >= 0 else 1), np.uint32)
    cdef int32_t[::1] fail = fail_a
    cdef uint8_t[::1] has_out = out_a
    cdef int32_t* out = <int32_t*> cnp.PyArray_DATA(outputs_a)
    cdef int32_t link
    cdef uint32_t* table = <uint32_t*> cnp.PyArray_DATA(table_a)
    cdef uint32_t* sparse = <uint32_t*> cnp.PyArray_DATA(sparse_a)
    cdef uint32_t* edges = <uint32_t*> cnp.PyArray_DATA(edges_a)
    cdef uint32_t DW = <uint32_t> (D * W)
    cdef int64_t i, f, ci, n_edges = 0
    cdef uint32_t c, e, here
    cdef uint32_t* row = NULL
    cdef uint32_t* rec = NULL
    cdef bint dense
    with nogil:
        out[1] = -1
        for i in range(S):
            dense = i < D
            here = _entry_of(i, D, W, has_out[i])
            out[4 * i] = pat[i]
            out[4 * i + 3] = <int32_t> (pat_offs[pat[i] + 1] - pat_offs[pat[i]]) if pat[i] >= 0 else 0
            if dense:
                row = &table[here]
                if i == 0:
                    memset(&table[0], 0, W * sizeof(uint32_t))
                else:
                    f = fail[i]
                    memcpy(row, &table[f * W + has_out[f]], C * sizeof(uint32_t))
                    if has_out[i]:
                        table[i * W] = <uint32_t> i
                        if W > C + 1:
                            table[i * W + C + 1] = 0
                    elif W > C:
                        for c in range(C, W):
                            table[i * W + c] = 0
                    if sep_cls >= 0 and lab[i] == sep_cls:
                        row[sep_cls] = here
            else:
                rec = &sparse[4 * (i - D)]
                rec[0] = <uint32_t> n_edges
                rec[1] = _entry_of(fail[i], D, W, has_out[fail[i]])
                if sep_cls >= 0 and lab[i] == sep_cls:
                    _add_edge(rec, edges, &n_edges, <uint32_t> sep_cls, here)
            for ci in range(first[i], first[i + 1]):
                c = lab[ci]
                if i == 0:
                    f = 0
                else:
                    # The child's failure: where the parent's failure goes on its label
                    # (a dense row is still its failure's copy under this slot).
                    e = row[c] if dense else _transition(table, sparse, edges, DW, rec[1], c)
                    f = e // W if e < DW else D + ((e - DW) >> 1)
                fail[ci] = <int32_t> f
                link = <int32_t> f if pat[f] >= 0 else out[4 * f + 1]
                out[4 * ci + 1] = link
                out[4 * ci + 2] = (counts[pat[ci]] if pat[ci] >= 0 else 0) + (
                    out[4 * link + 2] if link >= 0 else 0)
                has_out[ci] = out[4 * ci + 2] > 0
                if dense:
                    row[c] = _entry_of(ci, D, W, has_out[ci])
                else:
                    _add_edge(rec, edges, &n_edges, c, _entry_of(ci, D, W, has_out[ci]))
    classes = np.frombuffer(bytes([cls[c] for c in range(256)]), np.uint8).copy()
    return {
        "table": table_a, "classes": classes, "outputs": outputs_a,
        "n_states": S, "n_dense": D, "n_classes": C, "stride": W,
        "sep_class": sep_cls, "sparse": sparse_a, "edges": edges_a[:2 * n_edges].copy(),
    }


cdef inline int64_t _target(uint32_t e, int64_t S, int64_t D, uint32_t W,
                            const int32_t* outputs) noexcept nogil:
    """The state a transition value leads to, or -1 if it is not one ``_finish_build``
    could have written (out of range, or an output flag that does not match)."""
    cdef int64_t t, flag
    cdef uint64_t DW = <uint64_t> D * W
    if e < DW:
        t = e // W
        flag = e % W
    else:
        t = D + <int64_t> ((e - DW) >> 1)
        flag = (e - DW) & 1
    if t >= S or flag != (1 if outputs[4 * t + 2] > 0 else 0):
        return -1
    return t


def check_table(const uint32_t[::1] table, const int32_t[::1] outputs, int64_t S,
                int64_t D, uint32_t C, uint32_t W, const uint32_t[::1] sparse,
                const uint32_t[::1] edges):
    """Check that every transition lands on a state (the layout of ``_finish_build``)
    and that every sparse state's failure is an earlier state, so that no scan reads
    outside the arrays or loops; return the first problem found as text, or None."""
    if (table.shape[0] != D * W or outputs.shape[0] != 4 * S or not 0 < D <= S or W <= C
            or sparse.shape[0] != 4 * (S - D) or edges.shape[0] % 2
            or <uint64_t> D * W + 2 * <uint64_t> (S - D) >= 0xFFFFFFFF):
        return "table size does not match its header"
    cdef int64_t i, k, j = 0, n_edges = edges.shape[0] // 2
    cdef uint32_t c = 0, flag
    cdef const uint32_t* rec
    cdef int problem = 0
    cdef const int32_t* tot = &outputs[0]
    with nogil:
        for i in range(D):
            flag = 1 if tot[4 * i + 2] > 0 else 0
            if flag and table[i * W] != i:
                problem = 1
                break
            for c in range(C):
                if _target(table[i * W + flag + c], S, D, W, tot) < 0:
                    problem = 2
                    break
            if problem:
                break
        if not problem:
            for j in range(S - D):
                rec = &sparse[4 * j]
                if rec[0] + <int64_t> (rec[2] >> 8) > n_edges:
                    problem = 3
                    break
                if (rec[2] & 0xFF) >= C or _target(rec[3], S, D, W, tot) < 0:
                    problem = 4
                    break
                for k in range(rec[0], rec[0] + (rec[2] >> 8)):
                    if edges[2 * k] >= C or _target(edges[2 * k + 1], S, D, W, tot) < 0:
                        problem = 4
                        break
                if problem:
                    break
                i = _target(rec[1], S, D, W, tot)
                if i < 0 or i >= D + j:
                    problem = 5
                    break
    if problem == 1:
        return f"output state {i} does not hold its id"
    if problem == 2:
        return f"state {i}: transition {c} does not land on a state's row"
    if problem == 3:
        return f"sparse state {D + j}: bad edge range"
    if problem == 4:
        return f"sparse state {D + j}: an edge does not land on a state"
    if problem == 5:
        return f"sparse state {D + j}: its failure is not an earlier state"
    return None


# --------------------------------------------------------------------------- prefilter

#: Automata with more entries, or with more distinct fingerprints, scan every byte: past
#: about two fingerprints per bucket the nibble masks pass so much English text that the
#: skips cost more than the interleaved scan (benchmarks/RESULTS.md, matcher section).
PREFILTER_MAX_ENTRIES = 512
PREFILTER_MAX_PRINTS = 16
SIMD_LEVELS = {"scalar": FE_SIMD_SCALAR, "sse41": FE_SIMD_SSE41, "avx2": FE_SIMD_AVX2}
cdef int _cpu_level = fe_simd_cpu_level()
# The scalar prefilter is slower than scanning every byte: only vector levels by default.
cdef int _simd_level = _cpu_level if _cpu_level > FE_SIMD_SCALAR else -1


def simd_levels():
    """The prefilter implementations this CPU and build run, slowest first."""
    return [name for name, level in SIMD_LEVELS.items() if level <= _cpu_level]


def simd_level():
    """The prefilter implementation scans use now (``"off"``: none, every byte scanned)."""
    for name, level in SIMD_LEVELS.items():
        if level == _simd_level:
            return name
    return "off"


def set_simd_level(str name):
    """Use ``name`` (one of ``simd_levels()``, or ``"off"``) from now on in this process;
    returns the previous one. Counts never depend on it; tests and benchmarks force each.

    The default is the best vector level of the CPU, or ``"off"`` where it has none (the
    scalar prefilter is there to be tested, not to be fast); the environment variable
    ``FILTER_ENGINE_SIMD`` sets it at import. The row-status pass skips ASCII at the
    same level (scalar when off)."""
    global _simd_level
    previous = simd_level()
    if name == "off":
        _simd_level = -1
    elif name in SIMD_LEVELS and SIMD_LEVELS[name] <= _cpu_level:
        _simd_level = SIMD_LEVELS[name]
    else:
        raise ValueError(f"prefilter level {name!r} not in {simd_levels() + ['off']}")
    return previous


cdef char* _env_level = getenv(b"FILTER_ENGINE_SIMD")
if _env_level != NULL and _env_level[0] != 0:
    set_simd_level(_env_level.decode())


def prefilter_masks(const uint32_t[::1] table, const int32_t[::1] outputs,
                    const uint8_t[::1] classes):
    """Nibble masks of the entries' first ``FE_TEDDY_K`` byte classes, in 8 buckets.

    The entries' prefixes are read off the automaton itself: breadth-first search from
    the root gives each state's depth (in an Aho-Corasick DFA the shortest path to a
    state spells its trie string), and a transition that adds one to the depth is a
    trie edge. Fingerprints are the trie paths of length ``FE_TEDDY_K`` and the shorter
    ones that end an entry; sorted, they go to the buckets in 8 contiguous runs so that
    similar ones share a bucket. Returns ``(lo, hi)``, each ``(FE_TEDDY_K, 16)`` uint8.
    """
    cdef int64_t S = outputs.shape[0] // 4
    if S == 0 or table.shape[0] % S:
        return None
    cdef int64_t W = table.shape[0] // S
    cdef int64_t C = int(np.asarray(classes).max()) + 1
    depth_a = np.full(S, -1, np.int32)
    queue_a = np.empty(S, np.int64)
    cdef int32_t[::1] depth = depth_a
    cdef int64_t[::1] queue = queue_a
    cdef int64_t head = 0, tail = 1, s, t, c, row
    depth[0] = 0
    queue[0] = 0
    while head < tail:
        s = queue[head]
        head += 1
        if depth[s] >= FE_TEDDY_K:
            continue
        row = s * W + (1 if outputs[4 * s + 2] > 0 else 0)
        for c in range(C):
            t = table[row + c] // W
            if t >= S:
                return None
            if depth[t] < 0:
                depth[t] = depth[s] + 1
                queue[tail] = t
                tail += 1
    prints = []
    stack = [(0, ())]
    while stack:
        s, path = stack.pop()
        if s and (len(path) == FE_TEDDY_K or outputs[4 * s] >= 0):
            prints.append(path)
            if len(path) == FE_TEDDY_K:
                continue
        row = s * W + (1 if outputs[4 * s + 2] > 0 else 0)
        for c in range(1, C):
            t = table[row + c] // W
            if depth[t] == depth[s] + 1:
                stack.append((t, path + (c,)))
    if not prints or len(prints) > PREFILTER_MAX_PRINTS:
        return None
    prints.sort()
    cls_a = np.asarray(classes)
    lo = np.zeros((FE_TEDDY_K, 16), np.uint8)
    hi = np.zeros((FE_TEDDY_K, 16), np.uint8)
    for k, path in enumerate(prints):
        bit = np.uint8(1 << (k * 8 // len(prints)))
        for pos in range(FE_TEDDY_K):
            if pos < len(path):
                members = np.flatnonzero(cls_a == path[pos])
                lo[pos, members & 15] |= bit
                hi[pos, members >> 4] |= bit
            else:
                lo[pos] |= bit
                hi[pos] |= bit
    return lo, hi


# --------------------------------------------------------------------------- row status

cdef inline uint8_t _row_status(const uint8_t* p, int64_t n, const uint8_t* needed_bits,
                                const uint8_t* slow_bits, const uint8_t* edge_bits,
                                bint amp, const fe_prefixes* pre) noexcept nogil:
    """One pass over a row: ascii, unicode_plain, unicode (transform needed),
    unicode_edges (and a code point in ``edge_bits``), slow (a code point in
    ``slow_bits``), amp (an ``&``, when ``amp``) or invalid.

    Strict UTF-8: no overlongs, no surrogates, nothing above U+10FFFF. ASCII runs are
    skipped 32 or 64 bytes at a time (``ascii_run.h``, at the prefilter's level, scalar
    when that is off). With ``needed_bits`` NULL every valid non-ASCII row is reported
    as ``ROW_UNICODE``.

    With ``pre`` (the first two or three bytes of every code point in the three
    bitmaps, see ``bitmap_prefixes``) and a vector level, the row is validated 16 or 32 bytes a step
    (``utf8_status.h``) and only a row holding one of those prefixes is decoded here
    character by character: any other row's status follows from whether it is valid,
    has non-ASCII bytes and has an ``&``.
    """
    cdef int fast
    if pre != NULL and _simd_level >= 0:
        fast = fe_utf8_status(_simd_level, p, n, pre, amp)
        if fast >= 0 and not (fast & FE_U8_PREFIX):
            if fast & FE_U8_INVALID:
                return ROW_INVALID
            if fast & FE_U8_AMP:
                return ROW_AMP
            if not (fast & FE_U8_UNICODE):
                return ROW_ASCII
            return ROW_UNICODE_PLAIN if needed_bits != NULL else ROW_UNICODE
    cdef int64_t i = 0
    cdef uint8_t b0, b1
    cdef bint seen_unicode = False, needs_lower = needed_bits == NULL
    cdef bint seen_slow = False, seen_amp = False, seen_edge = False
    cdef uint32_t cp
    cdef int width
    cdef int level = _simd_level if _simd_level >= 0 else FE_SIMD_SCALAR
    while i < n:
        if p[i] < 0x80:
            i = fe_ascii_run(level, p, n, i, amp and not seen_amp)
            if i >= n:
                break
        b0 = p[i]
        if b0 < 0x80:  # an '&'
            seen_amp = True
            i += 1
            continue
        seen_unicode = True
        if 0xC2 <= b0 <= 0xDF:
            if i + 1 >= n or (p[i + 1] & 0xC0) != 0x80:
                return ROW_INVALID
            width = 2
        elif 0xE0 <= b0 <= 0xEF:
            if i + 2 >= n:
                return ROW_INVALID
            b1 = p[i + 1]
            if (b1 & 0xC0) != 0x80 or (p[i + 2] & 0xC0) != 0x80:
                return ROW_INVALID
            if (b0 == 0xE0 and b1 < 0xA0) or (b0 == 0xED and b1 >= 0xA0):
                return ROW_INVALID
            width = 3
        elif 0xF0 <= b0 <= 0xF4:
            if i + 3 >= n:
                return ROW_INVALID
            b1 = p[i + 1]
            if ((b1 & 0xC0) != 0x80 or (p[i + 2] & 0xC0) != 0x80
                    or (p[i + 3] & 0xC0) != 0x80):
                return ROW_INVALID
            if (b0 == 0xF0 and b1 < 0x90) or (b0 == 0xF4 and b1 >= 0x90):
                return ROW_INVALID
            width = 4
        else:
            return ROW_INVALID
        if not (needs_lower and (seen_slow or slow_bits == NULL)
                and (seen_edge or edge_bits == NULL)):
            cp = _decode(p + i)
            if not needs_lower and _bit(needed_bits, cp):
                needs_lower = True
            if slow_bits != NULL and _bit(slow_bits, cp):
                seen_slow = True
            if edge_bits != NULL and _bit(edge_bits, cp):
                seen_edge = True
        i += width
    if seen_slow:
        return ROW_SLOW
    if seen_amp:
        return ROW_AMP
    if not seen_unicode:
        return ROW_ASCII
    if not needs_lower:
        return ROW_UNICODE_PLAIN
    return ROW_UNICODE_EDGES if seen_edge else ROW_UNICODE


def bitmap_prefixes(*bitmaps):
    """The prefixes of the UTF-8 of every non-ASCII code point set in the ``bitmaps``
    (``None`` ones skipped), for ``classify_rows(prefixes=...)``: a ``(k, 3)`` uint8
    array of first, second and third bytes, the third 0 where two bytes are the prefix.

    Two-byte characters are their own prefix; longer ones give their first three bytes,
    unless that makes more than the vector path checks (``FE_PREFIXES_MAX``), then their
    first two. None when even those are too many.
    """
    cps = []
    for bits in bitmaps:
        if bits is not None:
            found = np.flatnonzero(np.unpackbits(np.asarray(bits, np.uint8),
                                                 bitorder="little"))
            cps.append(found[found >= 0x80])
    cp = np.unique(np.concatenate(cps)) if cps else np.zeros(0, np.int64)
    lead = np.where(cp < 0x800, 0xC0 | (cp >> 6),
                    np.where(cp < 0x10000, 0xE0 | (cp >> 12), 0xF0 | (cp >> 18)))
    nxt = np.where(cp < 0x800, 0x80 | (cp & 0x3F),
                   np.where(cp < 0x10000, 0x80 | ((cp >> 6) & 0x3F),
                            0x80 | ((cp >> 12) & 0x3F)))
    third = np.where(cp < 0x800, 0,
                     np.where(cp < 0x10000, 0x80 | (cp & 0x3F), 0x80 | ((cp >> 6) & 0x3F)))
    for third_byte in (third, np.zeros_like(third)):
        found = np.unique(np.stack([lead, nxt, third_byte], axis=1).reshape(-1, 3), axis=0)
        if len(found) <= FE_PREFIXES_MAX:
            return found.astype(np.uint8)
    return None


def classify_rows(const int64_t[::1] offsets, const uint8_t[::1] data, valid,
                  uint8_t[::1] status, needed_bits=None, slow_bits=None, edge_bits=None,
                  bint amp=False, prefixes=None):
    """Fill ``status`` per row: ascii, unicode_plain, unicode, slow, amp, invalid or null.

    ``needed_bits``: code points whose transform matters to the automaton; rows
    without any are ``unicode_plain`` (scanned as they are). None: transform not
    needed. ``slow_bits``: code points the kernel cannot transform (the row is
    ``slow``). ``edge_bits``: code points whose output is not alphanumeric where they
    are (or the reverse), so that word edges must be judged on the original
    (``unicode_edges``). ``amp``: rows with an ``&`` are ``amp`` (unless slow).
    ``prefixes``: ``bitmap_prefixes`` of those three bitmaps, which lets the vector path
    answer for the rows without any of them (None: every row decoded one by one).
    """
    cdef Py_ssize_t n = offsets.shape[0] - 1
    cdef fe_prefixes pre
    cdef const fe_prefixes* pre_p = NULL
    cdef Py_ssize_t k
    if prefixes is not None:
        table = np.asarray(prefixes, np.uint8).reshape(-1, 3)
        if len(table) > FE_PREFIXES_MAX:
            raise ValueError(f"at most {FE_PREFIXES_MAX} prefixes, got {len(table)}")
        pre.n = <int> len(table)
        for k in range(pre.n):
            pre.lead[k] = table[k, 0]
            pre.next[k] = table[k, 1]
            pre.third[k] = table[k, 2]
        pre_p = &pre
    cdef const uint8_t[::1] valid_v
    cdef const uint8_t[::1] needed_v
    cdef const uint8_t[::1] slow_v
    cdef const uint8_t* needed = NULL
    cdef const uint8_t* slow = NULL
    cdef const uint8_t[::1] edge_v
    cdef const uint8_t* edge = NULL
    cdef bint has_valid = valid is not None
    if has_valid:
        valid_v = valid.view(np.uint8)
    if needed_bits is not None:
        needed_v = needed_bits
        needed = &needed_v[0]
    if slow_bits is not None:
        slow_v = slow_bits
        slow = &slow_v[0]
    if edge_bits is not None:
        edge_v = edge_bits
        edge = &edge_v[0]
    cdef const uint8_t* d = &data[0] if data.shape[0] else NULL
    cdef Py_ssize_t r
    with nogil:
        for r in range(n):
            if has_valid and not valid_v[r]:
                status[r] = ROW_NULL
            else:
                status[r] = _row_status(d + offsets[r], offsets[r + 1] - offsets[r], needed,
                                        slow, edge, amp, pre_p)


# --------------------------------------------------------------------------- scan

ctypedef struct Auto:
    const uint32_t* T
    const uint8_t* cls
    const int32_t* out          # per state: entry, output link, outputs in all, entry length
    const uint8_t* ent_flags    # per entry
    const int32_t* ent_start    # entry e reports patterns ent_pid[ent_start[e]:ent_start[e + 1]]
    const int32_t* ent_pid
    int sep_cls                 # class of the separators (-1: none)
    bint any_flags              # some entry has flags
    bint any_right_free         # some entry needs no boundary after it
    bint one_to_one             # entry e reports pattern e, and only it
    const double* weight
    const int32_t* cat_start
    const int32_t* cat_ids
    int32_t ncat
    const uint8_t* alnum_bits
    const uint8_t* ascii_alnum
    int flags
    const fe_teddy* teddy       # the prefilter (NULL: none for this automaton)
    int simd                    # its implementation (FE_SIMD_*), -1: scan every byte
    uint32_t DW                 # transition values from here on lead to sparse states
    bint all_dense              # no sparse states (DW is past every transition value)
    int64_t n_dense
    const uint32_t* sparse      # per sparse state: a record (see ``_finish_build``)
    const uint32_t* edges       # their other edges: class, transition value
    const uint8_t* idle         # IDLE_BYTES of a byte in no pattern (NULL: there is none)
    int64_t max_len             # the longest entry, in bytes


ctypedef struct Lower:
    const uint32_t* page_index
    const uint32_t* entries
    const uint8_t* pool
    const uint8_t* cased_bits
    const uint8_t* ignorable_bits


ctypedef struct Sink:
    int32_t* total
    int32_t* distinct
    int32_t* by_cat
    double* wsum
    int64_t* sp_row
    int64_t* sp_start
    int64_t* sp_end
    int32_t* sp_pid
    int64_t sp_n
    int64_t sp_cap
    int failed


# The scan loops are compiled twice, for automata that are all dense rows and for mixed
# ones, so that the first (every automaton up to ``dense_bytes``) keeps its one load per
# byte without the compare that sends mixed ones to their edge lists.
ctypedef struct AllDense:
    char unused
ctypedef struct Mixed:
    char unused
ctypedef fused Layout:
    AllDense
    Mixed


cdef inline uint32_t _next(const Auto* A, const uint32_t* T, uint32_t e, uint32_t c,
                           Layout* layout) noexcept nogil:
    if Layout is AllDense:
        return fe_dfa_step(T, e, c)
    else:
        return _step(A, e, c)


cdef inline uint32_t _step(const Auto* A, uint32_t e, uint32_t c) noexcept nogil:
    return _transition(A.T, A.sparse, A.edges, A.DW, e, c)


cdef inline int64_t _state_id(const Auto* A, uint32_t e) noexcept nogil:
    """The id of the output state of transition value ``e``."""
    if e < A.DW:
        return A.T[e - 1]
    return A.n_dense + ((e - A.DW) >> 1)


cdef inline uint32_t _decode(const uint8_t* p) noexcept nogil:
    cdef uint8_t b0 = p[0]
    if b0 < 0xE0:
        return ((b0 & 0x1F) << 6) | (p[1] & 0x3F)
    if b0 < 0xF0:
        return ((b0 & 0x0F) << 12) | ((p[1] & 0x3F) << 6) | (p[2] & 0x3F)
    return ((b0 & 0x07) << 18) | ((p[1] & 0x3F) << 12) | ((p[2] & 0x3F) << 6) | (p[3] & 0x3F)


cdef inline bint _alnum_cp(const Auto* A, uint32_t cp) noexcept nogil:
    return (A.alnum_bits[cp >> 3] >> (cp & 7)) & 1


cdef inline bint _alnum_before(const Auto* A, const uint8_t* p, int64_t start) noexcept nogil:
    if start == 0:
        return False
    cdef uint8_t b = p[start - 1]
    if b < 0x80:
        return A.ascii_alnum[b]
    cdef int64_t j = start - 1
    while j > 0 and (p[j] & 0xC0) == 0x80 and start - j < 4:
        j -= 1
    return _alnum_cp(A, _decode(p + j))


cdef inline bint _alnum_after(const Auto* A, const uint8_t* p, int64_t n, int64_t end) noexcept nogil:
    if end >= n:
        return False
    cdef uint8_t b = p[end]
    if b < 0x80:
        return A.ascii_alnum[b]
    return _alnum_cp(A, _decode(p + end))


cdef int _push_span(Sink* S, int64_t row, int64_t start, int64_t end, int32_t pid) noexcept nogil:
    cdef int64_t cap
    if S.sp_n == S.sp_cap:
        cap = S.sp_cap * 2 if S.sp_cap else 4096
        S.sp_row = <int64_t*> realloc(S.sp_row, cap * sizeof(int64_t))
        S.sp_start = <int64_t*> realloc(S.sp_start, cap * sizeof(int64_t))
        S.sp_end = <int64_t*> realloc(S.sp_end, cap * sizeof(int64_t))
        S.sp_pid = <int32_t*> realloc(S.sp_pid, cap * sizeof(int32_t))
        if S.sp_row == NULL or S.sp_start == NULL or S.sp_end == NULL or S.sp_pid == NULL:
            S.failed = 1
            return -1
        S.sp_cap = cap
    S.sp_row[S.sp_n] = row
    S.sp_start[S.sp_n] = start
    S.sp_end[S.sp_n] = end
    S.sp_pid[S.sp_n] = pid
    S.sp_n += 1
    return 0


cdef inline bint _edge_before(const Auto* A, const uint8_t* p, int64_t start,
                              const uint8_t* edges) noexcept nogil:
    if edges != NULL:
        return edges[start] & EDGE_START
    return not _alnum_before(A, p, start)


cdef inline bint _edge_after(const Auto* A, const uint8_t* p, int64_t n, int64_t end,
                             const uint8_t* edges) noexcept nogil:
    if edges != NULL:
        return (edges[end] & EDGE_END) != 0
    return not _alnum_after(A, p, n, end)


cdef inline bint _is_byte(const Auto* A, uint8_t b, uint8_t lower) noexcept nogil:
    return b == lower or ((A.flags & F_FOLD) and b == lower - 32)


cdef inline int64_t _word_end(const Auto* A, const uint8_t* p, int64_t n, int64_t end,
                              const uint8_t* edges) noexcept nogil:
    """Where a whole word ending at ``end`` ends: ``end`` at a word edge, else after an
    inflection (-s, -es) followed by one (with ``F_INFLECT``), else -1."""
    if _edge_after(A, p, n, end, edges):
        return end
    if not (A.flags & F_INFLECT) or end >= n:
        return -1
    if _is_byte(A, p[end], 115):
        return end + 1 if _edge_after(A, p, n, end + 1, edges) else -1
    if end + 1 < n and _is_byte(A, p[end], 101) and _is_byte(A, p[end + 1], 115):
        return end + 2 if _edge_after(A, p, n, end + 2, edges) else -1
    return -1


cdef inline int64_t _walk_back(const Auto* A, const uint8_t* p, int64_t end,
                               int64_t length) noexcept nogil:
    """Start of an entry of ``length`` bytes with separators that ends at ``end``: a
    run of separator bytes counts as the entry's one space."""
    cdef int64_t i = end, seen = 0
    while seen < length and i > 0:
        i -= 1
        if (A.cls[p[i]] == A.sep_cls and i + 1 < end
                and A.cls[p[i + 1]] == A.sep_cls):
            continue
        seen += 1
    return i if seen == length else -1


cdef void _on_match(const Auto* A, Sink* S, int32_t* stamp, const uint8_t* p, int64_t n,
                    int64_t end, uint32_t state, int64_t row, int64_t span_row,
                    const int32_t* map_start, const int32_t* map_end,
                    const uint8_t* edges) noexcept nogil:
    """Record every pattern that ends at ``end`` in state ``state``.

    ``edges`` (rows the kernel or Python transformed): where whole words may start and
    end, judged on the original text; NULL: judged on ``p`` itself (the original).
    """
    cdef int64_t j = _state_id(A, state)
    cdef int32_t ent, pid, k, k2, last, length
    cdef int64_t start, stop, word_end = -2
    cdef int flags = A.flags
    cdef bint whole = flags & F_WHOLE_WORDS
    cdef uint8_t ef = 0
    if not (flags & (F_WHOLE_WORDS | F_DETAIL | F_SPANS)):
        S.total[row] += A.out[4 * j + 2]
        return
    if whole and not A.any_right_free:
        word_end = _word_end(A, p, n, end, edges)
        if word_end < 0:
            return
    while j >= 0:
        ent = A.out[4 * j]
        length = A.out[4 * j + 3]
        j = A.out[4 * j + 1]
        if ent < 0:
            continue
        if A.any_flags:
            ef = A.ent_flags[ent]
        stop = end
        if whole and not (ef & ENT_RIGHT_FREE):
            if word_end == -2:
                word_end = _word_end(A, p, n, end, edges)
            if word_end < 0:
                continue
            stop = word_end
        if ef & ENT_SEP:
            start = _walk_back(A, p, end, length)
        else:
            start = end - length
        if start < 0:  # only a corrupt automaton gets here; never read before the row
            continue
        if whole and not (ef & ENT_LEFT_FREE) and not _edge_before(A, p, start, edges):
            continue
        if A.one_to_one:
            k = ent
            last = ent + 1
        else:
            k = A.ent_start[ent]
            last = A.ent_start[ent + 1]
        while k < last:
            pid = ent if A.one_to_one else A.ent_pid[k]
            k += 1
            S.total[row] += 1
            if flags & F_DETAIL:
                if stamp[pid] != row + 1:
                    stamp[pid] = <int32_t> (row + 1)
                    S.distinct[row] += 1
                for k2 in range(A.cat_start[pid], A.cat_start[pid + 1]):
                    S.by_cat[row * A.ncat + A.cat_ids[k2]] += 1
                S.wsum[row] += A.weight[pid]
            if flags & F_SPANS:
                if map_start != NULL:
                    _push_span(S, span_row, map_start[start], map_end[stop - 1], pid)
                else:
                    _push_span(S, span_row, start, stop, pid)


cdef void _scan_one(const Auto* A, Sink* S, int32_t* stamp, const uint8_t* p, int64_t n,
                    int64_t row, int64_t span_row, const int32_t* map_start,
                    const int32_t* map_end, const uint8_t* edges) noexcept nogil:
    cdef const uint8_t* cls = A.cls
    cdef uint32_t s = 0
    cdef int64_t i
    for i in range(n):
        s = _step(A, s, cls[p[i]])
        if s & 1:
            _on_match(A, S, stamp, p, n, i + 1, s, row, span_row, map_start, map_end, edges)


ctypedef struct Desc:
    # One row to scan: its (original or lower-cased) bytes and, for lower-cased rows
    # when spans are wanted, the original byte range of every byte.
    const uint8_t* p
    int64_t n
    int64_t row
    const int32_t* map_start
    const int32_t* map_end
    const uint8_t* edges


ctypedef struct Stream:
    const Desc* desc
    const Desc* stop
    const uint8_t* cur
    const uint8_t* end
    uint32_t state


# Rows this long are cut across all streams (_scan_split).
cdef int64_t _split_bytes = 1 << 16


def set_split_bytes(int64_t n):
    """Cut rows of at least ``n`` bytes across the scan's streams from now on in this
    process; returns the previous threshold. Counts never depend on it: tests set it
    low so that short rows take the long-row path."""
    global _split_bytes
    if n < N_STREAMS:
        raise ValueError(f"split threshold {n} below the {N_STREAMS} streams")
    previous = _split_bytes
    _split_bytes = n
    return previous


cdef inline bint _splits(const Auto* A, const Desc* d) noexcept nogil:
    """Whether row ``d`` is scanned cut across the streams (``_scan_split``): long, and
    every occurrence at most ``max_len`` bytes (no separator runs)."""
    return d.n >= _split_bytes and A.sep_cls < 0


cdef inline bint _next_desc(const Auto* A, Stream* st) noexcept nogil:
    """Advance a stream to its next non-empty row that is not split; False when it has
    none left."""
    while st.desc + 1 < st.stop:
        st.desc += 1
        if st.desc.n and not _splits(A, st.desc):
            st.cur = st.desc.p
            st.end = st.desc.p + st.desc.n
            st.state = 0
            return True
    st.desc = st.stop
    return False


cdef inline void _emit(const Auto* A, Sink* S, int32_t* stamp, const Desc* d,
                       const uint8_t* at, uint32_t state, int64_t row_base) noexcept nogil:
    _on_match(A, S, stamp, d.p, d.n, at - d.p, state, d.row, d.row + row_base,
              d.map_start, d.map_end, d.edges)


cdef void _scan_prefiltered(const Auto* A, Sink* S, int32_t* stamp, const Desc* d,
                            int64_t row_base) noexcept nogil:
    """Scan one row, skipping from the root to the prefilter's next candidate.

    Whenever the automaton is back at the root no occurrence is under way, and none can
    start before the next position whose first bytes pass the prefilter (a superset of
    every entry's start), so the bytes in between are skipped; from a candidate on,
    every byte goes through the table as in ``_scan_descs``, so matches and everything
    ``_on_match`` judges (word edges, inflections, spans) are the same.
    """
    cdef const uint8_t* cls = A.cls
    cdef const uint8_t* p = d.p
    cdef int64_t n = d.n, i = 0
    cdef uint32_t s = 0
    while i < n:
        if s == 0:
            i = fe_teddy_find(A.teddy, A.simd, p, n, i)
            if i >= n:
                break
        s = fe_dfa_step(A.T, s, cls[p[i]])  # only all-dense automata have a prefilter
        i += 1
        if s & 1:
            _emit(A, S, stamp, d, p + i, s, row_base)


cdef inline void _advance(const Auto* A, Sink* S, int32_t** stamps, Stream* st, int64_t m,
                          int64_t row_base, Layout* layout) noexcept nogil:
    """Step every stream ``m`` bytes (no stream's row ends sooner), reporting matches.

    All-dense automata step in ``fe_dfa_run`` (``dfa_step.h``), which returns at every
    step that leaves a stream on a state with output; mixed ones step here.
    """
    cdef const uint32_t* T = A.T
    cdef const uint8_t* cls = A.cls
    cdef const uint8_t* ps[N_STREAMS]
    cdef uint32_t ss[N_STREAMS]
    cdef int64_t t = 0
    cdef int k
    cdef uint32_t s0, s1, s2, s3, s4
    cdef const uint8_t *p0
    cdef const uint8_t *p1
    cdef const uint8_t *p2
    cdef const uint8_t *p3
    cdef const uint8_t *p4
    for k in range(N_STREAMS):
        ps[k] = st[k].cur
        ss[k] = st[k].state
    if Layout is AllDense:
        while t < m:
            t = fe_dfa_run(T, cls, ps, ss, t, m)
            for k in range(N_STREAMS):
                if ss[k] & 1:
                    _emit(A, S, stamps[k], st[k].desc, ps[k] + t, ss[k], row_base)
    else:
        s0, s1, s2, s3, s4 = ss[0], ss[1], ss[2], ss[3], ss[4]
        p0, p1, p2, p3, p4 = ps[0], ps[1], ps[2], ps[3], ps[4]
        for t in range(m):
            s0 = _next(A, T, s0, cls[p0[t]], layout)
            s1 = _next(A, T, s1, cls[p1[t]], layout)
            s2 = _next(A, T, s2, cls[p2[t]], layout)
            s3 = _next(A, T, s3, cls[p3[t]], layout)
            s4 = _next(A, T, s4, cls[p4[t]], layout)
            if (s0 | s1 | s2 | s3 | s4) & 1:
                ss[0], ss[1], ss[2], ss[3], ss[4] = s0, s1, s2, s3, s4
                for k in range(N_STREAMS):
                    if ss[k] & 1:
                        _emit(A, S, stamps[k], st[k].desc, ps[k] + t + 1, ss[k], row_base)
        ss[0], ss[1], ss[2], ss[3], ss[4] = s0, s1, s2, s3, s4
    for k in range(N_STREAMS):
        st[k].state = ss[k]


cdef void _run_streams(const Auto* A, Sink* S, int32_t** stamps, Stream* st, bint* live,
                       int64_t row_base, Layout* layout) noexcept nogil:
    """Step the streams until none has bytes left.

    The loop advances every stream by the bytes left in the shortest current row, then
    refills that stream. A stream whose rows are done reads idle bytes (``Auto.idle``:
    bytes in no pattern, so it stays at the root and reports nothing) while two or more
    still have rows: runs end at different times, and stepping the rest one by one cost
    ~3 % of the scan at 100 patterns, and a batch of a few rows ran as one stream. The
    last stream finishes alone.
    """
    cdef int64_t m, t
    cdef int k, n_live = 0
    for k in range(N_STREAMS):
        n_live += live[k]
    while n_live == N_STREAMS or (n_live >= 2 and A.idle != NULL):
        m = -1
        for k in range(N_STREAMS):
            if not live[k] and st[k].cur == st[k].end:
                st[k].cur = A.idle
                st[k].end = A.idle + IDLE_BYTES
                st[k].state = 0
            if m < 0 or st[k].end - st[k].cur < m:
                m = st[k].end - st[k].cur
        _advance(A, S, stamps, st, m, row_base, layout)
        for k in range(N_STREAMS):
            st[k].cur += m
            if live[k] and st[k].cur == st[k].end:
                live[k] = _next_desc(A, &st[k])
                n_live -= not live[k]

    cdef const uint32_t* T = A.T
    cdef const uint8_t* cls = A.cls
    cdef uint32_t s
    cdef const uint8_t* p
    for k in range(N_STREAMS):
        while live[k]:
            s = st[k].state
            p = st[k].cur
            m = st[k].end - p
            for t in range(m):
                s = _next(A, T, s, cls[p[t]], layout)
                if s & 1:
                    _emit(A, S, stamps[k], st[k].desc, p + t + 1, s, row_base)
            live[k] = _next_desc(A, &st[k])


cdef void _scan_split(const Auto* A, Sink* S, int32_t* stamp, const Desc* d,
                      int64_t row_base, Layout* layout) noexcept nogil:
    """Scan one long row in ``N_STREAMS`` pieces at once (one row is one chain of
    dependent loads: alone, it ran at a fifth of the interleaved speed).

    Piece k reports the occurrences that end inside it. It starts in the state the
    automaton has there, found by stepping the ``max_len`` bytes before it: no
    occurrence is longer, so those bytes decide every occurrence that ends in the
    piece. The pieces share one stamp array (one row), so a pattern found in two of them
    counts once in ``distinct``; what ``_on_match`` reads around an occurrence (word
    edges, inflections) is read in the whole row.
    """
    cdef Stream st[N_STREAMS]
    cdef bint live[N_STREAMS]
    cdef int32_t* same[N_STREAMS]
    cdef int64_t piece = d.n // N_STREAMS, a, b, t
    cdef uint32_t s
    cdef int k
    for k in range(N_STREAMS):
        a = k * piece
        b = d.n if k == N_STREAMS - 1 else a + piece
        s = 0
        for t in range(max(0, a - A.max_len), a):
            s = _next(A, A.T, s, A.cls[d.p[t]], layout)
        st[k].desc = d
        st[k].stop = d + 1
        st[k].cur = d.p + a
        st[k].end = d.p + b
        st[k].state = s
        live[k] = True
        same[k] = stamp
    _run_streams(A, S, same, st, live, row_base, layout)


cdef void _scan_descs(const Auto* A, Sink* S, int32_t** stamps, const Desc* descs,
                      int64_t nd, int64_t row_base, Layout* layout) noexcept nogil:
    """Scan rows in ``N_STREAMS`` streams whose table loads overlap.

    The rows are cut into that many runs of about equal bytes, one per stream
    (``_run_streams``); then each long row (``_splits``) is scanned cut across them.
    """
    cdef Stream st[N_STREAMS]
    cdef bint live[N_STREAMS]
    cdef int64_t total_bytes = 0, acc = 0, i, first = 0
    cdef int k = 0
    if A.simd >= 0:
        for i in range(nd):
            _scan_prefiltered(A, S, stamps[0], &descs[i], row_base)
        return
    for i in range(nd):
        if not _splits(A, &descs[i]):
            total_bytes += descs[i].n
    for i in range(nd + 1):
        if i == nd or (k < N_STREAMS - 1 and acc * N_STREAMS >= total_bytes * (k + 1)):
            st[k].desc = descs + first - 1
            st[k].stop = descs + i
            first = i
            k += 1
            if k == N_STREAMS:
                break
        if i < nd and not _splits(A, &descs[i]):
            acc += descs[i].n
    while k < N_STREAMS:
        st[k].desc = descs + nd - 1
        st[k].stop = descs + nd
        k += 1
    for k in range(N_STREAMS):
        st[k].cur = st[k].end = NULL  # a stream without rows: idle from the start
        live[k] = _next_desc(A, &st[k])
    _run_streams(A, S, stamps, st, live, row_base, layout)
    for i in range(nd):
        if _splits(A, &descs[i]):
            _scan_split(A, S, stamps[0], &descs[i], row_base, layout)


cdef inline bint _bit(const uint8_t* bits, uint32_t cp) noexcept nogil:
    return (bits[cp >> 3] >> (cp & 7)) & 1


cdef bint _sigma_is_final(Lower lower, const uint8_t* p, int64_t n, int64_t i) noexcept nogil:
    """CPython's rule for the capital sigma at byte ``i``: final iff a cased letter
    precedes it and none follows, skipping case-ignorable characters both ways."""
    cdef int64_t j = i, k
    cdef uint32_t cp
    cdef bint final = False
    while j > 0:
        k = j - 1
        while k > 0 and (p[k] & 0xC0) == 0x80:
            k -= 1
        cp = p[k] if p[k] < 0x80 else _decode(p + k)
        j = k
        if not _bit(lower.ignorable_bits, cp):
            final = _bit(lower.cased_bits, cp)
            break
    if not final:
        return False
    j = i + 2
    while j < n:
        cp = p[j] if p[j] < 0x80 else _decode(p + j)
        if not _bit(lower.ignorable_bits, cp):
            return not _bit(lower.cased_bits, cp)
        j += 1 if p[j] < 0x80 else (2 if p[j] < 0xE0 else (3 if p[j] < 0xF0 else 4))
    return True


cdef inline bint _ascii_run_extras(const Auto* A, const uint8_t* p, int64_t i, int64_t o,
                                   int64_t k, int32_t* map_start, int32_t* map_end,
                                   uint8_t* edges, bint prev_alnum) noexcept nogil:
    """The maps and edges of ``k`` ASCII bytes ``p[i:i+k]`` copied to ``out[o:o+k]``
    (as ``_transform_into`` makes them byte by byte); returns the last byte's
    alphanumericness."""
    cdef int64_t j
    cdef bint alnum
    if map_start != NULL:
        for j in range(k):
            map_start[o + j] = <int32_t> (i + j)
            map_end[o + j] = <int32_t> (i + j + 1)
    if edges != NULL:
        for j in range(k):
            alnum = A.ascii_alnum[p[i + j]]
            edges[o + j] = (0 if prev_alnum else EDGE_START) | (0 if alnum else EDGE_END)
            prev_alnum = alnum
    return prev_alnum


cdef int64_t _transform_into(const Auto* A, Lower lower, const uint8_t* p, int64_t n,
                             uint8_t* out, int32_t* map_start, int32_t* map_end,
                             uint8_t* edges) noexcept nogil:
    """The per-code-point transform of one valid UTF-8 row into ``out``.

    ``lower`` holds each non-ASCII code point's output (Python's str.lower, or the
    matcher's normalisation steps; capital sigma follows Python's Final_Sigma rule, see
    ``_sigma_is_final``); ASCII is copied (the byte classes fold its case). With
    ``edges``, marks where whole words may start and end, judged on the original
    characters (a removed character is skipped; no edge inside one character's
    output). Returns the output length.
    """
    cdef int64_t i = 0, o = 0, w, j, k, len_out
    cdef uint8_t b
    cdef uint32_t cp, page, e
    cdef uint64_t word, w1, w2, w3
    cdef bint prev_alnum = False, alnum
    cdef bint plain = edges == NULL and map_start == NULL
    while i < n:
        # ASCII runs are copied 32 bytes at a time (the byte classes fold their case),
        # then the ASCII before the first non-ASCII byte, their maps and edges filled
        # run by run: byte by byte below, they were most of a robust scan with spans.
        while i + 32 <= n:
            memcpy(&word, p + i, 8)
            memcpy(&w1, p + i + 8, 8)
            memcpy(&w2, p + i + 16, 8)
            memcpy(&w3, p + i + 24, 8)
            k = 32
            if (word | w1 | w2 | w3) & 0x8080808080808080ULL:
                k = 0
                while p[i + k] < 0x80:
                    k += 1
            memcpy(out + o, p + i, k)
            if not plain:
                prev_alnum = _ascii_run_extras(A, p, i, o, k, map_start, map_end, edges,
                                               prev_alnum)
            i += k
            o += k
            if k < 32:
                break
        if i >= n:
            break
        b = p[i]
        if b < 0x80:
            out[o] = b
            if map_start != NULL:
                map_start[o] = <int32_t> i
                map_end[o] = <int32_t> (i + 1)
            if edges != NULL:
                alnum = A.ascii_alnum[b]
                edges[o] = (0 if prev_alnum else EDGE_START) | (0 if alnum else EDGE_END)
                prev_alnum = alnum
            o += 1
            i += 1
            continue
        w = 2 if b < 0xE0 else (3 if b < 0xF0 else 4)
        cp = _decode(p + i)
        page = lower.page_index[cp >> 8]
        e = lower.entries[(page << 8) | (cp & 0xFF)] if page != NO_PAGE else 0
        if e == LOWER_CONTEXT:
            # U+03A3 lowers to U+03C2 (final sigma, CF 82) or U+03C3 (CF 83).
            out[o] = 0xCF
            out[o + 1] = 0x82 if _sigma_is_final(lower, p, n, i) else 0x83
            len_out = 2
        elif e == 0:
            memcpy(out + o, p + i, w)
            len_out = w
        else:
            len_out = e & 7
            memcpy(out + o, lower.pool + (e >> 3), len_out)
        if len_out:
            if map_start != NULL:
                for j in range(len_out):
                    map_start[o + j] = <int32_t> i
                    map_end[o + j] = <int32_t> (i + w)
            if edges != NULL:
                alnum = _alnum_cp(A, cp)
                edges[o] = (0 if prev_alnum else EDGE_START) | (0 if alnum else EDGE_END)
                for j in range(1, len_out):
                    edges[o + j] = 0
                prev_alnum = alnum
        o += len_out
        i += w
    if edges != NULL:
        edges[o] = EDGE_END | (0 if prev_alnum else EDGE_START)
    return o


cdef enum:
    BLOCK_BYTES = 1 << 22


ctypedef struct Scratch:
    # The buffers a scan lower-cases rows into: bytes, word edges, and the two maps back
    # to the original bytes (spans). Kept between scans (``_SCRATCH``): freeing them gave
    # the pages back to the kernel and every scan faulted them in again (a fifth of a
    # robust scan with spans, in page faults).
    uint8_t* text
    uint8_t* edges
    int32_t* maps
    int64_t text_cap
    int64_t edges_cap
    int64_t maps_cap


cdef bint _grow(void** buf, int64_t* have, int64_t want) noexcept nogil:
    """At least ``want`` bytes in ``buf``; False (``buf`` as it was) when out of memory."""
    cdef void* grown
    if want <= have[0]:
        return True
    grown = realloc(buf[0], want)
    if grown == NULL:
        return False
    buf[0] = grown
    have[0] = want
    return True


cdef void _release(Scratch* sc) noexcept nogil:
    free(sc.text)
    free(sc.edges)
    free(sc.maps)
    memset(sc, 0, sizeof(Scratch))


cdef bint _scan_blocks(const Auto* A, Sink* S, int32_t** stamps, const int64_t* offs,
                       const uint8_t* data, uint8_t* status, int64_t n, Desc* descs,
                       Lower lower, int64_t row_base, Scratch* sc) noexcept nogil:
    """Describe, transform where needed (into ``sc``, grown as needed), and scan the
    rows block by block."""
    cdef bint transform = A.flags & F_TRANSFORM
    cdef bint want_maps = A.flags & F_SPANS
    cdef bint want_edges = A.flags & F_WHOLE_WORDS
    cdef bint edged
    cdef int64_t cap, need, used, r = 0, e, nd, block, out_len, length
    cdef int32_t* maps
    while r < n:
        block = 0
        need = 0
        e = r
        while e < n and block < BLOCK_BYTES:
            length = offs[e + 1] - offs[e]
            block += length
            if transform and (status[e] == ROW_UNICODE or status[e] == ROW_UNICODE_EDGES):
                need += 4 * length + 1  # MAX_OUTPUT 7 bytes from >= 2; one more edge
            e += 1
        cap = need + 8
        if not (_grow(<void**> &sc.text, &sc.text_cap, cap)
                and (not want_edges or _grow(<void**> &sc.edges, &sc.edges_cap, cap))
                and (not want_maps or _grow(<void**> &sc.maps, &sc.maps_cap,
                                            2 * cap * sizeof(int32_t)))):
            return False
        maps = sc.maps
        nd = 0
        used = 0
        while r < e:
            edged = want_edges and status[r] == ROW_UNICODE_EDGES
            if (status[r] == ROW_ASCII or status[r] == ROW_UNICODE_PLAIN
                    or ((status[r] == ROW_UNICODE or status[r] == ROW_UNICODE_EDGES)
                        and not transform)):
                descs[nd].p = data + offs[r]
                descs[nd].n = offs[r + 1] - offs[r]
                descs[nd].row = r
                descs[nd].map_start = NULL
                descs[nd].map_end = NULL
                descs[nd].edges = NULL
                nd += 1
            elif status[r] == ROW_UNICODE or status[r] == ROW_UNICODE_EDGES:
                out_len = _transform_into(A, lower, data + offs[r], offs[r + 1] - offs[r],
                                          sc.text + used, maps + used if want_maps else NULL,
                                          maps + cap + used if want_maps else NULL,
                                          sc.edges + used if edged else NULL)
                descs[nd].p = sc.text + used
                descs[nd].n = out_len
                descs[nd].row = r
                descs[nd].map_start = maps + used if want_maps else NULL
                descs[nd].map_end = maps + cap + used if want_maps else NULL
                descs[nd].edges = sc.edges + used if edged else NULL
                nd += 1
                used += out_len + 1
            r += 1
        if A.all_dense:
            _scan_descs(A, S, stamps, descs, nd, row_base, <AllDense*> NULL)
        else:
            _scan_descs(A, S, stamps, descs, nd, row_base, <Mixed*> NULL)
    return True


# One scratch for every automaton of the process (a filter's blocklists scan one after
# another), lent to one scan at a time; a scan that finds it lent (another thread) gets
# its own. Taken and given back under the GIL.
cdef Scratch _SCRATCH  # a C static: zero, no buffers yet
cdef bint _scratch_lent = False


cdef class Automaton:
    """A frozen automaton over NumPy (possibly memory-mapped) arrays."""

    cdef Auto a
    cdef readonly object arrays
    cdef readonly int64_t n_patterns
    cdef object _lower_tables
    cdef Lower lower
    cdef fe_teddy teddy
    cdef object _idle

    def __init__(self, arrays, int32_t n_categories,
                 alnum_bits, lower_tables):
        """``arrays``: table, classes, outputs, ent_flags,
        ent_start, ent_pid, weight, cat_start, cat_ids, sep_class, n_dense, sparse, edges
        (validated by the caller); ``lower_tables``: page index, entries and pool of the per-code-point
        transform, then the cased and case-ignorable bitmaps (final sigma)."""
        self.arrays = dict(arrays)
        self.arrays["alnum_bits"] = alnum_bits
        self.arrays["ascii_alnum"] = np.array(
            [chr(c).isalnum() for c in range(128)], np.uint8)
        self._lower_tables = tuple(lower_tables)
        cdef const uint32_t[::1] page_index = self._lower_tables[0]
        cdef const uint32_t[::1] entries = self._lower_tables[1]
        cdef const uint8_t[::1] pool = self._lower_tables[2]
        self.lower.page_index = &page_index[0]
        self.lower.entries = &entries[0]
        self.lower.pool = &pool[0]
        cdef const uint8_t[::1] cased = self._lower_tables[3]
        cdef const uint8_t[::1] ignorable = self._lower_tables[4]
        self.lower.cased_bits = &cased[0]
        self.lower.ignorable_bits = &ignorable[0]
        self.n_patterns = len(arrays["weight"])
        cdef const uint32_t[::1] table = self.arrays["table"]
        cdef const uint8_t[::1] classes = self.arrays["classes"]
        cdef const int32_t[::1] outputs = self.arrays["outputs"]
        cdef const uint8_t[::1] ent_flags = self.arrays["ent_flags"]
        cdef const int32_t[::1] ent_start = self.arrays["ent_start"]
        cdef const int32_t[::1] ent_pid = self.arrays["ent_pid"]
        cdef const double[::1] weight = self.arrays["weight"]
        cdef const int32_t[::1] cat_start = self.arrays["cat_start"]
        cdef const int32_t[::1] cat_ids = self.arrays["cat_ids"]
        cdef const uint8_t[::1] bits = self.arrays["alnum_bits"]
        cdef const uint8_t[::1] ascii_alnum = self.arrays["ascii_alnum"]
        self.a.T = &table[0]
        self.a.cls = &classes[0]
        self.a.out = &outputs[0]
        self.a.ent_flags = &ent_flags[0] if ent_flags.shape[0] else NULL
        self.a.ent_start = &ent_start[0]
        self.a.ent_pid = &ent_pid[0] if ent_pid.shape[0] else NULL
        self.a.sep_cls = int(self.arrays["sep_class"])
        flags_a = np.asarray(self.arrays["ent_flags"])
        self.a.any_flags = bool(flags_a.any())
        self.a.any_right_free = bool((flags_a & ENT_RIGHT_FREE).any())
        self.a.one_to_one = bool(
            len(self.arrays["ent_pid"]) == len(flags_a)
            and np.array_equal(self.arrays["ent_pid"], np.arange(len(flags_a)))
            and np.array_equal(self.arrays["ent_start"], np.arange(len(flags_a) + 1)))
        self.a.weight = &weight[0] if weight.shape[0] else NULL
        self.a.cat_start = &cat_start[0]
        self.a.cat_ids = &cat_ids[0] if cat_ids.shape[0] else NULL
        self.a.ncat = n_categories
        self.a.alnum_bits = &bits[0]
        self.a.ascii_alnum = &ascii_alnum[0]
        cdef const uint32_t[::1] sparse = self.arrays["sparse"]
        cdef const uint32_t[::1] edges = self.arrays["edges"]
        self.a.n_dense = int(self.arrays["n_dense"])
        self.a.DW = <uint32_t> table.shape[0]  # n_dense rows of the stride (validated)
        self.a.sparse = &sparse[0] if sparse.shape[0] else NULL
        self.a.all_dense = sparse.shape[0] == 0
        self.a.edges = &edges[0] if edges.shape[0] else NULL
        self.a.teddy = NULL
        self.a.simd = -1
        unused = np.flatnonzero(np.asarray(classes) == 0)
        self._idle = np.full(IDLE_BYTES, unused[0] if len(unused) else 0, np.uint8)
        cdef const uint8_t[::1] idle = self._idle
        lengths = np.asarray(self.arrays["outputs"])[3::4]
        self.a.max_len = int(lengths.max()) if len(lengths) else 0
        self.a.idle = &idle[0] if len(unused) else NULL
        cdef const uint8_t[:, ::1] lo
        cdef const uint8_t[:, ::1] hi
        masks = None
        if (self.a.sep_cls < 0 and len(flags_a) <= PREFILTER_MAX_ENTRIES
                and sparse.shape[0] == 0):
            masks = prefilter_masks(self.arrays["table"], self.arrays["outputs"],
                                    self.arrays["classes"])
        if masks is not None:
            lo, hi = masks
            memcpy(self.teddy.lo, &lo[0, 0], sizeof(self.teddy.lo))
            memcpy(self.teddy.hi, &hi[0, 0], sizeof(self.teddy.hi))
            self.a.teddy = &self.teddy

    @property
    def prefilter(self):
        """Whether scans of this automaton skip ahead with the packed-literal prefilter."""
        return self.a.teddy != NULL

    def scan_chunk(self, const int64_t[::1] offsets, const uint8_t[::1] data,
                   uint8_t[::1] status, int flags, int64_t span_row_base,
                   int32_t[::1] total, int32_t[::1] distinct, int32_t[:, ::1] by_cat,
                   double[::1] wsum):
        """Scan every row whose status is ascii or unicode; return spans (or None).

        Rows are taken in blocks of about ``BLOCK_BYTES``. With ``F_TRANSFORM``, the
        block's unicode rows are lower-cased into a scratch buffer first; then all rows
        of the block, original or lower-cased, go through one interleaved scan. Rows
        marked ``ROW_SLOW`` are left to the caller's exact path; ``ROW_UNICODE_EDGES``
        rows also get word edges judged on their original characters.
        """
        cdef Auto A = self.a
        A.flags = flags
        A.simd = _simd_level if A.teddy != NULL else -1
        cdef Py_ssize_t n = status.shape[0]
        cdef Sink S
        memset(&S, 0, sizeof(Sink))
        S.total = &total[0] if n else NULL
        if flags & F_DETAIL:
            S.distinct = &distinct[0] if n else NULL
            S.by_cat = &by_cat[0, 0] if n and A.ncat else NULL
            S.wsum = &wsum[0] if n else NULL
        cdef int32_t* stamps[N_STREAMS]
        cdef int k
        for k in range(N_STREAMS):
            stamps[k] = NULL
        cdef Desc* descs = <Desc*> malloc(max(n, 1) * sizeof(Desc))
        cdef bint ok = descs != NULL
        if ok and flags & F_DETAIL:
            for k in range(N_STREAMS):
                stamps[k] = <int32_t*> calloc(max(self.n_patterns, 1), sizeof(int32_t))
                ok = ok and stamps[k] != NULL
        global _scratch_lent
        cdef Scratch own
        cdef Scratch* sc = &own
        memset(&own, 0, sizeof(Scratch))
        if not _scratch_lent:
            _scratch_lent = True
            sc = &_SCRATCH
        if ok:
            with nogil:
                ok = _scan_blocks(&A, &S, stamps, &offsets[0],
                                  &data[0] if data.shape[0] else NULL, &status[0] if n else NULL,
                                  n, descs, self.lower, span_row_base, sc)
        if sc == &_SCRATCH:
            _scratch_lent = False
        else:
            _release(&own)
        free(descs)
        for k in range(N_STREAMS):
            free(stamps[k])
        if not ok:
            S.failed = 1
        return self._take_spans(&S, flags)

    def transform_row(self, const uint8_t[::1] data):
        """The kernel's own transform of one valid UTF-8 row, with its maps and edges.

        Returns ``(fed, map_start, map_end, edges)`` as
        ``text_transform.transform_with_map`` does (ASCII keeps its case: the byte
        classes fold it). Exact away from the code points ``classify_rows`` calls slow.
        """
        cdef int64_t n = data.shape[0], m
        cdef int64_t cap = 4 * n + 8
        out = np.empty(cap, np.uint8)
        starts = np.empty(cap, np.int32)
        ends = np.empty(cap, np.int32)
        edges = np.empty(cap + 1, np.uint8)
        cdef uint8_t[::1] ov = out
        cdef int32_t[::1] sv = starts
        cdef int32_t[::1] ev = ends
        cdef uint8_t[::1] gv = edges
        with nogil:
            m = _transform_into(&self.a, self.lower, &data[0] if n else NULL, n, &ov[0],
                                &sv[0], &ev[0], &gv[0])
        return out[:m], starts[:m], ends[:m], edges[:m + 1]

    def scan_fed(self, const uint8_t[::1] fed, const int32_t[::1] map_start,
                 const int32_t[::1] map_end, const uint8_t[::1] edges, int64_t row,
                 int flags, int64_t span_row, int32_t[::1] total, int32_t[::1] distinct,
                 int32_t[:, ::1] by_cat, double[::1] wsum):
        """Scan one already transformed row (the exact Python path); return spans.

        ``map_start``/``map_end``: original byte range of each byte; ``edges``
        (``fed`` length + 1): where whole words may start and end."""
        cdef Auto A = self.a
        A.flags = flags
        A.simd = -1
        cdef Sink S
        memset(&S, 0, sizeof(Sink))
        S.total = &total[0]
        cdef int32_t* stamp = NULL
        if flags & F_DETAIL:
            S.distinct = &distinct[0]
            S.by_cat = &by_cat[0, 0] if A.ncat else NULL
            S.wsum = &wsum[0]
            stamp = <int32_t*> calloc(max(self.n_patterns, 1), sizeof(int32_t))
            if stamp == NULL:
                raise MemoryError("scan: cannot allocate per-row pattern stamps")
        cdef int64_t n = fed.shape[0]
        if map_start.shape[0] != n or map_end.shape[0] != n or edges.shape[0] != n + 1:
            free(stamp)
            raise ValueError("scan_fed: maps and edges do not fit the text")
        if n:
            with nogil:
                _scan_one(&A, &S, stamp, &fed[0], n, row, span_row,
                          &map_start[0], &map_end[0], &edges[0])
        free(stamp)
        return self._take_spans(&S, flags)

    cdef object _take_spans(self, Sink* S, int flags):
        if S.failed:
            free(S.sp_row)
            free(S.sp_start)
            free(S.sp_end)
            free(S.sp_pid)
            raise MemoryError("scan: out of memory while collecting spans")
        if not (flags & F_SPANS):
            return None
        cdef int64_t n = S.sp_n
        rows = np.empty(n, np.int64)
        starts = np.empty(n, np.int64)
        ends = np.empty(n, np.int64)
        pids = np.empty(n, np.int32)
        cdef int64_t[::1] rv = rows
        cdef int64_t[::1] sv = starts
        cdef int64_t[::1] ev = ends
        cdef int32_t[::1] pv = pids
        if n:
            memcpy(&rv[0], S.sp_row, n * sizeof(int64_t))
            memcpy(&sv[0], S.sp_start, n * sizeof(int64_t))
            memcpy(&ev[0], S.sp_end, n * sizeof(int64_t))
            memcpy(&pv[0], S.sp_pid, n * sizeof(int32_t))
        free(S.sp_row)
        free(S.sp_start)
        free(S.sp_end)
        free(S.sp_pid)
        return rows, starts, ends, pids
