/* checkpoint.c — save and load safetensors checkpoints (see checkpoint.h). */
#include "checkpoint.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/safetensors.h"
#include "train.h"
#include "version.h"

static char *metadata(const struct run_config *c) {
    cJSON *m = cJSON_CreateObject();
    char *cfg = config_canonical(c);
    cJSON_AddStringToObject(m, "format", "pt");
    cJSON_AddStringToObject(m, "hippodrome_schema", "1");
    cJSON_AddStringToObject(m, "hippodrome_config", cfg);
    cJSON_AddStringToObject(m, "git_commit", hippo_commit());
    cJSON_AddStringToObject(m, "tied", "lm_head.weight is backbone.embeddings.word_embeddings.weight");
    char *s = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    free(cfg);
    return s;
}

int checkpoint_save(const char *path, const struct run_config *c, struct model *m, char *err, size_t errlen) {
    const struct param_table *pt = model_params(m);
    const real *p = model_param_data(m);
    float *f32 = xmalloc(pt->total * sizeof *f32); /* float32 on disk in both builds */
    for (size_t i = 0; i < pt->total; i++) f32[i] = (float)p[i];
    struct st_out *t = xcalloc((size_t)pt->n, sizeof *t);
    for (int i = 0; i < pt->n; i++) {
        const struct param_spec *s = &pt->v[i];
        t[i] = (struct st_out){.name = s->name, .dtype = ST_F32, .ndim = s->ndim, .shape = s->shape,
                               .data = f32 + s->offset};
    }
    char *meta = metadata(c);
    int rc = st_write(path, t, pt->n, meta, err, errlen);
    free(meta);
    free(t);
    free(f32);
    return rc;
}

static int config_from_meta(const struct st_file *f, const char *path, struct run_config *c, char *err,
                            size_t errlen) {
    cJSON *meta = f->metadata_json ? cJSON_Parse(f->metadata_json) : NULL;
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(meta, "hippodrome_config");
    cJSON *doc = cJSON_IsString(cfg) ? cJSON_Parse(cfg->valuestring) : NULL;
    int rc = -1;
    if (!doc) snprintf(err, errlen, "checkpoint '%s': no hippodrome_config in __metadata__", path);
    else {
        char inner[768];
        rc = config_resolve(doc, c, inner, sizeof inner);
        if (rc) snprintf(err, errlen, "checkpoint '%s': %s", path, inner);
    }
    cJSON_Delete(doc);
    cJSON_Delete(meta);
    return rc;
}

static int load_tensor(const struct st_file *f, const struct param_spec *s, real *p, char *err, size_t errlen) {
    const struct st_tensor *t = st_get(f, s->name);
    if (!t) {
        char prefixed[PARAM_NAME + 8];
        snprintf(prefixed, sizeof prefixed, "param/%s", s->name);
        t = st_get(f, prefixed);
    }
    if (!t) {
        snprintf(err, errlen, "tensor '%s' is missing", s->name);
        return -1;
    }
    bool same = t->ndim == s->ndim && t->numel == s->numel;
    for (int d = 0; same && d < s->ndim; d++) same = t->shape[d] == s->shape[d];
    if (!same) {
        char have[64], want[64];
        st_shape_text(t->shape, t->ndim, have, sizeof have);
        st_shape_text(s->shape, s->ndim, want, sizeof want);
        snprintf(err, errlen, "tensor '%s' has the wrong shape %s, the model's is %s", s->name, have, want);
        return -1;
    }
    double *tmp = xmalloc(s->numel * sizeof *tmp);
    st_to_f64(t, tmp);
    int rc = 0;
    for (size_t i = 0; i < s->numel && rc == 0; i++) {
        /* NaN or Inf in a weight is corruption (training stops at a diverged loss). */
        if (!isfinite(tmp[i])) {
            snprintf(err, errlen, "tensor '%s' holds a non-finite value (%g) at element %zu", s->name, tmp[i], i);
            rc = -1;
        }
        p[s->offset + i] = (real)tmp[i];
    }
    free(tmp);
    return rc;
}

/* A training checkpoint (harness/resume.h) holds the weights too, beside
 * its optimizer.* and progress.* tensors. */
static bool is_weight(const char *name) { return strncmp(name, "optimizer.", 10) && strncmp(name, "progress.", 9); }

static int load_weights(const struct st_file *f, struct model *m, char *err, size_t errlen) {
    const struct param_table *pt = model_params(m);
    int n = 0;
    for (int i = 0; i < f->n; i++) n += is_weight(f->t[i].name);
    if (n != pt->n) {
        snprintf(err, errlen, "%d weight tensors, the model has %d", n, pt->n);
        return -1;
    }
    for (int i = 0; i < pt->n; i++)
        if (load_tensor(f, &pt->v[i], model_param_data(m), err, errlen)) return -1;
    return 0;
}

int checkpoint_load_params(const char *path, struct model *m, char *err, size_t errlen) {
    struct st_file f;
    char inner[512];
    if (st_read(path, &f, inner, sizeof inner) != 0) {
        snprintf(err, errlen, "cannot load weights: %s", inner);
        return -1;
    }
    const struct param_table *pt = model_params(m);
    int rc = 0;
    for (int i = 0; i < pt->n && rc == 0; i++) rc = load_tensor(&f, &pt->v[i], model_param_data(m), inner, sizeof inner);
    if (rc) snprintf(err, errlen, "weights '%s': %s", path, inner);
    st_free(&f);
    return rc;
}

struct model *checkpoint_load(const char *path, struct run_config *c, char *err, size_t errlen) {
    struct st_file f;
    char inner[512];
    if (st_read(path, &f, inner, sizeof inner) != 0) {
        snprintf(err, errlen, "cannot load checkpoint: %s", inner);
        return NULL;
    }
    struct model *m = NULL;
    if (config_from_meta(&f, path, c, err, errlen) == 0) {
        m = train_model_create(c, inner, sizeof inner);
        if (!m) snprintf(err, errlen, "checkpoint '%s': %s", path, inner);
    }
    if (m && load_weights(&f, m, inner, sizeof inner) != 0) {
        snprintf(err, errlen, "checkpoint '%s': %s", path, inner);
        model_free(m);
        m = NULL;
    }
    st_free(&f);
    return m;
}
