/* verb_bench_gen.c — `hippodrome bench-generate`: generation speed against
 * context length, in recurrent mode (models/model_step.c). For each layer an
 * untrained model is built in memory (no checkpoint): d_model d, 2 layers,
 * vocabulary 30, d_inner 4d, the layer's default knobs, as configs/long
 * (attention gets position rows for the longest context + tokens). For each
 * context a random prompt is prefilled by the convolution-mode forward, then
 * `tokens` greedy model_steps are timed. H3's step costs the same at any
 * context; attention's reads a KV cache that grows with it. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"
#include "../core/rng.h"
#include "../models/model.h"
#include "bench_util.h"
#include "cli.h"
#include "report.h"

#define BG_MAX_LAYERS 8
#define BG_MAX_CONTEXTS 32
#define BG_MAX_ROUNDS 64
enum { BG_VOCAB = 30, BG_N_LAYER = 2 };

struct bg_opts {
    const struct layer_kind *kinds[BG_MAX_LAYERS];
    int n_layers;
    int contexts[BG_MAX_CONTEXTS], n_contexts;
    int tokens, d, rounds, threads;
};

/* One (layer, context): every round's numbers, then the summary. */
struct bg_row {
    const struct layer_kind *kind;
    int context;
    double tps[BG_MAX_ROUNDS], prefill_ms[BG_MAX_ROUNDS];
    int n_rounds;
    bool finite;
    double tps_best, tps_median, ms_prefill; /* best round, median round, best prefill */
    size_t state_reals;
};

/* The model a layer is timed in; NULL with err. */
static struct model *build_model(const struct layer_kind *k, const struct bg_opts *o, int max_L, char *err,
                                 size_t errlen) {
    struct model_cfg mc = {
        .vocab = BG_VOCAB, .d_model = o->d, .n_layer = BG_N_LAYER, .d_inner = 4 * o->d,
        .max_L = max_L, .n_pos = max_L, .embed_dropout = 0, .ln_eps = 1e-5, .kind = k,
    };
    knob_defaults(&mc.layer_knobs, k->knobs, k->n_knobs);
    struct model *m = model_create(&mc, err, errlen);
    if (m) model_init(m, 0);
    return m;
}

static int32_t argmax(const real *z, int V) {
    int best = 0;
    for (int v = 1; v < V; v++)
        if (z[v] > z[best]) best = v;
    return (int32_t)best;
}

static void one_round(struct model *m, const int32_t *prompt, int P, int N, struct bg_row *row) {
    char err[512];
    struct model_state *s = model_state_create(m, 1, P + N, err, sizeof err);
    if (!s) hp_die("bench-generate: %s", err);
    row->state_reals = model_state_reals(s);
    double t0 = hp_now();
    const real *z = model_prefill(m, ops_cpu(), s, prompt, P);
    double t1 = hp_now();
    bool finite = bench_all_finite(z, BG_VOCAB);
    int32_t tok = argmax(z, BG_VOCAB);
    double t2 = hp_now();
    for (int i = 0; i < N; i++) {
        z = model_step(m, ops_cpu(), s, &tok);
        tok = argmax(z, BG_VOCAB);
    }
    double t3 = hp_now();
    row->finite = row->finite && finite && bench_all_finite(z, BG_VOCAB);
    row->prefill_ms[row->n_rounds] = 1e3 * (t1 - t0);
    row->tps[row->n_rounds++] = N / (t3 - t2);
    model_state_free(s);
}

/* Best and median round: the best is what a quiet core gives on a shared
 * machine; the median says how far the load moved it. */
static void summarise(struct bg_row *r) {
    double t[BG_MAX_ROUNDS];
    memcpy(t, r->tps, (size_t)r->n_rounds * sizeof t[0]);
    qsort(t, (size_t)r->n_rounds, sizeof t[0], bench_cmp_double);
    r->tps_best = t[r->n_rounds - 1];
    r->tps_median = r->n_rounds % 2 ? t[r->n_rounds / 2] : 0.5 * (t[r->n_rounds / 2 - 1] + t[r->n_rounds / 2]);
    r->ms_prefill = r->prefill_ms[0];
    for (int i = 1; i < r->n_rounds; i++) r->ms_prefill = fmin(r->ms_prefill, r->prefill_ms[i]);
}

/* Contexts outer, rounds, then layers inner: the layers compared at one
 * context take turns, so a burst of load hits them alike. */
