/* adamw.h — AdamW over the flat parameter buffer with the reference's two groups.
 *
 * PyTorch AdamW semantics: p -= lr*wd*p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr * (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps).
 * GROUP_DEFAULT tensors use (lr, weight_decay); GROUP_SSM tensors use
 * (lr_ssm, 0) — the caller passes each group's scheduled lr. The update runs
 * on the ops table's adamw, once per run of consecutive tensors of one group,
 * with the moments on that backend. */
#ifndef HIPPO_ADAMW_H
#define HIPPO_ADAMW_H

#include <stddef.h>

#include "../core/base.h"
#include "../kernels/ops.h"
#include "params.h"

struct adamw_cfg {
    double weight_decay; /* 0.1 in the paper configs */
    double beta1, beta2; /* 0.9, 0.999 */
    double eps;          /* 1e-8 */
};

struct adamw {
    struct adamw_cfg cfg;
    size_t n;
    real *m, *v;           /* (P) first and second moments, host copies (checkpoints) */
    const struct ops *ops; /* the backend the moments live on (ops_cpu() from adamw_init) */
    real *dm, *dv;         /* (P) on it: m and v themselves when it has host memory */
    long t;                /* steps taken */
};

void adamw_init(struct adamw *o, const struct adamw_cfg *cfg, size_t n);
void adamw_free(struct adamw *o);
/* Move the moments to `ops`'s memory (uploading the host copies), as
 * model_bind does the parameters; adamw_sync_host refreshes the host copies,
 * adamw_sync_device sends them back after they were written. */
void adamw_bind(struct adamw *o, const struct ops *ops);
void adamw_sync_host(struct adamw *o);
void adamw_sync_device(struct adamw *o);
/* One step; p and g (P) in the bound backend's memory. */
void adamw_step(struct adamw *o, const struct param_table *pt, real *p, const real *g, double lr_default,
                double lr_ssm);

#endif
