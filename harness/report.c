/* report.c — the one JSON writer and its console renderers (see report.h). */
#include "report.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/atomic.h"
#include "../core/base.h"
#include "../kernels/cpu/conv_table.h"
#include "version.h"

void report_hex64(unsigned long long h, char out[17]) { snprintf(out, 17, "%016llx", h); }

static void add_hex(cJSON *o, const char *key, uint64_t h) {
    char hex[17];
    report_hex64((unsigned long long)h, hex);
    cJSON_AddStringToObject(o, key, hex);
}

static void add_array(cJSON *o, const char *key, const double *v, int n) {
    cJSON *a = cJSON_AddArrayToObject(o, key);
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
}

static void add_data(cJSON *root, const struct run_config *c, const struct train_result *r) {
    cJSON_AddStringToObject(root, "task", c->task->name);
    cJSON *d = cJSON_AddObjectToObject(root, "data");
    add_hex(d, "train_hash", r->train_hash);
    add_hex(d, "test_hash", r->test_hash);
    cJSON_AddNumberToObject(d, "n_train", r->n_train);
    cJSON_AddNumberToObject(d, "n_test", r->n_test);
    cJSON_AddNumberToObject(d, "overlap", r->overlap);
    cJSON_AddNumberToObject(d, "seq_len", r->L);
    cJSON_AddNumberToObject(d, "test_seq_len", r->test_L);
    cJSON_AddNumberToObject(d, "vocab", r->vocab);
    cJSON_AddNumberToObject(root, "chance_accuracy", r->chance);
    cJSON *m = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(m, "layer", c->layer->name);
    cJSON_AddNumberToObject(m, "parameters", (double)r->n_params);
    cJSON_AddNumberToObject(m, "state_size", (double)r->state_size);
}

static void add_build(cJSON *root, const struct run_config *c, const struct train_result *r) {
    cJSON_AddNumberToObject(root, "seed", cfg_train_real(c, "seed"));
    if (r->init[0]) cJSON_AddStringToObject(root, "init_weights", r->init);
    else cJSON_AddNullToObject(root, "init_weights");
    cJSON_AddStringToObject(root, "git_commit", hippo_commit());
    cJSON_AddStringToObject(root, "backend", r->backend ? r->backend : "cpu");
    if (r->device) cJSON_AddStringToObject(root, "device", r->device);
    else cJSON_AddNullToObject(root, "device");
    cJSON_AddStringToObject(root, "gemm", r->gemm_name ? r->gemm_name : "unknown");
    cJSON_AddStringToObject(root, "conv_table", conv_table_source());
    cJSON_AddStringToObject(root, "precision", REAL_NAME);
    cJSON_AddNumberToObject(root, "threads", r->threads);
}

static void add_curves(cJSON *root, const struct train_result *r) {
    cJSON_AddNumberToObject(root, "epochs_run", r->epochs_run);
    cJSON_AddNumberToObject(root, "steps", (double)r->steps);
    cJSON_AddBoolToObject(root, "early_stopped", r->early_stopped);
    add_array(root, "train_loss", r->train_loss, r->epochs_run);
    add_array(root, "test_accuracy", r->test_acc, r->epochs_run);
    cJSON_AddNumberToObject(root, "final_accuracy", r->final_acc);
    cJSON_AddNumberToObject(root, "best_accuracy", r->best_acc);
    cJSON_AddNumberToObject(root, "best_epoch", r->best_epoch);
    if (r->status == RUN_DIVERGED) {
        cJSON *d = cJSON_AddObjectToObject(root, "diverged");
        cJSON_AddNumberToObject(d, "step", (double)r->diverged_step);
        cJSON_AddNumberToObject(d, "epoch", r->diverged_epoch);
        cJSON_AddStringToObject(d, "tensor", r->diverged_tensor);
    }
}

cJSON *report_run(const struct run_config *c, const struct train_result *r) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "schema_version", REPORT_SCHEMA_VERSION);
    cJSON_AddStringToObject(root, "name", c->name);
    cJSON_AddStringToObject(root, "status", run_status_name(r->status));
    if (r->message[0]) cJSON_AddStringToObject(root, "message", r->message);
    cJSON_AddItemToObject(root, "config", config_to_json(c));
    add_hex(root, "config_hash", config_hash(c));
    add_data(root, c, r);
    add_build(root, c, r);
    add_curves(root, r);
    /* The final model's answers on the test split, by position, gap and length (harness/metrics.h). */
    if (r->has_metrics) cJSON_AddItemToObject(root, "test_metrics", metrics_json(&r->test_metrics));
    cJSON *t = cJSON_AddObjectToObject(root, "timing");
    cJSON_AddNumberToObject(t, "wall_seconds", r->wall_seconds);
    cJSON_AddNumberToObject(t, "train_seconds", r->train_seconds);
    cJSON_AddNumberToObject(t, "tokens_per_second", r->tokens_per_second);
    cJSON_AddNumberToObject(t, "ms_per_step", r->ms_per_step);
    return root;
}

