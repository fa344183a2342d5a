/* conv_table.c — the built-in crossover table, the active one, and the file
 * format `make bench` writes (see conv_table.h). */
#include "conv_table.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/base.h"

#define CONV_TABLE_SCHEMA "hippodrome.conv_table/1"

/* Measured with kernels/lab/bench_crossover.c (make bench-crossover; the
 * grid, fit and method in FLASHCONV.md, CONV.md), quiet Zen 4 core:
 *  - blocked classes (H a multiple of 16), refitted after the diagonal direct
 *    kernel (conv_blh.c; D folded into tap 0) made direct 1.2-2.2x faster:
 *    BLH 32 x 64 ratio 6.67 (direct = FlashConv near L = 128), B = 1 x 768
 *    also 6.67; BHL through the transposes, 8 x 64: 5.04, B = 1: 1.69. On
 *    the fit's grid (L = 8..384) the old blocked ratios (5, 2, 3, 3) lost 5.6
 *    against the fastest path (sum of time/best - 1 over 150 points), these
 *    0.2;
 *  - plain loops, 8 x 5 and 8 x 8 (earlier bench_flashconv runs): FlashConv
 *    beats them from L = 32 (1); with 5 of 16 lanes busy FlashConv was
 *    0.8-1.9x FFTW, with 8 1.05-2.6x: FFTW below 6 channels, and then direct
 *    loops only up to L ~ 32 (2). Below 6 channels FlashConv still beat FFTW
 *    at short L (5 channels, L 32: 0.15 vs 0.27 us per channel, L 64: 0.27 vs
 *    0.36, L 128: even): FlashConv from 5 channels up to L = 64 (a panel
 *    costs ~16x one lane, so fewer channels do not pay). */
static const struct conv_table builtin = {
    .short_L = 64,
    .rules = {
        [CONV_CLASS_BLH_BLOCKED] = {CONV_CLASS_BLH_BLOCKED, 6, 6, 6.67, 6.67, 33.0},
        [CONV_CLASS_BHL_BLOCKED] = {CONV_CLASS_BHL_BLOCKED, 6, 6, 5.04, 1.69, 20.0},
        [CONV_CLASS_BLH_LOOPS] = {CONV_CLASS_BLH_LOOPS, 6, 5, 1.0, 1.0, 2.0},
        [CONV_CLASS_BHL_LOOPS] = {CONV_CLASS_BHL_LOOPS, 6, 5, 1.0, 1.0, 2.5},
    },
};

static struct conv_table active;
static const struct conv_table *current = &builtin;
static char source[512] = "builtin";

static const char *class_names[CONV_NCLASS] = {"blh_blocked", "bhl_blocked", "blh_loops", "bhl_loops"};

const struct conv_table *conv_table_active(void) { return current; }
const char *conv_table_source(void) { return source; }
const struct conv_table *conv_table_builtin(void) { return &builtin; }
const char *conv_class_name(enum conv_kernel_class c) { return c < CONV_NCLASS ? class_names[c] : "?"; }

/* Set by a run's main thread before any op runs; ops only read it. */
void conv_table_set(const struct conv_table *t, const char *src) {
    if (!t) {
        current = &builtin;
        snprintf(source, sizeof source, "builtin");
        return;
    }
    active = *t;
    current = &active;
    snprintf(source, sizeof source, "%s", src ? src : "custom");
}

/* ---- the file format ---- */

static const char *rule_keys[] = {"flash_min_H", "flash_min_H_short", "ratio_flash", "ratio_flash_b1", "ratio_fftw"};
#define N_RULE_KEYS (int)(sizeof rule_keys / sizeof rule_keys[0])

void *conv_table_json(const struct conv_table *t) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "schema", CONV_TABLE_SCHEMA);
    cJSON_AddNumberToObject(o, "short_L", t->short_L);
    cJSON *rules = cJSON_AddObjectToObject(o, "rules");
    for (int c = 0; c < CONV_NCLASS; c++) {
        const struct conv_rule *r = &t->rules[c];
        double v[N_RULE_KEYS] = {r->flash_min_H, r->flash_min_H_short, r->ratio_flash, r->ratio_flash_b1, r->ratio_fftw};
        cJSON *ro = cJSON_AddObjectToObject(rules, class_names[c]);
        for (int k = 0; k < N_RULE_KEYS; k++) cJSON_AddNumberToObject(ro, rule_keys[k], v[k]);
    }
    return o;
}

static int fail(char *err, size_t errlen, const char *path, const char *fmt, const char *a, double x) {
    char what[256];
    snprintf(what, sizeof what, fmt, a, x);
    snprintf(err, errlen, "conv table '%s': %s", path, what);
    return -1;
}

static int key_index(const char *k, const char *const *keys, int n) {
    for (int i = 0; i < n; i++)
        if (strcmp(k, keys[i]) == 0) return i;
    return -1;
}

