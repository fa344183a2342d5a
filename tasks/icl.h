/* icl.h — internal to tasks/: what the in-context-learning synthetics
 * (induction head, associative recall; safari's "icl_synthetics") share.
 *
 * The vocabulary: V tokens, the two specials "=>" (copy prefix) and "."
 * (noop) included, ordinary tokens the decimal strings "0".."V-3". Ids follow
 * the lexicographic order of the token strings, as in the reference (V = 10:
 * "."=0, "0".."7"=1..8, "=>"=9). The order is computed by sorting the
 * strings, never tabulated. Also: the knobs every ICL task has and the
 * size checks their validate() share. */
#ifndef HIPPO_TASKS_ICL_H
#define HIPPO_TASKS_ICL_H

#include <stddef.h>
#include <stdint.h>

#include "../core/knob.h"
#include "task.h"

#define ICL_TOKEN_CHARS 12 /* any int and the NUL fit (keeps -Wformat-truncation quiet) */
#define ICL_MAX_VOCAB 65536
#define ICL_MAX_TOKENS (1 << 28) /* per split array: examples x model length */

struct icl_vocab {
    int V;                          /* tokens, both specials included */
    char (*text)[ICL_TOKEN_CHARS];  /* (V) text of each id; id order = lexicographic */
    int32_t *ordinary;              /* (V-2) ids of the ordinary tokens, in lexicographic order */
    int32_t id_arrow, id_dot;       /* ids of "=>" and "." */
};

void icl_vocab_build(struct icl_vocab *v, int V);
void icl_vocab_free(struct icl_vocab *v);
/* This thread's cached vocabulary of size V (rebuilt when V changes), so a
 * generator can ask for it once per example without re-sorting. */
const struct icl_vocab *icl_vocab_get(int V);

/* task_kind.token_text for every ICL task (reads vocab_size). */
void icl_token_text(const struct knob_values *kv, int id, char *buf, size_t len);

/* Shared tail of validate(): each split's size against the number of
 * distinct examples the task has (splits are de-duplicated) and against the
 * token budget. E = example length. 0, or -1 with a message naming the key. */
int icl_check_sizes(const struct knob_values *kv, const char *task, double distinct, int E, char *err,
                    size_t errlen);

/* The knob rows every ICL task has; defaults differ per task. */
#define ICL_COMMON_KNOBS(vocab_def, seq_def)                                                          \
    {"vocab_size", KNOB_INT, vocab_def, 3, ICL_MAX_VOCAB, NULL,                                       \
     "tokens in the vocabulary, the two specials \"=>\" and \".\" included"},                         \
        {"seq_len", KNOB_INT, seq_def, 1, 1 << 20, NULL, "input_seq_len of the reference generator"}, \
        TASK_SPLIT_KNOBS("5000", "500")

#endif
