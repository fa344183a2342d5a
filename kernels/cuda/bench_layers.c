/* bench_layers.c — one layer's forward + backward on the GPU against
 * sequence length (make bench-cuda-layers; scripts/gpu-check runs it): H3
 * and attention at their defaults (d_model 64, batch 1, as `hippodrome
 * bench-layers` times them on the CPU), L = 256 .. 16K, the layers driven
 * through the ops table with every tensor on the device. Like bench.c a
 * program over the whole library, not part of the backend: first each
 * layer's output at the shortest L is checked against the CPU backend and
 * every output for finiteness, then each point timed (median of REPS after
 * WARM, CUDA events). Writes JSON: the rows, the attention/H3 time ratio per
 * L, and the goals ({name, measured, target, pass}): H3 faster than
 * attention from L = 1K on, and >= 10x at 16K. Exits 1 when a check fails
 * (nothing is timed then), 2 on usage. `--dry-run` runs the same program on
 * the CPU backend at the two shortest lengths with wall-clock timing (a check
 * of the program itself, on machines without a GPU). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/rng.h"
#include "../../models/layer.h"
#include "cuda.h"

enum { WARM = 2, REPS = 7, D = 64, B = 1 };
static const int lengths[] = {256, 512, 1024, 2048, 4096, 8192, 16384};
#define N_LEN ((int)(sizeof lengths / sizeof lengths[0]))
static const char *kinds[] = {"h3", "attention"};
static const struct ops *dev; /* ops_cuda(), or ops_cpu() for --dry-run */
static int n_len = N_LEN;
#define TOL_CHECK 1e-3 /* scaled, y and dx at the shortest L: a layer's ops each agree to ~2e-5 */

/* One layer with its tensors on the host (h*) and on the device. */
struct lb {
    const struct layer_kind *k;
    void *self;
    struct param_table pt;
    int L;
    size_t n, n_act, n_scr;
    real *hp, *hx, *hdy;                    /* host */
    real *p, *g, *act, *scr, *x, *y, *dy, *dx; /* device */
};

static real *dev_copy(const real *h, size_t n) {
    real *d = dev->alloc(sizeof(real) * (n ? n : 1));
    dev->upload(d, h, sizeof(real) * n);
    return d;
}

static void fill_normal(real *v, size_t n, uint64_t stream) {
    struct hp_rng r = hp_rng_make(1234, stream);
    for (size_t i = 0; i < n; i++) v[i] = (real)hp_rng_normal(&r);
}

static void lb_open(struct lb *b, const char *kind, int L) {
    memset(b, 0, sizeof *b);
    b->k = layer_find(kind), b->L = L, b->n = (size_t)B * L * D;
    struct knob_values kv;
    knob_defaults(&kv, b->k->knobs, b->k->n_knobs);
    struct layer_dims dims = {.D = D, .max_L = L, .n_layer = 2, .layer_idx = 0};
    char err[256] = "";
    param_table_init(&b->pt);
    b->self = b->k->create(&kv, &dims, &b->pt, "backbone.layers.0.mixer.", err, sizeof err);
    if (!b->self) hp_die("bench_layers: %s: %s", kind, err);
    b->n_act = b->k->act_size(b->self, B, L), b->n_scr = b->k->scratch_size(b->self, B, L);
    b->hp = xcalloc(b->pt.total + 1, sizeof(real));
    param_init_generic(&b->pt, b->hp, 7);
    if (b->k->init) b->k->init(b->self, b->hp, 7);
    b->hx = xmalloc(sizeof(real) * b->n), b->hdy = xmalloc(sizeof(real) * b->n);
    fill_normal(b->hx, b->n, 1), fill_normal(b->hdy, b->n, 2);
    if (b->k->bind) b->k->bind(b->self, dev);
    const struct ops *o = dev;
    b->p = dev_copy(b->hp, b->pt.total), b->x = dev_copy(b->hx, b->n), b->dy = dev_copy(b->hdy, b->n);
    b->g = o->alloc(sizeof(real) * (b->pt.total + 1));
    b->act = o->alloc(sizeof(real) * (b->n_act + 1)), b->scr = o->alloc(sizeof(real) * (b->n_scr + 1));
    b->y = o->alloc(sizeof(real) * b->n), b->dx = o->alloc(sizeof(real) * b->n);
}

