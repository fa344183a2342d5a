/* assoc_recall.c — the associative-recall language of the H3 paper, as the
 * reference generator (safari icl_synthetics, copy_method=assoc_recall)
 * draws it; h3.md §4.1.
 *
 * Key tokens are the first half of the ordinary tokens in sorted order, value
 * tokens the second half. A key is num_keys key tokens. Each example draws a
 * fresh key->value map (values with replacement), then P = seq_len /
 * (num_keys + 1) pairs "key value" with keys drawn with replacement, then
 * "=>", a query key and its value. Length P (num_keys + 1) + num_keys + 2
 * (seq_len + 3 for the paper's num_keys = 1 and even seq_len). Only the
 * value is scored at test time.
 *
 * The paper's setting is num_keys = 1, allow_dot = false (h3.md §4.1): the
 * query is a key that appeared, and the random stream is consumed exactly as
 * before these knobs existed (split hashes unchanged). h3.md does not define
 * the reference's behaviour beyond that; ours: with allow_dot the query is
 * any key, drawn uniformly, and a key absent from the context is answered
 * with "."; with num_keys > 1 a key's value is drawn when the key first
 * appears (the same distribution as drawing the whole map first).
 *
 * Gap of the answer: from the last token of the query key (where the value
 * is predicted) back to the last token of the key's most recent pair,
 * (P - i)(num_keys + 1) + 1 for pair i; -1 when the key is absent ("."). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"
#include "icl.h"
#include "task.h"

static const struct knob knobs[] = {
    ICL_COMMON_KNOBS("10", "20"),
    {"num_keys", KNOB_INT, "1", 1, 64, NULL, "tokens per key (a pair is num_keys key tokens, then a value)"},
    {"allow_dot", KNOB_BOOL, "false", 0, 1, NULL,
     "the query may be a key absent from the context, answered with \".\""},
    TASK_LENGTH_KNOBS("all"),
};

static int n_keys(int V) { return (V - 2) / 2; }
static int n_values(int V) { return (V - 2) - n_keys(V); }


static int ar_pairs(const struct knob_values *kv) { return knob_int(kv, "seq_len") / (knob_int(kv, "num_keys") + 1); }

static int ar_len_at(const struct knob_values *kv) {
    int n = knob_int(kv, "num_keys");
    return ar_pairs(kv) * (n + 1) + n + 2;
}

static int ar_example_len(const struct knob_values *kv) { return task_example_len(kv, ar_len_at); }

/* A uniform guess among the possible answers: the values (and "." when the
 * query may be absent). */
static double ar_chance(const struct knob_values *kv) {
    return 1.0 / (n_values(knob_int(kv, "vocab_size")) + knob_bool(kv, "allow_dot"));
}

/* Distinct examples over K = nk^n keys: sum over j (distinct keys used) of
 * [key sequences of P pairs using exactly j keys] * nv^j (their values) *
 * (query choices: j, or every key K with allow_dot). The DP runs only when
 * K^P, a lower bound, is below `need`, i.e. when it is tiny. */
static double ar_distinct(const struct knob_values *kv, double need) {
    int V = knob_int(kv, "vocab_size"), P = ar_pairs(kv), nv = n_values(V);
    double K = pow(n_keys(V), knob_int(kv, "num_keys"));
    if (pow(K, P) >= need) return pow(K, P);
    int J = P < K ? P : (int)K;
    double *a = calloc((size_t)J + 1, sizeof *a); /* a[j]: sequences of t keys, exactly j distinct */
    HP_CHECK(a != NULL);
    a[0] = 1;
    for (int t = 1; t <= P; t++) {
        for (int j = (t < J ? t : J); j >= 1; j--) a[j] = a[j] * j + a[j - 1] * (K - j + 1);
        a[0] = 0;
    }
    double total = 0;
    for (int j = 1; j <= J; j++) total += a[j] * pow(nv, j) * (knob_bool(kv, "allow_dot") ? K : j);
    free(a);
    return total;
}

static int ar_check(const struct knob_values *kv, char *err, size_t errlen) {
    int V = knob_int(kv, "vocab_size"), S = knob_int(kv, "seq_len"), n = knob_int(kv, "num_keys");
    if (V < 4) {
        snprintf(err, errlen,
                 "vocab_size=%d is too small for assoc_recall: it needs at least 4 "
                 "(the specials \"=>\" and \".\", one key and one value)",
                 V);
        return -1;
    }
    if (S < n + 1) {
        snprintf(err, errlen,
                 "seq_len=%d is too short for assoc_recall with num_keys=%d: it needs at least %d "
                 "(one key-value pair)",
                 S, n, n + 1);
        return -1;
    }
    double need = fmax(knob_int(kv, "num_train"), knob_int(kv, "num_test"));
    return icl_check_sizes(kv, "assoc_recall", ar_distinct(kv, need), ar_len_at(kv), err, errlen);
}

