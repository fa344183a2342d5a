/* bench_flashconv.c — FlashConv against the direct and FFTW paths, and the
 * goals of kernels/cpu/FLASHCONV.md, measured side by side:
 *   1. the causal conv (BLH, Lk = L, D on), B x H = 32 x 64 and 1 x 768,
 *      L = 16 .. 2^20 (powers of two and a few odd lengths): direct (L <= 4096),
 *      FFTW, FlashConv and the dispatched op, forward and backward (du, dk,
 *      dD), one thread, rounds interleaved; every variant first checked
 *      against direct double-precision sums at sampled outputs;
 *   2. the fused H3 inner op against the unfused pipeline (FFTW conv with D,
 *      separate k~v and q passes), L = 1K .. 16K;
 *   3. state passing: time per token and peak memory growth at L = 8K .. 1M;
 *   4. 2 threads against 1 for FlashConv at L >= 1K.
 * Long sequences keep B*H*L <= 2^24 by cutting B (then H); times are per
 * channel-sequence (divided by B*H), so the cells compare. Writes
 * results/bench/flashconv.json and prints the ratios. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "../cpu/conv_table.h"
#include "../cpu/cpu.h"
#include "lab_conv.h"


/* ---- 2. the H3 inner op: fused against FFTW conv + separate passes ---------- */

struct h3_bench {
    struct h3_inner_args a;
    struct h3_inner_bwd_args g;
    real *kv, *y, *dy, *dkv; /* the unfused pipeline's (B, L, D) intermediates (head_dim 1) */
    bool bwd;
};

/* head_dim 1: kv = k~ v; y = K * kv + D kv (FFTW); o = q y; and back. */
static void h3_unfused(struct h3_bench *h) {
    const struct h3_inner_args *a = &h->a;
    size_t n = (size_t)a->B * a->L * a->D;
    for (size_t i = 0; i < n; i++) h->kv[i] = a->kt[i] * a->v[i];
    struct conv_args c = {.B = a->B, .L = a->L, .H = a->D, .Lk = a->Lk, .group = 1, .layout = CONV_BLH,
                          .u = h->kv, .k = a->K, .D = a->Dk, .y = h->y};
    cpu_conv_fft(&c);
    if (!h->bwd) {
        for (size_t i = 0; i < n; i++) a->o[i] = a->q[i] * h->y[i];
        return;
    }
    const struct h3_inner_bwd_args *g = &h->g;
    for (size_t i = 0; i < n; i++) g->dq[i] = g->dout[i] * h->y[i], h->dy[i] = g->dout[i] * a->q[i];
    struct conv_bwd_args cb = {.f = c, .dy = h->dy, .du = h->dkv, .dk = g->dK, .dD = g->dDk};
    cpu_conv_fft_bwd(&cb);
    for (size_t i = 0; i < n; i++) g->dkt[i] = h->dkv[i] * a->v[i], g->dv[i] = h->dkv[i] * a->kt[i];
}

static void h3_run(void *ctx, int v) {
    struct h3_bench *h = ctx;
    if (v == 0) h3_unfused(h);
    else if (!h->bwd) cpu_h3_inner(&h->a);
    else cpu_h3_inner_bwd(&h->g); /* recomputes y: a whole training step's work */
}

struct h3_row {
    int B, D, L;
    double err, fwd[2], bwd[2]; /* [unfused, fused], microseconds per channel-sequence */
};

