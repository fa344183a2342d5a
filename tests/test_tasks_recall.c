/* test_tasks_recall.c — MAD's noisy and fuzzy recall (tasks/noisy_recall.c,
 * tasks/fuzzy_recall.c).
 *
 * Every example is re-read from its tokens alone (our own parse): token
 * classes by id range, the slots (noisy) or the key/value runs (fuzzy), each
 * key's value kept within the example, which values are scored and their
 * gaps, the final probe's key present earlier; the noise fraction against
 * frac_noise; the train/test difference of fuzzy keys; knobs, lengths,
 * determinism. Build: make test. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"
#include "testutil.h"

#include "task_testutil.h"

/* Id classes of both tasks: keys [0, N/2), values [N/2, N), noise [N, N+noise). */
enum cls { KEY, VALUE, NOISE, OTHER };

struct ids {
    int N, noise;
};

static enum cls cls_of(const struct ids *c, int32_t id) {
    if (id < 0) return OTHER;
    if (id < c->N / 2) return KEY;
    if (id < c->N) return VALUE;
    if (id < c->N + c->noise) return NOISE;
    return OTHER;
}

/* ---- noisy recall ---- */

struct nr_tally {
    long noise_slots, loop_slots;
};

static void nr_check(const struct knob_values *kv, enum task_split_kind sp, const struct ex_view *e, void *vctx) {
    (void)sp;
    struct nr_tally *tally = vctx;
    int V = knob_int(kv, "vocab_size"), S = e->seq_len;
    bool mq = knob_bool(kv, "multi_query");
    struct ids c = {(mq ? V : V - 1) - knob_int(kv, "noise_vocab_size"), knob_int(kv, "noise_vocab_size")};
    REQUIRE(e->len + 1 == S + !mq, "length %d at seq_len %d", e->len + 1, S);
    int32_t seq[2048];
    tokens_of(e, seq);
    int value[1024], last[1024];
    for (int k = 0; k < c.N / 2; k++) value[k] = last[k] = -1;
    for (int t = 0; t + 2 < S; t += 2) { /* the P - 1 slots; y index of the value is t */
        enum cls a = cls_of(&c, seq[t]), b = cls_of(&c, seq[t + 1]);
        if (tally) tally->loop_slots++, tally->noise_slots += a == NOISE;
        if (a == NOISE) {
            REQUIRE(b == NOISE && !e->ans[t], "noise slot at %d: %d %d", t, seq[t], seq[t + 1]);
            continue;
        }
        REQUIRE(a == KEY && b == VALUE, "slot at %d is neither noise nor a pair: %d %d", t, seq[t], seq[t + 1]);
        int k = seq[t];
        REQUIRE(value[k] < 0 || value[k] == seq[t + 1], "key %d has two values", k);
        bool repeat = last[k] >= 0;
        REQUIRE(e->ans[t] == (repeat && mq), "pair at %d: scored %d, repeated key %d", t, e->ans[t], repeat);
        if (e->ans[t]) REQUIRE(e->gap[t] == t - last[k], "gap %d at %d, want %d", e->gap[t], t, t - last[k]);
        value[k] = seq[t + 1], last[k] = t;
    }
    int q = S - 2; /* the probe key's position */
    if (!mq) REQUIRE(seq[q++] == V - 1, "no copy prefix before the probe");
    int k = seq[q];
    REQUIRE(cls_of(&c, k) == KEY && last[k] >= 0, "probe %d was not presented", k);
    REQUIRE(seq[q + 1] == value[k], "probe answer %d, the key's value is %d", seq[q + 1], value[k]);
    REQUIRE(e->ans[q] && e->gap[q] == q - last[k], "probe at %d: scored %d gap %d", q, e->ans[q], e->gap[q]);
    for (int t = S - 2; t < e->len; t++) REQUIRE(t == q || !e->ans[t], "extra answer at %d", t);
}

