/* assoc_recall.c — the associative-recall language of the H3 paper, as the
 * reference generator (safari icl_synthetics, copy_method=assoc_recall,
 * num_keys=1, allow_dot=false) draws it; h3.md §4.1.
 *
 * Keys are the first half of the ordinary tokens in sorted order, values the
 * second half. Each example draws a fresh key->value map (values with
 * replacement), then seq_len/2 pairs "k v" with keys drawn with replacement,
 * then "=>", a query key that appeared and its value. Length
 * 2*(seq_len/2) + 3 (seq_len + 3 for even seq_len). Only the value is scored
 * at test time. Not here: the reference's extra knobs (num_keys, allow_dot),
 * left at their paper values. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"
#include "icl.h"
#include "task.h"

static const struct knob knobs[] = {ICL_COMMON_KNOBS("10", "20")};

static int n_keys(int V) { return (V - 2) / 2; }
static int n_values(int V) { return (V - 2) - n_keys(V); }

static int ar_vocab_size(const struct knob_values *kv) { return knob_int(kv, "vocab_size"); }

static int ar_example_len(const struct knob_values *kv) { return 2 * (knob_int(kv, "seq_len") / 2) + 3; }

/* A uniform guess among the values. */
static double ar_chance(const struct knob_values *kv) { return 1.0 / n_values(knob_int(kv, "vocab_size")); }

/* Distinct examples: sum over j (distinct keys used) of [key sequences of
 * P pairs using exactly j keys] * nv^j (their values) * j (the query). The
 * DP runs only when nk^P, a lower bound, is below `need`, i.e. when it is
 * tiny (P < 25 or nk = 1). */
static double ar_distinct(int V, int S, double need) {
    int nk = n_keys(V), nv = n_values(V), P = S / 2;
    if (pow(nk, P) >= need) return pow(nk, P);
    int J = P < nk ? P : nk;
    double *a = calloc((size_t)J + 1, sizeof *a); /* a[j]: sequences of t keys, exactly j distinct */
    HP_CHECK(a != NULL);
    a[0] = 1;
    for (int t = 1; t <= P; t++) {
        for (int j = (t < J ? t : J); j >= 1; j--) a[j] = a[j] * j + a[j - 1] * (nk - j + 1);
        a[0] = 0;
    }
    double total = 0;
    for (int j = 1; j <= J; j++) total += a[j] * pow(nv, j) * j;
    free(a);
    return total;
}

static int ar_validate(const struct knob_values *kv, char *err, size_t errlen) {
    int V = knob_int(kv, "vocab_size"), S = knob_int(kv, "seq_len");
    if (V < 4) {
        snprintf(err, errlen,
                 "vocab_size=%d is too small for assoc_recall: it needs at least 4 "
                 "(the specials \"=>\" and \".\", one key and one value)",
                 V);
        return -1;
    }
    if (S < 2) {
        snprintf(err, errlen, "seq_len=%d is too short for assoc_recall: it needs at least 2 (one key-value pair)",
                 S);
        return -1;
    }
    double need = fmax(knob_int(kv, "num_train"), knob_int(kv, "num_test"));
    return icl_check_sizes(kv, "assoc_recall", ar_distinct(V, S, need), ar_example_len(kv), err, errlen);
}

static void ar_example(const struct knob_values *kv, struct hp_rng *r, int32_t *seq, uint8_t *answer) {
    const struct icl_vocab *v = icl_vocab_get(knob_int(kv, "vocab_size"));
    int nk = n_keys(v->V), nv = n_values(v->V), P = knob_int(kv, "seq_len") / 2;
    int32_t *map = xmalloc(3 * (size_t)nk * sizeof *map); /* value index of each key, then flags, then list */
    int32_t *seen = map + nk, *present = seen + nk;
    for (int k = 0; k < nk; k++) {
        map[k] = (int32_t)hp_rng_below(r, (uint64_t)nv);
        seen[k] = 0;
    }
    int np = 0;
    for (int i = 0; i < P; i++) {
        int k = (int)hp_rng_below(r, (uint64_t)nk);
        seq[2 * i] = v->ordinary[k];
        seq[2 * i + 1] = v->ordinary[nk + map[k]];
        if (!seen[k]) seen[k] = 1, present[np++] = k;
    }
    /* The reference redraws until the query appeared: uniform over the keys present. */
    int q = present[hp_rng_below(r, (uint64_t)np)];
    seq[2 * P] = v->id_arrow;
    seq[2 * P + 1] = v->ordinary[q];
    seq[2 * P + 2] = v->ordinary[nk + map[q]];
    memset(answer, 0, (size_t)(2 * P + 3));
    answer[2 * P + 2] = 1;
    free(map);
}

const struct task_kind task_assoc_recall = {
    .name = "assoc_recall",
    .summary = "recall the value paired with the query key (H3 paper; V=10, seq_len=20)",
    .knobs = knobs,
    .n_knobs = (int)(sizeof knobs / sizeof knobs[0]),
    .validate = ar_validate,
    .vocab_size = ar_vocab_size,
    .example_len = ar_example_len,
    .chance = ar_chance,
    .token_text = icl_token_text,
    .example = ar_example,
};
