/* resume.c — write and read a training run's checkpoint (see resume.h). */
#include "resume.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"
#include "../core/safetensors.h"
#include "version.h"

#ifdef HIPPO_F64
#define ST_REAL ST_F64
#else
#define ST_REAL ST_F32
#endif

#define RESUME_FORMAT "hippodrome-resume"
#define RESUME_SCHEMA "1"

/* The scalars of a checkpoint, by name: counters (I64) and sums (F64). */
struct progress {
    int64_t epoch, batch, steps, adam_steps, best_epoch, early_stopped;
    double loss_sum, best_acc, tokens_seen, train_seconds, wall_seconds;
};
enum { N_COUNTERS = 6, N_SUMS = 5 };
static const char *const counter_names[N_COUNTERS] = {
    "progress.epoch", "progress.batch", "progress.steps", "progress.adam_steps", "progress.best_epoch",
    "progress.early_stopped"};
static const char *const sum_names[N_SUMS] = {"progress.epoch_loss_sum", "progress.best_accuracy",
                                              "progress.tokens_seen", "progress.train_seconds",
                                              "progress.wall_seconds"};

static void counters_of(struct progress *p, int64_t **c, double **s) {
    int64_t *cv[N_COUNTERS] = {&p->epoch, &p->batch, &p->steps, &p->adam_steps, &p->best_epoch, &p->early_stopped};
    double *sv[N_SUMS] = {&p->loss_sum, &p->best_acc, &p->tokens_seen, &p->train_seconds, &p->wall_seconds};
    memcpy(c, cv, sizeof cv);
    memcpy(s, sv, sizeof sv);
}

static int steps_per_epoch(const struct run_config *c, const struct train_result *r) {
    int B = cfg_train_int(c, "batch_size");
    return (r->n_train + B - 1) / B;
}

/* ---- writing ---- */

static char *metadata(const struct run_config *c, const struct train_result *r) {
    cJSON *m = cJSON_CreateObject();
    char *cfg = config_canonical(c), hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)config_hash(c));
    cJSON_AddStringToObject(m, "format", RESUME_FORMAT);
    cJSON_AddStringToObject(m, "hippodrome_schema", RESUME_SCHEMA);
    cJSON_AddStringToObject(m, "hippodrome_config", cfg);
    cJSON_AddStringToObject(m, "config_hash", hex);
    cJSON_AddStringToObject(m, "init_weights", r->init);
    cJSON_AddStringToObject(m, "git_commit", hippo_commit());
    char *s = cJSON_PrintUnformatted(m);
    HP_CHECK(s != NULL);
    cJSON_Delete(m);
    free(cfg);
    return s;
}

int resume_write(const char *path, const struct run_config *c, const struct resume_state *s, char *err,
                 size_t errlen) {
    const struct param_table *pt = model_params(s->model);
    const real *p = model_param_data(s->model);
    const struct train_result *r = s->r;
    struct progress g = {s->epoch, s->batch, r->steps, s->opt->t, r->best_epoch, r->early_stopped,
                         s->loss_sum, r->best_acc, s->tokens_seen, r->train_seconds, r->wall_seconds};
    int64_t *cv[N_COUNTERS];
    double *sv[N_SUMS];
    counters_of(&g, cv, sv);
    int n = pt->n + 4 + N_COUNTERS + N_SUMS, k = 0;
    struct st_out *t = xcalloc((size_t)n, sizeof *t);
    for (int i = 0; i < pt->n; i++)
        t[k++] = (struct st_out){pt->v[i].name, ST_REAL, pt->v[i].ndim, pt->v[i].shape, p + pt->v[i].offset};
    const int64_t P = (int64_t)pt->total, E = s->epoch;
    t[k++] = (struct st_out){"optimizer.exp_avg", ST_REAL, 1, &P, s->opt->m};
    t[k++] = (struct st_out){"optimizer.exp_avg_sq", ST_REAL, 1, &P, s->opt->v};
    t[k++] = (struct st_out){"progress.train_loss", ST_F64, 1, &E, r->train_loss};
    t[k++] = (struct st_out){"progress.test_accuracy", ST_F64, 1, &E, r->test_acc};
    for (int i = 0; i < N_COUNTERS; i++) t[k++] = (struct st_out){counter_names[i], ST_I64, 0, NULL, cv[i]};
    for (int i = 0; i < N_SUMS; i++) t[k++] = (struct st_out){sum_names[i], ST_F64, 0, NULL, sv[i]};
    char *meta = metadata(c, r);
    int rc = st_write(path, t, n, meta, err, errlen);
    free(meta);
    free(t);
    return rc;
}

/* ---- reading ---- */

