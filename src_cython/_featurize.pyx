# cython: language_level=3
"""fastText-exact hashed n-gram featurizer over raw Arrow string buffers.

The kernel turns a run of rows (``int64`` offsets into a ``uint8`` UTF-8 buffer) into the
feature ids fastText's ``Dictionary::getLine`` produces for the same text, in the same
order: per token its vocabulary id and character n-grams, then the word n-grams, all with
fastText's FNV-1a (bytes sign-extended as ``int8``) and bucket arithmetic. It runs without
the GIL and creates no Python object per token; the result is ``(ids, doc_offsets)``.

Documents are one line each: a newline inside a document separates tokens like a space
(what ``predict(text.replace("\\n", " "))`` sees), and every document ends with the EOS
token ``</s>``. fastText stops reading a line at a literal ``</s>`` token, so anything
after it is never scored; ``eos_stops_document=True`` reproduces that (converted fastText
models), ``False`` treats a literal ``</s>`` as an ordinary token so text cannot hide
behind it (models trained here).
"""

from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcmp, memcpy

import numpy as np

cdef uint32_t FNV_BASIS = 2166136261u
cdef uint32_t FNV_PRIME = 16777619u
cdef uint64_t NGRAM_MIX = 116049371u

# Status codes returned by the nogil kernel; the def wrapper turns them into exceptions.
cdef int OK = 0
cdef int NO_MEMORY = 1

cdef extern from *:
    """
    static const char FE_EOS[] = "</s>";

    /* Remainder by a runtime-constant divisor without a division instruction (Lemire,
       Kaser & Kurz, "Faster remainder by direct computation", 2019): exact for every
       64-bit dividend and 32-bit divisor > 0. Hashing each n-gram into a bucket costs
       one modulo; a hardware 64-bit divide would be a third of the kernel's time. */
    typedef struct { unsigned __int128 m; uint64_t d; } fe_fastmod;

    static inline fe_fastmod fe_fastmod_init(uint64_t d) {
        fe_fastmod f;
        f.m = ((unsigned __int128) -1) / d + 1;
        f.d = d;
        return f;
    }

    static inline uint64_t fe_mod(uint64_t a, fe_fastmod f) {
        unsigned __int128 low = f.m * a;
        unsigned __int128 bottom = ((low & 0xFFFFFFFFFFFFFFFFull) * f.d) >> 64;
        unsigned __int128 top = (low >> 64) * f.d;
        return (uint64_t) ((bottom + top) >> 64);
    }
    """
    const char FE_EOS[]
    ctypedef struct fe_fastmod:
        pass
    fe_fastmod fe_fastmod_init(uint64_t d) noexcept nogil
    uint64_t fe_mod(uint64_t a, fe_fastmod f) noexcept nogil


def bucket_of(uint64_t value, uint64_t bucket):
    """``value % bucket`` computed the kernel's way (exposed for property tests)."""
    if bucket == 0 or bucket >= 2**32:
        raise ValueError("bucket must be in 1..2**32-1")
    return fe_mod(value, fe_fastmod_init(bucket))

# fastText's readWord separators: space, \n, \r, \t, \v, \f and NUL.
cdef bint IS_SPACE[256]
for _c in range(256):
    IS_SPACE[_c] = _c in (0x20, 0x0A, 0x0D, 0x09, 0x0B, 0x0C, 0x00)


cdef struct IntBuf:
    int32_t *ptr
    Py_ssize_t size
    Py_ssize_t cap


cdef inline int buf_reserve(IntBuf *buf, Py_ssize_t extra) noexcept nogil:
    """Make room for ``extra`` more values, so the pushes that follow need no check."""
    cdef Py_ssize_t cap = buf.cap if buf.cap else 1024
    cdef int32_t *grown
    if buf.size + extra <= buf.cap:
        return OK
    while cap < buf.size + extra:
        cap *= 2
    grown = <int32_t *> realloc(buf.ptr, cap * sizeof(int32_t))
    if grown == NULL:
        return NO_MEMORY
    buf.ptr = grown
    buf.cap = cap
    return OK


cdef inline void buf_push(IntBuf *buf, int32_t value) noexcept nogil:
    buf.ptr[buf.size] = value
    buf.size += 1


