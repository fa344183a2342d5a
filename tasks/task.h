/* task.h — the task registry: synthetic languages behind one interface.
 *
 * A task kind draws one example at a time from a counter-based stream
 * (core/rng.h); the shared code in tasks/task.c turns examples into a split:
 * de-duplicated within the split, inputs x = seq[:-1] (unless the task writes
 * its own inputs, below), targets y = seq[1:], a training-loss mask and an
 * answer mask (the positions scored at test time), and per answer the
 * key-to-query gap. Tasks know nothing of models.
 *
 * Lengths. Every task with a seq_len knob also has the length knobs of
 * TASK_LENGTH_KNOBS: the training split is drawn at seq_len (or at a mix of
 * lengths, train_seq_lens, whose longest is seq_len), the test split at
 * test_seq_len (0 = seq_len; or a mix, test_seq_lens, whose longest is
 * test_seq_len). A task's own knobs are read at one length: the shared code
 * hands the task a copy of the knobs with seq_len set to the length being
 * drawn. A split has one L: the longest example of the split minus one.
 * A split that mixes lengths holds its examples grouped by length, shortest
 * first (the groups as equal as n allows, earlier groups take the
 * remainder), each group de-duplicated on its own, every example
 * right-padded with id 0 up to L with both masks 0 there; len[] says where
 * each example ends. Right padding never reaches an earlier position of a
 * causal model, so padded and unpadded examples train and score alike. The
 * groups are drawn one after another from the split's one stream, so a split
 * at one length is drawn exactly as before these knobs existed.
 *
 * Loss mask (knob loss_mask): "all" counts every next-token position of an
 * example in the training loss (the H3 reference's choice), "answers" only
 * the answer positions (zoology's). Each task states its default.
 *
 * Gap: for a scored answer, the distance in tokens from the position where
 * the earlier occurrence that determines the answer sits (the key's most
 * recent earlier occurrence, a trigger, a copied token) to the position where
 * the answer is predicted (the query); each task file defines it exactly.
 * -1 where no answer is scored. The gap is a function of the example's
 * tokens, so it is not part of the content hash. */
#ifndef HIPPO_TASK_H
#define HIPPO_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../core/knob.h"
#include "../core/rng.h"

enum task_split_kind { SPLIT_TRAIN = 0, SPLIT_TEST = 1 };

#define TASK_MAX_LENS 16         /* lengths in one split's mix */
#define TASK_MAX_TOKENS (1 << 28) /* per split array: examples x model length */

struct task_split {
    int n;                /* examples */
    int L;                /* model input length (longest example length - 1) */
    int32_t *x;           /* (n, L) input ids */
    int32_t *y;           /* (n, L) next-token ids */
    uint8_t *loss_mask;   /* (n, L) 1 = counted in the training loss */
    uint8_t *answer_mask; /* (n, L) 1 = scored as an answer (test accuracy) */
    int32_t *gap;         /* (n, L) key-to-query gap of each answer, -1 elsewhere */
    int32_t *len;         /* (n) model input tokens of each example (<= L; the rest is padding) */
    int32_t *seq_len;     /* (n) the seq_len each example was drawn at */
    uint64_t hash;        /* FNV-1a 64 over the split's tokens, masks, shape (and len[] when padded) */
};

/* One draw. The caller clears answer, sets gap to -1 and, unless the task
 * sets own_input, copies seq[:-1] into input after the draw. */
struct task_example {
    enum task_split_kind split; /* a task may draw the splits differently (fuzzy_recall) */
    int32_t *seq;               /* (E) the example; targets are seq[1:] */
    int32_t *input;             /* (E-1) model inputs */
    bool own_input;             /* the task wrote input: inputs that are not the previous target */
    uint8_t *answer;            /* (E) 1 = scored; indices into seq (target position + 1) */
    int32_t *gap;               /* (E) the gap of each answer, at the same index */
};

struct task_kind {
    const char *name;
    const char *summary;
    const struct knob *knobs;
    int n_knobs;
    /* Every check of the knobs (ranges per key are the knob table's): the
     * length knobs and, at every length either split uses, the task's own. */
    int (*validate)(const struct knob_values *kv, char *err, size_t errlen);
    int (*vocab_size)(const struct knob_values *kv);  /* V, special tokens included */
    int (*example_len)(const struct knob_values *kv); /* tokens per example, longest over both splits */
    double (*chance)(const struct knob_values *kv);   /* accuracy of guessing at an answer position */
    /* Text of token id (e.g. "=>", "17"). */
    void (*token_text)(const struct knob_values *kv, int id, char *buf, size_t len);
    /* Draw one example of the length the knobs give (example_len at one
     * length) from r into ex. */
    void (*example)(const struct knob_values *kv, struct hp_rng *r, struct task_example *ex);
};

