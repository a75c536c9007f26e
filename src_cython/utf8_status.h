/* The row-status pass's vector path (_matcher.pyx, _row_status): strict UTF-8
 * validation of a whole row, and whether the row holds a non-ASCII byte, an '&', or a
 * prefix from a short list (the first two or three bytes of every code point the
 * matcher must look at one by one: those it transforms, cannot transform, or judges
 * word edges on). A row with such a prefix goes through the scalar pass; every other
 * row's status follows from these four answers. Three bytes where the list allows:
 * with two, the Kelvin sign's E2 84 also stopped every row with a trade mark sign.
 *
 * AVX2 (32 bytes a step) and SSE4.1 (16) versions, chosen at run time as in teddy.h.
 *
 * Validation is the lookup method of Keiser and Lemire ("Validating UTF-8 in less than
 * one instruction per byte", 2021): three 16-entry tables, indexed by the high and low
 * nibble of each byte's predecessor and the high nibble of the byte, each give the set of
 * errors that byte pair could belong to; their intersection is the pair's error set,
 * except for "two continuations in a row", which is an error only where the byte is not
 * the third or fourth of a sequence (known from the bytes two and three back). Same
 * answers as Python's strict decoder: no overlongs, no surrogates, nothing past
 * U+10FFFF, no truncated sequence at the end. A row's first byte is preceded by zeros.
 */
#ifndef FE_UTF8_STATUS_H
#define FE_UTF8_STATUS_H

#include "teddy.h"

#define FE_PREFIXES_MAX 8

enum { FE_U8_INVALID = 1, FE_U8_UNICODE = 2, FE_U8_AMP = 4, FE_U8_PREFIX = 8 };

typedef struct {
    int n;                          /* 0 .. FE_PREFIXES_MAX */
    uint8_t lead[FE_PREFIXES_MAX];
    uint8_t next[FE_PREFIXES_MAX];
    uint8_t third[FE_PREFIXES_MAX]; /* 0: any (a two-byte prefix) */
} fe_prefixes;

#if FE_TEDDY_X86
/* Error bits of a byte pair (predecessor, byte). */
#define FE_TOO_SHORT 0x01    /* lead, then no continuation */
#define FE_TOO_LONG 0x02     /* ASCII, then a continuation */
#define FE_OVERLONG_3 0x04   /* E0, then 80..9F */
#define FE_TOO_LARGE 0x08    /* F4..FF, then 90..BF */
#define FE_SURROGATE 0x10    /* ED, then A0..BF */
#define FE_OVERLONG_2 0x20   /* C0 or C1, then a continuation */
#define FE_TOO_LARGE_1000 0x40 /* F5..FF, then 80..8F */
#define FE_OVERLONG_4 0x40   /* F0, then 80..8F */
#define FE_TWO_CONTS 0x80    /* two continuations: an error unless a 3rd/4th byte */
#define FE_CARRY (FE_TOO_SHORT | FE_TOO_LONG | FE_TWO_CONTS)

/* The three 16-entry tables, as the argument lists of a 16-byte vector. */
#define FE_BYTE_1_HIGH \
    FE_TOO_LONG, FE_TOO_LONG, FE_TOO_LONG, FE_TOO_LONG, \
    FE_TOO_LONG, FE_TOO_LONG, FE_TOO_LONG, FE_TOO_LONG, \
    FE_TWO_CONTS, FE_TWO_CONTS, FE_TWO_CONTS, FE_TWO_CONTS, \
    FE_TOO_SHORT | FE_OVERLONG_2, \
    FE_TOO_SHORT, \
    FE_TOO_SHORT | FE_OVERLONG_3 | FE_SURROGATE, \
    FE_TOO_SHORT | FE_TOO_LARGE | FE_TOO_LARGE_1000 | FE_OVERLONG_4
#define FE_BYTE_1_LOW \
    FE_CARRY | FE_OVERLONG_3 | FE_OVERLONG_2 | FE_OVERLONG_4, \
    FE_CARRY | FE_OVERLONG_2, \
    FE_CARRY, FE_CARRY, \
    FE_CARRY | FE_TOO_LARGE, \
    FE_CARRY | FE_TOO_LARGE | FE_TOO_LARGE_1000, \
    FE_CARRY | FE_TOO_LARGE | FE_TOO_LARGE_1000, \
    FE_CARRY | FE_TOO_LARGE | FE_TOO_LARGE_1000, \
    FE_CARRY | FE_TOO_LARGE | FE_TOO_LARGE_1000, \
    FE_CARRY | FE_TOO_LARGE | FE_TOO_LARGE_1000, \
    FE_CARRY | FE_TOO_LARGE | FE_TOO_LARGE_1000, \
    FE_CARRY | FE_TOO_LARGE | FE_TOO_LARGE_1000, \
    FE_CARRY | FE_TOO_LARGE | FE_TOO_LARGE_1000, \
    FE_CARRY | FE_TOO_LARGE | FE_TOO_LARGE_1000 | FE_SURROGATE, \
    FE_CARRY | FE_TOO_LARGE | FE_TOO_LARGE_1000, \
    FE_CARRY | FE_TOO_LARGE | FE_TOO_LARGE_1000
