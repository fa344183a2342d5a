/* conv_table.h — the crossover table ops->conv dispatches by.
 *
 * Three paths compute the same causal convolution: direct (conv_direct.c,
 * conv_blh.c, O(L Lk) per channel), FFTW (conv_fft.c) and FlashConv
 * (flashconv.c). Cost model per channel: direct ~ c_d L Lk, an FFT path ~
 * c_f n log2 n with n its FFT size, so direct wins while
 *   L * Lk <= ratio * n log2 n.
 * One row per direct-kernel class. The built-in rows (conv_table.c) were
 * measured on this project's reference machine; `make bench` measures the
 * machine it runs on (kernels/lab/bench_crossover.c) and writes
 * results/bench/conv_table.json, which HIPPO_CONV_TABLE=<file> makes the
 * active table. Reports name the table they ran with. */
#ifndef HIPPO_CONV_TABLE_H
#define HIPPO_CONV_TABLE_H

#include <stdbool.h>
#include <stddef.h>

/* Which direct kernel a shape gets (conv_direct.c). */
enum conv_kernel_class {
    CONV_CLASS_BLH_BLOCKED, /* BLH, H a multiple of the vector width: register-blocked */
    CONV_CLASS_BHL_BLOCKED, /* BHL, such an H: through transposes to the blocked kernel */
    CONV_CLASS_BLH_LOOPS,   /* BLH, other H: loops vectorised over channels */
    CONV_CLASS_BHL_LOOPS,   /* BHL, other H: a loop per channel */
    CONV_NCLASS
};

struct conv_rule {
    enum conv_kernel_class cls;
    int flash_min_H;       /* FlashConv's panels hold VL channels: below this H, FFTW */
    int flash_min_H_short; /* ... except up to L = short_L, where FFTW's fixed costs lose from this H */
    double ratio_flash;    /* c_f / c_d against FlashConv (n = its size, 2^a >= 2L) */
    double ratio_flash_b1; /* the same for one sequence (B = 1): the direct kernel's per-call setup is not shared */
    double ratio_fftw;     /* c_f / c_d against FFTW (n = 2^a or 3 2^a >= L + Lk - 1) */
};

struct conv_table {
    int short_L;                           /* the flash_min_H_short limit */
    struct conv_rule rules[CONV_NCLASS];   /* indexed by class */
};

/* The table in force, and where it came from ("builtin" or the file's path). */
const struct conv_table *conv_table_active(void);
const char *conv_table_source(void);
const struct conv_table *conv_table_builtin(void);
const char *conv_class_name(enum conv_kernel_class c);

/* Parse a table file (JSON, written by conv_table_write). 0, or -1 with a
 * message in err naming the file, the key and the limit. */
int conv_table_read(const char *path, struct conv_table *t, char *err, size_t errlen);
/* Make t active (source names it in reports); NULL restores the built-in table. */
void conv_table_set(const struct conv_table *t, const char *source);
/* Load HIPPO_CONV_TABLE if it is set: 0 (set or unset), -1 with err. */
int conv_table_from_env(char *err, size_t errlen);
/* The table as a JSON object (caller owns it; a cJSON * returned as void *
 * so this header does not pull cJSON into every kernel file). */
void *conv_table_json(const struct conv_table *t);

#endif