/* ---- suite ---- */

static void add_fraction(cJSON *o, const char *key, double v) {
    if (isnan(v)) cJSON_AddNullToObject(o, key);
    else cJSON_AddNumberToObject(o, key, v);
}

cJSON *report_suite(const char *dir, const struct suite_cell *cells, int n, const char *paper_source) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "schema_version", REPORT_SCHEMA_VERSION);
    cJSON_AddStringToObject(root, "configs", dir);
    cJSON_AddStringToObject(root, "git_commit", hippo_commit());
    if (paper_source) cJSON_AddStringToObject(root, "paper_source", paper_source);
    else cJSON_AddNullToObject(root, "paper_source");
    cJSON *a = cJSON_AddArrayToObject(root, "cells");
    for (int i = 0; i < n; i++) {
        const struct suite_cell *s = &cells[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", s->name);
        cJSON_AddStringToObject(o, "task", s->task);
        cJSON_AddStringToObject(o, "layer", s->layer);
        cJSON_AddStringToObject(o, "status", run_status_name(s->status));
        add_fraction(o, "accuracy", s->accuracy);
        add_fraction(o, "best_accuracy", s->best_accuracy);
        add_fraction(o, "paper", s->paper);
        add_fraction(o, "chance", s->chance);
        cJSON_AddNumberToObject(o, "epochs_run", s->epochs_run);
        cJSON_AddNumberToObject(o, "seconds", s->seconds);
        cJSON_AddItemToArray(a, o);
    }
    return root;
}

static void pct(char *buf, size_t len, double v) {
    if (isnan(v)) snprintf(buf, len, "-");
    else snprintf(buf, len, "%.1f", 100.0 * v);
}

void report_suite_table(FILE *out, const struct suite_cell *cells, int n) {
    fprintf(out, "%-16s %-10s %8s %8s %8s %8s %7s %8s  %s\n", "task", "layer", "final %", "best %", "paper %",
            "chance %", "epochs", "seconds", "status");
    for (int i = 0; i < n; i++) {
        const struct suite_cell *s = &cells[i];
        char a[16], b[16], p[16], ch[16];
        pct(a, sizeof a, s->accuracy);
        pct(b, sizeof b, s->best_accuracy);
        pct(p, sizeof p, s->paper);
        pct(ch, sizeof ch, s->chance);
        fprintf(out, "%-16s %-10s %8s %8s %8s %8s %7d %8.1f  %s\n", s->task, s->layer, a, b, p, ch, s->epochs_run,
                s->seconds, run_status_name(s->status));
    }
}

/* ---- bench ---- */

cJSON *report_bench(const struct bench_row *rows, int n, const char *gemm_name) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "schema_version", REPORT_SCHEMA_VERSION);
    cJSON_AddStringToObject(root, "git_commit", hippo_commit());
    cJSON_AddStringToObject(root, "backend", "cpu");
    cJSON_AddStringToObject(root, "gemm", gemm_name ? gemm_name : "unknown");
    cJSON_AddStringToObject(root, "conv_table", conv_table_source());
    cJSON_AddStringToObject(root, "precision", REAL_NAME);
    cJSON *a = cJSON_AddArrayToObject(root, "rows");
    for (int i = 0; i < n; i++) {
        const struct bench_row *b = &rows[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "config", b->name);
        cJSON_AddStringToObject(o, "task", b->task);
        cJSON_AddStringToObject(o, "layer", b->layer);
        cJSON_AddNumberToObject(o, "threads", b->threads);
        cJSON_AddNumberToObject(o, "batch_size", b->B);
        cJSON_AddNumberToObject(o, "seq_len", b->L);
        cJSON_AddNumberToObject(o, "warmup_steps", b->warmup);
        cJSON_AddNumberToObject(o, "timed_steps", b->steps);
        cJSON_AddNumberToObject(o, "ms_per_step_median", b->ms_median);
        cJSON_AddNumberToObject(o, "ms_per_step_min", b->ms_min);
        cJSON_AddNumberToObject(o, "ms_per_step_best_round", b->ms_best_round);
        cJSON_AddNumberToObject(o, "tokens_per_second", b->tokens_per_second);
        cJSON_AddItemToArray(a, o);
    }
    return root;
}

