/* noisy_recall.c — MAD's noisy in-context recall (athms/mad-lab,
 * mad/data/instances.py, generate_noisy_in_context_recall_instance, i.e.
 * generate_in_context_recall_instance with noise; peers.md §2).
 *
 * Ids (text: the number): with multi_query, N = vocab_size - noise_vocab_size
 * key/value ids; single-query reserves V-1 for the copy prefix "=>" and has
 * N = vocab_size - 1 - noise_vocab_size. Keys are [0, N/2), values
 * [N/2, N), noise tokens [N, N + noise_vocab_size): a separate vocabulary.
 * An example is P - 1 two-token slots (P = seq_len / 2), then a probe. Each
 * slot is noise with probability frac_noise (two noise tokens, uniform with
 * replacement) except one slot drawn uniformly among P that is always a pair
 * (as in MAD, that slot may be the probe's, which is not drawn in the loop),
 * otherwise a pair "k v": k uniform over the keys, v the key's value, drawn
 * uniformly when the key first appears. Then (single-query: "=>") a key drawn
 * uniformly among the distinct keys presented, and its value. With
 * multi_query every pair whose key was presented before is scored at its
 * value, and the final value always. Length seq_len (multi_query) or
 * seq_len + 1. MAD trains on every next token and tests on the values; so
 * does the default loss_mask here.
 *
 * Where MAD would fail (every slot noise, so no key to probe), the example is
 * drawn again.
 *
 * Gap of an answer: from the key's most recent earlier occurrence to the key
 * before the value (keys always sit at even positions). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"
#include "icl.h"
#include "task.h"

static const struct knob knobs[] = {
    {"vocab_size", KNOB_INT, "32", 3, ICL_MAX_VOCAB, NULL, "all ids: keys, values, noise (and \"=>\" single-query)"},
    {"seq_len", KNOB_INT, "128", 4, 1 << 20, NULL, "MAD's seq_len (even): P - 1 slots of two tokens, then the probe"},
    {"noise_vocab_size", KNOB_INT, "16", 0, ICL_MAX_VOCAB, NULL, "ids reserved for noise (part of vocab_size)"},
    {"frac_noise", KNOB_REAL, "0.2", 0, 0.99, NULL, "probability that a slot is two noise tokens"},
    {"multi_query", KNOB_BOOL, "true", 0, 1, NULL, "score every repeated key's value (MAD's default), else the probe only"},
    TASK_SPLIT_KNOBS("12800", "1280"),
    TASK_LENGTH_KNOBS("all"),
};

struct nr_vocab {
    int V, N, nk, nv, noise, copy; /* copy = -1 with multi_query */
};

static struct nr_vocab vocab_of(const struct knob_values *kv) {
    struct nr_vocab v = {.V = knob_int(kv, "vocab_size"), .noise = knob_int(kv, "noise_vocab_size")};
    bool mq = knob_bool(kv, "multi_query");
    v.N = (mq ? v.V : v.V - 1) - v.noise;
    v.nk = v.N / 2;
    v.nv = v.N - v.nk;
    v.copy = mq ? -1 : v.V - 1;
    return v;
}


static int nr_len_at(const struct knob_values *kv) {
    return knob_int(kv, "seq_len") + !knob_bool(kv, "multi_query");
}

static int nr_example_len(const struct knob_values *kv) { return task_example_len(kv, nr_len_at); }

/* A uniform guess among the value ids. */
static double nr_chance(const struct knob_values *kv) { return 1.0 / vocab_of(kv).nv; }

static void nr_token_text(const struct knob_values *kv, int id, char *buf, size_t len) {
    struct nr_vocab v = vocab_of(kv);
    if (id == v.copy) snprintf(buf, len, "=>");
    else task_id_text(v.V, id, buf, len);
}

/* An upper bound on distinct examples: every slot a noise pair or any key
 * with any value, times the probe's key and value. */
static double nr_distinct(const struct knob_values *kv) {
    struct nr_vocab v = vocab_of(kv);
    double per = (double)v.nk * v.nv + (knob_real(kv, "frac_noise") > 0 ? (double)v.noise * v.noise : 0);
    double l = (knob_int(kv, "seq_len") / 2 - 1) * log(per) + log((double)v.nk * v.nv);
    return l > 690 ? 1e300 : exp(l);
}

