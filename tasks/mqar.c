/* mqar.c — multi-query associative recall as zoology generates it
 * (HazyResearch/zoology, zoology/data/multiquery_ar.py; peers.md §1).
 *
 * Tokens are the ids 0..V-1 (text: the number). Keys come from [1, V/2),
 * values from [V/2, V). An example is seq_len + 1 tokens (model input
 * seq_len):
 *   context (C = 2 num_kv_pairs num_passes tokens): num_kv_pairs distinct
 *     keys, each with its own distinct value, as "k v" pairs, the whole list
 *     repeated num_passes times (zoology's JRT-style passes);
 *   query region (the rest): slots at offsets C + 2s, s = 0..space-1, space
 *     = (seq_len - C) / 2. Each queried key goes to a slot; the slots are
 *     drawn one key at a time, in context order, without replacement, each
 *     free slot s with probability proportional to (s + 1)^(power_a - 1)
 *     (zoology's power law: power_a = 1 is uniform, small power_a puts
 *     queries soon after the context). The model must predict the key's value
 *     at the query: that position alone is scored.
 *   Every other input of the query region is filler: uniform over all V ids
 *   (random_non_queries) or 0.
 * As in zoology the input after a query is filler, not the value: the value
 * is only the target there (own_input). Zoology asks every key; num_queries
 * (0 = all) asks a uniformly drawn subset, still placed in context order.
 *
 * Gap of an answer: the query's position minus the position of its key in
 * the context's last pass. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"
#include "icl.h"
#include "task.h"

static const struct knob knobs[] = {
    {"vocab_size", KNOB_INT, "8192", 4, ICL_MAX_VOCAB, NULL, "ids 0..V-1: keys 1..V/2-1, values V/2..V-1"},
    {"seq_len", KNOB_INT, "64", 4, 1 << 20, NULL, "model input length (zoology's input_seq_len; even)"},
    {"num_kv_pairs", KNOB_INT, "4", 1, 1 << 16, NULL, "distinct key-value pairs in the context"},
    {"num_queries", KNOB_INT, "0", 0, 1 << 16, NULL, "keys asked in the query region (0: all of them)"},
    {"power_a", KNOB_REAL, "0.01", 1e-6, 100, NULL,
     "query slot s drawn with weight (s+1)^(power_a-1): 1 = uniform, small = soon after the context"},
    {"random_non_queries", KNOB_BOOL, "true", 0, 1, NULL, "filler in the query region: random ids (true) or 0"},
    {"num_passes", KNOB_INT, "1", 1, 64, NULL, "times the key-value list is repeated in the context"},
    TASK_SPLIT_KNOBS("100000", "3000"),
    TASK_LENGTH_KNOBS("answers"),
};

/* The sizes of one example. */
struct mq_shape {
    int V, S, kv, nq, passes, C, space, n_keys, n_values;
    double a;
    bool random;
};

static struct mq_shape shape_of(const struct knob_values *kv) {
    struct mq_shape s = {.V = knob_int(kv, "vocab_size"), .S = knob_int(kv, "seq_len"),
                         .kv = knob_int(kv, "num_kv_pairs"), .nq = knob_int(kv, "num_queries"),
                         .passes = knob_int(kv, "num_passes"), .a = knob_real(kv, "power_a"),
                         .random = knob_bool(kv, "random_non_queries")};
    if (s.nq == 0) s.nq = s.kv;
    s.C = 2 * s.kv * s.passes;
    s.space = (s.S - s.C) / 2;
    s.n_keys = s.V / 2 - 1;
    s.n_values = s.V - s.V / 2;
    return s;
}

static int mq_len_at(const struct knob_values *kv) { return knob_int(kv, "seq_len") + 1; }
static int mq_example_len(const struct knob_values *kv) { return task_example_len(kv, mq_len_at); }

/* A uniform guess among the value ids. */
static double mq_chance(const struct knob_values *kv) { return 1.0 / shape_of(kv).n_values; }

static void mq_token_text(const struct knob_values *kv, int id, char *buf, size_t len) {
    task_id_text(knob_int(kv, "vocab_size"), id, buf, len);
}

/* n (n-1) ... (n-k+1), exact while small. */
static double falling(double n, int k) {
    double p = 1;
    for (int i = 0; i < k; i++) p *= n - i;
    return p;
}

/* Distinct examples: ordered keys and values, the queried subset, their
 * ordered slots; with random filler times V^(filler tokens), an upper bound
 * (a filler id can mimic a query). Exact while small; inf when huge. */