START_TEST(test_noisy_format) {
    static const char *const cases[][16] = {
        {"num_train", "1000", "num_test", "200", NULL},
        {"multi_query", "false", "num_train", "500", "num_test", "100", NULL},
        {"frac_noise", "0", "noise_vocab_size", "0", "seq_len", "64", "num_train", "500", "num_test", "100", NULL},
        {"vocab_size", "80", "frac_noise", "0.8", "seq_len", "256", "num_train", "300", "num_test", "100", NULL},
        {"seq_len", "6", "vocab_size", "40", "frac_noise", "0.6", "num_train", "2000", "num_test", "200", NULL},
    };
    struct knob_values kv = kv_of(&task_noisy_recall, cases[_i]);
    for_each_view(&task_noisy_recall, &kv, nr_check, NULL);
}
END_TEST

/* The share of noise slots: each loop slot but the one kept for a pair is
 * noise with probability frac_noise. Over M examples of P - 1 slots the kept
 * slot falls inside the loop with probability (P - 1) / P. */
START_TEST(test_noisy_fraction) {
    static const char *const fracs[] = {"0.2", "0.6"};
    const char *sets[] = {"frac_noise", fracs[_i], "num_train", "4000", "num_test", "1", NULL};
    struct knob_values kv = kv_of(&task_noisy_recall, sets);
    struct nr_tally tally = {0};
    split_views(&task_noisy_recall, &kv, SPLIT_TRAIN, nr_check, &tally);
    double f = atof(fracs[_i]), P = 64, free_slots = 4000 * (P - 1 - (P - 1) / P);
    double want = f * free_slots, sd = sqrt(free_slots * f * (1 - f));
    ck_assert_msg(fabs(tally.noise_slots - want) < 6 * sd, "frac_noise=%s: %ld noise slots, want %.0f +- %.0f",
                  fracs[_i], tally.noise_slots, want, 6 * sd);
}
END_TEST

/* ---- fuzzy recall ---- */

struct fz_tally {
    long short_keys, keys; /* keys below k_motif_size, all keys */
};

struct run {
    int start, n;
};

static bool distinct_run(const int32_t *seq, struct run r) {
    for (int i = 0; i < r.n; i++)
        for (int j = 0; j < i; j++)
            if (seq[r.start + i] == seq[r.start + j]) return false;
    return true;
}

static struct run run_of(const struct ids *c, const int32_t *seq, int from, int end, enum cls want) {
    struct run r = {from, 0};
    while (from + r.n < end && cls_of(c, seq[from + r.n]) == want) r.n++;
    return r;
}

/* The pairs of one example: key runs (starts, sizes) in order. */
struct fz_pairs {
    struct run key[512], value[512];
    int n;
};

static void fz_parse(const struct knob_values *kv, const struct ex_view *e, const int32_t *seq, struct fz_pairs *p) {
    int V = knob_int(kv, "vocab_size"), km = knob_int(kv, "k_motif_size"), vm = knob_int(kv, "v_motif_size");
    bool mq = knob_bool(kv, "multi_query");
    struct ids c = {(mq ? V - 1 : V - 2) - knob_int(kv, "noise_vocab_size"), knob_int(kv, "noise_vocab_size")};
    int pad = mq ? V - 1 : V - 2, E = e->len + 1, t = 0;
    while (t < E && seq[t] == pad) t++;
    REQUIRE(t >= 1, "no pad in front");
    p->n = 0;
    while (t < E) {
        enum cls k = cls_of(&c, seq[t]);
        if (k == NOISE) {
            t += run_of(&c, seq, t, E, NOISE).n;
            continue;
        }
        if (!mq && seq[t] == V - 1 && t + 1 < E) {
            t++; /* the copy prefix: the probe follows */
            continue;
        }
        struct run key = run_of(&c, seq, t, E, KEY);
        struct run val = run_of(&c, seq, t + key.n, E, VALUE);
        REQUIRE(key.n >= 1 && key.n <= km && val.n >= 1 && val.n <= vm, "bad pair at %d: key %d value %d tokens", t,
                key.n, val.n);
        REQUIRE(distinct_run(seq, key) && distinct_run(seq, val), "repeated token in a key or value at %d", t);
        p->key[p->n] = key, p->value[p->n++] = val;
        t = val.start + val.n;
    }
    REQUIRE(p->n >= 2, "only %d pairs", p->n);
    if (!mq) REQUIRE(seq[p->key[p->n - 1].start - 1] == V - 1, "no copy prefix before the probe");
}

