/* bench_crossover.c — measure this machine's conv crossover table
 * (kernels/cpu/conv_table.h) and write it where HIPPO_CONV_TABLE can use it.
 *
 * For each direct-kernel class and each ratio of its row, the direct kernel
 * and the FFT engine the ratio is about are checked, then timed forward +
 * backward (one thread, interleaved best of rounds) on a grid of short L
 * with Lk = L. Each grid point has r = L Lk / (n log2 n); the table says
 * "direct while r <= ratio", so the ratio written is the threshold that
 * loses the least time over the grid (the geometric middle of the gap it
 * falls in). The channel minimums of the loop classes come from FlashConv
 * against FFTW at H = 1..12, at L = 1024 and at L = short_L. Rows the grid
 * cannot reach (FFTW against the blocked kernels: H >= 16 always takes
 * FlashConv up to 1M) keep the built-in value, said so in the file.
 *
 * Usage: bench_crossover [out.json] [rounds]. Prints the grid, the fitted
 * table beside the built-in one, and the time each loses on the grid. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../harness/report.h"
#include "../cpu/conv_table.h"
#include "../cpu/fft_block.h"
#include "lab_conv.h"

static const int grid_L[] = {8, 12, 16, 24, 32, 40, 48, 64, 80, 96, 128, 160, 192, 256, 384};
#define NG ((int)(sizeof grid_L / sizeof grid_L[0]))

enum ratio_kind { R_FLASH, R_FLASH_B1, R_FFTW };
static const char *ratio_name[] = {"ratio_flash", "ratio_flash_b1", "ratio_fftw"};

/* One ratio of one row, and the shape it is measured on. */
struct probe {
    enum conv_kernel_class cls;
    enum ratio_kind kind;
    int B, H;
    enum conv_layout lay;
};

static const struct probe probes[] = {
    {CONV_CLASS_BLH_BLOCKED, R_FLASH, 32, 64, CONV_BLH},  {CONV_CLASS_BLH_BLOCKED, R_FLASH_B1, 1, 768, CONV_BLH},
    {CONV_CLASS_BHL_BLOCKED, R_FLASH, 8, 64, CONV_BHL},   {CONV_CLASS_BHL_BLOCKED, R_FLASH_B1, 1, 768, CONV_BHL},
    {CONV_CLASS_BLH_LOOPS, R_FLASH, 8, 8, CONV_BLH},      {CONV_CLASS_BLH_LOOPS, R_FLASH_B1, 1, 40, CONV_BLH},
    {CONV_CLASS_BLH_LOOPS, R_FFTW, 8, 4, CONV_BLH},       {CONV_CLASS_BHL_LOOPS, R_FLASH, 8, 8, CONV_BHL},
    {CONV_CLASS_BHL_LOOPS, R_FLASH_B1, 1, 40, CONV_BHL},  {CONV_CLASS_BHL_LOOPS, R_FFTW, 8, 4, CONV_BHL},
};
#define NP ((int)(sizeof probes / sizeof probes[0]))

struct fit {
    double r[NG], t_direct[NG], t_engine[NG]; /* us per channel-sequence, forward + backward */
    double ratio;                             /* fitted */
};

/* r of a grid point for an engine: FlashConv's size 2^a >= 2L, FFTW's the
 * FFT path's size for L + Lk - 1 outputs (what cpu_conv_path uses). */
static double r_of(int L, enum ratio_kind k) {
    int n = k == R_FFTW ? cpu_conv_fft_size(2 * L - 1) : fb_size_for(L);
    return (double)L * L / (n * log2((double)n));
}

/* Relative time lost over the grid if "direct while r <= ratio". */
static double loss(const struct fit *f, double ratio) {
    double s = 0;
    for (int i = 0; i < NG; i++) {
        double best = fmin(f->t_direct[i], f->t_engine[i]);
        s += (f->r[i] <= ratio ? f->t_direct[i] : f->t_engine[i]) / best - 1;
    }
    return s;
}

/* The threshold with the least loss: candidates are the gaps between sorted
 * r values (and beyond both ends); each gap's geometric middle. */
