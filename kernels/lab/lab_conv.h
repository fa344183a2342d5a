/* lab_conv.h — what the convolution benchmarks share (kernels/lab is not part
 * of the library: each program is one translation unit that includes this):
 * deterministic inputs, interleaved best-of-rounds timing, the four conv
 * variants behind one switch, and the check of a variant against direct sums
 * in double before it is timed. */
#ifndef HIPPO_LAB_CONV_H
#define HIPPO_LAB_CONV_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../cpu/cpu.h"

#define LAB_UNUSED __attribute__((unused))
#define MAX_ELEMS (1 << 24)

static LAB_UNUSED double val(size_t i, int salt) { return (double)(((i * 2654435761u + salt * 97u) % 2001) / 1000.0 - 1.0); }

static LAB_UNUSED real *filled(size_t n, int salt, double scale) {
    real *x = xmalloc(sizeof(real) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) x[i] = (real)(scale * val(i, salt));
    return x;
}

/* ---- timing: seconds per call, the best of `rounds`, variants interleaved --- */

typedef void (*run_fn)(void *ctx, int variant);

static LAB_UNUSED double time_once(run_fn f, void *ctx, int v, double min_s) {
    int reps = 1;
    for (;;) {
        double t0 = hp_now();
        for (int r = 0; r < reps; r++) f(ctx, v);
        double dt = hp_now() - t0;
        if (dt >= min_s || reps >= (1 << 20)) return dt / reps;
        reps = dt <= 0 ? reps * 8 : (int)fmin(reps * 8.0, reps * 1.3 * min_s / dt + 1);
    }
}

/* best[v] for variants v < nv where on[v] */
static LAB_UNUSED void time_all(run_fn f, void *ctx, int nv, const bool *on, int rounds, double min_s, double *best) {
    for (int v = 0; v < nv; v++) best[v] = INFINITY;
    for (int r = 0; r < rounds; r++)
        for (int v = 0; v < nv; v++)
            if (on[v]) best[v] = fmin(best[v], time_once(f, ctx, v, min_s));
}

/* ---- 1. the convolution paths ------------------------------------------------ */

enum { V_DIRECT, V_FFTW, V_FLASH, V_OP, NV };
static LAB_UNUSED const char *vname[NV] = {"direct", "fftw", "flash", "op"};

struct conv_bench {
    struct conv_args a;
    struct conv_bwd_args g;
    bool bwd;
};

static LAB_UNUSED void conv_run(void *ctx, int v) {
    struct conv_bench *c = ctx;
    if (!c->bwd) {
        if (v == V_DIRECT) cpu_conv_direct(&c->a);
        else if (v == V_FFTW) cpu_conv_fft(&c->a);
        else if (v == V_FLASH) cpu_conv_flash(&c->a);
        else cpu_conv(&c->a);
    } else {
        if (v == V_DIRECT) cpu_conv_direct_bwd(&c->g);
        else if (v == V_FFTW) cpu_conv_fft_bwd(&c->g);
        else if (v == V_FLASH) cpu_conv_flash_bwd(&c->g);
        else cpu_conv_bwd(&c->g);
    }
}

static LAB_UNUSED size_t at_blh(const struct conv_args *a, int b, int c, int t) {
    return a->layout == CONV_BLH ? ((size_t)b * a->L + t) * a->H + c : ((size_t)b * a->H + c) * a->L + t;
}

/* Largest scaled error of y and du at sampled (b, c, t) against direct sums
 * in double, and of dk at sampled taps. */