static struct h3_row h3_cell(int B, int D, int L, int rounds) {
    while ((size_t)B * D * L > MAX_ELEMS && B > 1) B /= 2;
    size_t n = (size_t)B * L * D;
    struct h3_bench h = {.a = {.B = B, .L = L, .D = D, .head_dim = 1, .Lk = L}};
    h.a.q = filled(n, 5, 1), h.a.kt = filled(n, 6, 1), h.a.v = filled(n, 7, 1);
    h.a.K = filled((size_t)D * L, 8, 1.0 / sqrt(L)), h.a.Dk = filled(D, 9, 1), h.a.o = xmalloc(sizeof(real) * n);
    h.g = (struct h3_inner_bwd_args){.f = h.a, .dout = filled(n, 10, 1), .dq = xmalloc(sizeof(real) * n),
                                     .dkt = xmalloc(sizeof(real) * n), .dv = xmalloc(sizeof(real) * n),
                                     .dK = xcalloc((size_t)D * L, sizeof(real)), .dDk = xcalloc(D, sizeof(real))};
    h.kv = xmalloc(sizeof(real) * n), h.y = xmalloc(sizeof(real) * n);
    h.dy = xmalloc(sizeof(real) * n), h.dkv = xmalloc(sizeof(real) * n);
    struct h3_row r = {.B = B, .D = D, .L = L};
    real *o1 = xmalloc(sizeof(real) * n); /* the two agree (the tests check both against references) */
    h.bwd = false, h3_run(&h, 0), memcpy(o1, h.a.o, sizeof(real) * n), h3_run(&h, 1);
    double md = 0, mr = 1e-30;
    for (size_t i = 0; i < n; i++) md = fmax(md, fabs(o1[i] - h.a.o[i])), mr = fmax(mr, fabs(o1[i]));
    r.err = md / mr;
    bool on[2] = {true, true};
    double t[2], min_s = 0.02;
    time_all(h3_run, &h, 2, on, rounds, min_s, t);
    r.fwd[0] = t[0] * 1e6 / (B * D), r.fwd[1] = t[1] * 1e6 / (B * D);
    h.bwd = true, time_all(h3_run, &h, 2, on, rounds, min_s, t);
    r.bwd[0] = t[0] * 1e6 / (B * D), r.bwd[1] = t[1] * 1e6 / (B * D);
    free(o1), free(h.kv), free(h.y), free(h.dy), free(h.dkv);
    free((void *)h.a.q), free((void *)h.a.kt), free((void *)h.a.v), free((void *)h.a.K), free((void *)h.a.Dk);
    free(h.a.o), free((void *)h.g.dout), free(h.g.dq), free(h.g.dkt), free(h.g.dv), free(h.g.dK), free(h.g.dDk);
    return r;
}

/* ---- 3. state passing ------------------------------------------------------- */

struct sp_bench {
    struct ssm_conv_args a;
    struct ssm_conv_bwd_args g;
    bool bwd;
};

static void sp_run(void *ctx, int v) {
    struct sp_bench *s = ctx;
    (void)v;
    if (s->bwd) cpu_ssm_conv_chunked_bwd(&s->g);
    else cpu_ssm_conv_chunked(&s->a);
}

static long maxrss_kb(void) {
    struct rusage ru;
    HP_CHECK(getrusage(RUSAGE_SELF, &ru) == 0);
    return ru.ru_maxrss;
}

struct sp_row {
    int B, H, L, T, N2;
    double fwd_ns, bwd_ns; /* nanoseconds per token per channel */
    long rss_growth_kb;    /* peak RSS growth of a fresh process over one forward and backward */
    long one_block_kb;     /* the same for one chunk of the whole length (no state passing) */
};

/* Modes like H3's bilinear diagonal SSM at dt = 0.01: |Abar| ~ 0.995. */
static void sp_modes(real *Ab, real *Ct, int rows, int N2) {
    for (int r = 0; r < rows; r++)
        for (int n = 0; n < N2; n++) {
            double dt = 0.01 * (1 + 0.1 * r), xr = -0.5 * dt, xi = M_PI * n * dt;
            double dr = 1 - xr / 2, di = -xi / 2, nr = 1 + xr / 2, ni = xi / 2, den = dr * dr + di * di;
            size_t o = ((size_t)r * N2 + n) * 2;
            Ab[o] = (real)((nr * dr + ni * di) / den), Ab[o + 1] = (real)((ni * dr - nr * di) / den);
            Ct[o] = (real)(0.01 * val(o, 11)), Ct[o + 1] = (real)(0.01 * val(o, 12));
        }
}

