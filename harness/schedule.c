/* schedule.c — per-step learning rates (formulas in schedule.h). */
#include "schedule.h"

#include <math.h>
#include <string.h>

int schedule_kind(const char *name) {
    if (strcmp(name, "cosine") == 0) return SCHED_COSINE;
    if (strcmp(name, "linear") == 0) return SCHED_LINEAR;
    if (strcmp(name, "constant") == 0) return SCHED_CONSTANT;
    return -1;
}

static double cosine_lr(const struct schedule *s, double base, long t) {
    if (t < s->warmup_steps)
        return s->warmup_lr_init + (double)t * (base - s->warmup_lr_init) / (double)s->warmup_steps;
    double lr_min = s->min_lr_ratio * base;
    if (t >= s->total_steps) return lr_min;
    return lr_min + 0.5 * (base - lr_min) * (1.0 + cos(M_PI * (double)t / (double)s->total_steps));
}

static double linear_lr(const struct schedule *s, double base, long t) {
    if (t < s->warmup_steps) return base * (double)t / (double)s->warmup_steps;
    long decay = s->total_steps - s->warmup_steps;
    if (decay < 1) decay = 1;
    double f = (double)(s->total_steps - t) / (double)decay;
    return base * (f > 0 ? f : 0);
}

double schedule_lr(const struct schedule *s, double base_lr, long t) {
    switch (s->kind) {
    case SCHED_COSINE: return cosine_lr(s, base_lr, t);
    case SCHED_LINEAR: return linear_lr(s, base_lr, t);
    case SCHED_CONSTANT: return base_lr;
    }
    return base_lr;
}

double schedule_ssm_base(double lr, double ssm_lr) { return ssm_lr < lr ? ssm_lr : lr; }