static bool same_run(const int32_t *seq, struct run a, struct run b) {
    return a.n == b.n && memcmp(seq + a.start, seq + b.start, (size_t)a.n * sizeof *seq) == 0;
}

static void fz_check(const struct knob_values *kv, enum task_split_kind sp, const struct ex_view *e, void *vctx) {
    struct fz_tally *tally = vctx;
    bool mq = knob_bool(kv, "multi_query");
    int km = knob_int(kv, "k_motif_size");
    REQUIRE(e->len == e->seq_len, "length %d at seq_len %d", e->len, e->seq_len);
    int32_t seq[2048];
    tokens_of(e, seq);
    static struct fz_pairs p;
    fz_parse(kv, e, seq, &p);
    int scored = 0;
    for (int i = 0; i < p.n; i++) {
        if (sp == SPLIT_TEST) REQUIRE(p.key[i].n == km, "test key of %d tokens", p.key[i].n);
        if (tally) tally->keys++, tally->short_keys += p.key[i].n < km;
        int prev = -1;
        for (int j = i - 1; j >= 0 && prev < 0; j--) prev = same_run(seq, p.key[j], p.key[i]) ? j : -1;
        if (prev >= 0) REQUIRE(same_run(seq, p.value[prev], p.value[i]), "pair %d: the key's value changed", i);
        bool final = i == p.n - 1, want = final || (mq && prev >= 0);
        REQUIRE(!final || prev >= 0, "the probe's key was never shown");
        for (int m = 0; m < p.value[i].n; m++) {
            int t = p.value[i].start + m - 1; /* y index of the value token */
            REQUIRE(e->ans[t] == want, "pair %d value token %d: scored %d, want %d", i, m, e->ans[t], want);
            if (want) REQUIRE(e->gap[t] == p.key[i].start - p.key[prev].start, "pair %d: gap %d", i, e->gap[t]);
        }
        scored += want ? p.value[i].n : 0;
    }
    int total = 0;
    for (int t = 0; t < e->len; t++) total += e->ans[t];
    REQUIRE(total == scored, "%d answers, %d expected from the parse", total, scored);
}

START_TEST(test_fuzzy_format) {
    static const char *const cases[][16] = {
        {"num_train", "1000", "num_test", "200", NULL},
        {"multi_query", "false", "num_train", "500", "num_test", "100", NULL},
        {"vocab_size", "40", "noise_vocab_size", "10", "frac_noise", "0.3", "num_train", "500", "num_test", "100", NULL},
        {"k_motif_size", "1", "v_motif_size", "2", "seq_len", "64", "num_train", "500", "num_test", "100", NULL},
        {"vocab_size", "64", "seq_len", "512", "num_train", "200", "num_test", "50", NULL},
    };
    struct knob_values kv = kv_of(&task_fuzzy_recall, cases[_i]);
    for_each_view(&task_fuzzy_recall, &kv, fz_check, NULL);
}
END_TEST

/* Training keys have 1..k_motif_size tokens, uniformly; test keys all k. */
START_TEST(test_fuzzy_key_sizes) {
    const char *sets[] = {"num_train", "500", "num_test", "100", NULL};
    struct knob_values kv = kv_of(&task_fuzzy_recall, sets);
    struct fz_tally t = {0};
    split_views(&task_fuzzy_recall, &kv, SPLIT_TRAIN, fz_check, &t);
    /* Keys 1..3 uniform: two thirds short (the probe's own repeats aside). */
    double share = (double)t.short_keys / t.keys;
    ck_assert_msg(share > 0.6 && share < 0.73, "%ld of %ld training keys shorter than 3", t.short_keys, t.keys);
}
END_TEST