/* The tensors of a state-passing call, modes filled. */
static struct sp_bench sp_make(int H, int L, int T, int N2) {
    size_t n = (size_t)L * H;
    struct sp_bench s = {.a = {.B = 1, .L = L, .H = H, .N2 = N2, .group = 1, .T = T, .layout = CONV_BLH}};
    real *Ab = xmalloc(sizeof(real) * H * N2 * 2), *Ct = xmalloc(sizeof(real) * H * N2 * 2);
    sp_modes(Ab, Ct, H, N2);
    s.a.Abar = Ab, s.a.Ct = Ct, s.a.D = filled(H, 13, 1), s.a.u = filled(n, 14, 1), s.a.y = xcalloc(n, sizeof(real));
    s.g = (struct ssm_conv_bwd_args){.f = s.a, .dy = filled(n, 15, 1), .du = xcalloc(n, sizeof(real)),
                                     .dAbar = xcalloc((size_t)H * N2 * 2, sizeof(real)),
                                     .dCt = xcalloc((size_t)H * N2 * 2, sizeof(real)), .dD = xcalloc(H, sizeof(real))};
    return s;
}

static void sp_free(struct sp_bench *s) {
    free((void *)s->a.Abar), free((void *)s->a.Ct), free((void *)s->a.D), free((void *)s->a.u), free(s->a.y);
    free((void *)s->g.dy), free(s->g.du), free(s->g.dAbar), free(s->g.dCt), free(s->g.dD);
}

/* In a fresh process (this program, mode "memory"): the peak RSS growth of
 * one forward and backward, the tensors allocated and touched before. */
static int memory_probe(int H, int L, int T) {
    struct sp_bench s = sp_make(H, L, T, 32);
    memset(s.g.du, 0, sizeof(real) * (size_t)L * H), memset(s.a.y, 0, sizeof(real) * (size_t)L * H);
    long rss0 = maxrss_kb();
    s.bwd = false, sp_run(&s, 0);
    s.bwd = true, sp_run(&s, 0);
    printf("%ld\n", maxrss_kb() - rss0);
    sp_free(&s);
    return 0;
}

static long memory_of(const char *self, int H, int L, int T) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=1 '%s' - 1 memory %d %d %d", self, H, L, T);
    FILE *p = popen(cmd, "r");
    long kb = -1;
    if (!p || fscanf(p, "%ld", &kb) != 1) kb = -1;
    if (p) pclose(p);
    return kb;
}

static struct sp_row sp_cell(const char *self, int H, int L, int T, int rounds) {
    int N2 = 32;
    struct sp_bench s = sp_make(H, L, T, N2);
    struct sp_row r = {.B = 1, .H = H, .L = L, .T = cpu_ssm_conv_chunk(T, L), .N2 = N2};
    r.rss_growth_kb = memory_of(self, H, L, T);
    int one = 16;
    while (one < L) one *= 2;
    r.one_block_kb = memory_of(self, H, L, one);
    bool on[1] = {true};
    double t;
    s.bwd = false, time_all(sp_run, &s, 1, on, rounds, 0.05, &t);
    r.fwd_ns = t * 1e9 / ((double)L * H);
    s.bwd = true, time_all(sp_run, &s, 1, on, rounds, 0.05, &t);
    r.bwd_ns = t * 1e9 / ((double)L * H);
    sp_free(&s);
    return r;
}

/* ---- 4. threads ------------------------------------------------------------- */

struct thr_bench {
    struct conv_args a;
    struct conv_bwd_args g;
};

/* variant v: threads 1 + (v & 1), forward (v < 2) or backward */
static void thr_run(void *ctx, int v) {
    struct thr_bench *t = ctx;
    omp_set_num_threads(1 + (v & 1));
    if (v < 2) cpu_conv_flash(&t->a);
    else cpu_conv_flash_bwd(&t->g);
}

struct thr_row {
    int B, H, L;
    double us[4]; /* fwd 1, 2 threads; bwd 1, 2 threads: microseconds per call */
};

