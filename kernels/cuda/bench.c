/* bench.c — the CUDA op benchmark (make bench-cuda; scripts/gpu-check runs it):
 *  - H3's inner op, FlashConv against the cuFFT pipeline, batch 32 x 768
 *    channels, head_dim 1, L = 256 .. 8192 (the shape): first every
 *    output checked — FlashConv against the pipeline on the whole batch, both
 *    against the CPU op on batch entry 0 — then each path timed (median of
 *    REPS after WARM warm-ups, CUDA events), FlashConv also at 128, 256 and
 *    512 threads per block (its default, 256, is not measured yet);
 *  - the long convolution's two paths (direct, cuFFT) at B x H = 32 x 64,
 *    L = Lk = 16 .. 1024: where the direct kernel stops paying
 *    (CONV_DIRECT_MAX_TAPS in kernels/cuda/conv.cu is not measured yet).
 * Writes JSON with the rows and a `goals` list ({name, measured, target,
 * pass}); exits 1 if a check fails (nothing is timed then), 2 on usage. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda.h"

enum { WARM = 3, REPS = 15, B_H3 = 32, D_H3 = 768, L_MAX = 8192 };
static const int h3_lengths[] = {256, 512, 1024, 2048, 4096, 8192};
#define N_LEN ((int)(sizeof h3_lengths / sizeof h3_lengths[0]))
#define TOL_CHECK 1e-4 /* scaled: two float FFT paths at L = 8K differ by ~1e-6 */

/* Deterministic values in [-1, 1) (a hash of the index: no RNG state). */
static void fill(real *x, size_t n, uint64_t salt) {
    for (size_t i = 0; i < n; i++) {
        uint64_t z = (i + 1) * 0x9E3779B97F4A7C15ull ^ salt * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 31)) * 0x94D049BB133111EBull;
        x[i] = (real)((double)(z >> 11) * 0x1p-52 - 1.0);
    }
}

/* max |a - b| / max |b| */
static double scaled_err(const real *a, const real *b, size_t n) {
    double maxb = 0, maxd = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= maxd)) maxd = d; /* NaN sticks */
        if (fabs(b[i]) > maxb) maxb = fabs(b[i]);
    }
    return maxb > 0 ? maxd / maxb : maxd;
}

