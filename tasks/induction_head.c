/* induction_head.c — the induction-head language of the H3 paper, as the
 * reference generator (safari icl_synthetics, copy_method=induction_head)
 * draws it; h3.md §4.1.
 *
 * An example: seq_len ordinary tokens drawn uniformly with replacement; at
 * num_triggers trigger positions the token becomes "=>" and the
 * induction_len tokens after it become the segment X (the tokens that
 * followed the first trigger); then "=>" and X. Length seq_len + 1 +
 * induction_len. The model must find an earlier "=>" and copy what followed
 * it; the X positions after the final "=>" are scored at test time.
 *
 * The paper's setting is induction_len = num_triggers = 1 (h3.md §4.1), and
 * with those values the random stream is consumed exactly as before these
 * knobs existed, so split hashes are unchanged. h3.md does not define the
 * reference's behaviour beyond them; ours: triggers never overlap, their
 * offsets are num_triggers draws over the free cells, sorted.
 *
 * Gap of an answer: S - p, from the last trigger p to the final "=>" at S
 * (answer j is predicted at S + j from the copy at p + j). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"
#include "icl.h"
#include "task.h"

static const struct knob knobs[] = {
    ICL_COMMON_KNOBS("20", "30"),
    {"induction_len", KNOB_INT, "1", 1, 1 << 16, NULL,
     "tokens copied after each trigger (all of them scored at test time)"},
    {"num_triggers", KNOB_INT, "1", 1, 1 << 16, NULL, "\"=>\" + segment occurrences before the final \"=>\""},
    TASK_LENGTH_KNOBS("all"),
};


static int ih_len_at(const struct knob_values *kv) {
    return knob_int(kv, "seq_len") + 1 + knob_int(kv, "induction_len");
}

static int ih_example_len(const struct knob_values *kv) { return task_example_len(kv, ih_len_at); }

/* A uniform guess among the V-2 ordinary tokens, at each scored position. */
static double ih_chance(const struct knob_values *kv) { return 1.0 / (knob_int(kv, "vocab_size") - 2); }

/* Cells left free by m non-overlapping triggers of k+1 tokens, which must
 * end before the last context position (seq_len - 1). */
static int free_cells(int S, int k, int m) { return S - 1 - m * (k + 1); }

/* Distinct examples: the trigger-position sets (multisets of m offsets in
 * [0, F], i.e. C(F + m, m)) times the tokens not overwritten (the first
 * segment's k tokens are free, the copies are not). */
static double ih_distinct(int V, int S, int k, int m) {
    double places = 1;
    for (int i = 1; i <= m; i++) places *= (double)(free_cells(S, k, m) + i) / i;
    return places * pow(V - 2, S - m * (k + 1) + k);
}

static int ih_check(const struct knob_values *kv, char *err, size_t errlen) {
    int V = knob_int(kv, "vocab_size"), S = knob_int(kv, "seq_len");
    int k = knob_int(kv, "induction_len"), m = knob_int(kv, "num_triggers");
    if (V < 3) {
        snprintf(err, errlen,
                 "vocab_size=%d is too small for induction_head: it needs at least 3 "
                 "(the specials \"=>\" and \".\" and one ordinary token)",
                 V);
        return -1;
    }
    if (free_cells(S, k, m) < 0) {
        snprintf(err, errlen,
                 "seq_len=%d is too short for induction_head with num_triggers=%d, induction_len=%d: it needs "
                 "at least %d (each trigger and its segment, %d tokens, before the last context token)",
                 S, m, k, m * (k + 1) + 1, k + 1);
        return -1;
    }
    return icl_check_sizes(kv, "induction_head", ih_distinct(V, S, k, m), S + 1 + k, err, errlen);
}

static int ih_validate(const struct knob_values *kv, char *err, size_t errlen) {
    return task_validate(kv, ih_check, ih_len_at, err, errlen);
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

static void ih_example(const struct knob_values *kv, struct hp_rng *r, struct task_example *ex) {
    int32_t *seq = ex->seq;
    int S = knob_int(kv, "seq_len"), k = knob_int(kv, "induction_len"), m = knob_int(kv, "num_triggers");
    const struct icl_vocab *v = icl_vocab_get(knob_int(kv, "vocab_size"));
    uint64_t nt = (uint64_t)(v->V - 2);
    for (int i = 0; i < S; i++) seq[i] = v->ordinary[hp_rng_below(r, nt)];
    int *p = xmalloc((size_t)m * sizeof *p);
    for (int i = 0; i < m; i++) p[i] = (int)hp_rng_below(r, (uint64_t)free_cells(S, k, m) + 1);
    qsort(p, (size_t)m, sizeof *p, cmp_int);
    for (int i = 0; i < m; i++) p[i] += i * (k + 1); /* sorted offsets -> non-overlapping starts */
    int32_t *X = seq + S + 1;                         /* the segment: what followed the first trigger */
    memcpy(X, seq + p[0] + 1, (size_t)k * sizeof *X);
    for (int i = 0; i < m; i++) {
        seq[p[i]] = v->id_arrow;
        memcpy(seq + p[i] + 1, X, (size_t)k * sizeof *X); /* ends at <= S - 2: ordinary tokens */
    }
    seq[S] = v->id_arrow;
    memset(ex->answer + S + 1, 1, (size_t)k);
    for (int j = 0; j < k; j++) ex->gap[S + 1 + j] = S - p[m - 1];
    free(p);
}

const struct task_kind task_induction_head = {
    .name = "induction_head",
    .summary = "copy the tokens that followed the earlier \"=>\" (H3 paper; V=20, seq_len=30)",
    .knobs = knobs,
    .n_knobs = (int)(sizeof knobs / sizeof knobs[0]),
    .validate = ih_validate,
    .vocab_size = task_vocab_knob,
    .example_len = ih_example_len,
    .chance = ih_chance,
    .token_text = icl_token_text,
    .example = ih_example,
};
