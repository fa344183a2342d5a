/* train.c — the training loop (see train.h). */
#include "train.h"

#include <math.h>
#include <stdarg.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../core/base.h"
#include "../core/rng.h"
#include "../models/adamw.h"
#include "checkpoint.h"
#include "resume.h"
#include "schedule.h"

const char *run_status_name(enum run_status s) {
    switch (s) {
    case RUN_OK: return "ok";
    case RUN_DIVERGED: return "diverged";
    case RUN_FAILED: return "failed";
    case RUN_STOPPED: return "stopped";
    case RUN_REFUSED: return "refused";
    }
    return "failed";
}

struct model *train_model_create(const struct run_config *c, char *err, size_t errlen) {
    int max_L = c->task->example_len(&c->task_kv) - 1;
    /* Position rows as the reference's l_max = seq_len + 2, so checkpoints load there. */
    int n_pos = max_L;
    if (knob_find(c->task_kv.knobs, c->task_kv.n, "seq_len") >= 0) {
        int ref = knob_int(&c->task_kv, "seq_len") + 2;
        if (ref > n_pos) n_pos = ref;
    }
    struct model_cfg mc = {
        .vocab = c->task->vocab_size(&c->task_kv),
        .d_model = cfg_model_int(c, "d_model"),
        .n_layer = cfg_model_int(c, "n_layer"),
        .d_inner = cfg_model_int(c, "d_inner"),
        .max_L = max_L,
        .n_pos = n_pos,
        .embed_dropout = cfg_model_real(c, "embed_dropout"),
        .ln_eps = cfg_model_real(c, "ln_eps"),
        .kind = c->layer,
        .layer_knobs = c->layer_kv,
        .short_conv = cfg_model_int(c, "short_conv"),
    };
    return model_create(&mc, err, errlen);
}

void train_fill_batch(const struct task_split *s, const int *rows, int B, int32_t *tokens, int32_t *targets) {
    int L = s->L;
    for (int b = 0; b < B; b++) {
        size_t src = (size_t)rows[b] * (size_t)L, dst = (size_t)b * (size_t)L;
        memcpy(tokens + dst, s->x + src, (size_t)L * sizeof *tokens);
        for (int l = 0; l < L; l++) targets[dst + l] = s->loss_mask[src + l] ? s->y[src + l] : -1;
    }
}

void train_permutation(uint64_t seed, int epoch, int n, int *perm) {
    struct hp_rng r = hp_rng_make(hp_hash(seed, HP_STREAM_SHUFFLE, (uint64_t)epoch), HP_STREAM_SHUFFLE);
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)hp_rng_below(&r, (uint64_t)i + 1);
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

