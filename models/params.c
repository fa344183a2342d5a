/* params.c — the parameter table. */
#include "params.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/rng.h"

void param_table_init(struct param_table *t) { memset(t, 0, sizeof *t); }

void param_table_free(struct param_table *t) {
    free(t->v);
    memset(t, 0, sizeof *t);
}

size_t param_add(struct param_table *t, const char *name, enum param_init init, double init_arg,
                 enum opt_group group, ...) {
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 32;
        t->v = realloc(t->v, (size_t)t->cap * sizeof *t->v);
        HP_CHECK(t->v != NULL);
    }
    struct param_spec *s = &t->v[t->n++];
    memset(s, 0, sizeof *s);
    HP_CHECK(strlen(name) < PARAM_NAME);
    snprintf(s->name, PARAM_NAME, "%s", name);
    va_list ap;
    va_start(ap, group);
    s->numel = 1;
    for (int d; (d = va_arg(ap, int)) != 0;) {
        HP_CHECK(s->ndim < PARAM_MAXDIM && d > 0);
        s->shape[s->ndim++] = d;
        s->numel *= (size_t)d;
    }
    va_end(ap);
    s->init = init;
    s->init_arg = init_arg;
    s->group = group;
    /* Keep every tensor 16-element aligned so vector loads never straddle tensors. */
    s->offset = (t->total + 15) & ~(size_t)15;
    t->total = s->offset + s->numel;
    return s->offset;
}

int param_find(const struct param_table *t, const char *name) {
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->v[i].name, name) == 0) return i;
    return -1;
}

void param_init_generic(const struct param_table *t, real *p, uint64_t seed) {
    for (int i = 0; i < t->n; i++) {
        const struct param_spec *s = &t->v[i];
        struct hp_rng r = hp_rng_make(seed, ((uint64_t)HP_STREAM_INIT << 32) | (uint64_t)i);
        real *x = p + s->offset;
        for (size_t j = 0; j < s->numel; j++) {
            switch (s->init) {
            case INIT_ZERO: x[j] = 0; break;
            case INIT_ONE: x[j] = 1; break;
            case INIT_NORMAL: x[j] = (real)(s->init_arg * hp_rng_normal(&r)); break;
            case INIT_UNIFORM: x[j] = (real)(s->init_arg * (2 * hp_rng_uniform(&r) - 1)); break;
            case INIT_CUSTOM: break;
            }
        }
    }
}