static struct thr_row thr_cell(int B, int H, int L, int rounds) {
    while ((size_t)B * H * L > MAX_ELEMS && B > 1) B /= 2;
    size_t n = (size_t)B * L * H;
    struct thr_bench t = {.a = {.B = B, .L = L, .H = H, .Lk = L, .group = 1, .layout = CONV_BLH}};
    t.a.u = filled(n, 1, 1), t.a.k = filled((size_t)H * L, 2, 0.03), t.a.D = filled(H, 3, 1);
    t.a.y = xmalloc(sizeof(real) * n);
    t.g = (struct conv_bwd_args){.f = t.a, .dy = t.a.u, .du = xmalloc(sizeof(real) * n),
                                 .dk = xcalloc((size_t)H * L, sizeof(real)), .dD = xcalloc(H, sizeof(real))};
    struct thr_row r = {.B = B, .H = H, .L = L};
    bool on[4] = {true, true, true, true};
    double s[4];
    time_all(thr_run, &t, 4, on, rounds, 0.03, s);
    omp_set_num_threads(1);
    for (int v = 0; v < 4; v++) r.us[v] = s[v] * 1e6;
    free((void *)t.a.u), free((void *)t.a.k), free((void *)t.a.D), free(t.a.y);
    free(t.g.du), free(t.g.dk), free(t.g.dD);
    return r;
}

/* ---- report ----------------------------------------------------------------- */

static void print_conv(const struct conv_row *r, int nr) {
    printf("\n1. causal conv, BLH, Lk = L, one thread: us per channel-sequence; ratios = FFTW time / other\n");
    printf("%-9s %4s %4s %8s | %9s %9s %9s %9s | %7s %7s %7s | %9s %9s %7s | %-7s %s\n", "shape", "B", "H", "L",
           "direct", "fftw", "flash", "op", "fftw/fl", "fftw/op", "fftw/dir", "fftw bwd", "flash bwd", "f/fl bwd",
           "op path", "max err (dir fftw flash op)");
    for (int i = 0; i < nr; i++) {
        const struct conv_row *c = &r[i];
        printf("%-9s %4d %4d %8d | %9.3f %9.3f %9.3f %9.3f | %7.2f %7.2f %7.2f | %9.3f %9.3f %7.2f | %-7s %.1e %.1e %.1e %.1e\n",
               c->shape, c->B, c->H, c->L, c->fwd[V_DIRECT], c->fwd[V_FFTW], c->fwd[V_FLASH], c->fwd[V_OP],
               c->fwd[V_FFTW] / c->fwd[V_FLASH], c->fwd[V_FFTW] / c->fwd[V_OP], c->fwd[V_FFTW] / c->fwd[V_DIRECT],
               c->bwd[V_FFTW], c->bwd[V_FLASH], c->bwd[V_FFTW] / c->bwd[V_FLASH], c->op_path, c->err[V_DIRECT],
               c->err[V_FFTW], c->err[V_FLASH], c->err[V_OP]);
    }
}

static void json_num(FILE *f, const char *k, double v, const char *sep) {
    if (isfinite(v)) fprintf(f, "\"%s\": %.5g%s", k, v, sep);
    else fprintf(f, "\"%s\": null%s", k, sep);
}

