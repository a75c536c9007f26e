/* One dense-table step of the automaton, used by _matcher.pyx's scan loops.
 *
 * The next state is table[e + c]: e, the transition value of the current state, is on
 * the loop's dependency chain; c, the byte class, is known early. Written plainly,
 * compilers fold the two into one index register, so every step waits on an add and
 * then the load. Forming the row pointer table + c first, and hiding it from that
 * folding with an empty asm, leaves the load alone on the chain: the load's address
 * unit adds e * 4 for free. Measured on the 100-pattern bench table, four streams:
 * 2.18 -> 2.56 GB/s (AMD EPYC, gcc -O3). Compilers without GNU asm get the plain form.
 */
#ifndef FE_DFA_STEP_H
#define FE_DFA_STEP_H

#include <stdint.h>

static inline uint32_t fe_dfa_step(const uint32_t* table, uint32_t e, uint32_t c) {
    const uint32_t* column = table + c;
#if defined(__GNUC__) || defined(__clang__)
    __asm__("" : "+r"(column));
#endif
    return column[e];
}

/* FE_DFA_STREAMS all-dense streams stepped together from byte t, until a step leaves
 * some stream on a state with output (odd transition value) or byte m is read; returns
 * the new t. Never inlined, so that its loop holds only what it needs in registers:
 * inlined into the scan, the compiler kept stream pointers on the stack and reloaded
 * them every step. Five streams: the step is one load long (4-5 cycles), so five
 * independent ones fill the time the load units need for their 15 loads. */
#define FE_DFA_STREAMS 5
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noinline))
#endif
static int64_t fe_dfa_run(const uint32_t* table, const uint8_t* cls,
                          const uint8_t* const p[FE_DFA_STREAMS],
                          uint32_t s[FE_DFA_STREAMS], int64_t t, int64_t m) {
    const uint8_t *p0 = p[0], *p1 = p[1], *p2 = p[2], *p3 = p[3], *p4 = p[4];
    uint32_t s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3], s4 = s[4];
    while (t < m) {
        s0 = fe_dfa_step(table, s0, cls[p0[t]]);
        s1 = fe_dfa_step(table, s1, cls[p1[t]]);
        s2 = fe_dfa_step(table, s2, cls[p2[t]]);
        s3 = fe_dfa_step(table, s3, cls[p3[t]]);
        s4 = fe_dfa_step(table, s4, cls[p4[t]]);
        t++;
        if ((s0 | s1 | s2 | s3 | s4) & 1)
            break;
    }
    s[0] = s0;
    s[1] = s1;
    s[2] = s2;
    s[3] = s3;
    s[4] = s4;
    return t;
}

#endif
