/* The ASCII-run skip of the row-status pass (_matcher.pyx, _row_status).
 *
 * fe_ascii_run returns the first index at or after i whose byte is not ASCII, or is '&'
 * when stop_amp is set, or n: the status pass only looks at those bytes one by one.
 * Same answer at every level (see teddy.h for the levels and the CPU dispatch). Both
 * vector levels use SSE2 (every x86-64 CPU has it), 32 bytes a step: measured on an AMD
 * EPYC, a 256-bit AVX2 loop was slower here (rows are short, and the non-ASCII ones stop
 * the skip every few bytes).
 */
#ifndef FE_ASCII_RUN_H
#define FE_ASCII_RUN_H

#include "teddy.h"

static int64_t fe_ascii_run_scalar(const uint8_t* p, int64_t n, int64_t i, int stop_amp) {
    const uint64_t high = 0x8080808080808080ULL, ones = 0x0101010101010101ULL;
    while (i + 8 <= n) {
        uint64_t w, x;
        memcpy(&w, p + i, 8);
        x = w ^ (0x26 * ones);
        if ((w & high) || (stop_amp && ((x - ones) & ~x & high)))
            break;
        i += 8;
    }
    for (; i < n; i++)
        if (p[i] >= 0x80 || (stop_amp && p[i] == '&'))
            return i;
    return n;
}

#if FE_TEDDY_X86
static int64_t fe_ascii_run_sse2(const uint8_t* p, int64_t n, int64_t i, int stop_amp) {
    const __m128i amp = _mm_set1_epi8('&');
    while (i + 32 <= n) {
        __m128i a = _mm_loadu_si128((const __m128i*)(p + i));
        __m128i b = _mm_loadu_si128((const __m128i*)(p + i + 16));
        __m128i any = _mm_or_si128(a, b);
        if (stop_amp)
            any = _mm_or_si128(any, _mm_or_si128(_mm_cmpeq_epi8(a, amp),
                                                 _mm_cmpeq_epi8(b, amp)));
        if (_mm_movemask_epi8(any))
            break;
        i += 32;
    }
    while (i + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i*)(p + i));
        uint32_t m = (uint32_t)_mm_movemask_epi8(v);
        if (stop_amp)
            m |= (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, amp));
        if (m)
            return i + __builtin_ctz(m);
        i += 16;
    }
    return fe_ascii_run_scalar(p, n, i, stop_amp);
}
#endif

static inline int64_t fe_ascii_run(int level, const uint8_t* p, int64_t n, int64_t i,
                                   int stop_amp) {
#if FE_TEDDY_X86
    if (level >= FE_SIMD_SSE41)
        return fe_ascii_run_sse2(p, n, i, stop_amp);
#endif
    (void)level;
    return fe_ascii_run_scalar(p, n, i, stop_amp);
}

#endif