static void write_json(const char *out, const char *load, const struct conv_row *cr, int nc, const struct h3_row *hr,
                       int nh, const struct sp_row *sr, int ns, const struct thr_row *tr, int nt) {
    FILE *f = fopen(out, "w");
    if (!f) hp_die("cannot write %s", out);
    fprintf(f, "{\n  \"bench\": \"flashconv\",\n  \"real\": \"%s\",\n  \"isa\": \"%s\",\n  \"load_average\": \"%s\",\n",
            REAL_NAME, cpu_flash_isa(), load);
    fprintf(f, "  \"conv_table\": \"%s\",\n", conv_table_source());
    fprintf(f, "  \"unit\": \"microseconds per channel-sequence (B*H of them), best of interleaved rounds\",\n");
    fprintf(f, "  \"conv\": [\n");
    for (int i = 0; i < nc; i++) {
        const struct conv_row *c = &cr[i];
        fprintf(f, "    {\"shape\": \"%s\", \"layout\": \"%s\", \"B\": %d, \"H\": %d, \"L\": %d, \"op_path\": \"%s\", ",
                c->shape, c->layout == CONV_BLH ? "BLH" : "BHL", c->B, c->H, c->L, c->op_path);
        for (int v = 0; v < NV; v++) {
            char k[32];
            snprintf(k, sizeof k, "%s_fwd", vname[v]), json_num(f, k, c->fwd[v], ", ");
            snprintf(k, sizeof k, "%s_bwd", vname[v]), json_num(f, k, c->bwd[v], ", ");
            snprintf(k, sizeof k, "%s_err", vname[v]), json_num(f, k, c->err[v], v + 1 < NV ? ", " : "");
        }
        fprintf(f, "}%s\n", i + 1 < nc ? "," : "");
    }
    fprintf(f, "  ],\n  \"h3_inner\": [\n");
    for (int i = 0; i < nh; i++)
        fprintf(f,
                "    {\"B\": %d, \"D\": %d, \"L\": %d, \"head_dim\": 1, \"unfused_fwd\": %.5g, \"fused_fwd\": %.5g, "
                "\"unfused_fwd_bwd\": %.5g, \"fused_bwd\": %.5g, \"agree\": %.3g}%s\n",
                hr[i].B, hr[i].D, hr[i].L, hr[i].fwd[0], hr[i].fwd[1], hr[i].bwd[0], hr[i].bwd[1], hr[i].err,
                i + 1 < nh ? "," : "");
    fprintf(f, "  ],\n  \"state_passing\": [\n");
    for (int i = 0; i < ns; i++)
        fprintf(f,
                "    {\"B\": %d, \"H\": %d, \"L\": %d, \"T\": %d, \"N2\": %d, \"fwd_ns_per_token\": %.5g, "
                "\"bwd_ns_per_token\": %.5g, \"peak_rss_growth_kb\": %ld, \"one_block_rss_growth_kb\": %ld}%s\n",
                sr[i].B, sr[i].H, sr[i].L, sr[i].T, sr[i].N2, sr[i].fwd_ns, sr[i].bwd_ns, sr[i].rss_growth_kb, sr[i].one_block_kb,
                i + 1 < ns ? "," : "");
    fprintf(f, "  ],\n  \"threads\": [\n");
    for (int i = 0; i < nt; i++)
        fprintf(f,
                "    {\"B\": %d, \"H\": %d, \"L\": %d, \"fwd_us_1_thread\": %.5g, \"fwd_us_2_threads\": %.5g, "
                "\"bwd_us_1_thread\": %.5g, \"bwd_us_2_threads\": %.5g}%s\n",
                tr[i].B, tr[i].H, tr[i].L, tr[i].us[0], tr[i].us[1], tr[i].us[2], tr[i].us[3], i + 1 < nt ? "," : "");
    fprintf(f, "  ]\n}\n");
    HP_CHECK(fclose(f) == 0);
    printf("wrote %s\n", out);
}

static bool want(const char *only, const char *part) { return !strcmp(only, "all") || strstr(only, part); }