static double fit_ratio(const struct fit *f) {
    double r[NG + 2];
    for (int i = 0; i < NG; i++) r[i] = f->r[i];
    for (int i = 1; i < NG; i++) /* insertion sort: NG is small */
        for (int j = i; j > 0 && r[j - 1] > r[j]; j--) {
            double t = r[j];
            r[j] = r[j - 1], r[j - 1] = t;
        }
    double best = r[0] / 2, best_loss = loss(f, best);
    for (int i = 0; i < NG; i++) {
        double c = i + 1 < NG ? sqrt(r[i] * r[i + 1]) : r[i] * 2;
        double l = loss(f, c);
        if (l < best_loss - 1e-9) best = c, best_loss = l;
    }
    return best;
}

static void measure_probe(const struct probe *p, int rounds, struct fit *f) {
    int engine = p->kind == R_FFTW ? V_FFTW : V_FLASH;
    bool on[NV] = {false};
    on[V_DIRECT] = on[engine] = true;
    printf("%-12s %-15s B %3d H %3d %s:", conv_class_name(p->cls), ratio_name[p->kind], p->B, p->H,
           p->lay == CONV_BLH ? "BLH" : "BHL");
    for (int i = 0; i < NG; i++) {
        struct conv_row c = conv_cell("probe", p->B, p->H, grid_L[i], p->lay, rounds, on);
        if (c.err[V_DIRECT] > 1e-4 || c.err[engine] > 1e-3)
            hp_die("%s L %d: a variant disagrees with the double sums (direct %.2g, %s %.2g)", conv_class_name(p->cls),
                   grid_L[i], c.err[V_DIRECT], vname[engine], c.err[engine]);
        f->r[i] = r_of(grid_L[i], p->kind);
        f->t_direct[i] = c.fwd[V_DIRECT] + c.bwd[V_DIRECT];
        f->t_engine[i] = c.fwd[engine] + c.bwd[engine];
        printf(" %d:%.2f", grid_L[i], f->t_direct[i] / f->t_engine[i]);
        fflush(stdout);
    }
    f->ratio = fit_ratio(f);
    printf("  -> %.3g\n", f->ratio);
}

/* The smallest H in 1..12 from which FlashConv is no slower than FFTW at
 * every larger H tried (13: never). */
static int min_channels(enum conv_layout lay, int L, int rounds, double *flash_over_fftw) {
    bool on[NV] = {false};
    on[V_FFTW] = on[V_FLASH] = true;
    int from = 13;
    for (int H = 12; H >= 1; H--) {
        struct conv_row c = conv_cell("channels", 8, H, L, lay, rounds, on);
        if (c.err[V_FFTW] > 1e-3 || c.err[V_FLASH] > 1e-3) hp_die("H %d L %d: FFTW or FlashConv disagrees", H, L);
        flash_over_fftw[H - 1] = (c.fwd[V_FLASH] + c.bwd[V_FLASH]) / (c.fwd[V_FFTW] + c.bwd[V_FFTW]);
        if (flash_over_fftw[H - 1] <= 1 && from == H + 1) from = H;
    }
    return from;
}

static cJSON *fit_json(const struct probe *p, const struct fit *f, double builtin) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "B", p->B), cJSON_AddNumberToObject(o, "H", p->H);
    cJSON_AddStringToObject(o, "layout", p->lay == CONV_BLH ? "BLH" : "BHL");
    cJSON_AddItemToObject(o, "L", cJSON_CreateIntArray(grid_L, NG));
    cJSON_AddItemToObject(o, "r", cJSON_CreateDoubleArray(f->r, NG));
    cJSON_AddItemToObject(o, "direct_us", cJSON_CreateDoubleArray(f->t_direct, NG));
    cJSON_AddItemToObject(o, "engine_us", cJSON_CreateDoubleArray(f->t_engine, NG));
    cJSON_AddNumberToObject(o, "fitted", f->ratio);
    cJSON_AddNumberToObject(o, "builtin", builtin);
    cJSON_AddNumberToObject(o, "loss_fitted", loss(f, f->ratio));
    cJSON_AddNumberToObject(o, "loss_builtin", loss(f, builtin));
    return o;
}

static double *rule_ratio(struct conv_rule *r, enum ratio_kind k) {
    return k == R_FLASH ? &r->ratio_flash : k == R_FLASH_B1 ? &r->ratio_flash_b1 : &r->ratio_fftw;
}

