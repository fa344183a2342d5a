/* config.c — load, override, resolve and serialise run configs (see config.h). */
#include "config.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"

const struct knob config_model_knobs[] = {
    {"d_model", KNOB_INT, "32", 1, 4096, NULL, "model width D"},
    {"n_layer", KNOB_INT, "2", 1, 16, NULL, "number of blocks"},
    {"d_inner", KNOB_INT, "128", 1, 65536, NULL, "MLP hidden width (4 D in the paper)"},
    {"embed_dropout", KNOB_REAL, "0.1", 0, 0.95, NULL, "dropout on the embeddings"},
    {"ln_eps", KNOB_REAL, "1e-5", 1e-12, 1, NULL, "LayerNorm epsilon"},
    {"short_conv", KNOB_INT, "0", 0, 64, NULL,
     "taps of a depthwise causal conv in front of every mixer (zoology's fair-comparison recipe); 0 = none"},
};
const int config_n_model_knobs = (int)(sizeof config_model_knobs / sizeof config_model_knobs[0]);

const struct knob config_train_knobs[] = {
    {"epochs", KNOB_INT, "400", 1, 1000000, NULL, "passes over the training split"},
    {"batch_size", KNOB_INT, "32", 1, 65536, NULL, "examples per step (the last batch may be smaller)"},
    {"lr", KNOB_REAL, "5e-4", 0, 10, NULL, "base learning rate of the default group"},
    {"ssm_lr", KNOB_REAL, "1e-3", 0, 10, NULL, "SSM group base lr is min(ssm_lr, lr); no weight decay"},
    {"weight_decay", KNOB_REAL, "0.1", 0, 10, NULL, "AdamW decoupled weight decay (default group)"},
    {"beta1", KNOB_REAL, "0.9", 0, 0.999999, NULL, "AdamW first-moment decay"},
    {"beta2", KNOB_REAL, "0.999", 0, 0.9999999, NULL, "AdamW second-moment decay"},
    {"eps", KNOB_REAL, "1e-8", 0, 1, NULL, "AdamW epsilon"},
    {"schedule", KNOB_ENUM, "cosine", 0, 0, "cosine|linear|constant",
     "per-step lr: timm cosine with warmup, HF linear warmup+decay, or constant"},
    {"warmup_epochs", KNOB_INT, "40", 0, 1000000, NULL, "warmup length in epochs (<= epochs)"},
    {"warmup_lr_init", KNOB_REAL, "1e-6", 0, 10, NULL, "cosine: lr at the first warmup step"},
    {"min_lr_ratio", KNOB_REAL, "0.1", 0, 1, NULL, "cosine: lr_min = min_lr_ratio * base lr"},
    {"seed", KNOB_INT, "0", 0, 9007199254740992.0, NULL, "init, shuffle and dropout seed"},
    {"threads", KNOB_INT, "1", 1, 256, NULL, "OpenMP threads"},
    {"early_stop_acc", KNOB_REAL, "0", 0, 1, NULL, "stop once test accuracy >= this (0 = off)"},
    {"stop_epoch", KNOB_INT, "0", 0, 1000000, NULL,
     "stop after this epoch while the lr schedule still spans `epochs` (0 = off): a truncated run"},
};
const int config_n_train_knobs = (int)(sizeof config_train_knobs / sizeof config_train_knobs[0]);

/* ---- the raw document ---- */

static int line_of(const char *text, const char *at) {
    int line = 1;
    for (const char *p = text; p < at && *p; p++) line += *p == '\n';
    return line;
}

cJSON *config_doc_parse(const char *text, const char *name, char *err, size_t errlen) {
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithOpts(text, &end, true);
    if (!doc) {
        snprintf(err, errlen, "config '%s': invalid JSON near line %d", name, end ? line_of(text, end) : 0);
    } else if (!cJSON_IsObject(doc)) {
        snprintf(err, errlen, "config '%s': the top level must be a JSON object", name);
        cJSON_Delete(doc);
        doc = NULL;
    }
    return doc;
}

