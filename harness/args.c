/* args.c — table-driven flag parsing (see args.h). */
#include "args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"

static int find_spec(const struct flag_spec *specs, int n, const char *name, size_t len) {
    for (int i = 0; i < n; i++)
        if (strlen(specs[i].name) == len && strncmp(specs[i].name, name, len) == 0) return i;
    return -1;
}

static void list_flags(const struct flag_spec *specs, int n, char *out, size_t len) {
    size_t used = (size_t)snprintf(out, len, "--help");
    for (int i = 0; i < n && used < len; i++) used += (size_t)snprintf(out + used, len - used, ", %s", specs[i].name);
}

static int take_flag(int argc, char **argv, int *i, struct args *a, char *err, size_t errlen) {
    const char *arg = argv[*i];
    const char *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    int k = find_spec(a->specs, a->n_specs, arg, len);
    if (k < 0) {
        char flags[512];
        list_flags(a->specs, a->n_specs, flags, sizeof flags);
        snprintf(err, errlen, "unknown flag '%.*s'; valid flags are: %s", (int)len, arg, flags);
        return -1;
    }
    const struct flag_spec *s = &a->specs[k];
    const char *value = "1";
    if (s->meta && eq) value = eq + 1;
    else if (s->meta && *i + 1 < argc) value = argv[++*i];
    else if (s->meta) {
        snprintf(err, errlen, "flag '%s' needs a value (%s %s)", s->name, s->name, s->meta);
        return -1;
    } else if (eq) {
        snprintf(err, errlen, "flag '%s' takes no value", s->name);
        return -1;
    }
    if (s->repeat) {
        if (a->n_rep == ARGS_MAX_REPEAT) {
            snprintf(err, errlen, "too many %s flags (at most %d)", s->name, ARGS_MAX_REPEAT);
            return -1;
        }
        a->rep[a->n_rep++] = value;
    }
    a->value[k] = value;
    return 0;
}

int args_parse(int argc, char **argv, const struct flag_spec *specs, int n_specs, struct args *a, char *err,
               size_t errlen) {
    memset(a, 0, sizeof *a);
    HP_CHECK(n_specs <= ARGS_MAX_FLAGS);
    a->specs = specs;
    a->n_specs = n_specs;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            a->help = true;
        } else if (arg[0] == '-' && arg[1] != '\0') {
            if (take_flag(argc, argv, &i, a, err, errlen)) return -1;
        } else if (a->n_pos == ARGS_MAX_POS) {
            snprintf(err, errlen, "unexpected argument '%s'", arg);
            return -1;
        } else {
            a->pos[a->n_pos++] = arg;
        }
    }
    return 0;
}

const char *args_get(const struct args *a, const char *name) {
    int k = find_spec(a->specs, a->n_specs, name, strlen(name));
    return k < 0 ? NULL : a->value[k];
}

bool args_has(const struct args *a, const char *name) { return args_get(a, name) != NULL; }

int args_int(const struct args *a, const char *name, int def, int lo, int hi, int *out, char *err, size_t errlen) {
    const char *v = args_get(a, name);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end != '\0' || errno == ERANGE || x < lo || x > hi) {
        snprintf(err, errlen, "flag '%s': '%s' must be an integer between %d and %d", name, v, lo, hi);
        return -1;
    }
    *out = (int)x;
    return 0;
}