void report_bench_table(FILE *out, const struct bench_row *rows, int n) {
    fprintf(out, "%-16s %-10s %7s %12s %12s %12s %12s\n", "task", "layer", "threads", "median ms",
            "best rnd ms", "min ms", "tokens/s");
    for (int i = 0; i < n; i++) {
        const struct bench_row *b = &rows[i];
        fprintf(out, "%-16s %-10s %7d %12.2f %12.2f %12.2f %12.0f\n", b->task, b->layer, b->threads,
                b->ms_median, b->ms_best_round, b->ms_min, b->tokens_per_second);
    }
}

/* ---- predict ---- */

static void add_token(cJSON *o, const char *key, const struct run_config *c, int id) {
    char text[32];
    c->task->token_text(&c->task_kv, id, text, sizeof text);
    cJSON_AddStringToObject(o, key, text);
}

cJSON *report_predict(const struct run_config *c, const char *checkpoint, const int32_t *tokens, int L,
                      const double *probs) {
    int V = c->task->vocab_size(&c->task_kv);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "schema_version", REPORT_SCHEMA_VERSION);
    cJSON_AddStringToObject(root, "checkpoint", checkpoint);
    cJSON_AddStringToObject(root, "name", c->name);
    add_hex(root, "config_hash", config_hash(c));
    cJSON *vocab = cJSON_AddArrayToObject(root, "vocab");
    for (int v = 0; v < V; v++) {
        char text[32];
        c->task->token_text(&c->task_kv, v, text, sizeof text);
        cJSON_AddItemToArray(vocab, cJSON_CreateString(text));
    }
    cJSON *pos = cJSON_AddArrayToObject(root, "positions");
    for (int l = 0; l < L; l++) {
        const double *p = probs + (size_t)l * V;
        int best = 0;
        for (int v = 1; v < V; v++)
            if (p[v] > p[best]) best = v;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "position", l);
        cJSON_AddNumberToObject(o, "token", tokens[l]);
        add_token(o, "text", c, tokens[l]);
        cJSON_AddNumberToObject(o, "argmax", best);
        add_token(o, "argmax_text", c, best);
        cJSON_AddItemToObject(o, "probs", cJSON_CreateDoubleArray(p, V));
        cJSON_AddItemToArray(pos, o);
    }
    return root;
}

/* ---- output ---- */

static int write_atomic(const char *path, const char *text, bool newline, char *err, size_t errlen) {
    struct hp_atomic a;
    if (hp_atomic_open(&a, path, err, errlen)) return -1;
    bool ok = hp_atomic_write(&a, text, 1, strlen(text)) && (!newline || hp_atomic_write(&a, "\n", 1, 1));
    return hp_atomic_close(&a, ok, err, errlen);
}

int report_write(const char *path, const cJSON *j, char *err, size_t errlen) {
    char *text = cJSON_Print(j);
    HP_CHECK(text != NULL);
    int rc = write_atomic(path, text, true, err, errlen);
    free(text);
    return rc;
}

int report_write_text(const char *path, const char *text, char *err, size_t errlen) {
    return write_atomic(path, text, false, err, errlen);
}

/* ---- reading back ---- */

char *report_read_text(const char *path, char *err, size_t errlen) { return hp_read_text(path, "", err, errlen); }

cJSON *report_read(const char *path, char *err, size_t errlen) {
    char *text = report_read_text(path, err, errlen);
    if (!text) return NULL;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(text, &end, true);
    if (!j) {
        int line = 1;
        for (const char *p = text; end && p < end && *p; p++) line += *p == '\n';
        snprintf(err, errlen, "'%s': invalid JSON near line %d", path, line);
    }
    free(text);
    return j;
}

bool report_is_run(const cJSON *j) {
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
    if (!cJSON_IsObject(j) || !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "schema_version"))) return false;
    if (!cJSON_IsString(st) || !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "config"))) return false;
    if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "config_hash"))) return false;
    return !strcmp(st->valuestring, "ok") || !strcmp(st->valuestring, "diverged") || !strcmp(st->valuestring, "failed");
}

bool report_done(const char *path, uint64_t hash, const cJSON *sweep) {
    char err[512];
    cJSON *j = access(path, F_OK) == 0 ? report_read(path, err, sizeof err) : NULL;
    bool done = j && report_is_run(j);
    if (done) {
        char hex[17];
        report_hex64((unsigned long long)hash, hex);
        done = strcmp(cJSON_GetObjectItemCaseSensitive(j, "config_hash")->valuestring, hex) == 0;
    }
    const cJSON *had = cJSON_GetObjectItemCaseSensitive(j, "sweep");
    /* Same labels too: the table reads them, so a relabelled run is redone. */
    if (done && (had || sweep)) done = had && sweep && cJSON_Compare(had, sweep, true);
    cJSON_Delete(j);
    return done;
}

void report_print(FILE *out, const cJSON *j) {
    char *text = cJSON_Print(j);
    HP_CHECK(text != NULL);
    fprintf(out, "%s\n", text);
    free(text);
}
