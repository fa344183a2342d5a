/* adamw.c — AdamW with per-group lr and weight decay through ops->adamw. */
#include "adamw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void adamw_init(struct adamw *o, const struct adamw_cfg *cfg, size_t n) {
    o->cfg = *cfg;
    o->n = n;
    o->m = xcalloc(n ? n : 1, sizeof(real));
    o->v = xcalloc(n ? n : 1, sizeof(real));
    o->ops = ops_cpu();
    o->dm = o->m, o->dv = o->v;
    o->t = 0;
}

static void free_device(struct adamw *o) {
    if (o->ops && !o->ops->host_memory) o->ops->free(o->dm), o->ops->free(o->dv);
    o->dm = o->m, o->dv = o->v;
}

void adamw_free(struct adamw *o) {
    free_device(o);
    free(o->m);
    free(o->v);
    memset(o, 0, sizeof *o);
}

void adamw_bind(struct adamw *o, const struct ops *ops) {
    if (ops == o->ops) return;
    adamw_sync_host(o);
    free_device(o);
    o->ops = ops;
    if (ops->host_memory) return;
    size_t bytes = (o->n ? o->n : 1) * sizeof(real);
    o->dm = ops->alloc(bytes), o->dv = ops->alloc(bytes);
    adamw_sync_device(o);
}

void adamw_sync_host(struct adamw *o) {
    if (o->ops->host_memory) return;
    o->ops->download(o->m, o->dm, o->n * sizeof(real));
    o->ops->download(o->v, o->dv, o->n * sizeof(real));
}

void adamw_sync_device(struct adamw *o) {
    if (o->ops->host_memory) return;
    o->ops->upload(o->dm, o->m, o->n * sizeof(real));
    o->ops->upload(o->dv, o->v, o->n * sizeof(real));
}

/* PyTorch's arithmetic: denom = sqrt(v) / sqrt(c2) + eps and
 * p -= (lr / c1) m / denom, with the bias corrections folded into scalars.
 * Consecutive tensors of one group share their coefficients, so they run as
 * one call over the span from the first's offset to the last's end; the
 * alignment gaps between tensors hold zeros in p, g, m and v, which the
 * update leaves zero. */
void adamw_step(struct adamw *o, const struct param_table *pt, real *p, const real *g, double lr_default,
                double lr_ssm) {
    o->t++;
    const struct adamw_cfg *c = &o->cfg;
    double c1 = 1 - pow(c->beta1, (double)o->t), c2 = 1 - pow(c->beta2, (double)o->t);
    for (int i = 0, j; i < pt->n; i = j) {
        const struct param_spec *s = &pt->v[i];
        for (j = i + 1; j < pt->n && pt->v[j].group == s->group; j++) {}
        bool ssm = s->group == GROUP_SSM;
        double lr = ssm ? lr_ssm : lr_default, wd = ssm ? 0.0 : c->weight_decay;
        size_t o0 = s->offset, end = pt->v[j - 1].offset + pt->v[j - 1].numel;
        struct adamw_args a = {.n = end - o0, .decay = (real)(1 - lr * wd), .b1 = (real)c->beta1,
                               .b2 = (real)c->beta2, .step = (real)(lr / c1), .inv_sqrt_c2 = (real)(1 / sqrt(c2)),
                               .eps = (real)c->eps, .p = p + o0, .m = o->dm + o0, .v = o->dv + o0, .g = g + o0};
        o->ops->adamw(&a);
    }
}