#define FE_BYTE_2_HIGH \
    FE_TOO_SHORT, FE_TOO_SHORT, FE_TOO_SHORT, FE_TOO_SHORT, \
    FE_TOO_SHORT, FE_TOO_SHORT, FE_TOO_SHORT, FE_TOO_SHORT, \
    FE_TOO_LONG | FE_OVERLONG_2 | FE_TWO_CONTS | FE_OVERLONG_3 | FE_TOO_LARGE_1000 \
        | FE_OVERLONG_4, \
    FE_TOO_LONG | FE_OVERLONG_2 | FE_TWO_CONTS | FE_OVERLONG_3 | FE_TOO_LARGE, \
    FE_TOO_LONG | FE_OVERLONG_2 | FE_TWO_CONTS | FE_SURROGATE | FE_TOO_LARGE, \
    FE_TOO_LONG | FE_OVERLONG_2 | FE_TWO_CONTS | FE_SURROGATE | FE_TOO_LARGE, \
    FE_TOO_SHORT, FE_TOO_SHORT, FE_TOO_SHORT, FE_TOO_SHORT

/* The error bits of every byte of cur, given the 16 bytes before it (prev). */
__attribute__((target("sse4.1,ssse3")))
static inline __m128i fe_u8_errors(__m128i cur, __m128i prev) {
    const __m128i low4 = _mm_set1_epi8(0x0F);
    const __m128i byte_1_high = _mm_setr_epi8(FE_BYTE_1_HIGH);
    const __m128i byte_1_low = _mm_setr_epi8(FE_BYTE_1_LOW);
    const __m128i byte_2_high = _mm_setr_epi8(FE_BYTE_2_HIGH);
    __m128i prev1 = _mm_alignr_epi8(cur, prev, 15);
    __m128i special = _mm_and_si128(
        _mm_and_si128(_mm_shuffle_epi8(byte_1_high, _mm_and_si128(_mm_srli_epi16(prev1, 4), low4)),
                      _mm_shuffle_epi8(byte_1_low, _mm_and_si128(prev1, low4))),
        _mm_shuffle_epi8(byte_2_high, _mm_and_si128(_mm_srli_epi16(cur, 4), low4)));
    __m128i prev2 = _mm_alignr_epi8(cur, prev, 14);
    __m128i prev3 = _mm_alignr_epi8(cur, prev, 13);
    __m128i third = _mm_subs_epu8(prev2, _mm_set1_epi8((char)(0xE0 - 0x80)));
    __m128i fourth = _mm_subs_epu8(prev3, _mm_set1_epi8((char)(0xF0 - 0x80)));
    __m128i must23 = _mm_and_si128(_mm_or_si128(third, fourth), _mm_set1_epi8((char)0x80));
    return _mm_xor_si128(must23, special);
}

/* The same for 32 bytes: pshufb works within each 16-byte lane, so the tables are
 * repeated, and the bytes before cur come from the lane boundary by a permute. */
__attribute__((target("avx2")))
static inline __m256i fe_u8_errors_avx2(__m256i cur, __m256i prev) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i byte_1_high = _mm256_setr_epi8(FE_BYTE_1_HIGH, FE_BYTE_1_HIGH);
    const __m256i byte_1_low = _mm256_setr_epi8(FE_BYTE_1_LOW, FE_BYTE_1_LOW);
    const __m256i byte_2_high = _mm256_setr_epi8(FE_BYTE_2_HIGH, FE_BYTE_2_HIGH);
    __m256i before = _mm256_permute2x128_si256(prev, cur, 0x21);  /* prev.hi, cur.lo */
    __m256i prev1 = _mm256_alignr_epi8(cur, before, 15);
    __m256i special = _mm256_and_si256(
        _mm256_and_si256(
            _mm256_shuffle_epi8(byte_1_high, _mm256_and_si256(_mm256_srli_epi16(prev1, 4), low4)),
            _mm256_shuffle_epi8(byte_1_low, _mm256_and_si256(prev1, low4))),
        _mm256_shuffle_epi8(byte_2_high, _mm256_and_si256(_mm256_srli_epi16(cur, 4), low4)));
    __m256i prev2 = _mm256_alignr_epi8(cur, before, 14);
    __m256i prev3 = _mm256_alignr_epi8(cur, before, 13);
    __m256i third = _mm256_subs_epu8(prev2, _mm256_set1_epi8((char)(0xE0 - 0x80)));
    __m256i fourth = _mm256_subs_epu8(prev3, _mm256_set1_epi8((char)(0xF0 - 0x80)));
    __m256i must23 = _mm256_and_si256(_mm256_or_si256(third, fourth),
                                      _mm256_set1_epi8((char)0x80));
    return _mm256_xor_si256(must23, special);
}

