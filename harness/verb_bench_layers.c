/* verb_bench_layers.c — `hippodrome bench-layers`: ONE layer's forward +
 * backward alone, through the layer_kind interface, against sequence length,
 * so the cost of the mixer itself (H3: L log L, attention: L²) is seen without
 * the model around it.
 *
 * Each (layer, L) runs in a child process under an address-space limit: a
 * length that does not fit (attention's L² scores) is reported as out of
 * memory instead of taking the machine down, and the peak resident set is the
 * child's alone (wait4). The fork / limit / pipe handling follows
 * verb_bench_long.c (a minimal copy: that file keeps its helpers static). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/base.h"
#include "../core/rng.h"
#include "../models/layer.h"
#include "bench_util.h"
#include "cli.h"
#include "report.h"

#define BL_MAX_LAYERS 8
#define BL_MAX_LENGTHS 32
/* Rounds of BL_SAMPLES samples; a round's median, then the best round. */
enum { BL_SAMPLES = 3, BL_MAX_ROUNDS = 5 };

struct bl_opts {
    const struct layer_kind *kinds[BL_MAX_LAYERS];
    char spec[BL_MAX_LAYERS][96];  /* as given: "attention" or "attention:impl=full:n_heads=2" */
    char knobs[BL_MAX_LAYERS][96]; /* the knob part, "impl=full,n_heads=2" */
    int n_layers;
    int lengths[BL_MAX_LENGTHS], n_lengths;
    int d, batch, threads, min_ms, mem_limit_mb;
};

struct bl_row {
    int li; /* index into bl_opts' layers */
    int L;
    char status[24];  /* "ok", "out of memory", "not finite", "failed" */
    double ms;        /* one forward + backward */
    double peak_mb;   /* the child's peak resident set */
    int reps, samples;
};

/* What the child sends back through the pipe. */
struct bl_msg {
    double ms;
    int reps, samples, finite;
};

/* One layer instance and its buffers, in the child. */
struct bl_bench {
    const struct layer_kind *k;
    void *self;
    struct param_table pt;
    int B, L;
    size_t n, n_act, n_scr; /* n = B * L * D */
    real *p, *g, *act, *scratch, *x, *y, *dy, *dx;
};

/* Layer li of the options (its kind at its defaults and the spec's knobs), d_model = D; NULL with err. */
static void *layer_at(const struct bl_opts *o, int li, int D, int L, struct param_table *pt, char *err,
                      size_t errlen) {
    const struct layer_kind *k = o->kinds[li];
    struct knob_values kv;
    knob_defaults(&kv, k->knobs, k->n_knobs);
    char buf[96];
    snprintf(buf, sizeof buf, "%s", o->knobs[li]);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');
        if (!eq) return snprintf(err, errlen, "'%s' is not key=value", t), NULL;
        *eq = '\0';
        if (knob_set(&kv, t, eq + 1, err, errlen) != 0) return NULL;
    }
    struct layer_dims dims = {.D = D, .max_L = L, .n_layer = 2, .layer_idx = 0};
    return k->create(&kv, &dims, pt, "backbone.layers.0.mixer.", err, errlen);
}

static void fill_normal(real *v, size_t n, uint64_t stream) {
    struct hp_rng r = hp_rng_make(1234, stream);
    for (size_t i = 0; i < n; i++) v[i] = (real)hp_rng_normal(&r);
}

/* Create and fill: parameters at their init, x and dy ~ N(0, 1). */
static void bench_open(struct bl_bench *b, const struct bl_opts *o, int li, int L) {
    char err[512] = "";
    const struct layer_kind *k = o->kinds[li];
    memset(b, 0, sizeof *b);
    b->k = k, b->B = o->batch, b->L = L;
    param_table_init(&b->pt);
    b->self = layer_at(o, li, o->d, L, &b->pt, err, sizeof err);
    if (!b->self) hp_die("bench-layers: %s: %s", o->spec[li], err);
    b->n = (size_t)b->B * L * o->d;
    b->n_act = k->act_size(b->self, b->B, L), b->n_scr = k->scratch_size(b->self, b->B, L);
    b->p = xcalloc(b->pt.total + 1, sizeof(real)), b->g = xcalloc(b->pt.total + 1, sizeof(real));
    b->act = xcalloc(b->n_act + 1, sizeof(real)), b->scratch = xcalloc(b->n_scr + 1, sizeof(real));
    b->x = xcalloc(b->n, sizeof(real)), b->y = xcalloc(b->n, sizeof(real));
    b->dy = xcalloc(b->n, sizeof(real)), b->dx = xcalloc(b->n, sizeof(real));
    param_init_generic(&b->pt, b->p, 7);
    if (k->init) k->init(b->self, b->p, 7);
    fill_normal(b->x, b->n, 1);
    fill_normal(b->dy, b->n, 2);
}