/* The tensor `name` with exactly this dtype and shape, or NULL with err. */
static const struct st_tensor *need(const struct st_file *f, const char *name, enum st_dtype dt, int ndim,
                                    const int64_t *shape, char *err, size_t errlen) {
    const struct st_tensor *t = st_get(f, name);
    if (!t) {
        snprintf(err, errlen, "tensor '%s' is missing", name);
        return NULL;
    }
    bool same = t->dtype == dt && t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    if (!same) {
        char have[96], want[96];
        st_shape_text(t->shape, t->ndim, have, sizeof have);
        st_shape_text(shape, ndim, want, sizeof want);
        snprintf(err, errlen, "tensor '%s' is %s %s, the run needs %s %s", name, st_dtype_name(t->dtype), have,
                 st_dtype_name(dt), want);
        return NULL;
    }
    return t;
}

/* Copy a tensor of n finite values at least `lo` into out (any element type). */
static int copy_finite(const struct st_tensor *t, void *out, size_t elem, double lo, char *err, size_t errlen) {
    double *tmp = xmalloc((t->numel ? t->numel : 1) * sizeof *tmp);
    st_to_f64(t, tmp);
    int rc = 0;
    for (size_t i = 0; i < t->numel && rc == 0; i++)
        if (!isfinite(tmp[i]) || tmp[i] < lo) {
            snprintf(err, errlen, "tensor '%s' holds %g at element %zu", t->name, tmp[i], i);
            rc = -1;
        }
    free(tmp);
    if (rc == 0) memcpy(out, t->data, t->numel * elem); /* the bits as written (data may be unaligned) */
    return rc;
}

static int read_config(const struct st_file *f, const struct run_config *c, struct train_result *r, char *err,
                       size_t errlen) {
    cJSON *m = f->metadata_json ? cJSON_Parse(f->metadata_json) : NULL;
    const char *format = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "format"));
    const char *schema = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "hippodrome_schema"));
    const char *hash = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "config_hash"));
    const char *init = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "init_weights"));
    char want[17];
    snprintf(want, sizeof want, "%016llx", (unsigned long long)config_hash(c));
    int rc = -1;
    if (!format || strcmp(format, RESUME_FORMAT) != 0)
        snprintf(err, errlen, "not a training checkpoint (format '%s'; `train --save` weights cannot be resumed)",
                 format ? format : "none");
    else if (!schema || strcmp(schema, RESUME_SCHEMA) != 0)
        snprintf(err, errlen, "checkpoint schema '%s', this build reads '%s'", schema ? schema : "none", RESUME_SCHEMA);
    else if (!hash || strcmp(hash, want) != 0)
        snprintf(err, errlen, "it holds another config (hash %s, this run's is %s)", hash ? hash : "none", want);
    else if (!init || strlen(init) >= sizeof r->init)
        snprintf(err, errlen, "bad init_weights in __metadata__");
    else {
        snprintf(r->init, sizeof r->init, "%s", init);
        rc = 0;
    }
    cJSON_Delete(m);
    return rc;
}

/* After every expected tensor was found (need): nothing extra either. */
static int check_names(const struct st_file *f, const struct param_table *pt, char *err, size_t errlen) {
    int want = pt->n + 4 + N_COUNTERS + N_SUMS;
    if (f->n == want) return 0;
    snprintf(err, errlen, "%d tensors, a checkpoint of this model has %d", f->n, want);
    return -1;
}

static int read_tensors(const struct st_file *f, struct resume_state *s, char *err, size_t errlen) {
    const struct param_table *pt = model_params(s->model);
    real *p = model_param_data(s->model);
    for (int i = 0; i < pt->n; i++) {
        const struct param_spec *v = &pt->v[i];
        const struct st_tensor *t = need(f, v->name, ST_REAL, v->ndim, v->shape, err, errlen);
        if (!t || copy_finite(t, p + v->offset, sizeof(real), -INFINITY, err, errlen)) return -1;
    }
    const int64_t P = (int64_t)pt->total;
    const struct st_tensor *m = need(f, "optimizer.exp_avg", ST_REAL, 1, &P, err, errlen);
    if (!m || copy_finite(m, s->opt->m, sizeof(real), -INFINITY, err, errlen)) return -1;
    const struct st_tensor *v = need(f, "optimizer.exp_avg_sq", ST_REAL, 1, &P, err, errlen);
    return !v || copy_finite(v, s->opt->v, sizeof(real), 0, err, errlen) ? -1 : 0;
}

static int read_scalars(const struct st_file *f, struct progress *g, char *err, size_t errlen) {
    int64_t *cv[N_COUNTERS];
    double *sv[N_SUMS];
    counters_of(g, cv, sv);
    for (int i = 0; i < N_COUNTERS; i++) {
        const struct st_tensor *t = need(f, counter_names[i], ST_I64, 0, NULL, err, errlen);
        if (!t) return -1;
        memcpy(cv[i], t->data, sizeof(int64_t));
    }
    for (int i = 0; i < N_SUMS; i++) {
        const struct st_tensor *t = need(f, sum_names[i], ST_F64, 0, NULL, err, errlen);
        if (!t || copy_finite(t, sv[i], sizeof(double), 0, err, errlen)) return -1;
    }
    return 0;
}