extern const struct task_kind task_induction_head;
extern const struct task_kind task_assoc_recall;
extern const struct task_kind task_mqar;
extern const struct task_kind task_selective_copy;
extern const struct task_kind task_noisy_recall;
extern const struct task_kind task_fuzzy_recall;
extern const struct task_kind *const task_kinds[]; /* NULL-terminated */
const struct task_kind *task_find(const char *name);

/* The knobs every task has (vocab_size, seq_len, num_train, num_test, seed)
 * are declared in each task's table; these read them. */
int task_num(const struct knob_values *kv, enum task_split_kind split);

/* The split-size and seed knobs every task has. */
#define TASK_SPLIT_KNOBS(train_def, test_def)                                                           \
    {"num_train", KNOB_INT, train_def, 1, 1 << 24, NULL, "training examples (unique within the split)"}, \
        {"num_test", KNOB_INT, test_def, 1, 1 << 24, NULL, "test examples (unique within the split)"},   \
        {"seed", KNOB_INT, "0", 0, 2147483647, NULL, "data seed (streams: train data, test data)"}

/* task_kind.vocab_size of a task whose vocabulary is its vocab_size knob. */
int task_vocab_knob(const struct knob_values *kv);
/* Text of an id with no name of its own: the number, or "<bad id N>" outside [0, V). */
void task_id_text(int V, int id, char *buf, size_t len);

/* The length and loss-mask knobs every task with a seq_len has (see top). */
#define TASK_LENGTH_KNOBS(loss_def)                                                                       \
    {"test_seq_len", KNOB_INT, "0", 0, 1 << 20, NULL, "seq_len of the test split (0: the same as seq_len)"}, \
        {"train_seq_lens", KNOB_STRING, "", 0, 0, NULL,                                                   \
         "seq_lens mixed in the training split, comma-separated, longest = seq_len (empty: seq_len only)"}, \
        {"test_seq_lens", KNOB_STRING, "", 0, 0, NULL,                                                    \
         "seq_lens mixed in the test split, longest = test_seq_len or seq_len (empty: that one only)"},   \
        {"loss_mask", KNOB_ENUM, loss_def, 0, 0, "all|answers",                                           \
         "training loss on every next-token position (all) or on the answer positions only"}

/* The lengths one split is drawn at and how many examples each gets. */
struct task_lengths {
    int n;                      /* lengths (1 unless the split mixes) */
    int len[TASK_MAX_LENS];     /* ascending seq_len values */
    int count[TASK_MAX_LENS];   /* examples drawn at each */
};

/* A task's checks and example length at one length (the kv's seq_len). */
typedef int (*task_check_fn)(const struct knob_values *kv, char *err, size_t errlen);
typedef int (*task_len_fn)(const struct knob_values *kv);

/* The lengths of a split; 0, or -1 with a message naming the key, its value
 * and the rule. A table without seq_len has one length (its own). */
int task_split_lengths(const struct knob_values *kv, enum task_split_kind split, struct task_lengths *out,
                       char *err, size_t errlen);
/* kv at one length, for checks and draws there: seq_len set to len, the
 * split's size knob to count (the other split's to 1), no other lengths. */
struct knob_values task_knobs_at(const struct knob_values *kv, enum task_split_kind split, int len, int count);
/* A task's validate(): the length knobs, each split's token budget, then
 * check() at every (split, length). */
int task_validate(const struct knob_values *kv, task_check_fn check, task_len_fn len_at, char *err,
                  size_t errlen);
/* A task's example_len(): the longest len_at over both splits' lengths. */
int task_example_len(const struct knob_values *kv, task_len_fn len_at);
/* True when the loss mask knob says "answers". */
bool task_loss_answers_only(const struct knob_values *kv);

/* Generate a split (deterministic in the task's seed knob). 0 or -1 with err
 * (e.g. fewer distinct examples exist than asked for). */
int task_generate(const struct task_kind *k, const struct knob_values *kv, enum task_split_kind split,
                  struct task_split *out, char *err, size_t errlen);
void task_split_free(struct task_split *s);
/* Examples of `a` that also occur in `b` (train/test overlap): equal inputs
 * and targets over the whole example; padding is not part of an example. */
int task_overlap(const struct task_split *a, const struct task_split *b);
/* Model input tokens of example i (len[i], or L when the split has no len). */
int task_example_tokens(const struct task_split *s, int i);

/* `hippodrome show TASK [--n N]`: print the first n training examples (the
 * same ones the training split starts with) as tokens and as ids, the answer
 * positions marked with [ ]. Errors (bad knobs, n < 1) are printed to out. */
void task_show(const struct task_kind *k, const struct knob_values *kv, int n, FILE *out);

#endif
