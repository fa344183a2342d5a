/* train.h — one training run: data, model, AdamW, schedule, per-epoch eval.
 *
 * Data flows config -> task splits -> batches -> model -> loss -> backward ->
 * AdamW -> eval. Everything random is counter-based and keyed by the config's
 * seeds (shuffle: HP_STREAM_SHUFFLE keyed by (seed, epoch); dropout: (seed,
 * step)), so the same config, seed and thread count give the same numbers. */
#ifndef HIPPO_TRAIN_H
#define HIPPO_TRAIN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../kernels/ops.h"
#include "../models/model.h"
#include "../tasks/task.h"
#include "config.h"
#include "metrics.h"

/* How a run ended. OK, DIVERGED and FAILED are final and get a report;
 * STOPPED (a signal, or a checkpoint that could not be written) and REFUSED
 * (an --init or resume file that does not fit) get none: the run can be
 * resumed or rerun. */
enum run_status { RUN_OK, RUN_DIVERGED, RUN_FAILED, RUN_STOPPED, RUN_REFUSED };
const char *run_status_name(enum run_status s);

struct train_opts {
    int log_every;    /* progress line every k epochs on `log`; 0 = quiet */
    FILE *log;        /* NULL = stderr */
    const char *init; /* starting weights (safetensors, authors' names), or NULL for the config's init */
    const char *tag;  /* "3/24": which run of a sweep or suite, shown first; NULL = none */
    bool live;        /* `log` is a terminal: one line redrawn in place (\r) each epoch, with an
                         ETA, cleared at the end; log_every then only says on (>0) or off */
    /* Checkpoints (harness/resume.h): the run's whole state, written atomically. */
    const char *checkpoint;   /* where; NULL = never */
    int checkpoint_every;     /* after every k-th epoch and at the end; 0 = only when stopped */
    bool resume;              /* continue from `checkpoint` when it exists */
    /* Set asynchronously (SIGINT/SIGTERM): the run writes a checkpoint at the
     * next step boundary and stops (status STOPPED); NULL = never. */
    const volatile sig_atomic_t *stop;
    /* The backend the run trains on (its tensors live there); NULL = the CPU backend. */
    const struct ops *backend;
};

struct train_result {
    enum run_status status;
    char message[512];     /* why it failed or diverged; "" when ok */
    /* data */
    uint64_t train_hash, test_hash;
    int n_train, n_test, overlap, L, test_L, vocab; /* L: the training split's input length */
    double chance;
    /* model */
    size_t n_params, state_size; /* state_size: per sequence at the test length */
    const char *gemm_name;
    const char *backend, *device; /* the backend's name and its device in words */
    int threads;
    /* curves (epochs_cap entries allocated, epochs_run filled) */
    int epochs_cap, epochs_run;
    double *train_loss, *test_acc;
    double final_acc, best_acc;
    bool has_metrics;        /* test_metrics filled: the final model on the test split */
    struct metrics test_metrics;
    int best_epoch;        /* 1-based; 0 when no epoch finished */
    bool early_stopped;
    long diverged_step;    /* global step (0-based) whose loss or gradient was not finite; -1 if none */
    int diverged_epoch;    /* 1-based */
    char diverged_tensor[PARAM_NAME + 8]; /* "loss" or "<parameter name>.grad" */
    long steps;
    char init[512];        /* the --init weights file, "" when the model's own init was used */
    int resumed_epoch;     /* the checkpoint continued from: epochs done then; -1 = started fresh */
    /* timing (not part of the deterministic record) */
    double wall_seconds, train_seconds, tokens_per_second, ms_per_step;
    struct model *model;   /* the trained model (owned) */
};

/* Build the model a config describes (vocabulary and lengths from its task). */
struct model *train_model_create(const struct run_config *c, char *err, size_t errlen);
/* One batch of rows `rows[0..B)` of a split: tokens and loss targets (y where
 * loss_mask, else -1). tokens/targets are (B, L). */
void train_fill_batch(const struct task_split *s, const int *rows, int B, int32_t *tokens, int32_t *targets);
/* Shuffled row order of epoch `epoch` (n entries): Fisher-Yates on the
 * counter-based stream keyed by (seed, epoch). */
void train_permutation(uint64_t seed, int epoch, int n, int *perm);
/* Test accuracy: argmax over the vocabulary at answer positions, eval mode. */
double train_evaluate(struct model *m, const struct ops *ops, const struct task_split *s, int batch);
/* The same predictions as answer-level metrics (harness/metrics.h): token
 * accuracy (= train_evaluate), exact match, per position, gap and length. */
void train_evaluate_metrics(struct model *m, const struct ops *ops, const struct task_split *s, int batch,
                            struct metrics *out);

/* A prepared run (data, model, optimizer, schedule), for train_run and the
 * step benchmark. NULL on failure with r->status = RUN_FAILED and a message. */
struct trainer;
struct trainer *trainer_create(const struct run_config *c, struct train_result *r);
/* The same on a backend (NULL = the CPU backend): the model and AdamW moments live there. */
struct trainer *trainer_create_on(const struct run_config *c, const struct ops *backend, struct train_result *r);
void trainer_free(struct trainer *t);
int trainer_steps_per_epoch(const struct trainer *t);
/* One optimizer step on batch `batch` of epoch `epoch`'s shuffle (batch 0
 * draws the shuffle); returns the batch loss. */
double trainer_step(struct trainer *t, struct train_result *r, int epoch, int batch, long step);

/* The first tensor of pt whose values in g (flat, (P)) include a NaN or
 * Inf, or -1 (the divergence check on gradients). */
int train_nonfinite_tensor(const struct param_table *pt, const real *g);

/* Run the config. Returns 0 when the run happened (status ok or diverged),
 * -1 when it could not or was stopped (message set). */
int train_run(const struct run_config *c, const struct train_opts *o, struct train_result *r);
void train_result_free(struct train_result *r);

#endif
