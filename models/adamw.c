/* adamw.c — AdamW with per-group lr and weight decay; one loop per tensor. */
#include "adamw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void adamw_init(struct adamw *o, const struct adamw_cfg *cfg, size_t n) {
    o->cfg = *cfg;
    o->n = n;
    o->m = xcalloc(n ? n : 1, sizeof(real));
    o->v = xcalloc(n ? n : 1, sizeof(real));
    o->t = 0;
}

void adamw_free(struct adamw *o) {
    free(o->m);
    free(o->v);
    memset(o, 0, sizeof *o);
}

struct adam_coef {
    real step, decay, b1, b2, inv_sqrt_c2, eps; /* step = lr / c1 */
};

#ifdef HIPPO_F64
#define sqrt_r sqrt
#else
#define sqrt_r sqrtf /* sqrt() would widen each element to double: 2x the cost per vector */
#endif

/* PyTorch's AdamW arithmetic: denom = sqrt(v) / sqrt(c2) + eps and
 * p -= (lr / c1) m / denom, with the bias corrections folded into scalars
 * (one sqrt and one division per element). */
static void update(const struct adam_coef *k, real *restrict p, const real *restrict g, real *restrict m,
                   real *restrict v, size_t n) {
    const real decay = k->decay, b1 = k->b1, b2 = k->b2, step = k->step, is2 = k->inv_sqrt_c2, eps = k->eps;
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        p[i] *= decay;
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        p[i] -= step * m[i] / (sqrt_r(v[i]) * is2 + eps);
    }
}

void adamw_step(struct adamw *o, const struct param_table *pt, real *p, const real *g, double lr_default,
                double lr_ssm) {
    o->t++;
    const struct adamw_cfg *c = &o->cfg;
    double c1 = 1 - pow(c->beta1, (double)o->t), c2 = 1 - pow(c->beta2, (double)o->t);
    for (int i = 0; i < pt->n; i++) {
        const struct param_spec *s = &pt->v[i];
        bool ssm = s->group == GROUP_SSM;
        double lr = ssm ? lr_ssm : lr_default, wd = ssm ? 0.0 : c->weight_decay;
        struct adam_coef k = {(real)(lr / c1), (real)(1 - lr * wd), (real)c->beta1, (real)c->beta2,
                              (real)(1 / sqrt(c2)), (real)c->eps};
        size_t o0 = s->offset;
        update(&k, p + o0, g + o0, o->m + o0, o->v + o0, s->numel);
    }
}