/* ---- both ---- */

START_TEST(test_knobs_and_validation) {
    struct knob_values kv = kv_of(&task_noisy_recall, NULL);
    char err[512];
    ck_assert_msg(task_noisy_recall.validate(&kv, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(task_noisy_recall.example_len(&kv), 128);
    ck_assert(fabs(task_noisy_recall.chance(&kv) - 1.0 / 8) < 1e-15); /* 16 key/value ids: 8 values */
    ck_assert_str_eq(knob_str(&kv, "loss_mask"), "all");
    const char *odd[] = {"seq_len", "65", NULL};
    kv = kv_of(&task_noisy_recall, odd);
    ck_assert_int_eq(task_noisy_recall.validate(&kv, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "seq_len=65"), "%s", err);
    const char *small[] = {"vocab_size", "17", NULL};
    kv = kv_of(&task_noisy_recall, small);
    ck_assert_int_eq(task_noisy_recall.validate(&kv, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "vocab_size=17") && strstr(err, "at least 18"), "%s", err);
    kv = kv_of(&task_fuzzy_recall, NULL);
    ck_assert_msg(task_fuzzy_recall.validate(&kv, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(task_fuzzy_recall.example_len(&kv), 129);
    ck_assert(fabs(task_fuzzy_recall.chance(&kv) - 1.0 / 8) < 1e-15); /* 15 ids: 7 keys, 8 values */
    const char *motif[] = {"k_motif_size", "8", NULL};
    kv = kv_of(&task_fuzzy_recall, motif);
    ck_assert_int_eq(task_fuzzy_recall.validate(&kv, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "vocab_size=16") && strstr(err, "k_motif_size=8"), "%s", err);
    const char *shortseq[] = {"seq_len", "17", NULL};
    kv = kv_of(&task_fuzzy_recall, shortseq);
    ck_assert_int_eq(task_fuzzy_recall.validate(&kv, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "seq_len=17") && strstr(err, "at least 18"), "%s", err);
    const char *noise[] = {"frac_noise", "0.5", NULL};
    kv = kv_of(&task_fuzzy_recall, noise);
    ck_assert_int_eq(task_fuzzy_recall.validate(&kv, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "noise_vocab_size"), "%s", err);
}
END_TEST

static const struct task_kind *const KINDS[] = {&task_noisy_recall, &task_fuzzy_recall};
static const view_check CHECKS[] = {nr_check, fz_check};

START_TEST(test_lengths) {
    const char *sets[] = {"train_seq_lens", "32,64,128", "test_seq_len", "256", "num_train", "600", "num_test", "100",
                          NULL};
    struct knob_values kv = kv_of(KINDS[_i], sets);
    for_each_view(KINDS[_i], &kv, CHECKS[_i], NULL);
    struct task_split te = gen(KINDS[_i], &kv, SPLIT_TEST);
    ck_assert_int_eq(te.L + 1, KINDS[_i]->example_len(&kv));
    task_split_free(&te);
}
END_TEST

START_TEST(test_determinism_and_disjoint) {
    const char *sets[] = {"num_train", "2000", "num_test", "300", NULL};
    struct knob_values kv = kv_of(KINDS[_i], sets);
    check_determinism(KINDS[_i], &kv);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("tasks_recall");
    TCase *tc = tcase_create("recall");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_noisy_format, 0, 5);
    tcase_add_loop_test(tc, test_noisy_fraction, 0, 2);
    tcase_add_loop_test(tc, test_fuzzy_format, 0, 5);
    tcase_add_test(tc, test_fuzzy_key_sizes);
    tcase_add_test(tc, test_knobs_and_validation);
    tcase_add_loop_test(tc, test_lengths, 0, 2);
    tcase_add_loop_test(tc, test_determinism_and_disjoint, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
