/* conv_table.h — the crossover table ops->conv dispatches by (internal to
 * kernels/cpu; read by conv_direct.c's cpu_conv_path and the tests).
 *
 * Three paths compute the same causal convolution: direct (conv_direct.c,
 * conv_blh.c, O(L Lk) per channel), FFTW (conv_fft.c) and FlashConv
 * (flashconv.c). Cost model per channel: direct ~ c_d L Lk, an FFT path ~
 * c_f n log2 n with n its FFT size, so direct wins while
 *   L * Lk <= ratio * n log2 n.
 * The ratios c_f / c_d and where FlashConv beats FFTW were measured with
 * kernels/lab/bench_flashconv.c and bench_conv.c (FLASHCONV.md, CONV.md).
 * One row per kernel class. */
#ifndef HIPPO_CONV_TABLE_H
#define HIPPO_CONV_TABLE_H

#include "cpu.h"

/* Which direct kernel a shape gets (conv_direct.c). */
enum conv_kernel_class {
    CONV_CLASS_BLH_BLOCKED, /* BLH, H a multiple of the vector width: register-blocked */
    CONV_CLASS_BHL_BLOCKED, /* BHL, such an H: through transposes to the blocked kernel */
    CONV_CLASS_BLH_LOOPS,   /* BLH, other H: loops vectorised over channels */
    CONV_CLASS_BHL_LOOPS,   /* BHL, other H: a loop per channel */
};

struct conv_rule {
    enum conv_kernel_class cls;
    int flash_min_H;     /* FlashConv's panels hold VL channels: below this H, FFTW */
    int flash_min_H_short; /* ... except up to L = CONV_SHORT_L, where FFTW's fixed costs lose from this H */
    double ratio_flash;  /* c_f / c_d against FlashConv (n = its size, 2^a >= 2L) */
    double ratio_flash_b1; /* the same for one sequence (B = 1): the direct kernel's per-call setup is not shared */
    double ratio_fftw;   /* c_f / c_d against FFTW (n = 2^a or 3 2^a >= L + Lk - 1) */
};

/* From bench_flashconv (results/bench/flashconv.json; FLASHCONV.md):
 *  - BLH blocked, B x H = 32 x 64: direct = FlashConv at L ~ 110 (ratio 5);
 *    B = 4..32, H = 128..768 (and E = 256, group 64: H3 head_dim 8) agree.
 *    At B = 1 the direct kernel's per-call work (taps expanded to (Lk, H),
 *    padded copies) is not shared by a batch and FlashConv measured 1.2-1.9x
 *    faster at L = 31-64 (1 x 768: direct 0.073 vs 0.058 us per channel at 31,
 *    0.18 vs 0.11 at 64, 0.32 vs 0.25 at 100), though not at L = 16: ratio 2
 *    at B = 1 (L 16 stays direct; the paper's B = 32 keeps 5);
 *  - BHL through the transposes, 8 x 64: crossover L ~ 40-64 (3; the paper's
 *    L = 31 stays direct);
 *  - plain loops, 8 x 5 and 8 x 8: FlashConv beats them from L = 32 (1); with 5
 *    of 16 lanes busy FlashConv was 0.8-1.9x FFTW, with 8 1.05-2.6x: FFTW below
 *    6 channels, and then direct loops only up to L ~ 32 (2; CONV.md's 6 was
 *    measured at H = 32, where the loops are far less wasteful). Below 6
 *    channels FlashConv still beat FFTW at short L: 5 channels, L 32: 0.15 vs
 *    0.27 us per channel, L 64: 0.27 vs 0.36, L 128: even; so FlashConv from 5
 *    channels up to L = 64 (a panel costs ~16x one lane, so fewer channels do
 *    not pay for it). */
#define CONV_SHORT_L 64
static const struct conv_rule conv_rules[] = {
    {CONV_CLASS_BLH_BLOCKED, 6, 6, 5.0, 2.0, 33.0},
    {CONV_CLASS_BHL_BLOCKED, 6, 6, 3.0, 3.0, 20.0},
    {CONV_CLASS_BLH_LOOPS, 6, 5, 1.0, 1.0, 2.0},
    {CONV_CLASS_BHL_LOOPS, 6, 5, 1.0, 1.0, 2.5},
};

#endif