static int argmax_row(const real *v, int V) {
    int best = 0;
    for (int i = 1; i < V; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

/* Argmax predictions at the answer positions of s, eval mode: counts, and
 * the ids into pred (n, L) when it is given (other positions untouched). */
static void predict_answers(struct model *m, const struct ops *ops, const struct task_split *s, int batch,
                            int32_t *pred, long *correct, long *total) {
    int L = s->L, V = model_config(m)->vocab;
    *correct = 0, *total = 0;
    for (int start = 0; start < s->n; start += batch) {
        int B = s->n - start < batch ? s->n - start : batch;
        struct model_batch mb = {.B = B, .L = L, .tokens = s->x + (size_t)start * L, .targets = NULL,
                                 .training = false};
        model_forward(m, ops, &mb);
        const real *logits = model_tap_host(m, TAP_LOGITS, 0); /* (B, L, V) */
        for (size_t i = 0; i < (size_t)B * L; i++) {
            size_t at = (size_t)start * L + i;
            if (!s->answer_mask[at]) continue;
            int p = argmax_row(logits + i * V, V);
            if (pred) pred[at] = p;
            (*total)++;
            *correct += p == s->y[at];
        }
    }
}

double train_evaluate(struct model *m, const struct ops *ops, const struct task_split *s, int batch) {
    long correct, total;
    predict_answers(m, ops, s, batch, NULL, &correct, &total);
    return total ? (double)correct / (double)total : 0.0;
}

void train_evaluate_metrics(struct model *m, const struct ops *ops, const struct task_split *s, int batch,
                            struct metrics *out) {
    int32_t *pred = xcalloc((size_t)s->n * s->L + 1, sizeof *pred);
    long correct, total;
    predict_answers(m, ops, s, batch, pred, &correct, &total);
    struct metrics_input in = {.n = s->n, .L = s->L, .pred = pred, .target = s->y, .answer = s->answer_mask,
                               .gap = s->gap, .seq_len = s->seq_len};
    metrics_compute(&in, out);
    HP_CHECK(out->tokens.correct == correct && out->tokens.total == total);
    free(pred);
}

static void fail(struct train_result *r, const char *what, const char *err) {
    r->status = RUN_FAILED;
    snprintf(r->message, sizeof r->message, "%s: %s", what, err);
}

struct trainer {
    const struct run_config *c;
    const struct ops *ops;
    struct task_split train, test;
    struct adamw opt;
    struct schedule sched;
    double lr, lr_ssm;   /* group base lrs */
    int B, epochs, steps_per_epoch;
    uint64_t seed;
    int *perm;           /* (n_train) */
    int32_t *tokens;     /* (B, L) */
    int32_t *targets;    /* (B, L) */
    /* Where the run is (a checkpoint's progress, harness/resume.h). */
    int epoch, batch;    /* the epoch in progress (0-based) and its next batch */
    double loss_sum;     /* that epoch's row-weighted loss so far */
    double tokens_seen;  /* input tokens of every finished step */
    const char *bad;     /* what the last step found not finite: "loss" or a parameter name */
    int first_epoch;     /* epochs done when this process started (ETA) */
    double wall0;        /* wall seconds of the run before this process (resumed runs) */
    int saved_epoch;     /* the epoch count of the last checkpoint written; -1 none */
    double drawn_at;     /* when the live progress line was last drawn */
    bool drawn;          /* a live line is on the terminal */
};

static int setup_data(struct trainer *st, struct train_result *r) {
    const struct run_config *c = st->c;
    char err[400];
    if (task_generate(c->task, &c->task_kv, SPLIT_TRAIN, &st->train, err, sizeof err) != 0) {
        fail(r, "train split", err);
        return -1;
    }
    if (task_generate(c->task, &c->task_kv, SPLIT_TEST, &st->test, err, sizeof err) != 0) {
        fail(r, "test split", err);
        return -1;
    }
    r->train_hash = st->train.hash;
    r->test_hash = st->test.hash;
    r->n_train = st->train.n;
    r->n_test = st->test.n;
    r->L = st->train.L;
    r->test_L = st->test.L;
    r->overlap = task_overlap(&st->test, &st->train);
    r->chance = c->task->chance(&c->task_kv);
    r->vocab = c->task->vocab_size(&c->task_kv);
    return 0;
}

static int setup_model(struct trainer *st, struct train_result *r) {
    const struct run_config *c = st->c;
    char err[400];
    r->model = train_model_create(c, err, sizeof err);
    if (!r->model) {
        fail(r, "model", err);
        return -1;
    }
    model_init(r->model, st->seed);
    r->n_params = model_params(r->model)->total;
    r->state_size = model_state_size(r->model, r->test_L); /* generation state at the longest length used */
    struct adamw_cfg ac = {.weight_decay = cfg_train_real(c, "weight_decay"),
                           .beta1 = cfg_train_real(c, "beta1"),
                           .beta2 = cfg_train_real(c, "beta2"),
                           .eps = cfg_train_real(c, "eps")};
    adamw_init(&st->opt, &ac, r->n_params);
    return 0;
}

static void setup_schedule(struct trainer *st) {
    const struct run_config *c = st->c;
    st->B = cfg_train_int(c, "batch_size");
    st->epochs = cfg_train_int(c, "epochs");
    st->steps_per_epoch = (st->train.n + st->B - 1) / st->B;
    st->lr = cfg_train_real(c, "lr");
    st->lr_ssm = schedule_ssm_base(st->lr, cfg_train_real(c, "ssm_lr"));
    st->sched = (struct schedule){
        .kind = (enum sched_kind)schedule_kind(cfg_train_str(c, "schedule")),
        .warmup_steps = (long)st->steps_per_epoch * cfg_train_int(c, "warmup_epochs"),
        .total_steps = (long)st->steps_per_epoch * st->epochs,
        .warmup_lr_init = cfg_train_real(c, "warmup_lr_init"),
        .min_lr_ratio = cfg_train_real(c, "min_lr_ratio"),
    };
    st->perm = xmalloc((size_t)st->train.n * sizeof *st->perm);
    st->tokens = xmalloc((size_t)st->B * st->train.L * sizeof *st->tokens);
    st->targets = xmalloc((size_t)st->B * st->train.L * sizeof *st->targets);
}

int train_nonfinite_tensor(const struct param_table *pt, const real *g) {
    /* x * 0 is 0 for every finite x and NaN for NaN or Inf, and the sum never
     * overflows: one vectorised pass, the per-tensor search only on a hit. */
    real acc = 0;
#pragma omp simd reduction(+ : acc)
    for (size_t i = 0; i < pt->total; i++) acc += g[i] * (real)0;
    if (acc == 0) return -1;
    for (int t = 0; t < pt->n; t++)
        for (size_t i = 0; i < pt->v[t].numel; i++)
            if (!isfinite(g[pt->v[t].offset + i])) return t;
    return -1;
}

/* One optimizer step; returns the batch loss, or NaN when the loss or a
 * gradient is not finite (st->bad names which; no update is made). */
static double train_step(struct trainer *st, struct model *m, const int *rows, int B, long step) {
    train_fill_batch(&st->train, rows, B, st->tokens, st->targets);
    struct model_batch mb = {.B = B, .L = st->train.L, .tokens = st->tokens, .targets = st->targets,
                             .training = true, .seed = st->seed, .step = (uint64_t)step};
    double loss = model_forward(m, st->ops, &mb);
    if (!isfinite(loss)) {
        st->bad = "loss";
        return NAN;
    }
    model_zero_grad(m);
    model_backward(m, st->ops);
    if (!model_grads_finite(m)) { /* find which tensor, on the host */
        model_sync_host(m);
        int bad = train_nonfinite_tensor(model_params(m), model_grad_data(m));
        st->bad = bad >= 0 ? model_params(m)->v[bad].name : "a gradient";
        return NAN;
    }
    adamw_step(&st->opt, model_params(m), model_param_dev(m), model_grad_dev(m),
               schedule_lr(&st->sched, st->lr, step), schedule_lr(&st->sched, st->lr_ssm, step));
    return loss;
}

static bool stop_requested(const struct train_opts *o) { return o && o->stop && *o->stop; }

enum epoch_end { EPOCH_DONE, EPOCH_DIVERGED, EPOCH_STOPPED };

/* Epoch st->epoch from batch st->batch on, stopping early at a divergence or
 * a stop request (checked before every step). */
static enum epoch_end train_epoch(struct trainer *st, struct train_result *r, const struct train_opts *o) {
    train_permutation(st->seed, st->epoch, st->train.n, st->perm);
    enum epoch_end end = EPOCH_DONE;
    double t0 = hp_now();
    for (; st->batch < st->steps_per_epoch; st->batch++) {
        if (stop_requested(o)) {
            end = EPOCH_STOPPED;
            break;
        }
        int start = st->batch * st->B;
        int B = st->train.n - start < st->B ? st->train.n - start : st->B;
        double loss = train_step(st, r->model, st->perm + start, B, r->steps);
        if (isnan(loss)) {
            r->diverged_step = r->steps;
            end = EPOCH_DIVERGED;
            break;
        }
        st->loss_sum += loss * B;
        r->steps++;
        st->tokens_seen += (double)B * st->train.L;
    }
    r->train_seconds += hp_now() - t0;
    return end;
}

/* The epoch the run stops after unless early stopping comes first. */
static int last_epoch(const struct trainer *st) {
    int stop_epoch = cfg_train_int(st->c, "stop_epoch");
    return stop_epoch > 0 && stop_epoch < st->epochs ? stop_epoch : st->epochs;
}

static void plain_line(const struct trainer *st, const struct train_result *r, const struct train_opts *o,
                       double t_start) {
    int e = r->epochs_run;
    if (e % o->log_every != 0 && e != st->epochs && !r->early_stopped) return;
    fprintf(o->log ? o->log : stderr,
            "%s%s%s%s  epoch %4d/%d  loss %.4f  test acc %.4f  best %.4f (epoch %d)  lr %.3g  %.1f s\n",
            o->tag ? "[" : "", o->tag ? o->tag : "", o->tag ? "] " : "", st->c->name, e, st->epochs,
            r->train_loss[e - 1], r->test_acc[e - 1], r->best_acc, r->best_epoch,
            schedule_lr(&st->sched, st->lr, r->steps > 0 ? r->steps - 1 : 0), hp_now() - t_start);
}

static void duration_text(double s, char *buf, size_t len) {
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, len, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
}

static int terminal_width(FILE *f) {
    struct winsize ws;
    return ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
}

/* Redraw the one live line; at most 10 times a second (tiny runs finish
 * epochs far faster than a terminal is worth redrawing). */
static void live_line(struct trainer *st, const struct train_result *r, const struct train_opts *o,
                      double t_start) {
    int e = r->epochs_run, last = last_epoch(st);
    double now = hp_now();
    if (e != last && now - st->drawn_at < 0.1) return;
    st->drawn_at = now;
    char spent[32], eta[32], line[320];
    duration_text(now - t_start, spent, sizeof spent);
    duration_text((now - t_start) / (e - st->first_epoch) * (last - e), eta, sizeof eta);
    /* Early stopping may end the run sooner: the ETA is then an upper bound. */
    bool may_stop = cfg_train_real(st->c, "early_stop_acc") > 0;
    int n = snprintf(line, sizeof line,
                     "\r\033[K%s%s%s%s  epoch %d/%d  ETA %s%s  loss %.4f  acc %.3f (best %.3f)  %s",
                     o->tag ? "[" : "", o->tag ? o->tag : "", o->tag ? "] " : "", st->c->name, e, last,
                     may_stop ? "<=" : "", eta, r->train_loss[e - 1], r->test_acc[e - 1], r->best_acc, spent);
    /* A line longer than the terminal wraps, and \r would then redraw only its last row;
     * the least useful fields are last and go first. */
    int visible = terminal_width(o->log ? o->log : stderr) - 1, prefix = 4; /* "\r\033[K" */
    if (n > prefix + visible && visible > 0) line[prefix + visible] = '\0';
    /* One write per redraw, so runs sharing a terminal (make -j) replace each other's line whole. */
    fputs(line, o->log ? o->log : stderr);
    fflush(o->log ? o->log : stderr);
    st->drawn = true;
}

static void log_epoch(struct trainer *st, const struct train_result *r, const struct train_opts *o,
                      double t_start) {
    if (!o || o->log_every <= 0) return;
    if (o->live) live_line(st, r, o, t_start);
    else plain_line(st, r, o, t_start);
}

/* Clear the live line so the outcome line that follows takes its place. */
static void live_end(const struct trainer *st, const struct train_opts *o) {
    if (!o || !o->live || !st->drawn) return;
    fputs("\r\033[K", o->log ? o->log : stderr);
    fflush(o->log ? o->log : stderr);
}

/* Write the run's state to o->checkpoint; on failure the run stops (it
 * could not be resumed, and the report would most likely fail alike). */
static int save_checkpoint(struct trainer *st, struct train_result *r, const struct train_opts *o,
                           double t_start) {
    r->wall_seconds = st->wall0 + hp_now() - t_start;
    model_sync_host(r->model);
    adamw_sync_host(&st->opt);
    struct resume_state s = {.model = r->model, .opt = &st->opt, .r = r, .epoch = st->epoch, .batch = st->batch,
                             .loss_sum = st->loss_sum, .tokens_seen = st->tokens_seen};
    char err[400];
    if (resume_write(o->checkpoint, st->c, &s, err, sizeof err) != 0) {
        r->status = RUN_STOPPED;
        snprintf(r->message, sizeof r->message, "checkpoint: %s", err);
        return -1;
    }
    st->saved_epoch = st->epoch;
    return 0;
}

/* A stop request: checkpoint where the run is, then stop. */
static void stop_run(struct trainer *st, struct train_result *r, const struct train_opts *o, double t_start) {
    if (!o->checkpoint) {
        r->status = RUN_STOPPED;
        snprintf(r->message, sizeof r->message, "stopped at step %ld (epoch %d); no checkpoint path, nothing kept",
                 r->steps, st->epoch + 1);
        return;
    }
    if (save_checkpoint(st, r, o, t_start) != 0) return;
    r->status = RUN_STOPPED;
    snprintf(r->message, sizeof r->message, "stopped at step %ld (epoch %d, batch %d); checkpoint %.300s", r->steps,
             st->epoch + 1, st->batch, o->checkpoint);
}

/* After every checkpoint_every-th epoch, and after the last one. */
static bool checkpoint_due(const struct trainer *st, const struct train_result *r, const struct train_opts *o) {
    if (!o || !o->checkpoint || o->checkpoint_every <= 0 || st->saved_epoch == st->epoch) return false;
    return st->epoch % o->checkpoint_every == 0 || st->epoch == last_epoch(st) || r->early_stopped;
}

/* The epoch just trained: evaluate, record, move on to the next. */
static void finish_epoch(struct trainer *st, struct train_result *r, const struct train_opts *o, double t_start) {
    int e = st->epoch;
    double acc = train_evaluate(r->model, st->ops, &st->test, st->B);
    r->train_loss[e] = st->loss_sum / st->train.n;
    r->test_acc[e] = acc;
    r->epochs_run = e + 1;
    r->final_acc = acc;
    if (acc > r->best_acc || r->best_epoch == 0) {
        r->best_acc = acc;
        r->best_epoch = e + 1;
    }
    double stop_at = cfg_train_real(st->c, "early_stop_acc");
    r->early_stopped = stop_at > 0 && acc >= stop_at;
    st->epoch++, st->batch = 0, st->loss_sum = 0;
    log_epoch(st, r, o, t_start);
}

static void run_epochs(struct trainer *st, struct train_result *r, const struct train_opts *o, double t_start) {
    int last = last_epoch(st);
    while (st->epoch < last && !r->early_stopped) {
        enum epoch_end end = train_epoch(st, r, o);
        if (end == EPOCH_DIVERGED) {
            r->status = RUN_DIVERGED;
            r->diverged_epoch = st->epoch + 1;
            snprintf(r->diverged_tensor, sizeof r->diverged_tensor, "%s%s", st->bad,
                     strcmp(st->bad, "loss") ? ".grad" : "");
            snprintf(r->message, sizeof r->message, "%s not finite at step %ld (epoch %d)", r->diverged_tensor,
                     r->diverged_step, st->epoch + 1);
            return;
        }
        if (end == EPOCH_STOPPED) {
            stop_run(st, r, o, t_start);
            return;
        }
        finish_epoch(st, r, o, t_start);
        if (checkpoint_due(st, r, o) && save_checkpoint(st, r, o, t_start) != 0) return;
    }
}

static void free_state(struct trainer *st) {
    task_split_free(&st->train);
    task_split_free(&st->test);
    adamw_free(&st->opt);
    free(st->perm);
    free(st->tokens);
    free(st->targets);
}

static void result_begin(const struct run_config *c, struct train_result *r, const struct ops *ops) {
    memset(r, 0, sizeof *r);
    r->diverged_step = -1;
    r->resumed_epoch = -1;
    r->threads = cfg_train_int(c, "threads");
    r->gemm_name = ops->gemm_name;
    r->backend = ops->name;
    r->device = ops->device();
    r->epochs_cap = cfg_train_int(c, "epochs");
    r->train_loss = xcalloc((size_t)r->epochs_cap, sizeof *r->train_loss);
    r->test_acc = xcalloc((size_t)r->epochs_cap, sizeof *r->test_acc);
}

struct trainer *trainer_create(const struct run_config *c, struct train_result *r) {
    return trainer_create_on(c, NULL, r);
}

struct trainer *trainer_create_on(const struct run_config *c, const struct ops *backend, struct train_result *r) {
    struct trainer *st = xcalloc(1, sizeof *st);
    st->c = c;
    st->saved_epoch = -1;
    st->ops = backend ? backend : ops_cpu();
    st->seed = (uint64_t)cfg_train_real(c, "seed");
    result_begin(c, r, st->ops);
    omp_set_num_threads(r->threads);
    if (setup_data(st, r) != 0 || setup_model(st, r) != 0) {
        trainer_free(st);
        return NULL;
    }
    setup_schedule(st);
    model_bind(r->model, st->ops);
    adamw_bind(&st->opt, st->ops);
    return st;
}

void trainer_free(struct trainer *st) {
    if (!st) return;
    free_state(st);
    free(st);
}

int trainer_steps_per_epoch(const struct trainer *st) { return st->steps_per_epoch; }

double trainer_step(struct trainer *st, struct train_result *r, int epoch, int batch, long step) {
    if (batch == 0) train_permutation(st->seed, epoch, st->train.n, st->perm);
    int start = batch * st->B;
    int B = st->train.n - start < st->B ? st->train.n - start : st->B;
    return train_step(st, r->model, st->perm + start, B, step);
}

/* One line about the run on the log, unless quiet. */
static void say(const struct trainer *st, const struct train_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(const struct trainer *st, const struct train_opts *o, const char *fmt, ...) {
    if (!o || o->log_every <= 0) return;
    FILE *log = o->log ? o->log : stderr;
    va_list ap;
    va_start(ap, fmt);
    fprintf(log, "%s: ", st->c->name);
    vfprintf(log, fmt, ap);
    fputc('\n', log);
    va_end(ap);
}

/* Continue from o->checkpoint (it exists). 0, or -1 with the message set. */
static int resume_run(struct trainer *st, struct train_result *r, const struct train_opts *o) {
    char err[400]; /* fits r->message with its prefix */
    struct resume_state s = {.model = r->model, .opt = &st->opt, .r = r};
    if (resume_read(o->checkpoint, st->c, &s, err, sizeof err) != 0) {
        fail(r, "resume", err);
        return -1;
    }
    if (o->init && strcmp(o->init, r->init) != 0) {
        snprintf(err, sizeof err, "'%.150s' started from init weights '%.100s', not '%.100s'", o->checkpoint,
                 r->init[0] ? r->init : "(none)", o->init);
        fail(r, "resume", err);
        return -1;
    }
    st->epoch = st->first_epoch = s.epoch, st->batch = s.batch;
    st->loss_sum = s.loss_sum, st->tokens_seen = s.tokens_seen;
    st->wall0 = r->wall_seconds, st->saved_epoch = s.batch == 0 ? s.epoch : -1;
    say(st, o, "resuming from %s at step %ld: %d epoch%s done%s", o->checkpoint, r->steps, s.epoch,
        s.epoch == 1 ? "" : "s", s.batch ? " and part of the next" : "");
    return 0;
}

/* The starting point: a checkpoint to resume (when asked and present), else
 * --init weights, else the config's init. A file that does not fit is
 * refused (status REFUSED) before any step. */
static int start_from(struct trainer *st, struct train_result *r, const struct train_opts *o) {
    int rc = 0;
    if (o && o->resume && o->checkpoint && access(o->checkpoint, F_OK) == 0) {
        rc = resume_run(st, r, o);
    } else {
        char err[400];
        if (o && o->init && checkpoint_load_params(o->init, r->model, err, sizeof err) != 0) {
            fail(r, "init", err);
            rc = -1;
        } else if (o && o->init) {
            snprintf(r->init, sizeof r->init, "%s", o->init);
        }
    }
    if (rc) r->status = RUN_REFUSED;
    model_sync_device(r->model); /* what was loaded into the host copies */
    adamw_sync_device(&st->opt);
    return rc;
}

int train_run(const struct run_config *c, const struct train_opts *o, struct train_result *r) {
    double t_start = hp_now();
    struct trainer *st = trainer_create_on(c, o ? o->backend : NULL, r);
    if (!st) {
        r->wall_seconds = hp_now() - t_start;
        return -1;
    }
    if (start_from(st, r, o) != 0) {
        trainer_free(st);
        r->wall_seconds = hp_now() - t_start;
        return -1;
    }
    run_epochs(st, r, o, t_start);
    if (r->status == RUN_OK && r->epochs_run > 0) {
        train_evaluate_metrics(r->model, st->ops, &st->test, st->B, &r->test_metrics);
        r->has_metrics = true;
    }
    live_end(st, o);
    model_sync_host(r->model); /* the trained weights, for --save */
    r->wall_seconds = st->wall0 + hp_now() - t_start;
    if (r->steps > 0 && r->train_seconds > 0) {
        r->ms_per_step = 1e3 * r->train_seconds / (double)r->steps;
        r->tokens_per_second = st->tokens_seen / r->train_seconds;
    }
    trainer_free(st);
    return r->status == RUN_OK || r->status == RUN_DIVERGED ? 0 : -1;
}

void train_result_free(struct train_result *r) {
    if (r->has_metrics) metrics_free(&r->test_metrics);
    free(r->train_loss);
    free(r->test_acc);
    if (r->model) model_free(r->model);
    memset(r, 0, sizeof *r);
}