static LAB_UNUSED double conv_check(struct conv_bench *c, int v) {
    struct conv_args *a = &c->a;
    struct conv_bwd_args *g = &c->g;
    size_t n = (size_t)a->B * a->L * a->H, nk = (size_t)a->H * a->Lk;
    memset(a->y, 0, sizeof(real) * n), memset(g->du, 0, sizeof(real) * n), memset(g->dk, 0, sizeof(real) * nk);
    c->bwd = false, conv_run(c, v);
    c->bwd = true, conv_run(c, v);
    double err = 0, sy = 1e-30, sd = 1e-30, sk = 1e-30, ey = 0, ed = 0, ek = 0;
    for (int s = 0; s < 24; s++) {
        int b = s % a->B, ch = (s * 37) % a->H, t = s < 3 ? (a->L - 1) * s / 2 : (int)((s * 7919u) % a->L);
        double y = a->D[ch] * a->u[at_blh(a, b, ch, t)], du = a->D[ch] * g->dy[at_blh(a, b, ch, t)];
        for (int j = 0; j <= t; j++) y += (double)a->k[(size_t)ch * a->Lk + j] * a->u[at_blh(a, b, ch, t - j)];
        for (int j = 0; t + j < a->L; j++) du += (double)a->k[(size_t)ch * a->Lk + j] * g->dy[at_blh(a, b, ch, t + j)];
        sy = fmax(sy, fabs(y)), sd = fmax(sd, fabs(du));
        ey = fmax(ey, fabs(y - a->y[at_blh(a, b, ch, t)])), ed = fmax(ed, fabs(du - g->du[at_blh(a, b, ch, t)]));
        if (s >= 6) continue; /* dk sums over B L: fewer samples */
        double dk = 0;
        for (int bb = 0; bb < a->B; bb++)
            for (int tt = t; tt < a->L; tt++) dk += (double)g->dy[at_blh(a, bb, ch, tt)] * a->u[at_blh(a, bb, ch, tt - t)];
        sk = fmax(sk, fabs(dk)), ek = fmax(ek, fabs(dk - g->dk[(size_t)ch * a->Lk + t]));
    }
    err = fmax(ey / sy, fmax(ed / sd, ek / sk));
    return err;
}

struct conv_row {
    const char *shape;
    int B, H, L;
    enum conv_layout layout;
    double err[NV], fwd[NV], bwd[NV]; /* microseconds per channel-sequence */
    const char *op_path;
};

/* One shape: each variant in `on` (NULL: all, direct only up to L 4096)
 * checked, then timed forward and backward, interleaved. Cells over
 * MAX_ELEMS cut B, then H. */
static LAB_UNUSED struct conv_row conv_cell(const char *shape, int B, int H, int L, enum conv_layout lay, int rounds,
                                            const bool *only) {
    while ((size_t)B * H * L > MAX_ELEMS && B > 1) B /= 2;
    while ((size_t)B * H * L > MAX_ELEMS && H > 16) H /= 2;
    size_t n = (size_t)B * L * H;
    struct conv_bench c = {.a = {.B = B, .L = L, .H = H, .Lk = L, .group = 1, .layout = lay}};
    c.a.u = filled(n, 1, 1), c.a.k = filled((size_t)H * L, 2, 1.0 / sqrt(L)), c.a.D = filled(H, 3, 1);
    c.a.y = xmalloc(sizeof(real) * n);
    c.g = (struct conv_bwd_args){.f = c.a, .dy = filled(n, 4, 1), .du = xmalloc(sizeof(real) * n),
                                 .dk = xmalloc(sizeof(real) * H * L), .dD = xcalloc(H, sizeof(real))};
    struct conv_row r = {.shape = shape, .B = B, .H = H, .L = L, .layout = lay};
    bool on[NV] = {L <= 4096, true, true, true};
    if (only) memcpy(on, only, sizeof on);
    for (int v = 0; v < NV; v++) r.err[v] = on[v] ? conv_check(&c, v) : NAN;
    r.op_path = cpu_conv_path_name(&c.a);
    double min_s = L >= (1 << 16) ? 0.05 : 0.02, t[NV];
    c.bwd = false, time_all(conv_run, &c, NV, on, rounds, min_s, t);
    for (int v = 0; v < NV; v++) r.fwd[v] = t[v] * 1e6 / (B * H);
    c.bwd = true, time_all(conv_run, &c, NV, on, rounds, min_s, t);
    for (int v = 0; v < NV; v++) r.bwd[v] = t[v] * 1e6 / (B * H);
    free((void *)c.a.u), free((void *)c.a.k), free((void *)c.a.D), free(c.a.y);
    free((void *)c.g.dy), free(c.g.du), free(c.g.dk), free(c.g.dD);
    return r;
}

static LAB_UNUSED void load_average(char *buf, size_t n) {
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f || !fgets(buf, (int)n, f)) snprintf(buf, n, "unknown\n");
    if (f) fclose(f);
    buf[strcspn(buf, "\n")] = 0;
}

#endif