cJSON *config_doc_load(const char *path, char *err, size_t errlen) {
    char *text = hp_read_text(path, "config", err, errlen);
    if (!text) return NULL;
    cJSON *doc = config_doc_parse(text, path, err, errlen);
    free(text);
    return doc;
}

/* A --set value: a JSON scalar or array when it parses as one, else a string. */
static cJSON *set_value(const char *text) {
    /* the whole text must be the JSON value: plain cJSON_Parse reads "4,8" as
     * the number 4 and ignores the rest */
    cJSON *v = cJSON_ParseWithOpts(text, NULL, true);
    if (v && (cJSON_IsNumber(v) || cJSON_IsBool(v) || cJSON_IsString(v) || cJSON_IsArray(v))) return v;
    cJSON_Delete(v);
    return cJSON_CreateString(text);
}

/* Walk (creating) the sections of a dotted key; the object that holds the
 * last part, with *leaf pointing at that part inside `path`. */
static cJSON *key_parent(cJSON *doc, char *path, char **leaf, const char *what, char *err, size_t errlen) {
    cJSON *obj = doc;
    char *save = NULL;
    char *part = strtok_r(path, ".", &save);
    while (part) {
        char *next = strtok_r(NULL, ".", &save);
        if (!next) {
            *leaf = part;
            return obj;
        }
        cJSON *child = cJSON_GetObjectItemCaseSensitive(obj, part);
        if (!child) child = cJSON_AddObjectToObject(obj, part);
        if (!cJSON_IsObject(child)) {
            snprintf(err, errlen, "%s: '%s' is not a section", what, part);
            return NULL;
        }
        obj = child;
        part = next;
    }
    snprintf(err, errlen, "%s: empty key", what);
    return NULL;
}

/* Takes ownership of value. */
static int set_owned(cJSON *doc, const char *key, cJSON *value, const char *what, char *err, size_t errlen) {
    char path[256];
    if (strlen(key) >= sizeof path) {
        snprintf(err, errlen, "%s: key path too long", what);
        cJSON_Delete(value);
        return -1;
    }
    snprintf(path, sizeof path, "%s", key);
    char *leaf = NULL;
    cJSON *obj = key_parent(doc, path, &leaf, what, err, errlen);
    if (!obj) {
        cJSON_Delete(value);
        return -1;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(obj, leaf);
    cJSON_AddItemToObject(obj, leaf, value);
    return 0;
}

int config_doc_set(cJSON *doc, const char *assignment, char *err, size_t errlen) {
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment) {
        snprintf(err, errlen, "--set '%s': expected section.key=value (e.g. train.lr=1e-3)", assignment);
        return -1;
    }
    char key[256], what[300];
    size_t klen = (size_t)(eq - assignment);
    if (klen >= sizeof key) {
        snprintf(err, errlen, "--set '%s': key path too long", assignment);
        return -1;
    }
    memcpy(key, assignment, klen);
    key[klen] = '\0';
    snprintf(what, sizeof what, "--set '%.280s'", assignment);
    return set_owned(doc, key, set_value(eq + 1), what, err, errlen);
}

int config_doc_set_json(cJSON *doc, const char *key, const cJSON *value, char *err, size_t errlen) {
    char what[300];
    snprintf(what, sizeof what, "set '%.280s'", key);
    cJSON *copy = cJSON_Duplicate(value, true);
    HP_CHECK(copy != NULL);
    return set_owned(doc, key, copy, what, err, errlen);
}

/* ---- resolution ---- */

static const char *type_name(enum knob_type t) {
    switch (t) {
    case KNOB_INT: return "an integer";
    case KNOB_REAL: return "a number";
    case KNOB_BOOL: return "true or false";
    case KNOB_ENUM: return "a string";
    case KNOB_STRING: return "a string (or an integer, or an array of them)";
    }
    return "?";
}

