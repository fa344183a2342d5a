/* schedule.h — per-step learning rates (h3.md §4.2).
 *
 * The lr used by optimizer step t (0-based) is schedule_lr(s, base, t):
 *   cosine   (timm CosineLRScheduler, per step, no warmup prefix):
 *            t < W: warmup_lr_init + t (base - warmup_lr_init) / W
 *            t < T: lr_min + (base - lr_min)(1 + cos(pi t / T)) / 2,  lr_min = min_lr_ratio base
 *            else:  lr_min
 *   linear   (HF get_linear_schedule_with_warmup):
 *            t < W: base t / W;  else base max(0, (T - t) / (T - W))
 *   constant base
 * with W = warmup steps and T = total steps. Each optimizer group applies the
 * same shape to its own base lr. */
#ifndef HIPPO_SCHEDULE_H
#define HIPPO_SCHEDULE_H

enum sched_kind { SCHED_COSINE, SCHED_LINEAR, SCHED_CONSTANT };

struct schedule {
    enum sched_kind kind;
    long warmup_steps;     /* W */
    long total_steps;      /* T */
    double warmup_lr_init; /* cosine only */
    double min_lr_ratio;   /* cosine only */
};

/* Kind from its config name ("cosine", "linear", "constant"); -1 if unknown. */
int schedule_kind(const char *name);
double schedule_lr(const struct schedule *s, double base_lr, long t);
/* Base lr of the SSM group: min(ssm_lr, lr) (h3.md §1.8). */
double schedule_ssm_base(double lr, double ssm_lr);

#endif