int main(int argc, char **argv) {
    const char *out = argc > 1 ? argv[1] : "results/bench/flashconv.json";
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    const char *only = argc > 3 ? argv[3] : "all"; /* e.g. "conv,h3" */
    if (!strcmp(only, "memory") && argc > 6) return memory_probe(atoi(argv[4]), atoi(argv[5]), atoi(argv[6]));
    char load[128], err[768];
    load_average(load, sizeof load);
    if (conv_table_from_env(err, sizeof err)) hp_die("%s", err);
    printf("bench_flashconv: %s, FFT clones: %s, conv table %s, load average %s\n", REAL_NAME, cpu_flash_isa(),
           conv_table_source(), load);
    omp_set_num_threads(1);
    static const int Ls[] = {16, 31, 32, 64, 100, 128, 256, 512, 1000, 1024, 2048, 4096, 8192, 16384, 32768,
                             65536, 1 << 17, 1 << 18, 1 << 19, 1 << 20};
    static const struct { const char *name; int B, H; } shapes[] = {{"32x64", 32, 64}, {"1x768", 1, 768}};
    struct conv_row cr[2 * 20 + 4 * 7];
    int nc = 0;
    for (int s = 0; s < 2 && want(only, "conv"); s++)
        for (int i = 0; i < (int)(sizeof Ls / sizeof Ls[0]); i++) {
            cr[nc++] = conv_cell(shapes[s].name, shapes[s].B, shapes[s].H, Ls[i], CONV_BLH, rounds, NULL);
            print_conv(&cr[nc - 1], 1);
            fflush(stdout);
        }
    /* 5. the dispatch classes: small H and BHL, where lanes idle or gathers are scalar */
    static const struct { const char *name; int H; enum conv_layout lay; } cls[] = {
        {"8x64 BHL", 64, CONV_BHL}, {"8x5 BLH", 5, CONV_BLH}, {"8x5 BHL", 5, CONV_BHL}, {"8x8 BLH", 8, CONV_BLH}};
    static const int clsL[] = {32, 64, 128, 256, 512, 1024, 4096};
    for (int s = 0; s < 4 && want(only, "classes"); s++)
        for (int i = 0; i < 7; i++) {
            cr[nc++] = conv_cell(cls[s].name, 8, cls[s].H, clsL[i], cls[s].lay, rounds, NULL);
            print_conv(&cr[nc - 1], 1);
            fflush(stdout);
        }
    struct h3_row hr[8];
    int nh = 0;
    for (int L = 1024; L <= 16384 && want(only, "h3"); L *= 2) {
        hr[nh++] = h3_cell(32, 64, L, rounds);
        const struct h3_row *h = &hr[nh - 1];
        printf("2. h3_inner B%d D%d L%d: fwd unfused %.2f fused %.2f (%.2fx); fwd+bwd unfused %.2f fused %.2f (%.2fx); agree %.1e\n",
               h->B, h->D, h->L, h->fwd[0], h->fwd[1], h->fwd[0] / h->fwd[1], h->bwd[0], h->bwd[1],
               h->bwd[0] / h->bwd[1], h->err);
        fflush(stdout);
    }
    struct sp_row sr[8];
    int ns = 0;
    static const int spL[] = {8192, 1 << 16, 1 << 20};
    for (int i = 0; i < 3 && want(only, "ssm"); i++) {
        sr[ns++] = sp_cell(argv[0], 16, spL[i], 0, rounds);
        const struct sp_row *p = &sr[ns - 1];
        printf("3. state passing H%d L%d T%d: fwd %.2f ns/token, bwd %.2f ns/token per channel; peak RSS growth %ld KiB "
               "(one block of L: %ld KiB)\n",
               p->H, p->L, p->T, p->fwd_ns, p->bwd_ns, p->rss_growth_kb, p->one_block_kb);
        fflush(stdout);
    }
    struct thr_row tr[4];
    int nt = 0;
    for (int L = 1024; L <= 16384 && want(only, "threads"); L *= 4) {
        tr[nt++] = thr_cell(32, 64, L, rounds);
        const double *u = tr[nt - 1].us;
        printf("4. threads B%d H%d L%d: fwd 1 thread %.1f us, 2 threads %.1f us (%.2fx); bwd %.1f, %.1f (%.2fx)\n",
               tr[nt - 1].B, tr[nt - 1].H, L, u[0], u[1], u[0] / u[1], u[2], u[3], u[2] / u[3]);
        fflush(stdout);
    }
    write_json(out, load, cr, nc, hr, nh, sr, ns, tr, nt);
    return 0;
}