static const char *json_kind(const cJSON *v) {
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsObject(v)) return "an object";
    if (cJSON_IsArray(v)) return "an array";
    return "null";
}

/* Shortest text that parses back to exactly v. */
static void number_text(double v, char *buf, size_t len) {
    snprintf(buf, len, "%.15g", v);
    if (strtod(buf, NULL) != v) snprintf(buf, len, "%.17g", v);
}

static bool is_int(const cJSON *e) {
    return cJSON_IsNumber(e) && e->valuedouble == floor(e->valuedouble) && fabs(e->valuedouble) <= 1e9;
}

/* A string knob given as an integer or a JSON array of integers
 * (train_seq_lens: 64 or [32, 64]; [] is the empty string): the text of its
 * comma-separated string form, so every spelling resolves, and hashes,
 * alike. Returns 0, or -1 with err naming the problem. */
static int int_list_text(const cJSON *v, const char *where, const char *key, char *text, size_t len, char *err,
                         size_t errlen) {
    size_t used = 0;
    text[0] = '\0';
    const cJSON *e = cJSON_IsArray(v) ? v->child : v;
    for (; e; e = cJSON_IsArray(v) ? e->next : NULL) {
        if (!is_int(e)) {
            snprintf(err, errlen, "%s: key '%s' as a number or array must hold integers", where, key);
            return -1;
        }
        int w = snprintf(text + used, len - used, "%s%.0f", used ? "," : "", e->valuedouble + 0.0);
        if (w < 0 || (size_t)w >= len - used) {
            snprintf(err, errlen, "%s: key '%s' is too long written out (at most %zu characters)", where, key, len - 1);
            return -1;
        }
        used += (size_t)w;
    }
    return 0;
}

static int set_knob_json(struct knob_values *kv, const char *where, const cJSON *v, char *err, size_t errlen) {
    int i = knob_find(kv->knobs, kv->n, v->string);
    const struct knob *k = &kv->knobs[i];
    char text[KNOB_STR + 8];
    bool ok;
    if (cJSON_IsNumber(v) && !isfinite(v->valuedouble)) { /* e.g. 1e400: JSON has no infinity */
        snprintf(err, errlen, "%s: key '%s': the number is out of range for a double", where, k->name);
        return -1;
    }
    switch (k->type) {
    case KNOB_INT:
    case KNOB_REAL: ok = cJSON_IsNumber(v); if (ok) number_text(v->valuedouble, text, sizeof text); break;
    case KNOB_BOOL: ok = cJSON_IsBool(v); if (ok) snprintf(text, sizeof text, "%s", cJSON_IsTrue(v) ? "true" : "false"); break;
    case KNOB_STRING:
        if (cJSON_IsArray(v) || cJSON_IsNumber(v)) {
            if (int_list_text(v, where, k->name, text, KNOB_STR, err, errlen)) return -1;
            ok = true;
            break;
        }
        /* fall through */
    default: ok = cJSON_IsString(v); if (ok) snprintf(text, sizeof text, "%s", v->valuestring); break;
    }
    if (!ok) {
        snprintf(err, errlen, "%s: key '%s' must be %s, not %s", where, k->name, type_name(k->type), json_kind(v));
        return -1;
    }
    char inner[512];
    if (knob_set(kv, k->name, text, inner, sizeof inner) != 0) {
        snprintf(err, errlen, "%s: %s", where, inner);
        return -1;
    }
    return 0;
}

static bool is_extra(const char *key, const char *const *extra) {
    for (int i = 0; extra && extra[i]; i++)
        if (strcmp(key, extra[i]) == 0) return true;
    return false;
}

static void unknown_key(const char *where, const char *key, const struct knob_values *kv, const char *const *extra,
                        char *err, size_t errlen) {
    char keys[1024] = "";
    size_t used = 0;
    for (int i = 0; extra && extra[i]; i++)
        used += (size_t)snprintf(keys + used, sizeof keys - used, "%s, ", extra[i]);
    if (used < sizeof keys) knob_list_keys(kv->knobs, kv->n, keys + used, sizeof keys - used);
    snprintf(err, errlen, "%s: unknown key '%s'; valid keys are: %s", where, key, keys);
}

