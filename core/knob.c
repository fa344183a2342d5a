/* knob.c — parse and validate configuration keys against their tables. */
#include "knob.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"

int knob_find(const struct knob *knobs, int n, const char *key) {
    for (int i = 0; i < n; i++)
        if (strcmp(knobs[i].name, key) == 0) return i;
    return -1;
}

void knob_list_keys(const struct knob *knobs, int n, char *out, size_t outlen) {
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < n && used < outlen; i++)
        used += (size_t)snprintf(out + used, outlen - used, "%s%s", i ? ", " : "", knobs[i].name);
}

static bool choice_ok(const char *choices, const char *value) {
    size_t len = strlen(value);
    for (const char *c = choices; *c;) {
        const char *bar = strchr(c, '|');
        size_t clen = bar ? (size_t)(bar - c) : strlen(c);
        if (clen == len && strncmp(c, value, len) == 0) return true;
        if (!bar) break;
        c = bar + 1;
    }
    return false;
}

static int parse_number(const struct knob *k, const char *value, double *out, char *err, size_t errlen) {
    char *end = NULL;
    errno = 0;
    double v = strtod(value, &end);
    if (end == value || *end != '\0' || errno == ERANGE || !isfinite(v)) {
        snprintf(err, errlen, "key '%s': '%s' is not a number", k->name, value);
        return -1;
    }
    if (k->type == KNOB_INT && v != floor(v)) {
        snprintf(err, errlen, "key '%s': '%s' is not an integer", k->name, value);
        return -1;
    }
    if (v < k->min || v > k->max) {
        snprintf(err, errlen, "key '%s': %s is out of range; it must be between %g and %g", k->name,
                 value, k->min, k->max);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_value(const struct knob *k, const char *value, double *num, char *err, size_t errlen) {
    switch (k->type) {
    case KNOB_INT:
    case KNOB_REAL:
        return parse_number(k, value, num, err, errlen);
    case KNOB_BOOL:
        if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0) *num = 1;
        else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0) *num = 0;
        else {
            snprintf(err, errlen, "key '%s': '%s' is not a boolean (true or false)", k->name, value);
            return -1;
        }
        return 0;
    case KNOB_ENUM:
        if (!choice_ok(k->choices, value)) {
            snprintf(err, errlen, "key '%s': '%s' is not one of %s", k->name, value, k->choices);
            return -1;
        }
        return 0;
    case KNOB_STRING:
        return 0;
    }
    return -1;
}

int knob_set(struct knob_values *kv, const char *key, const char *value, char *err, size_t errlen) {
    int i = knob_find(kv->knobs, kv->n, key);
    if (i < 0) {
        char keys[1024];
        knob_list_keys(kv->knobs, kv->n, keys, sizeof keys);
        snprintf(err, errlen, "unknown key '%s'; valid keys are: %s", key, keys);
        return -1;
    }
    if (strlen(value) >= KNOB_STR) {
        snprintf(err, errlen, "key '%s': value is longer than %d characters", key, KNOB_STR - 1);
        return -1;
    }
    double num = 0;
    if (parse_value(&kv->knobs[i], value, &num, err, errlen) != 0) return -1;
    kv->num[i] = num;
    snprintf(kv->str[i], KNOB_STR, "%s", value);
    return 0;
}

void knob_defaults(struct knob_values *kv, const struct knob *knobs, int n) {
    HP_CHECK(n <= KNOB_MAX);
    memset(kv, 0, sizeof *kv);
    kv->knobs = knobs;
    kv->n = n;
    char err[256];
    for (int i = 0; i < n; i++)
        if (knob_set(kv, knobs[i].name, knobs[i].def, err, sizeof err) != 0)
            hp_die("bad default in knob table: %s", err);
}

static int must_find(const struct knob_values *kv, const char *key) {
    int i = knob_find(kv->knobs, kv->n, key);
    if (i < 0) hp_die("no knob named '%s' in this table", key);
    return i;
}

int knob_int(const struct knob_values *kv, const char *key) { return (int)kv->num[must_find(kv, key)]; }
double knob_real(const struct knob_values *kv, const char *key) { return kv->num[must_find(kv, key)]; }
bool knob_bool(const struct knob_values *kv, const char *key) { return kv->num[must_find(kv, key)] != 0; }
const char *knob_str(const struct knob_values *kv, const char *key) { return kv->str[must_find(kv, key)]; }
