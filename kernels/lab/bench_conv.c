/* bench_conv.c — where the causal long convolution should switch from the
 * direct time-domain sum to FFTW. Times forward and forward+backward of both
 * paths (one thread, best of rounds, paths interleaved), both layouts, for a
 * full-length kernel (Lk = L, S4D/H3 diagonal) and a short one (Lk = 64, H3
 * shift), checks the paths agree, and writes results/bench/conv.json and a
 * table. Per-call cost is reported per channel-sequence (B*H of them) so
 * sizes with different B compare. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cpu/cpu.h"

static const int Ls[] = {16, 31, 40, 64, 96, 128, 192, 256, 384, 512, 1024, 2048};
#define N_L ((int)(sizeof Ls / sizeof Ls[0]))
#define NCH 32 /* channels */

struct bufs {
    struct conv_args a;
    struct conv_bwd_args g;
    real *u, *k, *D, *y, *dy, *du, *dk, *dD;
};

static real val(size_t i, int salt) { return (real)(((i * 2654435761u + salt) % 2001) / 1000.0 - 1.0); }

static struct bufs make(int B, int L, int Lk, enum conv_layout lay) {
    struct bufs b;
    size_t n = (size_t)B * L * NCH;
    b.u = xmalloc(sizeof(real) * n), b.y = xmalloc(sizeof(real) * n);
    b.dy = xmalloc(sizeof(real) * n), b.du = xmalloc(sizeof(real) * n);
    b.k = xmalloc(sizeof(real) * NCH * Lk), b.dk = xcalloc((size_t)NCH * Lk, sizeof(real));
    b.D = xmalloc(sizeof(real) * NCH), b.dD = xcalloc(NCH, sizeof(real));
    for (size_t i = 0; i < n; i++) b.u[i] = val(i, 1), b.dy[i] = val(i, 2);
    for (size_t i = 0; i < (size_t)NCH * Lk; i++) b.k[i] = val(i, 3) / Lk;
    for (int i = 0; i < NCH; i++) b.D[i] = val(i, 4);
    struct conv_args a = {.B = B, .L = L, .H = NCH, .Lk = Lk, .group = 1, .layout = lay,
                          .u = b.u, .k = b.k, .D = b.D, .y = b.y};
    b.a = a;
    struct conv_bwd_args g = {.f = a, .dy = b.dy, .du = b.du, .dk = b.dk, .dD = b.dD};
    b.g = g;
    return b;
}
static void drop(struct bufs *b) {
    free(b->u), free(b->y), free(b->dy), free(b->du), free(b->k), free(b->dk), free(b->D), free(b->dD);
}

/* seconds per call of fwd (bwd = false) or fwd+bwd, best of `rounds` batches of ~3 ms */
static double timed(struct bufs *b, bool fft, bool bwd) {
    int reps = 1;
    for (;;) {
        double t0 = hp_now();
        for (int r = 0; r < reps; r++) {
            if (fft) cpu_conv_fft(&b->a);
            else cpu_conv_direct(&b->a);
            if (bwd) {
                if (fft) cpu_conv_fft_bwd(&b->g);
                else cpu_conv_direct_bwd(&b->g);
            }
        }
        double dt = hp_now() - t0;
        if (dt > 3e-3) return dt / reps;
        reps *= 2;
    }
}

/* scaled max difference between the two paths' y */
static double agree(struct bufs *b) {
    size_t n = (size_t)b->a.B * b->a.L * NCH;
    real *y1 = xmalloc(sizeof(real) * n);
    cpu_conv_direct(&b->a);
    memcpy(y1, b->y, sizeof(real) * n);
    cpu_conv_fft(&b->a);
    double maxr = 0, maxd = 0;
    for (size_t i = 0; i < n; i++) maxr = fmax(maxr, fabs(y1[i])), maxd = fmax(maxd, fabs(y1[i] - b->y[i]));
    free(y1);
    return maxd / maxr;
}

struct row {
    int L, Lk, B;
    enum conv_layout lay;
    double us[2][2]; /* [fft][bwd], microseconds per channel-sequence */
};

int main(int argc, char **argv) {
    const char *out = argc > 1 ? argv[1] : "results/bench/conv.json";
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    omp_set_num_threads(1);
    struct row rows[4 * N_L];
    int nr = 0;
    for (int lay = 0; lay < 2; lay++)
        for (int shortk = 0; shortk < 2; shortk++)
            for (int li = 0; li < N_L; li++) {
                int L = Ls[li], Lk = shortk ? (L < 64 ? L : 64) : L;
                if (shortk && L <= 64) continue; /* same as the full-length rows */
                int B = L <= 128 ? 32 : L <= 512 ? 4 : 1;
                struct bufs b = make(B, L, Lk, (enum conv_layout)lay);
                double e = agree(&b);
                if (!(e < (sizeof(real) == 4 ? 1e-4 : 1e-10))) {
                    fprintf(stderr, "FAIL: paths disagree at L %d Lk %d: %.3g\n", L, Lk, e);
                    return 1;
                }
                struct row r = {L, Lk, B, (enum conv_layout)lay, {{INFINITY, INFINITY}, {INFINITY, INFINITY}}};
                for (int k = 0; k < rounds; k++)
                    for (int fft = 0; fft < 2; fft++)
                        for (int bwd = 0; bwd < 2; bwd++)
                            r.us[fft][bwd] = fmin(r.us[fft][bwd], timed(&b, fft, bwd) * 1e6 / (B * NCH));
                rows[nr++] = r;
                drop(&b);
            }
    printf("causal conv, %s, one thread, H = %d: microseconds per channel-sequence (B*H of them)\n", REAL_NAME, NCH);
    printf("%-6s %5s %5s %3s | %9s %9s %7s | %9s %9s %7s\n", "layout", "L", "Lk", "B", "direct", "fft",
           "d/f", "dir f+b", "fft f+b", "d/f");
    for (int i = 0; i < nr; i++) {
        struct row *r = &rows[i];
        printf("%-6s %5d %5d %3d | %9.3f %9.3f %7.2f | %9.3f %9.3f %7.2f\n", r->lay == CONV_BLH ? "BLH" : "BHL",
               r->L, r->Lk, r->B, r->us[0][0], r->us[1][0], r->us[0][0] / r->us[1][0], r->us[0][1], r->us[1][1],
               r->us[0][1] / r->us[1][1]);
    }
    FILE *f = fopen(out, "w");
    if (!f) {
        perror(out);
        return 1;
    }
    fprintf(f, "{\n  \"bench\": \"conv\",\n  \"real\": \"%s\",\n  \"threads\": 1,\n  \"H\": %d,\n", REAL_NAME, NCH);
    fprintf(f, "  \"unit\": \"microseconds per channel-sequence\",\n  \"rows\": [\n");
    for (int i = 0; i < nr; i++) {
        struct row *r = &rows[i];
        fprintf(f,
                "    {\"layout\": \"%s\", \"L\": %d, \"Lk\": %d, \"B\": %d, \"direct_fwd\": %.4f, \"fft_fwd\": %.4f, "
                "\"direct_fwd_bwd\": %.4f, \"fft_fwd_bwd\": %.4f}%s\n",
                r->lay == CONV_BLH ? "BLH" : "BHL", r->L, r->Lk, r->B, r->us[0][0], r->us[1][0], r->us[0][1],
                r->us[1][1], i + 1 < nr ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    fclose(f);
    printf("wrote %s\n", out);
    return 0;
}
