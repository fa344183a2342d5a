/* params.h — the parameter table: names, shapes, inits and optimizer groups.
 *
 * Parameters, gradients and each Adam moment live in one flat buffer each; a
 * tensor is an offset into them. Layers declare their tensors while being
 * created, under the authors' PyTorch names (e.g.
 * "backbone.layers.0.mixer.q_proj.weight"), so checkpoints and fixtures map
 * one to one. */
#ifndef HIPPO_PARAMS_H
#define HIPPO_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "../core/base.h"

enum param_init {
    INIT_ZERO,
    INIT_ONE,
    INIT_NORMAL,  /* N(0, arg^2) */
    INIT_UNIFORM, /* U(-arg, arg) */
    INIT_CUSTOM,  /* the layer's init() fills it */
};

enum opt_group {
    GROUP_DEFAULT, /* global lr and weight decay */
    GROUP_SSM,     /* lr = min(ssm_lr, lr), weight decay 0 (h3.md §1.8) */
};

#define PARAM_NAME 112
#define PARAM_MAXDIM 4

struct param_spec {
    char name[PARAM_NAME];
    int ndim;
    int64_t shape[PARAM_MAXDIM];
    size_t numel, offset;
    enum param_init init;
    double init_arg;
    enum opt_group group;
};

struct param_table {
    struct param_spec *v;
    int n, cap;
    size_t total; /* elements */
};

void param_table_init(struct param_table *t);
void param_table_free(struct param_table *t);
/* Declare a tensor; returns its offset into the flat buffers. Shapes are given
 * as a list ending with 0, e.g. param_add(t, name, INIT_ZERO, 0, GROUP_DEFAULT, 32, 32, 0). */
size_t param_add(struct param_table *t, const char *name, enum param_init init, double init_arg,
                 enum opt_group group, ...);
/* Index by name or -1. */
int param_find(const struct param_table *t, const char *name);
/* Apply the generic inits (ZERO/ONE/NORMAL/UNIFORM) from the INIT stream of
 * seed; tensor i draws from sub-stream i so adding a tensor never shifts others. */
void param_init_generic(const struct param_table *t, real *p, uint64_t seed);

#endif
