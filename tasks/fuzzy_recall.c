/* fuzzy_recall.c — MAD's fuzzy in-context recall (athms/mad-lab,
 * mad/data/instances.py, generate_fuzzy_in_context_recall_instance;
 * peers.md §2): keys and values of several tokens.
 *
 * Ids (text: the number): with multi_query the pad is V-1 ("_") and
 * N = V - 1 - noise_vocab_size ids are keys and values; single-query has the
 * copy prefix V-1 ("=>"), the pad V-2 and N = V - 2 - noise_vocab_size. Keys
 * use [0, N/2), values [N/2, N), noise [N, N + noise_vocab_size). A key is
 * 1..k_motif_size distinct key ids in order (uniform over such tuples), a
 * value 1..v_motif_size distinct value ids; in the training split key sizes
 * are uniform in 1..k_motif_size, in the test split every key has
 * k_motif_size tokens (MAD's "prompt at the maximum key size"); value sizes
 * are uniform in 1..v_motif_size in both. Since key and value ids differ, a
 * key is a maximal run of key ids and its value the run after it.
 *
 * An example: a probe key and value are drawn; then, until the body reaches
 * seq_len - |probe| - (k_motif_size + v_motif_size) tokens, items are
 * appended: the probe pair once the body reaches the probe's drawn place,
 * else noise (k + v noise tokens with probability frac_noise) or a pair: a
 * key, then its value (the probe's for the probe key; the one it had if it
 * was seen; else a fresh one). Then ("=>" single-query) the probe key and its
 * value, and pad tokens in front up to seq_len + 1 tokens. With multi_query
 * every pair whose key was seen before is scored at its value tokens, and the
 * final value always. MAD trains on every next token, as the default
 * loss_mask here does.
 *
 * One deliberate difference: MAD draws the probe's place in
 * [0, seq_len - 2 |probe|), beyond where the loop may stop, so in a few
 * percent of its examples (1.9% of training and 2.3% of test examples at its
 * baseline, counted with that range in our generator) the final probe asks a
 * key never shown. We draw it in [0, stop - (k_motif_size + v_motif_size)],
 * which the loop always reaches, so every scored answer is in the context.
 *
 * Gap of an answer: from the start of the key's most recent earlier
 * occurrence to the start of the key before the value (equally, between the
 * corresponding value tokens). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"
#include "icl.h"
#include "task.h"

static const struct knob knobs[] = {
    {"vocab_size", KNOB_INT, "16", 3, ICL_MAX_VOCAB, NULL, "all ids: keys, values, noise, the pad (and \"=>\")"},
    {"seq_len", KNOB_INT, "128", 4, 1 << 20, NULL, "model input length (examples are left-padded to it)"},
    {"k_motif_size", KNOB_INT, "3", 1, 16, NULL, "most tokens in a key (the test split's key size)"},
    {"v_motif_size", KNOB_INT, "3", 1, 16, NULL, "most tokens in a value"},
    {"multi_query", KNOB_BOOL, "true", 0, 1, NULL, "score every repeated key's value (MAD's default), else the probe only"},
    {"noise_vocab_size", KNOB_INT, "0", 0, ICL_MAX_VOCAB, NULL, "ids reserved for noise (part of vocab_size)"},
    {"frac_noise", KNOB_REAL, "0", 0, 0.99, NULL, "probability that an item is noise instead of a pair"},
    TASK_SPLIT_KNOBS("12800", "1280"),
    TASK_LENGTH_KNOBS("all"),
};

struct fz_vocab {
    int V, N, nk, nv, noise, pad, copy; /* copy = -1 with multi_query */
};

static struct fz_vocab vocab_of(const struct knob_values *kv) {
    struct fz_vocab v = {.V = knob_int(kv, "vocab_size"), .noise = knob_int(kv, "noise_vocab_size")};
    bool mq = knob_bool(kv, "multi_query");
    v.N = (mq ? v.V - 1 : v.V - 2) - v.noise;
    v.nk = v.N / 2;
    v.nv = v.N - v.nk;
    v.pad = mq ? v.V - 1 : v.V - 2;
    v.copy = mq ? -1 : v.V - 1;
    return v;
}

static int fz_len_at(const struct knob_values *kv) { return knob_int(kv, "seq_len") + 1; }
static int fz_example_len(const struct knob_values *kv) { return task_example_len(kv, fz_len_at); }

/* A uniform guess among the value ids. */
static double fz_chance(const struct knob_values *kv) { return 1.0 / vocab_of(kv).nv; }

static void fz_token_text(const struct knob_values *kv, int id, char *buf, size_t len) {
    struct fz_vocab v = vocab_of(kv);
    if (id == v.copy) snprintf(buf, len, "=>");
    else if (id == v.pad) snprintf(buf, len, "_");
    else task_id_text(v.V, id, buf, len);
}

