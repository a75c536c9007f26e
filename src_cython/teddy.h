/* Packed-literal prefilter for small pattern sets (the Teddy family), used by _matcher.pyx.
 *
 * Every automaton entry contributes a fingerprint of its first FE_TEDDY_K bytes, each
 * position a set of bytes (the bytes of one byte class: both cases when case is
 * ignored). The fingerprints are spread over 8 buckets; for fingerprint position t the
 * table lo[t][x & 15] & hi[t][x >> 4] has bucket b's bit set when byte x may stand at
 * position t of one of b's fingerprints. A text position j is a candidate when some
 * bucket passes at every t, for the bytes at j, j + 1, j + 2. The nibble split makes
 * the test a superset of the fingerprints (never misses an entry that starts at j);
 * entries shorter than FE_TEDDY_K accept any byte past their end, and so do positions
 * past the end of the row.
 *
 * Three implementations with the same answer: AVX2 (32 positions per step), SSE4.1
 * (16; pshufb is SSSE3, which every SSE4.1 CPU has) and a scalar fallback, chosen at
 * run time. The vector ones carry per-function target attributes, so the module is
 * compiled for baseline x86-64 and runs on any such CPU; other architectures (and builds
 * with FE_NO_SIMD defined) get the scalar one only.
 */
#ifndef FE_TEDDY_H
#define FE_TEDDY_H

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(FE_NO_SIMD)
#define FE_TEDDY_X86 1
#include <immintrin.h>
#else
#define FE_TEDDY_X86 0
#endif

#define FE_TEDDY_K 3

enum { FE_SIMD_SCALAR = 0, FE_SIMD_SSE41 = 1, FE_SIMD_AVX2 = 2 };

typedef struct {
    uint8_t lo[FE_TEDDY_K][16];
    uint8_t hi[FE_TEDDY_K][16];
} fe_teddy;

/* The best level this CPU runs. */
static int fe_simd_cpu_level(void) {
#if FE_TEDDY_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        return FE_SIMD_AVX2;
    if (__builtin_cpu_supports("sse4.1") && __builtin_cpu_supports("ssse3"))
        return FE_SIMD_SSE41;
#endif
    return FE_SIMD_SCALAR;
}

static inline int fe_teddy_at(const fe_teddy* t, const uint8_t* p, int64_t n, int64_t j) {
    uint8_t acc = 0xFF;
    for (int k = 0; k < FE_TEDDY_K && j + k < n; k++) {
        uint8_t x = p[j + k];
        acc &= t->lo[k][x & 15] & t->hi[k][x >> 4];
    }
    return acc != 0;
}

/* The scalar fallback: first candidate at or after i, or n. */
static int64_t fe_teddy_find_scalar(const fe_teddy* t, const uint8_t* p, int64_t n,
                                    int64_t i) {
    for (; i < n; i++)
        if (fe_teddy_at(t, p, n, i))
            return i;
    return n;
}

#if FE_TEDDY_X86
__attribute__((target("sse4.1,ssse3")))
static int64_t fe_teddy_find_sse41(const fe_teddy* t, const uint8_t* p, int64_t n,
                                   int64_t i) {
    const __m128i nib = _mm_set1_epi8(0x0F);
    __m128i lo[FE_TEDDY_K], hi[FE_TEDDY_K];
    for (int k = 0; k < FE_TEDDY_K; k++) {
        lo[k] = _mm_loadu_si128((const __m128i*)t->lo[k]);
        hi[k] = _mm_loadu_si128((const __m128i*)t->hi[k]);
    }
    while (i + 16 + FE_TEDDY_K - 1 <= n) {
        __m128i acc = _mm_set1_epi8((char)0xFF);
        for (int k = 0; k < FE_TEDDY_K; k++) {
            __m128i x = _mm_loadu_si128((const __m128i*)(p + i + k));
            __m128i l = _mm_shuffle_epi8(lo[k], _mm_and_si128(x, nib));
            __m128i h = _mm_shuffle_epi8(hi[k], _mm_and_si128(_mm_srli_epi16(x, 4), nib));
            acc = _mm_and_si128(acc, _mm_and_si128(l, h));
        }
        uint32_t miss = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(acc, _mm_setzero_si128()));
        uint32_t hit = ~miss & 0xFFFFu;
        if (hit)
            return i + __builtin_ctz(hit);
        i += 16;
    }
    return fe_teddy_find_scalar(t, p, n, i);
}

__attribute__((target("avx2")))
static int64_t fe_teddy_find_avx2(const fe_teddy* t, const uint8_t* p, int64_t n,
                                  int64_t i) {
    const __m256i nib = _mm256_set1_epi8(0x0F);
    __m256i lo[FE_TEDDY_K], hi[FE_TEDDY_K];
    for (int k = 0; k < FE_TEDDY_K; k++) {
        lo[k] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i*)t->lo[k]));
        hi[k] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i*)t->hi[k]));
    }
    while (i + 32 + FE_TEDDY_K - 1 <= n) {
        __m256i acc = _mm256_set1_epi8((char)0xFF);
        for (int k = 0; k < FE_TEDDY_K; k++) {
            __m256i x = _mm256_loadu_si256((const __m256i*)(p + i + k));
            __m256i l = _mm256_shuffle_epi8(lo[k], _mm256_and_si256(x, nib));
            __m256i h = _mm256_shuffle_epi8(
                hi[k], _mm256_and_si256(_mm256_srli_epi16(x, 4), nib));
            acc = _mm256_and_si256(acc, _mm256_and_si256(l, h));
        }
        uint32_t miss = (uint32_t)_mm256_movemask_epi8(
            _mm256_cmpeq_epi8(acc, _mm256_setzero_si256()));
        if (~miss)
            return i + __builtin_ctz(~miss);
        i += 32;
    }
    return fe_teddy_find_sse41(t, p, n, i);
}
#endif

/* First candidate at or after i (or n) with the implementation of ``level``; a level
 * this build lacks falls back to the scalar one. */
static inline int64_t fe_teddy_find(const fe_teddy* t, int level, const uint8_t* p,
                                    int64_t n, int64_t i) {
#if FE_TEDDY_X86
    if (level == FE_SIMD_AVX2)
        return fe_teddy_find_avx2(t, p, n, i);
    if (level == FE_SIMD_SSE41)
        return fe_teddy_find_sse41(t, p, n, i);
#endif
    (void)level;
    return fe_teddy_find_scalar(t, p, n, i);
}

#endif