static void lb_close(struct lb *b) {
    real *bufs[] = {b->p, b->g, b->act, b->scr, b->x, b->y, b->dy, b->dx};
    for (int i = 0; i < 8; i++) dev->free(bufs[i]);
    b->k->destroy(b->self);
    param_table_free(&b->pt);
    free(b->hp), free(b->hx), free(b->hdy);
}

static void fwd_bwd(void *ctx) {
    struct lb *b = ctx;
    struct layer_fwd f = {.B = B, .L = b->L, .x = b->x, .y = b->y, .p = b->p, .act = b->act, .scratch = b->scr};
    b->k->forward(b->self, dev, &f);
    struct layer_bwd w = {.B = B, .L = b->L, .x = b->x, .dy = b->dy, .dx = b->dx, .p = b->p, .g = b->g,
                          .act = b->act, .scratch = b->scr};
    b->k->backward(b->self, dev, &w);
}

/* max |a - b| / max |b|; NaN sticks */
static double scaled_err(const real *a, const real *b, size_t n) {
    double maxb = 0, maxd = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= maxd)) maxd = d;
        if (fabs(b[i]) > maxb) maxb = fabs(b[i]);
    }
    return maxb > 0 ? maxd / maxb : maxd;
}

/* The device's y and dx: finite, and at the shortest L against the CPU's
 * (the same layer run on host copies). Returns the CPU error (0 when not compared), NaN on failure. */
