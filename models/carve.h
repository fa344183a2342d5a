/* carve.h — consecutive views carved out of one buffer (activations, scratch).
 * A NULL base only measures: lay out once with base NULL to size the buffer,
 * then again with the buffer. Views are 16-real aligned so vector loads never
 * straddle two of them. */
#ifndef HIPPO_CARVE_H
#define HIPPO_CARVE_H

#include <stddef.h>

#include "../core/base.h"

struct carver {
    real *base;
    size_t used; /* reals */
};

static inline real *carve(struct carver *c, size_t n) {
    real *p = c->base ? c->base + c->used : NULL;
    c->used += (n + 15) & ~(size_t)15;
    return p;
}

#endif