static int fz_check(const struct knob_values *kv, char *err, size_t errlen) {
    struct fz_vocab v = vocab_of(kv);
    int S = knob_int(kv, "seq_len"), km = knob_int(kv, "k_motif_size"), vm = knob_int(kv, "v_motif_size");
    if (v.nk < km || v.nv < vm)
        return snprintf(err, errlen,
                        "vocab_size=%d is too small for fuzzy_recall with k_motif_size=%d, v_motif_size=%d, "
                        "noise_vocab_size=%d: a key's tokens differ, as do a value's, so it needs at least %d",
                        v.V, km, vm, v.noise, v.V - v.N + 2 * (km > vm ? km : vm)), -1;
    if (knob_real(kv, "frac_noise") > 0 && v.noise < 1)
        return snprintf(err, errlen, "frac_noise=%g needs noise tokens: noise_vocab_size=0 must be at least 1",
                        knob_real(kv, "frac_noise")), -1;
    if (S < 3 * (km + vm))
        return snprintf(err, errlen,
                        "seq_len=%d is too short for fuzzy_recall with k_motif_size=%d, v_motif_size=%d: it needs "
                        "at least %d",
                        S, km, vm, 3 * (km + vm)), -1;
    /* The distinct-example count is not computed; too few show as a failed draw. */
    return icl_check_sizes(kv, "fuzzy_recall", 1e300, fz_len_at(kv), err, errlen);
}

static int fz_validate(const struct knob_values *kv, char *err, size_t errlen) {
    return task_validate(kv, fz_check, fz_len_at, err, errlen);
}

/* ---- drawing ---- */

struct fz_key {
    int start, size, vstart, vsize; /* first occurrence of the key and its value in the body */
    int last;                       /* start of the latest occurrence */
};

/* One example under construction: the body (before padding) with its
 * answers and gaps, and the keys seen (open addressing over their tokens). */
struct fz_draw {
    struct fz_vocab v;
    int km, vm;
    bool train, mq;
    int32_t *body;
    uint8_t *ans;
    int32_t *gap;
    int n, cap_body;
    struct fz_key *keys;
    int nkeys;
    int32_t *slot; /* key index + 1; 0 = empty */
    int mask;
};

static uint64_t tuple_hash(const int32_t *t, int n) {
    uint64_t h = (uint64_t)n;
    for (int i = 0; i < n; i++) h = hp_mix64(h ^ (uint64_t)(uint32_t)t[i]) + 0x9E3779B97F4A7C15ULL;
    return h;
}

/* Slot of the key t[0..n), or of the empty place it would take. */
static int key_slot(const struct fz_draw *d, const int32_t *t, int n) {
    int i = (int)(tuple_hash(t, n) & (uint64_t)d->mask);
    while (d->slot[i]) {
        const struct fz_key *k = &d->keys[d->slot[i] - 1];
        if (k->size == n && memcmp(d->body + k->start, t, (size_t)n * sizeof *t) == 0) break;
        i = (i + 1) & d->mask;
    }
    return i;
}

/* size distinct ids from [base, base + pool), uniform over ordered tuples. */
static void motif(struct hp_rng *r, int base, int pool, int size, int32_t *out) {
    for (int i = 0; i < size; i++) {
        bool dup;
        do {
            out[i] = base + (int32_t)hp_rng_below(r, (uint64_t)pool);
            dup = false;
            for (int j = 0; j < i; j++) dup |= out[j] == out[i];
        } while (dup);
    }
}

static void append(struct fz_draw *d, const int32_t *t, int n) {
    HP_CHECK(d->n + n <= d->cap_body);
    memcpy(d->body + d->n, t, (size_t)n * sizeof *t);
    d->n += n;
}

/* Append "k v"; a key seen before scores its value (multi_query). */
static void put_pair(struct fz_draw *d, const int32_t *k, int ks, const int32_t *v, int vs) {
    int start = d->n;
    append(d, k, ks);
    int s = key_slot(d, d->body + start, ks), vstart = d->n;
    append(d, v, vs);
    if (!d->slot[s]) {
        d->keys[d->nkeys] = (struct fz_key){start, ks, vstart, vs, start};
        d->slot[s] = ++d->nkeys;
        return;
    }
    struct fz_key *key = &d->keys[d->slot[s] - 1];
    for (int m = 0; m < vs && d->mq; m++) d->ans[vstart + m] = 1, d->gap[vstart + m] = start - key->last;
    key->last = start;
}

/* One loop item: a pair (or noise) of freshly drawn sizes. True when the
 * pair was the probe key's. */