/* The FE_U8_* answers for p[0:n] (a listed prefix wins over an error: that row goes
 * through the scalar pass, which finds the error itself). */
__attribute__((target("sse4.1,ssse3")))
static int fe_utf8_status_sse41(const uint8_t* p, int64_t n, const fe_prefixes* pre,
                                int want_amp) {
    const __m128i amp = _mm_set1_epi8('&');
    /* Non-zero where the last bytes start a sequence the block did not finish. */
    const __m128i max_end = _mm_setr_epi8(
        (char)255, (char)255, (char)255, (char)255, (char)255, (char)255, (char)255,
        (char)255, (char)255, (char)255, (char)255, (char)255, (char)255,
        (char)(0xF0 - 1), (char)(0xE0 - 1), (char)(0xC0 - 1));
    __m128i prev = _mm_setzero_si128(), error = _mm_setzero_si128();
    __m128i pending = _mm_setzero_si128(), hit = _mm_setzero_si128();
    int found = 0;
    int64_t i = 0;
    uint8_t tail[16];
    while (i < n) {
        __m128i cur;
        while (i + 64 <= n) {  /* ASCII runs, 64 bytes a step */
            __m128i a = _mm_loadu_si128((const __m128i*)(p + i));
            __m128i b = _mm_loadu_si128((const __m128i*)(p + i + 16));
            __m128i c = _mm_loadu_si128((const __m128i*)(p + i + 32));
            __m128i d = _mm_loadu_si128((const __m128i*)(p + i + 48));
            __m128i any = _mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d));
            if (want_amp)
                any = _mm_or_si128(any, _mm_or_si128(
                    _mm_or_si128(_mm_cmpeq_epi8(a, amp), _mm_cmpeq_epi8(b, amp)),
                    _mm_or_si128(_mm_cmpeq_epi8(c, amp), _mm_cmpeq_epi8(d, amp))));
            if (_mm_movemask_epi8(any))
                break;
            error = _mm_or_si128(error, pending);
            pending = _mm_setzero_si128();
            prev = d;
            i += 64;
        }
        if (i >= n)
            break;
        if (i + 16 <= n) {
            cur = _mm_loadu_si128((const __m128i*)(p + i));
        } else {  /* the last bytes, padded with zeros (ASCII: ends what is unfinished) */
            memset(tail, 0, 16);
            memcpy(tail, p + i, (size_t)(n - i));
            cur = _mm_loadu_si128((const __m128i*)tail);
        }
        i += 16;
        if (want_amp && _mm_movemask_epi8(_mm_cmpeq_epi8(cur, amp)))
            found |= FE_U8_AMP;
        if (_mm_movemask_epi8(cur))
            found |= FE_U8_UNICODE;
        error = _mm_or_si128(error, fe_u8_errors(cur, prev));
        pending = _mm_subs_epu8(cur, max_end);
        if (pre->n) {
            __m128i before = _mm_alignr_epi8(cur, prev, 15);
            __m128i before2 = _mm_alignr_epi8(cur, prev, 14);
            for (int k = 0; k < pre->n; k++) {
                const __m128i lead = _mm_set1_epi8((char)pre->lead[k]);
                const __m128i next = _mm_set1_epi8((char)pre->next[k]);
                if (pre->third[k])
                    hit = _mm_or_si128(hit, _mm_and_si128(
                        _mm_and_si128(_mm_cmpeq_epi8(before2, lead),
                                      _mm_cmpeq_epi8(before, next)),
                        _mm_cmpeq_epi8(cur, _mm_set1_epi8((char)pre->third[k]))));
                else
                    hit = _mm_or_si128(hit, _mm_and_si128(_mm_cmpeq_epi8(before, lead),
                                                          _mm_cmpeq_epi8(cur, next)));
            }
        }
        prev = cur;
    }
    /* Tested once at the end: a branch per block costs more than the rare early exit. */
    if (_mm_movemask_epi8(hit))
        return found | FE_U8_PREFIX;
    error = _mm_or_si128(error, pending);
    if (!_mm_testz_si128(error, error))
        return found | FE_U8_INVALID;
    return found;
}