static double mq_distinct(const struct mq_shape *s) {
    double subsets = 1; /* C(kv, nq) */
    for (int i = 1; i <= s->nq; i++) subsets = subsets * (s->kv - s->nq + i) / i;
    double d = falling(s->n_keys, s->kv) * falling(s->n_values, s->kv) * subsets * falling(s->space, s->nq);
    return s->random ? d * pow(s->V, s->S - s->C - s->nq + 1) : d;
}

static int mq_check(const struct knob_values *kv, char *err, size_t errlen) {
    struct mq_shape s = shape_of(kv);
    if (s.S % 2) return snprintf(err, errlen, "seq_len=%d must be even for mqar (pairs and query slots are two tokens)", s.S), -1;
    if (s.kv > s.n_keys)
        return snprintf(err, errlen, "num_kv_pairs=%d needs that many distinct keys; vocab_size=%d has %d (ids 1..%d)",
                        s.kv, s.V, s.n_keys, s.V / 2 - 1), -1;
    if (s.nq > s.kv)
        return snprintf(err, errlen, "num_queries=%d is more than num_kv_pairs=%d", s.nq, s.kv), -1;
    if (s.C + 2 * s.nq > s.S)
        return snprintf(err, errlen,
                        "seq_len=%d is too short for mqar: %d pairs x %d passes and %d queries need at least %d",
                        s.S, s.kv, s.passes, s.nq, s.C + 2 * s.nq), -1;
    return icl_check_sizes(kv, "mqar", mq_distinct(&s), mq_len_at(kv), err, errlen);
}

static int mq_validate(const struct knob_values *kv, char *err, size_t errlen) {
    return task_validate(kv, mq_check, mq_len_at, err, errlen);
}

/* ---- drawing ---- */

/* This thread's scratch: the slot weights and their Fenwick tree for one
 * (space, power_a), an identity pool for partial shuffles, per-example flags. */
struct mq_scratch {
    int space;
    double a;
    double *w, *tree0, *tree; /* (space), (space + 1) base and working tree */
    uint8_t *taken;           /* (space) */
    int pool_n;
    int32_t *pool;            /* (pool_n) identity between draws */
    int32_t *swaps;           /* (pool_n) */
};

static struct mq_scratch *scratch_for(const struct mq_shape *s) {
    static _Thread_local struct mq_scratch sc;
    if (sc.space != s->space || sc.a != s->a) {
        free(sc.w), free(sc.tree0), free(sc.tree), free(sc.taken);
        sc.space = s->space, sc.a = s->a;
        sc.w = xmalloc((size_t)s->space * sizeof *sc.w);
        sc.tree0 = xcalloc((size_t)s->space + 1, sizeof *sc.tree0);
        sc.tree = xmalloc(((size_t)s->space + 1) * sizeof *sc.tree);
        sc.taken = xmalloc((size_t)s->space);
        for (int i = 0; i < s->space; i++) {
            sc.w[i] = pow(i + 1.0, s->a - 1.0);
            for (int j = i + 1; j <= s->space; j += j & -j) sc.tree0[j] += sc.w[i];
        }
    }
    int need = s->n_keys > s->n_values ? s->n_keys : s->n_values;
    if (sc.pool_n < need) {
        free(sc.pool), free(sc.swaps);
        sc.pool = xmalloc((size_t)need * sizeof *sc.pool);
        sc.swaps = xmalloc((size_t)need * sizeof *sc.swaps);
        for (int i = 0; i < need; i++) sc.pool[i] = i;
        sc.pool_n = need;
    }
    return &sc;
}

/* k distinct draws from [0, n), in draw order, by a partial Fisher-Yates
 * shuffle of the identity pool, undone afterwards. */
static void draw_distinct(struct mq_scratch *sc, struct hp_rng *r, int n, int k, int32_t *out) {
    for (int i = 0; i < k; i++) {
        int j = i + (int)hp_rng_below(r, (uint64_t)(n - i));
        int32_t t = sc->pool[i];
        sc->pool[i] = sc->pool[j], sc->pool[j] = t;
        sc->swaps[i] = j;
        out[i] = sc->pool[i];
    }
    for (int i = k - 1; i >= 0; i--) {
        int j = sc->swaps[i];
        int32_t t = sc->pool[i];
        sc->pool[i] = sc->pool[j], sc->pool[j] = t;
    }
}

