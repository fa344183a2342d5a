/* resume.h — a training run's whole state in one checkpoint file, so a run
 * stopped anywhere (a signal, a kill, a crash) continues from its last
 * checkpoint and ends with the report it would have had without stopping.
 *
 * What makes that exact: the data order, dropout masks and lr schedule are
 * functions of (seed, epoch, step) alone (core/rng.h, schedule.h), so the
 * state is the parameters, the AdamW moments and step count, where the run
 * is (epoch, batch within it, the epoch's loss so far) and what the report
 * has gathered (curves, best epoch, steps).
 *
 * File (safetensors, core/safetensors.h, with its whole-file content hash,
 * which the reader requires):
 *   every parameter under its authors' name, in the build's precision (F32,
 *     or F64 in the double build), so `predict`/`--init` read it as weights;
 *   optimizer.exp_avg, optimizer.exp_avg_sq  (P) same precision;
 *   progress.train_loss, progress.test_accuracy  (E) F64, E = epochs done;
 *   progress.epoch, .batch, .steps, .adam_steps, .best_epoch, .early_stopped
 *     I64 scalars; progress.epoch_loss_sum, .best_accuracy, .tokens_seen,
 *     .train_seconds, .wall_seconds  F64 scalars;
 *   __metadata__: format "hippodrome-resume", hippodrome_schema "1",
 *     hippodrome_config (canonical JSON), config_hash, init_weights, git_commit.
 * Reading checks every tensor's name, dtype and shape against the model and
 * config, and every counter against the others (steps = epoch x steps per
 * epoch + batch, curves as long as the epochs done, ...). */
#ifndef HIPPO_RESUME_H
#define HIPPO_RESUME_H

#include <stddef.h>

#include "../models/adamw.h"
#include "config.h"
#include "train.h"

struct resume_state {
    struct model *model;      /* parameters */
    struct adamw *opt;        /* moments and step count */
    struct train_result *r;   /* curves, best, steps, init, timing so far; r->n_train set */
    int epoch;                /* the epoch in progress, 0-based (= epochs done) */
    int batch;                /* its next batch */
    double loss_sum;          /* its row-weighted loss over the batches done */
    double tokens_seen;       /* input tokens of every step done (tokens/s) */
};

/* Write s atomically. 0, or -1 with err. */
int resume_write(const char *path, const struct run_config *c, const struct resume_state *s, char *err,
                 size_t errlen);
/* Fill s (its model, optimizer and result already built for c) from path.
 * 0, or -1 with err naming the file and the problem (another config, a
 * damaged file, a tensor or counter that does not fit). */
int resume_read(const char *path, const struct run_config *c, struct resume_state *s, char *err, size_t errlen);

/* Whether path is an intact checkpoint of config c (content hash, format,
 * config hash; not the tensors). 0, or -1 with err saying why not. */
int resume_peek(const char *path, const struct run_config *c, char *err, size_t errlen);

#endif