/* fe_utf8_status_sse41, 32 bytes a step. */
__attribute__((target("avx2")))
static int fe_utf8_status_avx2(const uint8_t* p, int64_t n, const fe_prefixes* pre,
                               int want_amp) {
    const __m256i amp = _mm256_set1_epi8('&');
    const __m256i max_end = _mm256_setr_epi8(
        (char)255, (char)255, (char)255, (char)255, (char)255, (char)255, (char)255,
        (char)255, (char)255, (char)255, (char)255, (char)255, (char)255, (char)255,
        (char)255, (char)255, (char)255, (char)255, (char)255, (char)255, (char)255,
        (char)255, (char)255, (char)255, (char)255, (char)255, (char)255, (char)255,
        (char)255, (char)(0xF0 - 1), (char)(0xE0 - 1), (char)(0xC0 - 1));
    __m256i prev = _mm256_setzero_si256(), error = _mm256_setzero_si256();
    __m256i pending = _mm256_setzero_si256(), hit = _mm256_setzero_si256();
    int found = 0;
    int64_t i = 0;
    uint8_t tail[32];
    while (i < n) {
        __m256i cur;
        while (i + 64 <= n) {  /* ASCII runs, 64 bytes a step */
            __m256i a = _mm256_loadu_si256((const __m256i*)(p + i));
            __m256i b = _mm256_loadu_si256((const __m256i*)(p + i + 32));
            __m256i any = _mm256_or_si256(a, b);
            if (want_amp)
                any = _mm256_or_si256(any, _mm256_or_si256(_mm256_cmpeq_epi8(a, amp),
                                                           _mm256_cmpeq_epi8(b, amp)));
            if (_mm256_movemask_epi8(any))
                break;
            error = _mm256_or_si256(error, pending);
            pending = _mm256_setzero_si256();
            prev = b;
            i += 64;
        }
        if (i >= n)
            break;
        if (i + 32 <= n) {
            cur = _mm256_loadu_si256((const __m256i*)(p + i));
        } else {
            memset(tail, 0, 32);
            memcpy(tail, p + i, (size_t)(n - i));
            cur = _mm256_loadu_si256((const __m256i*)tail);
        }
        i += 32;
        if (want_amp && _mm256_movemask_epi8(_mm256_cmpeq_epi8(cur, amp)))
            found |= FE_U8_AMP;
        if (_mm256_movemask_epi8(cur))
            found |= FE_U8_UNICODE;
        error = _mm256_or_si256(error, fe_u8_errors_avx2(cur, prev));
        pending = _mm256_subs_epu8(cur, max_end);
        if (pre->n) {
            __m256i joint = _mm256_permute2x128_si256(prev, cur, 0x21);
            __m256i before = _mm256_alignr_epi8(cur, joint, 15);
            __m256i before2 = _mm256_alignr_epi8(cur, joint, 14);
            for (int k = 0; k < pre->n; k++) {
                const __m256i lead = _mm256_set1_epi8((char)pre->lead[k]);
                const __m256i next = _mm256_set1_epi8((char)pre->next[k]);
                if (pre->third[k])
                    hit = _mm256_or_si256(hit, _mm256_and_si256(
                        _mm256_and_si256(_mm256_cmpeq_epi8(before2, lead),
                                         _mm256_cmpeq_epi8(before, next)),
                        _mm256_cmpeq_epi8(cur, _mm256_set1_epi8((char)pre->third[k]))));
                else
                    hit = _mm256_or_si256(hit, _mm256_and_si256(
                        _mm256_cmpeq_epi8(before, lead), _mm256_cmpeq_epi8(cur, next)));
            }
        }
        prev = cur;
    }
    if (_mm256_movemask_epi8(hit))
        return found | FE_U8_PREFIX;
    error = _mm256_or_si256(error, pending);
    if (!_mm256_testz_si256(error, error))
        return found | FE_U8_INVALID;
    return found;
}
#endif

/* -1 where this build or CPU has no vector path (the caller takes the scalar pass). */
static inline int fe_utf8_status(int level, const uint8_t* p, int64_t n,
                                 const fe_prefixes* pre, int want_amp) {
#if FE_TEDDY_X86
    if (level >= FE_SIMD_AVX2)
        return fe_utf8_status_avx2(p, n, pre, want_amp);
    if (level >= FE_SIMD_SSE41)
        return fe_utf8_status_sse41(p, n, pre, want_amp);
#endif
    (void)level; (void)p; (void)n; (void)pre; (void)want_amp;
    return -1;
}

#endif