/* A number in [lo, hi]; integral when `integer`. */
static int get_num(const cJSON *o, const char *key, double lo, double hi, bool integer, double *out, const char *path,
                   char *err, size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) return fail(err, errlen, path, "missing key \"%s\"", key, 0);
    if (!cJSON_IsNumber(v)) return fail(err, errlen, path, "\"%s\" must be a number", key, 0);
    double x = v->valuedouble;
    if (!isfinite(x) || x < lo || x > hi || (integer && x != floor(x))) {
        char lim[128];
        snprintf(lim, sizeof lim, "\"%%s\" = %%g is outside [%.10g, %.10g]%s", lo, hi, integer ? " (an integer)" : "");
        return fail(err, errlen, path, lim, key, x);
    }
    *out = x;
    return 0;
}

static int read_rule(const cJSON *ro, const char *cls, struct conv_rule *r, const char *path, char *err, size_t errlen) {
    if (!cJSON_IsObject(ro)) return fail(err, errlen, path, "rules.%s must be an object", cls, 0);
    for (const cJSON *it = ro->child; it; it = it->next)
        if (key_index(it->string, rule_keys, N_RULE_KEYS) < 0) {
            char m[160];
            snprintf(m, sizeof m, "rules.%s: unknown key \"%s\" (valid: flash_min_H, flash_min_H_short, ratio_flash, "
                     "ratio_flash_b1, ratio_fftw)", cls, it->string);
            return fail(err, errlen, path, "%s", m, 0);
        }
    double v[N_RULE_KEYS];
    for (int k = 0; k < N_RULE_KEYS; k++) {
        bool integer = k < 2;
        if (get_num(ro, rule_keys[k], integer ? 1 : 1e-3, integer ? 1 << 20 : 1e6, integer, &v[k], path, err, errlen))
            return -1;
    }
    r->flash_min_H = (int)v[0], r->flash_min_H_short = (int)v[1];
    r->ratio_flash = v[2], r->ratio_flash_b1 = v[3], r->ratio_fftw = v[4];
    return 0;
}

static int read_doc(const cJSON *doc, struct conv_table *t, const char *path, char *err, size_t errlen) {
    static const char *top_keys[] = {"schema", "short_L", "rules", "machine", "measured"};
    if (!cJSON_IsObject(doc)) return fail(err, errlen, path, "not a JSON object%s", "", 0);
    for (const cJSON *it = doc->child; it; it = it->next)
        if (key_index(it->string, top_keys, 5) < 0)
            return fail(err, errlen, path, "unknown key \"%s\" (valid: schema, short_L, rules, machine, measured)",
                        it->string, 0);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(doc, "schema");
    if (!cJSON_IsString(s) || strcmp(s->valuestring, CONV_TABLE_SCHEMA) != 0)
        return fail(err, errlen, path, "\"schema\" must be \"%s\"", CONV_TABLE_SCHEMA, 0);
    double x;
    if (get_num(doc, "short_L", 1, 1 << 20, true, &x, path, err, errlen)) return -1;
    t->short_L = (int)x;
    const cJSON *rules = cJSON_GetObjectItemCaseSensitive(doc, "rules");
    if (!rules) return fail(err, errlen, path, "missing key \"%s\"", "rules", 0);
    if (!cJSON_IsObject(rules)) return fail(err, errlen, path, "\"rules\" must be an object keyed by %s", "kernel class", 0);
    for (const cJSON *it = rules->child; it; it = it->next)
        if (key_index(it->string, class_names, CONV_NCLASS) < 0)
            return fail(err, errlen, path, "rules: unknown class \"%s\" (valid: blh_blocked, bhl_blocked, blh_loops, "
                        "bhl_loops)", it->string, 0);
    for (int c = 0; c < CONV_NCLASS; c++) {
        const cJSON *ro = cJSON_GetObjectItemCaseSensitive(rules, class_names[c]);
        if (!ro) return fail(err, errlen, path, "rules: class \"%s\" is missing", class_names[c], 0);
        t->rules[c].cls = (enum conv_kernel_class)c;
        if (read_rule(ro, class_names[c], &t->rules[c], path, err, errlen)) return -1;
    }
    return 0;
}

int conv_table_read(const char *path, struct conv_table *t, char *err, size_t errlen) {
    char *text = hp_read_text(path, "conv table", err, errlen);
    if (!text) return -1;
    cJSON *doc = cJSON_Parse(text);
    free(text);
    if (!doc) return fail(err, errlen, path, "not valid JSON%s", "", 0);
    struct conv_table tmp;
    int rc = read_doc(doc, &tmp, path, err, errlen);
    cJSON_Delete(doc);
    if (rc == 0) *t = tmp;
    return rc;
}

int conv_table_from_env(char *err, size_t errlen) {
    const char *path = getenv("HIPPO_CONV_TABLE");
    if (!path || !*path) return 0;
    struct conv_table t;
    if (conv_table_read(path, &t, err, errlen)) {
        size_t n = strlen(err);
        snprintf(err + n, errlen - n, " (from HIPPO_CONV_TABLE)");
        return -1;
    }
    conv_table_set(&t, path);
    return 0;
}