static void bench_all(struct model **models, const struct bg_opts *o, struct bg_row *rows) {
    int max_P = o->contexts[0];
    for (int c = 1; c < o->n_contexts; c++) max_P = o->contexts[c] > max_P ? o->contexts[c] : max_P;
    int32_t *prompt = xmalloc((size_t)max_P * sizeof *prompt);
    struct hp_rng rng = hp_rng_make(2024, 11);
    for (int i = 0; i < max_P; i++) prompt[i] = (int32_t)hp_rng_below(&rng, BG_VOCAB);
    for (int c = 0; c < o->n_contexts; c++) {
        struct bg_row *r = rows + (size_t)c * o->n_layers;
        for (int i = 0; i < o->n_layers; i++) r[i] = (struct bg_row){.kind = o->kinds[i], .context = o->contexts[c],
                                                                       .finite = true};
        for (int k = 0; k < o->rounds; k++)
            for (int i = 0; i < o->n_layers; i++) one_round(models[i], prompt, o->contexts[c], o->tokens, &r[i]);
        for (int i = 0; i < o->n_layers; i++) {
            summarise(&r[i]);
            fprintf(stderr, "  %-10s context %6d  %10.0f tokens/s (median round %.0f)  prefill %9.2f ms%s\n",
                    r[i].kind->name, r[i].context, r[i].tps_best, r[i].tps_median, r[i].ms_prefill,
                    r[i].finite ? "" : "  NOT FINITE");
        }
    }
    free(prompt);
}

static cJSON *rows_json(const struct bg_row *rows, int n, const struct bg_opts *o) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "schema_version", 1);
    cJSON_AddStringToObject(root, "what", "greedy model_step tokens/s after a prefilled random prompt (untrained models)");
    cJSON_AddNumberToObject(root, "d_model", o->d);
    cJSON_AddNumberToObject(root, "n_layer", BG_N_LAYER);
    cJSON_AddNumberToObject(root, "vocab_size", BG_VOCAB);
    cJSON_AddNumberToObject(root, "rounds", o->rounds);
    cJSON_AddNumberToObject(root, "threads", o->threads);
    cJSON_AddStringToObject(root, "gemm", ops_cpu()->gemm_name);
    cJSON *a = cJSON_AddArrayToObject(root, "rows");
    for (int i = 0; i < n; i++) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "layer", rows[i].kind->name);
        cJSON_AddNumberToObject(r, "context", rows[i].context);
        cJSON_AddNumberToObject(r, "tokens", o->tokens);
        cJSON_AddNumberToObject(r, "tokens_per_second", rows[i].tps_best);
        cJSON_AddNumberToObject(r, "tokens_per_second_median", rows[i].tps_median);
        cJSON_AddNumberToObject(r, "ms_prefill", rows[i].ms_prefill);
        cJSON_AddNumberToObject(r, "state_size", (double)rows[i].state_reals);
        cJSON_AddStringToObject(r, "status", rows[i].finite ? "ok" : "not finite");
        cJSON_AddItemToArray(a, r);
    }
    return root;
}

static int kind_index(const struct bg_opts *o, const char *name) {
    for (int i = 0; i < o->n_layers; i++)
        if (strcmp(o->kinds[i]->name, name) == 0) return i;
    return -1;
}

/* H3's spread over the contexts (max/min tokens/s) and the H3/attention
 * speed ratio at each context: what the goals are read from. */
static void print_goals(const struct bg_row *rows, const struct bg_opts *o) {
    int h3 = kind_index(o, "h3"), at = kind_index(o, "attention");
    if (h3 < 0) return;
    double lo = INFINITY, hi = 0;
    int cmin = o->contexts[0], cmax = o->contexts[0];
    for (int c = 0; c < o->n_contexts; c++) {
        double t = rows[(size_t)c * o->n_layers + h3].tps_best;
        lo = fmin(lo, t), hi = fmax(hi, t);
        cmin = o->contexts[c] < cmin ? o->contexts[c] : cmin, cmax = o->contexts[c] > cmax ? o->contexts[c] : cmax;
    }
    printf("h3 tokens/s over contexts %d..%d: max/min = %.3f\n", cmin, cmax, hi / lo);
    for (int c = 0; at >= 0 && c < o->n_contexts; c++)
        if (o->contexts[c] == 1536)
            printf("h3/attention at context 1536: %.2fx\n", rows[(size_t)c * o->n_layers + h3].tps_best /
                                                               rows[(size_t)c * o->n_layers + at].tps_best);
}

static void print_table(const struct bg_row *rows, const struct bg_opts *o) {
    int h3 = kind_index(o, "h3"), at = kind_index(o, "attention");
    bool ratio = h3 >= 0 && at >= 0;
    printf("\n%8s", "context");
    for (int i = 0; i < o->n_layers; i++) printf(" %12s", o->kinds[i]->name);
    printf("%s", ratio ? " h3/attention" : "");
    for (int i = 0; i < o->n_layers; i++) printf(" %11.11s_pf", o->kinds[i]->name);
    printf("   (tokens/s over %d steps, best of %d rounds; _pf: prefill ms)\n", o->tokens, o->rounds);
    for (int c = 0; c < o->n_contexts; c++) {
        const struct bg_row *r = rows + (size_t)c * o->n_layers;
        printf("%8d", o->contexts[c]);
        for (int i = 0; i < o->n_layers; i++) printf(" %12.0f", r[i].tps_best);
        if (ratio) printf(" %12.2f", r[h3].tps_best / r[at].tps_best);
        for (int i = 0; i < o->n_layers; i++) printf(" %14.2f", r[i].ms_prefill);
        printf("\n");
    }
    print_goals(rows, o);
}