static int nr_check(const struct knob_values *kv, char *err, size_t errlen) {
    struct nr_vocab v = vocab_of(kv);
    int S = knob_int(kv, "seq_len");
    if (S % 2) return snprintf(err, errlen, "seq_len=%d must be even for noisy_recall (slots are two tokens)", S), -1;
    if (v.N < 2)
        return snprintf(err, errlen,
                        "vocab_size=%d is too small for noisy_recall with noise_vocab_size=%d%s: it needs at least "
                        "%d (one key and one value besides the noise)",
                        v.V, v.noise, v.copy >= 0 ? " and the copy prefix" : "", v.V - v.N + 2), -1;
    if (knob_real(kv, "frac_noise") > 0 && v.noise < 1)
        return snprintf(err, errlen, "frac_noise=%g needs noise tokens: noise_vocab_size=0 must be at least 1",
                        knob_real(kv, "frac_noise")), -1;
    return icl_check_sizes(kv, "noisy_recall", nr_distinct(kv), nr_len_at(kv), err, errlen);
}

static int nr_validate(const struct knob_values *kv, char *err, size_t errlen) {
    return task_validate(kv, nr_check, nr_len_at, err, errlen);
}

/* Per-example state: each key's value (-1 = not yet) and last position. */
struct nr_draw {
    struct nr_vocab v;
    int32_t *value, *last, *shown; /* (nk), (nk), (nk): distinct keys in order of first appearance */
    int n_shown;
};

static void put_pair(struct nr_draw *d, struct hp_rng *r, struct task_example *ex, int t, bool mq) {
    int k = (int)hp_rng_below(r, (uint64_t)d->v.nk);
    if (d->value[k] < 0) d->value[k] = (int32_t)hp_rng_below(r, (uint64_t)d->v.nv);
    ex->seq[t] = k;
    ex->seq[t + 1] = d->v.nk + d->value[k];
    if (d->last[k] >= 0 && mq) ex->answer[t + 1] = 1, ex->gap[t + 1] = t - d->last[k];
    if (d->last[k] < 0) d->shown[d->n_shown++] = k;
    d->last[k] = t;
}

/* The P - 1 slots; false when no key was presented (MAD would fail). */
static bool draw_slots(struct nr_draw *d, const struct knob_values *kv, struct hp_rng *r, struct task_example *ex) {
    int P = knob_int(kv, "seq_len") / 2;
    double frac = knob_real(kv, "frac_noise");
    bool mq = knob_bool(kv, "multi_query");
    for (int k = 0; k < d->v.nk; k++) d->value[k] = d->last[k] = -1;
    d->n_shown = 0;
    int keep = (int)hp_rng_below(r, (uint64_t)P);
    for (int i = 0; i < P - 1; i++) {
        bool noise = i != keep && frac > 0 && hp_rng_uniform(r) < frac;
        if (!noise) {
            put_pair(d, r, ex, 2 * i, mq);
            continue;
        }
        for (int j = 0; j < 2; j++) ex->seq[2 * i + j] = d->v.N + (int32_t)hp_rng_below(r, (uint64_t)d->v.noise);
    }
    return d->n_shown > 0;
}

static void nr_example(const struct knob_values *kv, struct hp_rng *r, struct task_example *ex) {
    struct nr_draw d = {.v = vocab_of(kv)};
    d.value = xmalloc(3 * (size_t)d.v.nk * sizeof *d.value);
    d.last = d.value + d.v.nk, d.shown = d.last + d.v.nk;
    int E = nr_len_at(kv);
    for (;;) {
        memset(ex->answer, 0, (size_t)E);
        for (int j = 0; j < E; j++) ex->gap[j] = -1;
        if (draw_slots(&d, kv, r, ex)) break;
    }
    int t = knob_int(kv, "seq_len") - 2;
    if (d.v.copy >= 0) ex->seq[t++] = d.v.copy;
    int k = d.shown[hp_rng_below(r, (uint64_t)d.n_shown)];
    ex->seq[t] = k;
    ex->seq[t + 1] = d.v.nk + d.value[k];
    ex->answer[t + 1] = 1;
    ex->gap[t + 1] = t - d.last[k];
    free(d.value);
}

const struct task_kind task_noisy_recall = {
    .name = "noisy_recall",
    .summary = "recall among noise tokens from a separate vocabulary (MAD; V=32 with 16 noise, seq_len=128)",
    .knobs = knobs,
    .n_knobs = (int)(sizeof knobs / sizeof knobs[0]),
    .validate = nr_validate,
    .vocab_size = task_vocab_knob,
    .example_len = nr_example_len,
    .chance = nr_chance,
    .token_text = nr_token_text,
    .example = nr_example,
};