static int ar_validate(const struct knob_values *kv, char *err, size_t errlen) {
    return task_validate(kv, ar_check, ar_len_at, err, errlen);
}

/* The paper's form (one-token keys): the whole map first, then the pairs,
 * then the query among the keys that appeared (or any key with allow_dot). */
static void ar_example_1(const struct icl_vocab *v, int P, bool dot, struct hp_rng *r, int32_t *seq) {
    int nk = n_keys(v->V), nv = n_values(v->V);
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
    int q = dot ? (int)hp_rng_below(r, (uint64_t)nk) : present[hp_rng_below(r, (uint64_t)np)];
    seq[2 * P] = v->id_arrow;
    seq[2 * P + 1] = v->ordinary[q];
    seq[2 * P + 2] = seen[q] ? v->ordinary[nk + map[q]] : v->id_dot;
    free(map);
}

/* Index of the n-token key at `key` among the first np keys of `keys` (each n
 * tokens, stride n + 1 in seq), or -1. */
static int find_key(const int32_t *seq, const int *first, int np, const int32_t *key, int n) {
    for (int i = 0; i < np; i++)
        if (memcmp(seq + first[i], key, (size_t)n * sizeof *key) == 0) return i;
    return -1;
}

/* Multi-token keys: a key's value is drawn when the key first appears. */
static void ar_example_n(const struct icl_vocab *v, int P, int n, bool dot, struct hp_rng *r, int32_t *seq) {
    int nk = n_keys(v->V), nv = n_values(v->V), np = 0;
    int *first = xmalloc((size_t)P * sizeof *first); /* seq offset of each distinct key's first pair */
    for (int i = 0; i < P; i++) {
        int32_t *pair = seq + (size_t)i * (n + 1);
        for (int t = 0; t < n; t++) pair[t] = v->ordinary[hp_rng_below(r, (uint64_t)nk)];
        int j = find_key(seq, first, np, pair, n);
        if (j < 0) {
            pair[n] = v->ordinary[nk + hp_rng_below(r, (uint64_t)nv)];
            first[np++] = i * (n + 1);
        } else {
            pair[n] = seq[first[j] + n];
        }
    }
    int32_t *q = seq + (size_t)P * (n + 1) + 1; /* "=>" then the query key then its answer */
    q[-1] = v->id_arrow;
    if (dot)
        for (int t = 0; t < n; t++) q[t] = v->ordinary[hp_rng_below(r, (uint64_t)nk)];
    else
        memcpy(q, seq + first[hp_rng_below(r, (uint64_t)np)], (size_t)n * sizeof *q);
    int j = find_key(seq, first, np, q, n);
    q[n] = j >= 0 ? seq[first[j] + n] : v->id_dot;
    free(first);
}

/* The gap (see top) of the query at the end of seq, by reading the pairs. */
static int ar_gap(const int32_t *seq, int P, int n) {
    const int32_t *q = seq + (size_t)P * (n + 1) + 1;
    for (int i = P - 1; i >= 0; i--)
        if (memcmp(seq + (size_t)i * (n + 1), q, (size_t)n * sizeof *q) == 0) return (P - i) * (n + 1) + 1;
    return -1;
}

static void ar_example(const struct knob_values *kv, struct hp_rng *r, struct task_example *ex) {
    const struct icl_vocab *v = icl_vocab_get(knob_int(kv, "vocab_size"));
    int n = knob_int(kv, "num_keys"), P = ar_pairs(kv), E = ar_len_at(kv);
    bool dot = knob_bool(kv, "allow_dot");
    if (n == 1) ar_example_1(v, P, dot, r, ex->seq);
    else ar_example_n(v, P, n, dot, r, ex->seq);
    ex->answer[E - 1] = 1;
    ex->gap[E - 1] = ar_gap(ex->seq, P, n);
}

const struct task_kind task_assoc_recall = {
    .name = "assoc_recall",
    .summary = "recall the value paired with the query key (H3 paper; V=10, seq_len=20)",
    .knobs = knobs,
    .n_knobs = (int)(sizeof knobs / sizeof knobs[0]),
    .validate = ar_validate,
    .vocab_size = task_vocab_knob,
    .example_len = ar_example_len,
    .chance = ar_chance,
    .token_text = icl_token_text,
    .example = ar_example,
};