static void fwd_bwd(struct bl_bench *b) {
    struct layer_fwd f = {.B = b->B, .L = b->L, .x = b->x, .y = b->y, .p = b->p, .act = b->act,
                          .scratch = b->scratch, .training = false};
    b->k->forward(b->self, ops_cpu(), &f);
    struct layer_bwd w = {.B = b->B, .L = b->L, .x = b->x, .dy = b->dy, .dx = b->dx, .p = b->p, .g = b->g,
                          .act = b->act, .scratch = b->scratch, .training = false};
    b->k->backward(b->self, ops_cpu(), &w);
}

static double time_reps(struct bl_bench *b, int reps) {
    double t0 = hp_now();
    for (int i = 0; i < reps; i++) fwd_bwd(b);
    return 1e3 * (hp_now() - t0);
}

/* Repetitions per sample so that a sample lasts >= min_ms (the first call
 * of a size also pays page faults, so it is not trusted for this). */
static int calibrate(struct bl_bench *b, double min_ms, double *sample_ms) {
    int reps = 1;
    double ms = time_reps(b, reps);
    while (ms < min_ms && reps < (1 << 24)) {
        double want = ms > 0 ? 1.1 * reps * min_ms / ms : 2.0 * reps;
        reps = want > 2.0 * reps ? (int)fmin(want, 1 << 24) : 2 * reps;
        ms = time_reps(b, reps);
    }
    *sample_ms = ms;
    return reps;
}

/* Checked first, then timed: the lowest round median of BL_SAMPLES samples,
 * as many rounds (1..BL_MAX_ROUNDS) as fit in ~BL_MAX_ROUNDS samples' time
 * of the shortest, so a long attention point is not timed for minutes. */
static struct bl_msg measure(struct bl_bench *b, double min_ms) {
    struct bl_msg m = {0, 0, 0, 0};
    fwd_bwd(b);
    m.finite = bench_all_finite(b->y, b->n) && bench_all_finite(b->dx, b->n) && bench_all_finite(b->g, b->pt.total);
    if (!m.finite) return m;
    double sample;
    m.reps = calibrate(b, min_ms, &sample);
    int rounds = (int)fmin(BL_MAX_ROUNDS, fmax(1, floor(BL_MAX_ROUNDS * min_ms / sample)));
    double best = INFINITY;
    for (int r = 0; r < rounds; r++) {
        double s[BL_SAMPLES];
        for (int i = 0; i < BL_SAMPLES; i++) s[i] = time_reps(b, m.reps) / m.reps;
        qsort(s, BL_SAMPLES, sizeof s[0], bench_cmp_double);
        best = fmin(best, s[BL_SAMPLES / 2]);
    }
    m.ms = best, m.samples = rounds * BL_SAMPLES;
    return m;
}

/* What a child measures. */
struct bl_point {
    int li;
    int L;
    const struct bl_opts *o;
};

/* Child: build, check, time; the result goes to fd. Never returns. */
static _Noreturn void child_run(void *arg, int fd) {
    const struct bl_point *pt = arg;
    int L = pt->L;
    const struct bl_opts *o = pt->o;
    omp_set_num_threads(o->threads);
    struct bl_bench b;
    bench_open(&b, o, pt->li, L);
    struct bl_msg m = measure(&b, o->min_ms);
    if (write(fd, &m, sizeof m) != (ssize_t)sizeof m) _exit(1);
    _exit(0);
}

/* One (layer, L) in a child under the address-space limit (bench_util.h). */
static void run_point(int li, int L, const struct bl_opts *o, struct bl_row *row) {
    struct bl_msg m = {0, 0, 0, 0};
    struct bench_child ch;
    struct bl_point pt = {li, L, o};
    bench_in_child(child_run, &pt, o->mem_limit_mb, &m, sizeof m, &ch);
    *row = (struct bl_row){.li = li, .L = L, .peak_mb = ch.peak_mb};
    const char *status = ch.ran ? (m.finite ? "ok" : "not finite") : ch.oom ? "out of memory" : "failed";
    snprintf(row->status, sizeof row->status, "%s", status);
    if (ch.ran && m.finite) row->ms = m.ms, row->reps = m.reps, row->samples = m.samples;
    if (!ch.ran && !ch.oom) fprintf(stderr, "bench-layers: %s at L=%d failed:\n%s", o->spec[li], L, ch.text);
}

static bool row_ok(const struct bl_row *r) { return strcmp(r->status, "ok") == 0; }