static void *dup_to_device(const real *h, size_t n) {
    void *d = cuda_malloc(sizeof(real) * n);
    cuda_upload(d, h, sizeof(real) * n);
    return d;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median ms of REPS calls after WARM. */
static double time_median(void (*fn)(void *), void *ctx) {
    double t[REPS];
    for (int i = 0; i < WARM; i++) fn(ctx);
    for (int i = 0; i < REPS; i++) t[i] = cuda_time_ms(fn, ctx);
    qsort(t, REPS, sizeof t[0], cmp_double);
    return t[REPS / 2];
}

/* ---- H3's inner op ------------------------------------------------------------ */

struct h3_run {
    struct h3_inner_args a;
    enum cuda_h3_path path;
};
static void run_h3(void *p) {
    struct h3_run *r = p;
    cuda_h3_inner_via(&r->a, r->path);
}

/* Device inputs for the largest L (smaller L use prefixes) and the host copy of batch entry 0. */
struct h3_data {
    real *q, *kt, *v, *K, *Dk; /* device */
    real *hq, *hkt, *hv, *hK, *hDk;
};

static struct h3_data h3_data(void) {
    size_t n = (size_t)B_H3 * L_MAX * D_H3, nk = (size_t)D_H3 * L_MAX;
    struct h3_data d;
    real *buf = malloc(sizeof(real) * n);
    if (!buf) hp_die("bench: no host memory for %zu floats", n);
    real **dev[3] = {&d.q, &d.kt, &d.v}, **host[3] = {&d.hq, &d.hkt, &d.hv};
    for (int i = 0; i < 3; i++) {
        fill(buf, n, (uint64_t)i + 1);
        *dev[i] = dup_to_device(buf, n);
        *host[i] = malloc(sizeof(real) * (size_t)L_MAX * D_H3); /* batch entry 0 at the largest L */
        memcpy(*host[i], buf, sizeof(real) * (size_t)L_MAX * D_H3);
    }
    free(buf);
    d.hK = malloc(sizeof(real) * nk), d.hDk = malloc(sizeof(real) * D_H3);
    fill(d.hK, nk, 7), fill(d.hDk, D_H3, 8);
    for (size_t i = 0; i < nk; i++) d.hK[i] *= (real)(0.2 * exp(-(double)(i % L_MAX) / 500)); /* a decaying filter */
    d.K = dup_to_device(d.hK, nk), d.Dk = dup_to_device(d.hDk, D_H3);
    return d;
}

/* One length: check both paths (against each other and the CPU), then time
 * them; NULL row when a check fails. */
static cJSON *h3_row(struct h3_data *d, int L, real *o1, real *o2, bool *ok) {
    size_t n = (size_t)B_H3 * L * D_H3, n0 = (size_t)L * D_H3;
    real *dout = cuda_malloc(sizeof(real) * n), *ref = malloc(sizeof(real) * n0);
    /* K rows of L taps: the first L of each L_MAX row, gathered for this L */
    real *Kl = malloc(sizeof(real) * (size_t)D_H3 * L);
    for (int r = 0; r < D_H3; r++) memcpy(Kl + (size_t)r * L, d->hK + (size_t)r * L_MAX, sizeof(real) * L);
    real *Kd = dup_to_device(Kl, (size_t)D_H3 * L);
    struct h3_run fl = {{B_H3, L, D_H3, 1, L, d->q, d->kt, d->v, Kd, d->Dk, dout}, CUDA_H3_FLASH}, pi = fl;
    pi.path = CUDA_H3_PIPELINE;
    bool flash = cuda_h3_flash_supports(&fl.a);
    run_h3(&pi);
    cuda_download(o1, dout, sizeof(real) * n);
    if (flash) run_h3(&fl), cuda_download(o2, dout, sizeof(real) * n);
    /* batch entry 0 is the first L D values of the device tensors: the host copies' prefix */
    struct h3_inner_args c = {1, L, D_H3, 1, L, d->hq, d->hkt, d->hv, Kl, d->hDk, ref};
    ops_cpu()->h3_inner(&c);
    double e_cpu = scaled_err(o1, ref, n0), e_pair = flash ? scaled_err(o2, o1, n) : 0;
    double e_cpu2 = flash ? scaled_err(o2, ref, n0) : 0;
    *ok = flash && e_cpu <= TOL_CHECK && e_pair <= TOL_CHECK && e_cpu2 <= TOL_CHECK;
    printf("h3_inner L %5d: flash %s; errors: pipeline vs cpu %.2e, flash vs pipeline %.2e, flash vs cpu %.2e%s\n", L,
           flash ? "supported" : "NOT supported", e_cpu, e_pair, e_cpu2, *ok ? "" : "  FAILED");
    cJSON *row = cJSON_CreateObject();
    cJSON_AddNumberToObject(row, "L", L);
    cJSON_AddNumberToObject(row, "B", B_H3);
    cJSON_AddNumberToObject(row, "D", D_H3);
    cJSON_AddNumberToObject(row, "err_pipeline_vs_cpu", e_cpu);
    cJSON_AddNumberToObject(row, "err_flash_vs_pipeline", e_pair);
    cJSON_AddNumberToObject(row, "err_flash_vs_cpu", e_cpu2);
    if (*ok) {
        double tf = time_median(run_h3, &fl), tp = time_median(run_h3, &pi);
        printf("h3_inner L %5d: flash %.3f ms, pipeline %.3f ms, ratio %.2f\n", L, tf, tp, tp / tf);
        cJSON_AddNumberToObject(row, "flash_ms", tf);
        cJSON_AddNumberToObject(row, "pipeline_ms", tp);
        cJSON_AddNumberToObject(row, "ratio", tp / tf);
        cJSON *alt = cJSON_AddObjectToObject(row, "flash_ms_by_threads"); /* the default's alternatives */
        for (int nt = 128; nt <= 512; nt *= 2) {
            cuda_flash_set_threads(nt);
            double t = time_median(run_h3, &fl);
            char key[16];
            snprintf(key, sizeof key, "%d", nt);
            cJSON_AddNumberToObject(alt, key, t);
            printf("h3_inner L %5d: flash with %d threads %.3f ms\n", L, nt, t);
        }
        cuda_flash_set_threads(256);
    }
    cuda_free(dout), cuda_free(Kd);
    free(ref), free(Kl);
    return row;
}

/* ---- the convolution's two paths ------------------------------------------------- */

struct conv_run {
    struct conv_args a;
    enum cuda_conv_path path;
};
static void run_conv(void *p) {
    struct conv_run *r = p;
    cuda_conv_via(&r->a, r->path);
}

static cJSON *conv_rows(void) {
    enum { B = 32, H = 64, LMAX = 1024 };
    size_t n = (size_t)B * LMAX * H;
    real *h = malloc(sizeof(real) * n);
    fill(h, n, 11);
    real *u = dup_to_device(h, n), *k = dup_to_device(h, (size_t)H * LMAX), *y = cuda_malloc(sizeof(real) * n);
    cJSON *rows = cJSON_CreateArray();
    for (int L = 16; L <= LMAX; L *= 2) {
        struct conv_run dr = {{B, L, H, L, 1, CONV_BLH, u, k, NULL, y}, CUDA_CONV_DIRECT}, fr = dr;
        fr.path = CUDA_CONV_CUFFT;
        double td = time_median(run_conv, &dr), tf = time_median(run_conv, &fr);
        printf("conv B%d H%d L = Lk %5d: direct %.4f ms, cuFFT %.4f ms (dispatch: %s)\n", B, H, L, td, tf,
               cuda_conv_choice(&dr.a) == CUDA_CONV_DIRECT ? "direct" : "cuFFT");
        cJSON *row = cJSON_CreateObject();
        cJSON_AddNumberToObject(row, "L", L);
        cJSON_AddNumberToObject(row, "direct_ms", td);
        cJSON_AddNumberToObject(row, "cufft_ms", tf);
        cJSON_AddStringToObject(row, "dispatch", cuda_conv_choice(&dr.a) == CUDA_CONV_DIRECT ? "direct" : "cufft");
        cJSON_AddItemToArray(rows, row);
    }
    cuda_free(u), cuda_free(k), cuda_free(y), free(h);
    return rows;
}

/* ---- main --------------------------------------------------------------------------- */

static void add_goal(cJSON *goals, const char *name, double measured, double target, bool have) {
    cJSON *g = cJSON_CreateObject();
    cJSON_AddStringToObject(g, "name", name);
    if (have) cJSON_AddNumberToObject(g, "measured", measured), cJSON_AddBoolToObject(g, "pass", measured >= target);
    else cJSON_AddNullToObject(g, "measured"), cJSON_AddNullToObject(g, "pass");
    cJSON_AddNumberToObject(g, "target", target);
    cJSON_AddItemToArray(goals, g);
}

static int write_json(const char *path, cJSON *root) {
    char *s = cJSON_Print(root);
    FILE *f = fopen(path, "w");
    if (!f || fputs(s, f) < 0 || fputc('\n', f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "bench: cannot write %s\n", path);
        free(s);
        return 1;
    }
    free(s);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUT.json\n", argv[0]);
        return 2;
    }
    if (!ops_cuda()) {
        fprintf(stderr, "bench: no CUDA backend: %s\n", ops_cuda_status());
        return 1;
    }
    printf("bench: %s\n", ops_cuda_status());
    cJSON *root = cJSON_CreateObject(), *h3 = cJSON_CreateArray(), *goals = cJSON_CreateArray();
    cJSON_AddStringToObject(root, "device", ops_cuda_status());
    struct h3_data d = h3_data();
    size_t nmax = (size_t)B_H3 * L_MAX * D_H3;
    real *o1 = malloc(sizeof(real) * nmax), *o2 = malloc(sizeof(real) * nmax);
    if (!o1 || !o2) hp_die("bench: no host memory");
    bool all_ok = true;
    double worst = INFINITY;
    for (int i = 0; i < N_LEN; i++) {
        bool ok;
        cJSON *row = h3_row(&d, h3_lengths[i], o1, o2, &ok);
        cJSON_AddItemToArray(h3, row);
        all_ok = all_ok && ok;
        if (ok) worst = fmin(worst, cJSON_GetObjectItem(row, "ratio")->valuedouble);
    }
    cJSON_AddItemToObject(root, "h3_inner", h3);
    cJSON_AddItemToObject(root, "conv", all_ok ? conv_rows() : cJSON_CreateArray());
    add_goal(goals, "FlashConv h3_inner forward vs the cuFFT pipeline, worst L in 256-8192 (B 32, D 768)", worst, 2.0,
             all_ok);
    cJSON_AddItemToObject(root, "goals", goals);
    int rc = write_json(argv[1], root);
    cJSON_Delete(root);
    free(o1), free(o2);
    if (!all_ok) fprintf(stderr, "bench: an output check failed: nothing was timed for it (see above)\n");
    return rc ? rc : all_ok ? 0 : 1;
}