/* The counters against each other and the config. */
static int check_progress(const struct progress *g, const struct run_config *c, const struct train_result *r,
                          char *err, size_t errlen) {
    int64_t spe = steps_per_epoch(c, r), epochs = cfg_train_int(c, "epochs");
    const char *bad = NULL;
    if (g->epoch < 0 || g->epoch > epochs) bad = "epoch outside [0, epochs]";
    else if (g->batch < 0 || g->batch >= spe) bad = "batch outside the epoch";
    else if (g->steps != g->epoch * spe + g->batch) bad = "steps is not epoch x steps per epoch + batch";
    else if (g->adam_steps != g->steps) bad = "the optimizer's step count is not the run's";
    else if (g->best_epoch < 0 || g->best_epoch > g->epoch || (g->best_epoch == 0) != (g->epoch == 0))
        bad = "best_epoch is not one of the epochs done";
    else if (g->early_stopped != 0 && (g->early_stopped != 1 || g->batch != 0 || g->epoch == 0))
        bad = "early_stopped is set mid-epoch";
    else if (g->best_acc > 1) bad = "best_accuracy above 1";
    if (bad) snprintf(err, errlen, "inconsistent progress: %s (epoch %lld, batch %lld, steps %lld)", bad,
                      (long long)g->epoch, (long long)g->batch, (long long)g->steps);
    return bad ? -1 : 0;
}

static int read_curves(const struct st_file *f, int64_t E, struct train_result *r, char *err, size_t errlen) {
    const struct st_tensor *l = need(f, "progress.train_loss", ST_F64, 1, &E, err, errlen);
    if (!l || copy_finite(l, r->train_loss, sizeof(double), 0, err, errlen)) return -1;
    const struct st_tensor *a = need(f, "progress.test_accuracy", ST_F64, 1, &E, err, errlen);
    if (!a || copy_finite(a, r->test_acc, sizeof(double), 0, err, errlen)) return -1;
    for (int64_t i = 0; i < E; i++)
        if (r->test_acc[i] > 1) {
            snprintf(err, errlen, "progress.test_accuracy[%lld] = %g is above 1", (long long)i, r->test_acc[i]);
            return -1;
        }
    return 0;
}

static void apply(const struct progress *g, struct resume_state *s) {
    struct train_result *r = s->r;
    s->epoch = (int)g->epoch;
    s->batch = (int)g->batch;
    s->loss_sum = g->loss_sum;
    s->tokens_seen = g->tokens_seen;
    s->opt->t = g->adam_steps;
    r->epochs_run = (int)g->epoch;
    r->final_acc = g->epoch ? r->test_acc[g->epoch - 1] : 0;
    r->best_acc = g->best_acc;
    r->best_epoch = (int)g->best_epoch;
    r->early_stopped = g->early_stopped != 0;
    r->steps = g->steps;
    r->train_seconds = g->train_seconds;
    r->wall_seconds = g->wall_seconds;
    r->resumed_epoch = (int)g->epoch;
}

int resume_read(const char *path, const struct run_config *c, struct resume_state *s, char *err, size_t errlen) {
    struct st_file f;
    char inner[768];
    if (st_read(path, &f, inner, sizeof inner) != 0) {
        snprintf(err, errlen, "cannot resume: %s", inner);
        return -1;
    }
    struct progress g;
    int rc = -1;
    if (!f.hashed) snprintf(inner, sizeof inner, "no content hash (%s): not a checkpoint written by train", ST_HASH_KEY);
    else if (read_config(&f, c, s->r, inner, sizeof inner) == 0 && read_scalars(&f, &g, inner, sizeof inner) == 0 &&
             check_progress(&g, c, s->r, inner, sizeof inner) == 0 &&
             read_curves(&f, g.epoch, s->r, inner, sizeof inner) == 0 && read_tensors(&f, s, inner, sizeof inner) == 0 &&
             check_names(&f, model_params(s->model), inner, sizeof inner) == 0)
        rc = 0;
    if (rc == 0) apply(&g, s);
    else snprintf(err, errlen, "cannot resume from '%s': %s", path, inner);
    st_free(&f);
    return rc;
}

int resume_peek(const char *path, const struct run_config *c, char *err, size_t errlen) {
    struct st_file f;
    if (st_read(path, &f, err, errlen) != 0) return -1;
    struct train_result r = {0};
    int rc = -1;
    if (!f.hashed) snprintf(err, errlen, "no content hash (%s)", ST_HASH_KEY);
    else rc = read_config(&f, c, &r, err, errlen);
    st_free(&f);
    return rc;
}