/* Smallest slot whose prefix sum of weights exceeds u (Fenwick descent). */
static int tree_find(const double *tree, int n, double u) {
    int pos = 0, step = 1;
    while (step * 2 <= n) step *= 2;
    for (; step; step /= 2)
        if (pos + step <= n && tree[pos + step] <= u) {
            pos += step;
            u -= tree[pos];
        }
    return pos;
}

/* Successive weighted draws of k slots without replacement. Rounding can
 * leave a taken slot a weight of ~1e-16; landing there redraws. */
static void draw_slots(struct mq_scratch *sc, struct hp_rng *r, int k, int32_t *slot) {
    int n = sc->space;
    memcpy(sc->tree, sc->tree0, ((size_t)n + 1) * sizeof *sc->tree);
    memset(sc->taken, 0, (size_t)n);
    double total = 0;
    for (int i = 0; i < n; i++) total += sc->w[i];
    for (int q = 0; q < k; q++) {
        int s;
        do s = tree_find(sc->tree, n, hp_rng_uniform(r) * total);
        while (s >= n || sc->taken[s]);
        sc->taken[s] = 1;
        slot[q] = s;
        total -= sc->w[s];
        for (int j = s + 1; j <= n; j += j & -j) sc->tree[j] -= sc->w[s];
    }
}

/* The queried keys: all, or a uniform subset in context order (selection sampling). */
static void draw_queried(const struct mq_shape *s, struct hp_rng *r, int32_t *which) {
    if (s->nq == s->kv) {
        for (int j = 0; j < s->kv; j++) which[j] = j;
        return;
    }
    for (int j = 0, m = 0, need = s->nq; need > 0; j++)
        if ((int)hp_rng_below(r, (uint64_t)(s->kv - j)) < need) which[m++] = j, need--;
}

static int32_t filler(const struct mq_shape *s, struct hp_rng *r) {
    return s->random ? (int32_t)hp_rng_below(r, (uint64_t)s->V) : 0;
}

static void mq_example(const struct knob_values *kv, struct hp_rng *r, struct task_example *ex) {
    struct mq_shape s = shape_of(kv);
    struct mq_scratch *sc = scratch_for(&s);
    int32_t *keys = xmalloc(4 * (size_t)s.kv * sizeof *keys), *vals = keys + s.kv, *which = vals + s.kv,
            *slot = which + s.kv;
    draw_distinct(sc, r, s.n_keys, s.kv, keys);
    draw_distinct(sc, r, s.n_values, s.kv, vals);
    for (int p = 0; p < s.passes; p++)
        for (int j = 0; j < s.kv; j++) {
            ex->seq[p * 2 * s.kv + 2 * j] = 1 + keys[j];
            ex->seq[p * 2 * s.kv + 2 * j + 1] = s.V / 2 + vals[j];
        }
    int nq = s.nq;
    draw_queried(&s, r, which);
    draw_slots(sc, r, nq, slot);
    int32_t *mark = xcalloc((size_t)s.S + 1, sizeof *mark); /* query region: key index + 1 at a query */
    for (int q = 0; q < nq; q++) mark[s.C + 2 * slot[q]] = which[q] + 1;
    for (int t = s.C; t <= s.S; t++) {
        if (mark[t]) continue;
        bool value = t > s.C && mark[t - 1];
        if (!value) ex->seq[t] = filler(&s, r);
        if (t < s.S) ex->input[t] = value ? filler(&s, r) : ex->seq[t];
    }
    for (int t = s.C; t < s.S; t++) {
        if (!mark[t]) continue;
        int j = mark[t] - 1;
        ex->seq[t] = ex->input[t] = 1 + keys[j];
        ex->seq[t + 1] = s.V / 2 + vals[j];
        ex->answer[t + 1] = 1;
        ex->gap[t + 1] = t - ((s.passes - 1) * 2 * s.kv + 2 * j);
    }
    memcpy(ex->input, ex->seq, (size_t)s.C * sizeof *ex->seq);
    ex->own_input = true;
    free(mark);
    free(keys);
}

const struct task_kind task_mqar = {
    .name = "mqar",
    .summary = "multi-query associative recall: every key of the context asked again (zoology; V=8192, seq_len=64)",
    .knobs = knobs,
    .n_knobs = (int)(sizeof knobs / sizeof knobs[0]),
    .validate = mq_validate,
    .vocab_size = task_vocab_knob,
    .example_len = mq_example_len,
    .chance = mq_chance,
    .token_text = mq_token_text,
    .example = mq_example,
};
