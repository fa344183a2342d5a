/* task.h — the task registry: synthetic languages behind one interface.
 *
 * A task kind draws one example at a time from a counter-based stream
 * (core/rng.h); the shared code in tasks/task.c turns examples into a split:
 * de-duplicated within the split, inputs = seq[:-1], targets = seq[1:], a
 * training-loss mask (every next-token position for the H3 tasks) and an
 * answer mask (the positions scored at test time: the final answer only).
 * Tasks know nothing of models. */
#ifndef HIPPO_TASK_H
#define HIPPO_TASK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../core/knob.h"
#include "../core/rng.h"

enum task_split_kind { SPLIT_TRAIN = 0, SPLIT_TEST = 1 };

struct task_split {
    int n;                /* examples */
    int L;                /* model input length (example length - 1) */
    int32_t *x;           /* (n, L) input ids */
    int32_t *y;           /* (n, L) next-token ids */
    uint8_t *loss_mask;   /* (n, L) 1 = counted in the training loss */
    uint8_t *answer_mask; /* (n, L) 1 = scored as an answer (test accuracy) */
    uint64_t hash;        /* FNV-1a 64 over the split's tokens, masks and shape */
};

struct task_kind {
    const char *name;
    const char *summary;
    const struct knob *knobs;
    int n_knobs;
    /* Cross-key checks beyond per-key ranges (e.g. vocabulary too small). */
    int (*validate)(const struct knob_values *kv, char *err, size_t errlen);
    int (*vocab_size)(const struct knob_values *kv);  /* V, special tokens included */
    int (*example_len)(const struct knob_values *kv); /* tokens per example (L + 1) */
    double (*chance)(const struct knob_values *kv);   /* accuracy of guessing at an answer position */
    /* Text of token id (e.g. "=>", "17"). */
    void (*token_text)(const struct knob_values *kv, int id, char *buf, size_t len);
    /* Draw one example of example_len tokens into seq from r; mark the answer
     * positions (indices into seq, i.e. target positions + 1) in answer[]. */
    void (*example)(const struct knob_values *kv, struct hp_rng *r, int32_t *seq, uint8_t *answer);
};

extern const struct task_kind task_induction_head;
extern const struct task_kind task_assoc_recall;
extern const struct task_kind *const task_kinds[]; /* NULL-terminated */
const struct task_kind *task_find(const char *name);

/* The knobs every task has (vocab_size, seq_len, num_train, num_test, seed)
 * are declared in each task's table; these read them. */
int task_num(const struct knob_values *kv, enum task_split_kind split);

/* Generate a split (deterministic in the task's seed knob). 0 or -1 with err
 * (e.g. fewer distinct examples exist than asked for). */
int task_generate(const struct task_kind *k, const struct knob_values *kv, enum task_split_kind split,
                  struct task_split *out, char *err, size_t errlen);
void task_split_free(struct task_split *s);
/* Examples of `a` that also occur in `b` (train/test overlap). */
int task_overlap(const struct task_split *a, const struct task_split *b);

/* `hippodrome show TASK [--n N]`: print the first n training examples (the
 * same ones the training split starts with) as tokens and as ids, the answer
 * position marked with [ ]. Errors (bad knobs, n < 1) are printed to out. */
void task_show(const struct task_kind *k, const struct knob_values *kv, int n, FILE *out);

#endif