static int check_duplicates(const cJSON *obj, const char *where, char *err, size_t errlen) {
    for (const cJSON *a = obj->child; a; a = a->next)
        for (const cJSON *b = a->next; b; b = b->next)
            if (strcmp(a->string, b->string) == 0) {
                snprintf(err, errlen, "%s: key '%s' appears twice", where, a->string);
                return -1;
            }
    return 0;
}

/* Apply every key of obj to kv, except the `extra` keys the caller handles. */
static int apply_section(const cJSON *obj, struct knob_values *kv, const char *where, const char *const *extra,
                         char *err, size_t errlen) {
    if (!cJSON_IsObject(obj)) {
        snprintf(err, errlen, "%s must be a JSON object, not %s", where, json_kind(obj));
        return -1;
    }
    if (check_duplicates(obj, where, err, errlen)) return -1;
    for (const cJSON *v = obj->child; v; v = v->next) {
        if (is_extra(v->string, extra)) continue;
        if (knob_find(kv->knobs, kv->n, v->string) < 0) {
            unknown_key(where, v->string, kv, extra, err, errlen);
            return -1;
        }
        if (set_knob_json(kv, where, v, err, errlen)) return -1;
    }
    return 0;
}

static const char *section_string(const cJSON *obj, const char *key, const char *where, char *err, size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        snprintf(err, errlen, "%s: missing key '%s'", where, key);
        return NULL;
    }
    if (!cJSON_IsString(v)) {
        snprintf(err, errlen, "%s: key '%s' must be a string, not %s", where, key, json_kind(v));
        return NULL;
    }
    return v->valuestring;
}

static void task_names(char *out, size_t len) {
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; task_kinds[i]; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%s", i ? ", " : "", task_kinds[i]->name);
}

static void layer_names(char *out, size_t len) {
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; layer_kinds[i]; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%s", i ? ", " : "", layer_kinds[i]->name);
}

static int resolve_task(const cJSON *obj, struct run_config *c, char *err, size_t errlen) {
    if (!cJSON_IsObject(obj)) {
        snprintf(err, errlen, "'task' must be a JSON object with at least \"name\"");
        return -1;
    }
    const char *name = section_string(obj, "name", "task", err, errlen);
    if (!name) return -1;
    c->task = task_find(name);
    if (!c->task) {
        char names[256];
        task_names(names, sizeof names);
        snprintf(err, errlen, "task: unknown task '%s'; known tasks are: %s", name, names);
        return -1;
    }
    knob_defaults(&c->task_kv, c->task->knobs, c->task->n_knobs);
    static const char *const extra[] = {"name", NULL};
    char where[96];
    snprintf(where, sizeof where, "task '%s'", c->task->name);
    if (apply_section(obj, &c->task_kv, where, extra, err, errlen)) return -1;
    if (c->task->validate) {
        char inner[400];
        if (c->task->validate(&c->task_kv, inner, sizeof inner) != 0) {
            snprintf(err, errlen, "%s: %s", where, inner);
            return -1;
        }
    }
    return 0;
}

static int resolve_model(const cJSON *obj, struct run_config *c, char *err, size_t errlen) {
    if (!cJSON_IsObject(obj)) {
        snprintf(err, errlen, "'model' must be a JSON object with at least \"layer\"");
        return -1;
    }
    const char *name = section_string(obj, "layer", "model", err, errlen);
    if (!name) return -1;
    c->layer = layer_find(name);
    if (!c->layer) {
        char names[256];
        layer_names(names, sizeof names);
        snprintf(err, errlen, "model: unknown layer '%s'; known layers are: %s", name, names);
        return -1;
    }
    knob_defaults(&c->model_kv, config_model_knobs, config_n_model_knobs);
    static const char *const extra[] = {"layer", "layer_options", NULL};
    if (apply_section(obj, &c->model_kv, "model", extra, err, errlen)) return -1;
    knob_defaults(&c->layer_kv, c->layer->knobs, c->layer->n_knobs);
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(obj, "layer_options");
    if (!opts) return 0;
    char where[96];
    snprintf(where, sizeof where, "model.layer_options (layer '%s')", c->layer->name);
    return apply_section(opts, &c->layer_kv, where, NULL, err, errlen);
}