int main(int argc, char **argv) {
    const char *out = argc > 1 ? argv[1] : "results/bench/conv_table.json";
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    char load[128], err[512];
    load_average(load, sizeof load);
    omp_set_num_threads(1);
    printf("bench_crossover: %s, FFT clones %s, one thread, load average %s\n", REAL_NAME, cpu_flash_isa(), load);
    printf("direct / engine time (forward + backward) by L, then the fitted ratio:\n");
    const struct conv_table *bt = conv_table_builtin();
    struct conv_table t = *bt;
    cJSON *measured = cJSON_CreateObject();
    double total[2] = {0, 0}; /* grid loss with the built-in and the fitted ratios */
    for (int i = 0; i < NP; i++) {
        struct fit f;
        measure_probe(&probes[i], rounds, &f);
        double b = *rule_ratio((struct conv_rule *)&bt->rules[probes[i].cls], probes[i].kind);
        *rule_ratio(&t.rules[probes[i].cls], probes[i].kind) = f.ratio;
        total[0] += loss(&f, b), total[1] += loss(&f, f.ratio);
        char key[64];
        snprintf(key, sizeof key, "%s.%s", conv_class_name(probes[i].cls), ratio_name[probes[i].kind]);
        cJSON_AddItemToObject(measured, key, fit_json(&probes[i], &f, b));
    }
    for (int lay = 0; lay < 2; lay++) {
        enum conv_kernel_class cls = lay ? CONV_CLASS_BHL_LOOPS : CONV_CLASS_BLH_LOOPS;
        double q_long[12], q_short[12];
        t.rules[cls].flash_min_H = min_channels((enum conv_layout)lay, 1024, rounds, q_long);
        t.rules[cls].flash_min_H_short = min_channels((enum conv_layout)lay, t.short_L, rounds, q_short);
        printf("%-12s FlashConv / FFTW by H = 1..12: L 1024 from H %d, L %d from H %d\n", conv_class_name(cls),
               t.rules[cls].flash_min_H, t.short_L, t.rules[cls].flash_min_H_short);
        char key[64];
        snprintf(key, sizeof key, "%s.flash_over_fftw_L1024", conv_class_name(cls));
        cJSON_AddItemToObject(measured, key, cJSON_CreateDoubleArray(q_long, 12));
        snprintf(key, sizeof key, "%s.flash_over_fftw_short_L", conv_class_name(cls));
        cJSON_AddItemToObject(measured, key, cJSON_CreateDoubleArray(q_short, 12));
    }
    printf("\n%-12s %22s %22s %22s %20s\n", "class", "ratio_flash", "ratio_flash_b1", "ratio_fftw", "min H (long/short)");
    for (int c = 0; c < CONV_NCLASS; c++) {
        const struct conv_rule *m = &t.rules[c], *o = &bt->rules[c];
        printf("%-12s %9.3g (built-in %4.3g) %9.3g (built-in %4.3g) %9.3g (built-in %4.3g) %6d/%d (%d/%d)\n",
               conv_class_name((enum conv_kernel_class)c), m->ratio_flash, o->ratio_flash, m->ratio_flash_b1,
               o->ratio_flash_b1, m->ratio_fftw, o->ratio_fftw, m->flash_min_H, m->flash_min_H_short, o->flash_min_H,
               o->flash_min_H_short);
    }
    printf("time lost over the grid against the best path (sum of relative excess): built-in %.2f, measured %.2f\n",
           total[0], total[1]);
    cJSON *doc = conv_table_json(&t);
    cJSON *machine = cJSON_AddObjectToObject(doc, "machine");
    cJSON_AddStringToObject(machine, "real", REAL_NAME);
    cJSON_AddStringToObject(machine, "isa", cpu_flash_isa());
    cJSON_AddStringToObject(machine, "load_average", load);
    cJSON_AddStringToObject(machine, "kept_builtin", "ratio_fftw of the blocked classes (H >= 16 always takes "
                                                     "FlashConv up to L 1M, so FFTW never meets them)");
    cJSON_AddNumberToObject(machine, "grid_loss_builtin", total[0]);
    cJSON_AddNumberToObject(machine, "grid_loss_measured", total[1]);
    cJSON_AddItemToObject(doc, "measured", measured);
    if (report_write(out, doc, err, sizeof err)) hp_die("%s", err);
    cJSON_Delete(doc);
    /* What it wrote must be a table the runtime accepts. */
    struct conv_table back;
    if (conv_table_read(out, &back, err, sizeof err)) hp_die("wrote an unreadable table: %s", err);
    printf("wrote %s (use it: HIPPO_CONV_TABLE=%s)\n", out, out);
    return 0;
}