static cJSON *rows_json(const struct bl_row *rows, int n, const struct bl_opts *o) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "schema_version", 1);
    cJSON_AddStringToObject(root, "what", "one layer's forward + backward (training off), default knobs unless the layer names some");
    cJSON_AddNumberToObject(root, "threads", o->threads);
    cJSON_AddNumberToObject(root, "min_sample_ms", o->min_ms);
    cJSON_AddNumberToObject(root, "memory_limit_mb", o->mem_limit_mb);
    cJSON_AddStringToObject(root, "gemm", ops_cpu()->gemm_name);
    cJSON *a = cJSON_AddArrayToObject(root, "rows");
    for (int i = 0; i < n; i++) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "layer", o->spec[rows[i].li]);
        cJSON_AddNumberToObject(r, "seq_len", rows[i].L);
        cJSON_AddNumberToObject(r, "d", o->d);
        cJSON_AddNumberToObject(r, "batch", o->batch);
        if (row_ok(&rows[i])) cJSON_AddNumberToObject(r, "ms_fwd_bwd", rows[i].ms);
        else cJSON_AddNullToObject(r, "ms_fwd_bwd");
        cJSON_AddStringToObject(r, "status", rows[i].status);
        cJSON_AddNumberToObject(r, "peak_rss_mb", rows[i].peak_mb);
        cJSON_AddNumberToObject(r, "reps_per_sample", rows[i].reps);
        cJSON_AddNumberToObject(r, "samples", rows[i].samples);
        cJSON_AddItemToArray(a, r);
    }
    return root;
}

static int kind_index(const struct bl_opts *o, const char *name) {
    for (int i = 0; i < o->n_layers; i++)
        if (strcmp(o->spec[i], name) == 0) return i;
    return -1;
}

/* rows[k * n_layers + i] is length k, layer i. One line per length, the
 * H3/attention time ratio last when both were timed. */
static void print_table(const struct bl_row *rows, const struct bl_opts *o) {
    int h3 = kind_index(o, "h3"), at = kind_index(o, "attention");
    printf("\n%9s", "seq_len");
    for (int i = 0; i < o->n_layers; i++) printf(" %13s", o->spec[i]);
    printf("%s   (ms per forward + backward; d %d, batch %d, %d thread(s))\n", h3 >= 0 && at >= 0 ? "  h3/attention" : "",
           o->d, o->batch, o->threads);
    for (int k = 0; k < o->n_lengths; k++) {
        const struct bl_row *r = rows + (size_t)k * o->n_layers;
        printf("%9d", o->lengths[k]);
        for (int i = 0; i < o->n_layers; i++)
            if (row_ok(&r[i])) printf(" %13.3f", r[i].ms);
            else printf(" %13s", r[i].status);
        if (h3 >= 0 && at >= 0 && row_ok(&r[h3]) && row_ok(&r[at])) printf(" %13.3f", r[h3].ms / r[at].ms);
        else if (h3 >= 0 && at >= 0) printf(" %13s", "-");
        printf("\n");
    }
}

/* "h3,attention" -> kinds; each must exist and be creatable at d. */
static int parse_layers(const char *s, struct bl_opts *o, char *err, size_t errlen) {
    o->n_layers = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char name[96];
        snprintf(name, sizeof name, "%s", t);
        char *colon = strchr(name, ':');
        if (colon) *colon = '\0';
        const struct layer_kind *k = layer_find(name);
        if (!k || o->n_layers == BL_MAX_LAYERS) {
            char names[256] = "";
            for (int i = 0; layer_kinds[i]; i++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", layer_kinds[i]->name);
            snprintf(err, errlen, "--layers: %s '%s' (layers: %s; at most %d)", k ? "too many at" : "unknown layer", t,
                     names, BL_MAX_LAYERS);
            return -1;
        }
        snprintf(o->spec[o->n_layers], sizeof o->spec[0], "%s", t);
        snprintf(o->knobs[o->n_layers], sizeof o->knobs[0], "%s", colon ? colon + 1 : "");
        for (char *c = o->knobs[o->n_layers]; *c; c++) *c = *c == ':' ? ',' : *c; /* "a=1:b=2" -> "a=1,b=2" */
        o->kinds[o->n_layers++] = k;
    }
    if (o->n_layers == 0) return snprintf(err, errlen, "--layers: no layers given"), -1;
    return 0;
}

/* Let each layer check its knobs at d now, so a bad --d is a usage error. */
static int check_layers(const struct bl_opts *o, char *err, size_t errlen) {
    for (int i = 0; i < o->n_layers; i++) {
        struct param_table pt;
        param_table_init(&pt);
        char inner[400] = "";
        void *self = layer_at(o, i, o->d, o->lengths[0], &pt, inner, sizeof inner);
        param_table_free(&pt);
        if (!self) return snprintf(err, errlen, "%s at --d %d: %s", o->spec[i], o->d, inner), -1;
        o->kinds[i]->destroy(self);
    }
    return 0;
}