static double check(struct lb *b, bool vs_cpu) {
    real *y = xmalloc(sizeof(real) * b->n), *dx = xmalloc(sizeof(real) * b->n);
    dev->download(y, b->y, sizeof(real) * b->n), dev->download(dx, b->dx, sizeof(real) * b->n);
    double err = 0;
    for (size_t i = 0; i < b->n; i++)
        if (!isfinite(y[i]) || !isfinite(dx[i])) err = NAN;
    if (vs_cpu && err == 0) {
        /* a second instance on the host (the device one's tables are bound there) */
        struct lb h;
        memset(&h, 0, sizeof h);
        struct knob_values kv;
        knob_defaults(&kv, b->k->knobs, b->k->n_knobs);
        struct layer_dims dims = {.D = D, .max_L = b->L, .n_layer = 2, .layer_idx = 0};
        char e[256];
        param_table_init(&h.pt);
        void *self = b->k->create(&kv, &dims, &h.pt, "backbone.layers.0.mixer.", e, sizeof e);
        real *act = xcalloc(b->n_act + 1, sizeof(real)), *scr = xcalloc(b->n_scr + 1, sizeof(real));
        real *g = xcalloc(b->pt.total + 1, sizeof(real)), *hy = xmalloc(sizeof(real) * b->n);
        real *hdx = xmalloc(sizeof(real) * b->n);
        struct layer_fwd f = {.B = B, .L = b->L, .x = b->hx, .y = hy, .p = b->hp, .act = act, .scratch = scr};
        b->k->forward(self, ops_cpu(), &f);
        struct layer_bwd w = {.B = B, .L = b->L, .x = b->hx, .dy = b->hdy, .dx = hdx, .p = b->hp, .g = g,
                              .act = act, .scratch = scr};
        b->k->backward(self, ops_cpu(), &w);
        err = fmax(scaled_err(y, hy, b->n), scaled_err(dx, hdx, b->n));
        b->k->destroy(self), param_table_free(&h.pt);
        free(act), free(scr), free(g), free(hy), free(hdx);
    }
    free(y), free(dx);
    return err;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ms of one call: CUDA events on the device, the wall clock on the CPU */
static double time_once(struct lb *b) {
    if (dev != ops_cpu()) return cuda_time_ms(fwd_bwd, b);
    double t0 = hp_now();
    fwd_bwd(b);
    return 1e3 * (hp_now() - t0);
}

static double time_median(struct lb *b) {
    double t[REPS];
    for (int i = 0; i < WARM; i++) fwd_bwd(b);
    for (int i = 0; i < REPS; i++) t[i] = time_once(b);
    qsort(t, REPS, sizeof t[0], cmp_double);
    return t[REPS / 2];
}

static void add_goal(cJSON *goals, const char *name, double measured, double target, bool have, bool pass) {
    cJSON *g = cJSON_CreateObject();
    cJSON_AddStringToObject(g, "name", name);
    if (have) cJSON_AddNumberToObject(g, "measured", measured), cJSON_AddBoolToObject(g, "pass", pass);
    else cJSON_AddNullToObject(g, "measured"), cJSON_AddNullToObject(g, "pass");
    cJSON_AddNumberToObject(g, "target", target);
    cJSON_AddItemToArray(goals, g);
}

/* The goals from ms[kind][length]: H3 faster from which L on, the ratio at the longest. */
static void goals(cJSON *root, double ms[2][N_LEN], bool ok) {
    cJSON *ratios = cJSON_AddArrayToObject(root, "attention_over_h3"), *gl = cJSON_AddArrayToObject(root, "goals");
    int from = -1;
    for (int i = n_len - 1; i >= 0 && ok && ms[0][i] < ms[1][i]; i--) from = i;
    for (int i = 0; i < n_len && ok; i++) cJSON_AddItemToArray(ratios, cJSON_CreateNumber(ms[1][i] / ms[0][i]));
    add_goal(gl, "H3 layer faster than attention (fwd+bwd, d 64, B 1) from L", from >= 0 ? lengths[from] : INFINITY,
             1024, ok, from >= 0 && lengths[from] <= 1024);
    double r = ms[1][n_len - 1] / ms[0][n_len - 1];
    add_goal(gl, "attention / H3 layer time (fwd+bwd) at L = 16K", r, 10, ok && n_len == N_LEN, r >= 10);
}

int main(int argc, char **argv) {
    bool dry = argc == 3 && strcmp(argv[1], "--dry-run") == 0;
    if (argc != 2 && !dry) return fprintf(stderr, "usage: %s [--dry-run] OUT.json\n", argv[0]), 2;
    dev = dry ? ops_cpu() : ops_cuda();
    if (!dev) return fprintf(stderr, "bench_layers: no CUDA backend: %s\n", ops_cuda_status()), 1;
    n_len = dry ? 2 : N_LEN;
    printf("bench_layers: %s\n", dev->device());
    cJSON *root = cJSON_CreateObject(), *rows = cJSON_AddArrayToObject(root, "rows");
    cJSON_AddStringToObject(root, "backend", dev->name);
    cJSON_AddStringToObject(root, "device", dev->device());
    double ms[2][N_LEN];
    bool ok = true;
    for (int k = 0; k < 2 && ok; k++)
        for (int i = 0; i < n_len && ok; i++) {
            struct lb b;
            lb_open(&b, kinds[k], lengths[i]);
            fwd_bwd(&b);
            double err = check(&b, i == 0);
            ok = err <= TOL_CHECK;
            ms[k][i] = ok ? time_median(&b) : NAN;
            printf("%-9s L %6d: %s%.3f ms fwd+bwd%s\n", kinds[k], lengths[i], i == 0 ? "checked vs cpu, " : "",
                   ms[k][i], ok ? "" : "  CHECK FAILED");
            cJSON *row = cJSON_CreateObject();
            cJSON_AddStringToObject(row, "layer", kinds[k]);
            cJSON_AddNumberToObject(row, "L", lengths[i]);
            cJSON_AddNumberToObject(row, "D", D), cJSON_AddNumberToObject(row, "B", B);
            if (i == 0) cJSON_AddNumberToObject(row, "err_vs_cpu", err);
            if (ok) cJSON_AddNumberToObject(row, "ms_fwd_bwd", ms[k][i]);
            cJSON_AddItemToArray(rows, row);
            lb_close(&b);
        }
    goals(root, ms, ok);
    char *s = cJSON_Print(root);
    FILE *f = fopen(argv[argc - 1], "w");
    int rc = !f || fputs(s, f) < 0 || fclose(f) != 0;
    if (rc) fprintf(stderr, "bench_layers: cannot write %s\n", argv[argc - 1]);
    free(s), cJSON_Delete(root);
    if (!ok) fprintf(stderr, "bench_layers: a check failed: the points after it were not timed\n");
    return rc || !ok ? 1 : 0;
}