cdef inline uint32_t fnv1a(const uint8_t *p, Py_ssize_t n) noexcept nogil:
    cdef uint32_t h = FNV_BASIS
    cdef Py_ssize_t i
    for i in range(n):
        h = (h ^ <uint32_t> <int8_t> p[i]) * FNV_PRIME
    return h


def fasttext_hash(bytes token):
    """fastText's ``Dictionary::hash`` of ``token`` (FNV-1a over sign-extended bytes)."""
    return fnv1a(<const uint8_t *> token, len(token))


def build_vocab_table(const int64_t[::1] word_offsets, const uint8_t[::1] word_bytes):
    """Open-addressing table from FNV hash to word id, for ``HashedFeaturizer``.

    Args:
        word_offsets: ``int64[V + 1]`` offsets of the V vocabulary words in ``word_bytes``.
        word_bytes: the words' bytes, concatenated.

    Returns:
        ``(slot_hash uint32[M], slot_id int32[M])`` with M a power of two ≥ 2V; empty
        slots hold id -1. Raises ValueError on a duplicate or empty word.
    """
    cdef Py_ssize_t nwords = word_offsets.shape[0] - 1
    cdef Py_ssize_t size = 16
    while size < 2 * nwords:
        size *= 2
    slot_hash_arr = np.zeros(size, dtype=np.uint32)
    slot_id_arr = np.full(size, -1, dtype=np.int32)
    cdef uint32_t[::1] slot_hash = slot_hash_arr
    cdef int32_t[::1] slot_id = slot_id_arr
    cdef uint64_t mask = size - 1
    cdef Py_ssize_t w, slot, other
    cdef int64_t start, length
    cdef uint32_t h
    for w in range(nwords):
        start = word_offsets[w]
        length = word_offsets[w + 1] - start
        if length <= 0:
            raise ValueError(f"vocabulary word {w} is empty")
        h = fnv1a(&word_bytes[start], length)
        slot = h & mask
        while slot_id[slot] != -1:
            other = slot_id[slot]
            if (slot_hash[slot] == h
                    and word_offsets[other + 1] - word_offsets[other] == length
                    and memcmp(&word_bytes[word_offsets[other]], &word_bytes[start],
                               length) == 0):
                raise ValueError(f"vocabulary word {w} repeats word {other}")
            slot = (slot + 1) & mask
        slot_hash[slot] = h
        slot_id[slot] = <int32_t> w
    return slot_hash_arr, slot_id_arr