static int read_opts(const struct args *a, struct bl_opts *o, char *err, size_t errlen) {
    const char *layers = args_get(a, "--layers") ? args_get(a, "--layers") : "h3,attention,s4d";
    const char *lens = args_get(a, "--lengths") ? args_get(a, "--lengths")
                                                : "128,256,512,1024,2048,4096,8192,16384,32768,65536";
    if (parse_layers(layers, o, err, errlen)) return -1;
    o->n_lengths = bench_parse_ints("--lengths", lens, o->lengths, BL_MAX_LENGTHS, 2, 1L << 24, err, errlen);
    if (o->n_lengths < 0 || args_int(a, "--d", 64, 1, 4096, &o->d, err, errlen) ||
        args_int(a, "--batch", 1, 1, 1024, &o->batch, err, errlen) ||
        args_int(a, "--threads", 1, 1, 256, &o->threads, err, errlen) ||
        args_int(a, "--min-ms", 50, 1, 100000, &o->min_ms, err, errlen) ||
        args_int(a, "--mem-limit-mb", 16384, 64, 1 << 24, &o->mem_limit_mb, err, errlen))
        return -1;
    return check_layers(o, err, errlen);
}

/* Lengths outer, layers inner: the layers compared at one L are timed close
 * together, under the same load. After a layer runs out of memory its longer
 * lengths are not tried (memory grows with L) and are reported so. */
static int bench_all(const struct bl_opts *o, struct bl_row *rows) {
    bool oom[BL_MAX_LAYERS] = {false};
    int failed = 0;
    fprintf(stderr, "%-12s %9s %12s %10s  status (limit %d MB)\n", "layer", "seq_len", "ms fwd+bwd", "peak MB",
            o->mem_limit_mb);
    for (int k = 0; k < o->n_lengths; k++)
        for (int i = 0; i < o->n_layers; i++) {
            struct bl_row *r = &rows[(size_t)k * o->n_layers + i];
            if (oom[i]) {
                *r = (struct bl_row){.li = i, .L = o->lengths[k]};
                snprintf(r->status, sizeof r->status, "out of memory");
            } else run_point(i, o->lengths[k], o, r);
            oom[i] = oom[i] || strcmp(r->status, "out of memory") == 0;
            failed += !row_ok(r) && strcmp(r->status, "out of memory") != 0;
            fprintf(stderr, "%-12s %9d %12.3f %10.0f  %s\n", o->spec[i], r->L, r->ms, r->peak_mb, r->status);
        }
    return failed;
}

static int run_bench_layers(const struct args *a) {
    struct bl_opts o;
    char err[1024];
    memset(&o, 0, sizeof o);
    if (read_opts(a, &o, err, sizeof err)) return cli_usage_error("bench-layers", "%s", err);
    struct bl_row *rows = xcalloc((size_t)o.n_layers * o.n_lengths, sizeof *rows);
    int failed = bench_all(&o, rows), status = failed ? EXIT_RUN_FAILED : 0;
    print_table(rows, &o);
    const char *out = args_get(a, "--out");
    if (out) {
        cJSON *j = rows_json(rows, o.n_layers * o.n_lengths, &o);
        if (report_write(out, j, err, sizeof err) != 0) fprintf(stderr, "hippodrome bench-layers: %s\n", err), status = 1;
        cJSON_Delete(j);
    }
    free(rows);
    return status;
}

static const struct flag_spec layers_flags[] = {
    {"--layers", "A,B,...", false,
     "layer kinds at their default knobs, or with knobs: attention:impl=full:n_heads=2 (default h3,attention,s4d)"},
    {"--lengths", "L,L,...", false, "sequence lengths (default 128,256,...,65536)"},
    {"--d", "D", false, "d_model (default 64)"},
    {"--batch", "N", false, "sequences per call (default 1)"},
    {"--threads", "N", false, "OpenMP threads (default 1)"},
    {"--min-ms", "MS", false, "repetitions per timing sample so that one sample lasts at least this (default 50)"},
    {"--mem-limit-mb", "M", false, "address-space limit of each point; beyond it 'out of memory' (default 16384)"},
    {"--out", "FILE", false, "write the rows as JSON (make bench-layers: results/bench/layers.json)"},
};

const struct verb verb_bench_layers = {
    .name = "bench-layers",
    .usage = "[--layers h3,attention,s4d] [--lengths L,L,...] [--d D] [--batch N] [--threads N] [--min-ms MS] "
             "[--mem-limit-mb M] [--out FILE]",
    .summary = "one layer's forward + backward vs sequence length: ms and peak memory (each in its own process)",
    .flags = layers_flags,
    .n_flags = sizeof layers_flags / sizeof layers_flags[0],
    .min_pos = 0,
    .max_pos = 0,
    .run = run_bench_layers,
};
