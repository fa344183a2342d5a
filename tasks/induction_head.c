/* induction_head.c — the induction-head language of the H3 paper, as the
 * reference generator (safari icl_synthetics, copy_method=induction_head,
 * induction_len=1, one trigger) draws it; h3.md §4.1.
 *
 * An example: seq_len ordinary tokens drawn uniformly with replacement, the
 * one at a trigger position p (uniform in [0, seq_len-2)) replaced by "=>",
 * then "=>" and X = the token that followed the trigger. Length seq_len + 2.
 * The model must find the earlier "=>" and copy its successor; only X is
 * scored at test time. Not here: the reference's extra knobs
 * (induction_len, num_triggers), left at their paper values. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "icl.h"
#include "task.h"

static const struct knob knobs[] = {ICL_COMMON_KNOBS("20", "30")};

static int ih_vocab_size(const struct knob_values *kv) { return knob_int(kv, "vocab_size"); }

static int ih_example_len(const struct knob_values *kv) { return knob_int(kv, "seq_len") + 2; }

/* A uniform guess among the V-2 ordinary tokens. */
static double ih_chance(const struct knob_values *kv) { return 1.0 / (knob_int(kv, "vocab_size") - 2); }

/* Distinct examples: p and the seq_len-1 tokens not overwritten determine
 * the example, and different p put the first "=>" in different places. */
static double ih_distinct(int V, int S) { return (S - 2) * pow(V - 2, S - 1); }

static int ih_validate(const struct knob_values *kv, char *err, size_t errlen) {
    int V = knob_int(kv, "vocab_size"), S = knob_int(kv, "seq_len");
    if (V < 3) {
        snprintf(err, errlen,
                 "vocab_size=%d is too small for induction_head: it needs at least 3 "
                 "(the specials \"=>\" and \".\" and one ordinary token)",
                 V);
        return -1;
    }
    if (S < 3) {
        snprintf(err, errlen,
                 "seq_len=%d is too short for induction_head: it needs at least 3 "
                 "(a trigger position in [0, seq_len-2) and a token after it)",
                 S);
        return -1;
    }
    return icl_check_sizes(kv, "induction_head", ih_distinct(V, S), S + 2, err, errlen);
}

static void ih_example(const struct knob_values *kv, struct hp_rng *r, int32_t *seq, uint8_t *answer) {
    int S = knob_int(kv, "seq_len");
    const struct icl_vocab *v = icl_vocab_get(knob_int(kv, "vocab_size"));
    uint64_t m = (uint64_t)(v->V - 2);
    for (int i = 0; i < S; i++) seq[i] = v->ordinary[hp_rng_below(r, m)];
    int p = (int)hp_rng_below(r, (uint64_t)(S - 2));
    seq[p] = v->id_arrow;
    seq[S] = v->id_arrow;
    seq[S + 1] = seq[p + 1]; /* p + 1 <= S - 2: an ordinary token */
    memset(answer, 0, (size_t)(S + 2));
    answer[S + 1] = 1;
}

const struct task_kind task_induction_head = {
    .name = "induction_head",
    .summary = "copy the token that followed the earlier \"=>\" (H3 paper; V=20, seq_len=30)",
    .knobs = knobs,
    .n_knobs = (int)(sizeof knobs / sizeof knobs[0]),
    .validate = ih_validate,
    .vocab_size = ih_vocab_size,
    .example_len = ih_example_len,
    .chance = ih_chance,
    .token_text = icl_token_text,
    .example = ih_example,
};