cdef class HashedFeaturizer:
    """A frozen featurizer: vocabulary table plus fastText's n-gram settings.

    Built once per model (``engine.classify_hashed`` validates the spec first) and then
    applied to any number of batches.
    """

    cdef const int64_t[::1] word_offsets
    cdef const uint8_t[::1] word_bytes
    cdef const uint32_t[::1] slot_hash
    cdef const int32_t[::1] slot_id
    cdef uint64_t mask
    cdef int32_t nwords
    cdef uint32_t bucket
    cdef fe_fastmod bucket_mod
    cdef int word_ngrams
    cdef int minn
    cdef int maxn
    cdef bytes label_prefix
    cdef const uint8_t *prefix
    cdef Py_ssize_t prefix_len
    cdef int32_t eos_id
    cdef uint32_t eos_hash
    cdef bint eos_stops

    def __init__(self, word_offsets, word_bytes, int bucket, int word_ngrams, int minn,
                 int maxn, bytes label_prefix=b"__label__", bint eos_stops_document=True):
        """Args:
            word_offsets: ``int64[V + 1]`` offsets of the vocabulary words (id = index).
            word_bytes: ``uint8`` concatenated word bytes.
            bucket: number of hash buckets for word and character n-grams.
            word_ngrams: longest word n-gram (1 = words only).
            minn, maxn: character n-gram lengths in code points (maxn 0 = none).
            label_prefix: tokens starting with it are labels and are skipped.
            eos_stops_document: a literal ``</s>`` token ends the document (fastText).
        """
        offsets = np.ascontiguousarray(word_offsets, dtype=np.int64)
        data = np.ascontiguousarray(word_bytes, dtype=np.uint8)
        if len(offsets) - 1 >= 2**31 - 1 or (len(offsets) - 1) + bucket >= 2**31:
            raise ValueError("vocabulary plus buckets must stay below 2**31 ids")
        if bucket < 0 or word_ngrams < 1 or minn < 0 or maxn < 0 or (maxn and minn > maxn):
            raise ValueError(f"bad n-gram settings bucket={bucket} word_ngrams={word_ngrams} "
                             f"minn={minn} maxn={maxn}")
        if bucket == 0 and (word_ngrams > 1 or maxn > 0):
            raise ValueError("word or character n-grams need bucket > 0")
        self.word_offsets = offsets
        self.word_bytes = data
        self.slot_hash, self.slot_id = build_vocab_table(offsets, data)
        self.mask = self.slot_id.shape[0] - 1
        self.nwords = <int32_t> (len(offsets) - 1)
        self.bucket = bucket
        self.bucket_mod = fe_fastmod_init(bucket if bucket else 1)
        self.word_ngrams = word_ngrams
        self.minn = minn
        self.maxn = maxn
        self.label_prefix = label_prefix
        self.eos_stops = eos_stops_document
        self.prefix = <const uint8_t *> (<const char *> self.label_prefix)
        self.prefix_len = len(label_prefix)
        self.eos_hash = fnv1a(<const uint8_t *> FE_EOS, 4)
        self.eos_id = self.lookup(<const uint8_t *> FE_EOS, 4, self.eos_hash)

    @property
    def nwords(self):
        """Number of vocabulary words (ids below it are words; above, buckets)."""
        return self.nwords

    @property
    def num_ids(self):
        """Size of the id space: vocabulary plus buckets (rows of the model's table)."""
        return self.nwords + self.bucket

    def word_id(self, bytes word):
        """Vocabulary id of ``word``, or -1 if it is out of vocabulary."""
        return self.lookup(<const uint8_t *> word, len(word), fnv1a(<const uint8_t *> word,
                                                                      len(word)))

    cdef inline int32_t lookup(self, const uint8_t *p, Py_ssize_t n, uint32_t h) noexcept nogil:
        cdef uint64_t slot = h & self.mask
        cdef int32_t w
        cdef int64_t start
        while True:
            w = self.slot_id[slot]
            if w < 0:
                return -1
            if self.slot_hash[slot] == h:
                start = self.word_offsets[w]
                if (self.word_offsets[w + 1] - start == n
                        and memcmp(&self.word_bytes[start], p, n) == 0):
                    return w
            slot = (slot + 1) & self.mask

    cdef void char_ngrams(self, const uint8_t *tok, Py_ssize_t n, IntBuf *out) noexcept nogil:
        """fastText's computeSubwords over ``<token>``, without building the string.

        Appends at most ``(n + 2) * (maxn - minn + 1)`` ids; the caller reserved them.
        """
        cdef Py_ssize_t length = n + 2, i, j
        cdef int k
        cdef uint32_t h
        cdef uint8_t c
        for i in range(length):
            c = 0x3C if i == 0 else (0x3E if i == length - 1 else tok[i - 1])
            if (c & 0xC0) == 0x80:
                continue
            h = FNV_BASIS
            j = i
            k = 1
            while j < length and k <= self.maxn:
                c = 0x3C if j == 0 else (0x3E if j == length - 1 else tok[j - 1])
                h = (h ^ <uint32_t> <int8_t> c) * FNV_PRIME
                j += 1
                while j < length:
                    c = 0x3E if j == length - 1 else tok[j - 1]
                    if (c & 0xC0) != 0x80:
                        break
                    h = (h ^ <uint32_t> <int8_t> c) * FNV_PRIME
                    j += 1
                if k >= self.minn and not (k == 1 and (i == 0 or j == length)):
                    buf_push(out, <int32_t> (self.nwords + fe_mod(h, self.bucket_mod)))
                k += 1

    cdef int doc(self, const uint8_t *text, Py_ssize_t n, IntBuf *out,
                 IntBuf *hashes) noexcept nogil:
        """Ids of one document, appended to ``out`` (fastText getLine order)."""
        cdef Py_ssize_t pos = 0, start, i, j, plen = self.prefix_len
        # Bound the ids before writing any: T <= n / 2 + 2 tokens (EOS included), each
        # with one word id and word_ngrams - 1 n-grams, plus the character n-grams of
        # n + 2T boundary-wrapped bytes.
        cdef Py_ssize_t tokens = n // 2 + 2
        cdef Py_ssize_t bound = tokens * self.word_ngrams
        if self.maxn > 0:
            bound += (n + 2 * tokens) * (self.maxn - self.minn + 1)
        if buf_reserve(out, bound) != OK or buf_reserve(hashes, tokens) != OK:
            return NO_MEMORY
        cdef uint32_t h
        cdef uint64_t gram
        cdef int32_t wid
        cdef bint is_eos, stopped = False
        hashes.size = 0
        while pos < n:
            while pos < n and IS_SPACE[text[pos]]:
                pos += 1
            if pos >= n:
                break
            start = pos
            h = FNV_BASIS
            while pos < n and not IS_SPACE[text[pos]]:
                h = (h ^ <uint32_t> <int8_t> text[pos]) * FNV_PRIME
                pos += 1
            if plen and pos - start >= plen and memcmp(text + start, self.prefix, plen) == 0:
                continue
            wid = self.lookup(text + start, pos - start, h)
            if wid >= 0:
                buf_push(out, wid)
            is_eos = pos - start == 4 and memcmp(text + start, FE_EOS, 4) == 0
            if self.maxn > 0 and not is_eos:
                self.char_ngrams(text + start, pos - start, out)
            buf_push(hashes, <int32_t> h)
            if is_eos and self.eos_stops:
                stopped = True
                break
        if not stopped:
            if self.eos_id >= 0:
                buf_push(out, self.eos_id)
            buf_push(hashes, <int32_t> self.eos_hash)
        for i in range(hashes.size):
            gram = <uint64_t> <int64_t> hashes.ptr[i]
            j = i + 1
            while j < hashes.size and j < i + self.word_ngrams:
                gram = gram * NGRAM_MIX + <uint64_t> <int64_t> hashes.ptr[j]
                buf_push(out, <int32_t> (self.nwords + fe_mod(gram, self.bucket_mod)))
                j += 1
        return OK

    def featurize(self, const int64_t[::1] offsets not None, const uint8_t[::1] data not None,
                  valid=None, Py_ssize_t begin=0, Py_ssize_t end=-1):
        """Feature ids of rows ``begin:end`` of one validated Arrow string chunk.

        Args:
            offsets: ``int64[rows + 1]`` byte offsets into ``data``, already validated
                monotonic and within ``data`` (``engine.arrow_buffers`` does it).
            data: ``uint8`` UTF-8 bytes.
            valid: optional ``bool[rows]``; null rows get no ids.
            begin, end: the row range (``end=-1`` means all rows).

        Returns:
            ``(ids int32[N], doc_offsets int64[end - begin + 1])``; document ``r``'s ids
            are ``ids[doc_offsets[r]:doc_offsets[r + 1]]``.
        """
        cdef Py_ssize_t rows = offsets.shape[0] - 1, r
        if end < 0:
            end = rows
        if rows < 0:
            raise ValueError("offsets must hold at least one entry")
        if not 0 <= begin <= end <= rows:
            raise IndexError(f"row range {begin}:{end} outside 0:{rows}")
        if offsets[0] < 0 or offsets[rows] > data.shape[0]:
            raise ValueError("offsets point past the data buffer")
        cdef const uint8_t[::1] mask
        cdef bint has_mask = valid is not None
        if has_mask:
            mask = np.ascontiguousarray(valid, dtype=np.bool_).view(np.uint8)
            if mask.shape[0] != rows:
                raise ValueError(f"validity mask has {mask.shape[0]} rows, expected {rows}")
        doc_offsets = np.empty(end - begin + 1, dtype=np.int64)
        cdef int64_t[::1] dofs = doc_offsets
        cdef IntBuf out, hashes
        out.ptr = NULL
        out.size = out.cap = 0
        hashes.ptr = NULL
        hashes.size = hashes.cap = 0
        cdef int status = OK
        cdef int32_t[::1] idv
        cdef const uint8_t *base = &data[0] if data.shape[0] else <const uint8_t *> b""
        try:
            with nogil:
                for r in range(begin, end):
                    dofs[r - begin] = out.size
                    if has_mask and not mask[r]:
                        continue
                    status = self.doc(base + offsets[r], offsets[r + 1] - offsets[r],
                                      &out, &hashes)
                    if status != OK:
                        break
                dofs[end - begin] = out.size
            if status == NO_MEMORY:
                raise MemoryError("featurizer could not grow its id buffer")
            ids = np.empty(out.size, dtype=np.int32)
            if out.size:
                idv = ids
                memcpy(&idv[0], out.ptr, out.size * sizeof(int32_t))
        finally:
            free(out.ptr)
            free(hashes.ptr)
        return ids, doc_offsets