static bool put_item(struct fz_draw *d, const struct knob_values *kv, struct hp_rng *r, const int32_t *kp, int kps,
                     const int32_t *vp, int vps) {
    int ks = d->train ? 1 + (int)hp_rng_below(r, (uint64_t)d->km) : d->km;
    int vs = 1 + (int)hp_rng_below(r, (uint64_t)d->vm);
    double frac = knob_real(kv, "frac_noise");
    if (frac > 0 && hp_rng_uniform(r) < frac) {
        HP_CHECK(d->n + ks + vs <= d->cap_body);
        for (int i = 0; i < ks + vs; i++) d->body[d->n++] = d->v.N + (int32_t)hp_rng_below(r, (uint64_t)d->v.noise);
        return false;
    }
    int32_t k[16], v[16];
    motif(r, 0, d->v.nk, ks, k);
    if (ks == kps && memcmp(k, kp, (size_t)ks * sizeof *k) == 0) {
        put_pair(d, k, ks, vp, vps);
        return true;
    }
    append(d, k, ks); /* look the key up in place, then take it back */
    int s = key_slot(d, d->body + d->n - ks, ks);
    d->n -= ks;
    if (d->slot[s]) {
        const struct fz_key *key = &d->keys[d->slot[s] - 1];
        put_pair(d, k, ks, d->body + key->vstart, key->vsize);
    } else {
        motif(r, d->v.nk, d->v.nv, vs, v);
        put_pair(d, k, ks, v, vs);
    }
    return false;
}

static void draw_init(struct fz_draw *d, const struct knob_values *kv, const struct task_example *ex) {
    int S = knob_int(kv, "seq_len");
    *d = (struct fz_draw){.v = vocab_of(kv), .km = knob_int(kv, "k_motif_size"), .vm = knob_int(kv, "v_motif_size"),
                          .train = ex->split == SPLIT_TRAIN, .mq = knob_bool(kv, "multi_query")};
    d->cap_body = S + 1 + d->km + d->vm;
    d->body = xmalloc((size_t)d->cap_body * sizeof *d->body);
    d->ans = xcalloc((size_t)d->cap_body, 1);
    d->gap = xmalloc((size_t)d->cap_body * sizeof *d->gap);
    for (int j = 0; j < d->cap_body; j++) d->gap[j] = -1;
    int max_keys = S / 2 + 2, cap = 16; /* a pair is at least two tokens */
    while (cap < 2 * max_keys) cap *= 2;
    d->keys = xmalloc((size_t)max_keys * sizeof *d->keys);
    d->slot = xcalloc((size_t)cap, sizeof *d->slot);
    d->mask = cap - 1;
}

static void draw_free(struct fz_draw *d) {
    free(d->body);
    free(d->ans);
    free(d->gap);
    free(d->keys);
    free(d->slot);
}

/* The final probe, scored in both modes; its key is always in the body. */
static void put_probe(struct fz_draw *d, const int32_t *kp, int kps, const int32_t *vp, int vps) {
    int32_t copy = d->v.copy;
    if (copy >= 0) append(d, &copy, 1);
    int start = d->n;
    append(d, kp, kps);
    int s = key_slot(d, d->body + start, kps), vstart = d->n;
    HP_CHECK(d->slot[s] != 0);
    append(d, vp, vps);
    for (int m = 0; m < vps; m++) d->ans[vstart + m] = 1, d->gap[vstart + m] = start - d->keys[d->slot[s] - 1].last;
}

static void fz_example(const struct knob_values *kv, struct hp_rng *r, struct task_example *ex) {
    struct fz_draw d;
    draw_init(&d, kv, ex);
    int S = knob_int(kv, "seq_len"), E = S + 1;
    int32_t kp[16], vp[16];
    int kps = d.train ? 1 + (int)hp_rng_below(r, (uint64_t)d.km) : d.km;
    int vps = 1 + (int)hp_rng_below(r, (uint64_t)d.vm);
    motif(r, 0, d.v.nk, kps, kp);
    motif(r, d.v.nk, d.v.nv, vps, vp);
    int stop = S - (kps + vps) - (d.km + d.vm);
    int place = (int)hp_rng_below(r, (uint64_t)(stop - (d.km + d.vm) + 1)); /* always reached (see top) */
    bool probe_in = false;
    while (d.n < stop) {
        if (d.n >= place && !probe_in) {
            put_pair(&d, kp, kps, vp, vps);
            probe_in = true;
        } else {
            probe_in |= put_item(&d, kv, r, kp, kps, vp, vps);
        }
    }
    put_probe(&d, kp, kps, vp, vps);
    int pad = E - d.n;
    HP_CHECK(pad >= 1);
    for (int j = 0; j < pad; j++) ex->seq[j] = d.v.pad;
    memcpy(ex->seq + pad, d.body, (size_t)d.n * sizeof *d.body);
    memcpy(ex->answer + pad, d.ans, (size_t)d.n);
    memcpy(ex->gap + pad, d.gap, (size_t)d.n * sizeof *d.gap);
    draw_free(&d);
}

const struct task_kind task_fuzzy_recall = {
    .name = "fuzzy_recall",
    .summary = "recall with keys and values of several tokens (MAD; V=16, seq_len=128, motifs of up to 3)",
    .knobs = knobs,
    .n_knobs = (int)(sizeof knobs / sizeof knobs[0]),
    .validate = fz_validate,
    .vocab_size = task_vocab_knob,
    .example_len = fz_example_len,
    .chance = fz_chance,
    .token_text = fz_token_text,
    .example = fz_example,
};