/* Let the layer check its knobs against the model's dims now, so a bad
 * combination is a config error (exit 2), not a failure mid-run. */
static int dry_run_layer(const struct run_config *c, char *err, size_t errlen) {
    struct layer_dims dims = {
        .D = cfg_model_int(c, "d_model"),
        .max_L = c->task->example_len(&c->task_kv) - 1,
        .n_layer = cfg_model_int(c, "n_layer"),
        .layer_idx = 0,
    };
    struct param_table pt;
    param_table_init(&pt);
    char inner[400] = "";
    void *self = c->layer->create(&c->layer_kv, &dims, &pt, "backbone.layers.0.mixer.", inner, sizeof inner);
    param_table_free(&pt);
    if (!self) {
        snprintf(err, errlen, "model.layer_options (layer '%s'): %s", c->layer->name, inner);
        return -1;
    }
    c->layer->destroy(self);
    return 0;
}

static int check_name(const char *name, char *err, size_t errlen) {
    size_t n = strlen(name);
    bool ok = n > 0 && n < CONFIG_NAME;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)name[i]) || name[i] == '_' || name[i] == '-' || name[i] == '.';
    if (!ok || name[0] == '.')
        snprintf(err, errlen, "name: '%s' must be 1-%d characters of [A-Za-z0-9_.-] (it names the report file)",
                 name, CONFIG_NAME - 1);
    return ok && name[0] != '.' ? 0 : -1;
}

static int resolve_top(const cJSON *doc, struct run_config *c, char *err, size_t errlen) {
    /* "sweep" is run metadata a sweep writes (harness/sweep.h): carried into
     * the report, never part of the resolved config or its hash. */
    static const char *const top[] = {"name", "task", "model", "train", "sweep", NULL};
    if (check_duplicates(doc, "config", err, errlen)) return -1;
    for (const cJSON *v = doc->child; v; v = v->next)
        if (!is_extra(v->string, top)) {
            snprintf(err, errlen, "config: unknown key '%s'; valid keys are: name, task, model, train, sweep",
                     v->string);
            return -1;
        }
    const cJSON *sweep = cJSON_GetObjectItemCaseSensitive(doc, "sweep");
    if (sweep && !cJSON_IsObject(sweep)) {
        snprintf(err, errlen, "config: key 'sweep' must be an object, not %s", json_kind(sweep));
        return -1;
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(doc, "name");
    if (name && !cJSON_IsString(name)) {
        snprintf(err, errlen, "config: key 'name' must be a string, not %s", json_kind(name));
        return -1;
    }
    const char *nm = name ? name->valuestring : "run";
    if (check_name(nm, err, errlen)) return -1;
    snprintf(c->name, sizeof c->name, "%s", nm);
    return 0;
}

int config_resolve(const cJSON *doc, struct run_config *c, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    if (!cJSON_IsObject(doc)) {
        snprintf(err, errlen, "config: the top level must be a JSON object");
        return -1;
    }
    if (resolve_top(doc, c, err, errlen)) return -1;
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(doc, "task");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(doc, "model");
    if (!task || !model) {
        snprintf(err, errlen, "config: missing key '%s' (a config needs task, model and train)", task ? "model" : "task");
        return -1;
    }
    if (resolve_task(task, c, err, errlen) || resolve_model(model, c, err, errlen)) return -1;
    knob_defaults(&c->train_kv, config_train_knobs, config_n_train_knobs);
    const cJSON *train = cJSON_GetObjectItemCaseSensitive(doc, "train");
    if (train && apply_section(train, &c->train_kv, "train", NULL, err, errlen)) return -1;
    if (cfg_train_int(c, "warmup_epochs") > cfg_train_int(c, "epochs")) {
        snprintf(err, errlen, "train: warmup_epochs (%d) must not exceed epochs (%d)", cfg_train_int(c, "warmup_epochs"),
                 cfg_train_int(c, "epochs"));
        return -1;
    }
    if (cfg_train_int(c, "stop_epoch") > cfg_train_int(c, "epochs")) {
        snprintf(err, errlen, "train: stop_epoch (%d) must not exceed epochs (%d)", cfg_train_int(c, "stop_epoch"),
                 cfg_train_int(c, "epochs"));
        return -1;
    }
    return dry_run_layer(c, err, errlen);
}

static void default_name(cJSON *doc, const char *path) {
    if (cJSON_GetObjectItemCaseSensitive(doc, "name")) return;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char stem[CONFIG_NAME];
    snprintf(stem, sizeof stem, "%s", base);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem) *dot = '\0';
    cJSON_AddStringToObject(doc, "name", stem);
}