/* "h3,attention" -> kinds; each must exist and have a recurrent step. */
static int parse_layers(const char *s, struct bg_opts *o, char *err, size_t errlen) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    o->n_layers = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        const struct layer_kind *k = layer_find(t);
        if (!k || !k->step || o->n_layers == BG_MAX_LAYERS) {
            snprintf(err, errlen, "--layers: %s '%s' (layers with a recurrent step: attention, s4d, h3; at most %d)",
                     !k ? "unknown layer" : !k->step ? "no recurrent step in" : "too many at", t, BG_MAX_LAYERS);
            return -1;
        }
        o->kinds[o->n_layers++] = k;
    }
    if (o->n_layers == 0) return snprintf(err, errlen, "--layers: no layers given"), -1;
    return 0;
}

static int read_opts(const struct args *a, struct bg_opts *o, char *err, size_t errlen) {
    const char *layers = args_get(a, "--layers") ? args_get(a, "--layers") : "h3,attention";
    const char *ctx = args_get(a, "--contexts") ? args_get(a, "--contexts")
                                                : "128,256,512,1024,1536,2048,4096,8192,16384";
    if (parse_layers(layers, o, err, errlen)) return -1;
    o->n_contexts = bench_parse_ints("--contexts", ctx, o->contexts, BG_MAX_CONTEXTS, 1, 1 << 20, err, errlen);
    if (o->n_contexts < 0 || args_int(a, "--tokens", 256, 1, 1 << 20, &o->tokens, err, errlen) ||
        args_int(a, "--d", 64, 1, 4096, &o->d, err, errlen) ||
        args_int(a, "--rounds", 5, 1, BG_MAX_ROUNDS, &o->rounds, err, errlen) ||
        args_int(a, "--threads", 1, 1, 256, &o->threads, err, errlen))
        return -1;
    return 0;
}

/* One model per layer, sized for the longest context + tokens; NULL entries
 * on failure (a bad --d for the layer), with err. */
static int build_models(const struct bg_opts *o, struct model **models, char *err, size_t errlen) {
    int max_L = 0;
    for (int c = 0; c < o->n_contexts; c++) max_L = o->contexts[c] > max_L ? o->contexts[c] : max_L;
    max_L += o->tokens;
    for (int i = 0; i < o->n_layers; i++) {
        char inner[512] = "";
        models[i] = build_model(o->kinds[i], o, max_L, inner, sizeof inner);
        if (!models[i]) return snprintf(err, errlen, "--d %d: %s", o->d, inner), -1;
    }
    return 0;
}

static int run_bench_generate(const struct args *a) {
    struct bg_opts o;
    char err[1024];
    memset(&o, 0, sizeof o);
    struct model *models[BG_MAX_LAYERS] = {NULL};
    if (read_opts(a, &o, err, sizeof err) || build_models(&o, models, err, sizeof err)) {
        for (int i = 0; i < BG_MAX_LAYERS; i++) model_free(models[i]);
        return cli_usage_error("bench-generate", "%s", err);
    }
    omp_set_num_threads(o.threads);
    struct bg_row *rows = xcalloc((size_t)o.n_layers * o.n_contexts, sizeof *rows);
    bench_all(models, &o, rows);
    print_table(rows, &o);
    int status = 0;
    for (int i = 0; i < o.n_layers * o.n_contexts; i++) status = rows[i].finite ? status : EXIT_RUN_FAILED;
    const char *out = args_get(a, "--out");
    if (out) {
        cJSON *j = rows_json(rows, o.n_layers * o.n_contexts, &o);
        if (report_write(out, j, err, sizeof err) != 0)
            fprintf(stderr, "hippodrome bench-generate: %s\n", err), status = EXIT_RUN_FAILED;
        cJSON_Delete(j);
    }
    for (int i = 0; i < o.n_layers; i++) model_free(models[i]);
    free(rows);
    return status;
}

static const struct flag_spec gen_flags[] = {
    {"--checkpoint-free", NULL, false, "build untrained models in memory (the only mode; no checkpoint is read)"},
    {"--layers", "A,B,...", false, "layers with a recurrent step (default h3,attention)"},
    {"--contexts", "P,P,...", false, "prompt lengths (default 128,256,512,1024,1536,2048,4096,8192,16384)"},
    {"--tokens", "N", false, "greedy steps timed after each prompt (default 256)"},
    {"--d", "D", false, "d_model (default 64; 2 layers, d_inner 4D, vocabulary 30)"},
    {"--rounds", "N", false, "prefill + steps repeated per (layer, context); the best round is reported (default 5)"},
    {"--threads", "N", false, "OpenMP threads (default 1)"},
    {"--out", "FILE", false, "write the rows as JSON (make bench-generate: results/bench/generate.json)"},
};

const struct verb verb_bench_generate = {
    .name = "bench-generate",
    .usage = "[--checkpoint-free] [--layers h3,attention] [--contexts P,P,...] [--tokens N] [--d D] [--rounds N] "
             "[--threads N] [--out FILE]",
    .summary = "generation speed (recurrent steps) vs prompt length per layer, untrained models",
    .flags = gen_flags,
    .n_flags = sizeof gen_flags / sizeof gen_flags[0],
    .min_pos = 0,
    .max_pos = 0,
    .run = run_bench_generate,
};