int config_load(const char *path, const char *const *sets, int n_sets, struct run_config *c, char *err,
                size_t errlen) {
    cJSON *doc = config_doc_load(path, err, errlen);
    if (!doc) return -1;
    default_name(doc, path);
    int rc = 0;
    for (int i = 0; i < n_sets && rc == 0; i++) rc = config_doc_set(doc, sets[i], err, errlen);
    if (rc == 0) rc = config_resolve(doc, c, err, errlen);
    if (rc != 0 && strncmp(err, "config '", 8) != 0) {
        char inner[1024];
        snprintf(inner, sizeof inner, "%s", err);
        snprintf(err, errlen, "config '%s': %s", path, inner);
    }
    cJSON_Delete(doc);
    return rc;
}

/* ---- canonical form ---- */

static void add_knobs(cJSON *obj, const struct knob_values *kv) {
    for (int i = 0; i < kv->n; i++) {
        const struct knob *k = &kv->knobs[i];
        switch (k->type) {
        case KNOB_INT:
        case KNOB_REAL: cJSON_AddNumberToObject(obj, k->name, kv->num[i]); break;
        case KNOB_BOOL: cJSON_AddBoolToObject(obj, k->name, kv->num[i] != 0); break;
        default: cJSON_AddStringToObject(obj, k->name, kv->str[i]); break;
        }
    }
}

cJSON *config_to_json(const struct run_config *c) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "name", c->name);
    cJSON *task = cJSON_AddObjectToObject(root, "task");
    cJSON_AddStringToObject(task, "name", c->task->name);
    add_knobs(task, &c->task_kv);
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "layer", c->layer->name);
    add_knobs(model, &c->model_kv);
    add_knobs(cJSON_AddObjectToObject(model, "layer_options"), &c->layer_kv);
    add_knobs(cJSON_AddObjectToObject(root, "train"), &c->train_kv);
    return root;
}

char *config_canonical(const struct run_config *c) {
    cJSON *j = config_to_json(c);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    HP_CHECK(s != NULL);
    return s;
}

uint64_t config_hash(const struct run_config *c) {
    char *s = config_canonical(c);
    uint64_t h = fnv1a64(s, strlen(s));
    free(s);
    return h;
}

int cfg_model_int(const struct run_config *c, const char *key) { return knob_int(&c->model_kv, key); }
double cfg_model_real(const struct run_config *c, const char *key) { return knob_real(&c->model_kv, key); }
int cfg_train_int(const struct run_config *c, const char *key) { return knob_int(&c->train_kv, key); }
double cfg_train_real(const struct run_config *c, const char *key) { return knob_real(&c->train_kv, key); }
const char *cfg_train_str(const struct run_config *c, const char *key) { return knob_str(&c->train_kv, key); }
