/* test_tasks_mqar.c — the mqar language (tasks/mqar.c).
 *
 * Every example is re-read from its inputs and targets alone: the context's
 * keys and values, each scored query's key, value, slot and gap, the filler;
 * the query slots' distribution against zoology's power law (chi-square, fixed
 * seeds); the queried subset; knobs, lengths, determinism. Build: make test. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"
#include "testutil.h"

#include "task_testutil.h"

/* What the parse of one example found: the slot of every queried key. */
struct mq_seen {
    int kv;
    long *slot_hist;  /* (kv, space): slot counts per context key */
    int space;
    long *queried;    /* (kv) times each key was asked */
};

struct mq_ctx {
    int V, kv, nq, passes, C;
    bool random;
    struct mq_seen *seen; /* NULL: no tallies */
};

static struct mq_ctx ctx_of(const struct knob_values *kv) {
    struct mq_ctx c = {.V = knob_int(kv, "vocab_size"), .kv = knob_int(kv, "num_kv_pairs"),
                       .nq = knob_int(kv, "num_queries"), .passes = knob_int(kv, "num_passes"),
                       .random = knob_bool(kv, "random_non_queries")};
    if (c.nq == 0) c.nq = c.kv;
    c.C = 2 * c.kv * c.passes;
    return c;
}

/* The context: kv distinct keys in [1, V/2), distinct values in [V/2, V),
 * the pairs repeated per pass, inputs equal to the next target there. */
static void check_context(const struct mq_ctx *c, const struct ex_view *e, int32_t *keys, int32_t *vals) {
    for (int j = 0; j < c->kv; j++) {
        keys[j] = e->x[2 * j], vals[j] = e->x[2 * j + 1];
        REQUIRE(keys[j] >= 1 && keys[j] < c->V / 2, "key %d at %d out of range", keys[j], 2 * j);
        REQUIRE(vals[j] >= c->V / 2 && vals[j] < c->V, "value %d at %d out of range", vals[j], 2 * j + 1);
        for (int i = 0; i < j; i++) REQUIRE(keys[i] != keys[j] && vals[i] != vals[j], "repeated key or value");
    }
    for (int t = 2 * c->kv; t < c->C; t++) REQUIRE(e->x[t] == e->x[t % (2 * c->kv)], "pass differs at %d", t);
    for (int t = 0; t < c->C; t++) REQUIRE(!e->ans[t], "answer inside the context at %d", t);
}

static int key_index(const struct mq_ctx *c, const int32_t *keys, int32_t id) {
    for (int j = 0; j < c->kv; j++)
        if (keys[j] == id) return j;
    return -1;
}

static void mq_check(const struct knob_values *kv, enum task_split_kind sp, const struct ex_view *e, void *vctx) {
    (void)sp;
    struct mq_ctx c = ctx_of(kv);
    struct mq_seen *seen = vctx;
    int S = e->seq_len;
    REQUIRE(e->len == S, "model input %d, seq_len %d", e->len, S);
    int32_t keys[64], vals[64];
    check_context(&c, e, keys, vals);
    int asked[64] = {0}, scored = 0;
    for (int t = 0; t < S; t++) {
        if (t + 1 < S && !e->ans[t]) REQUIRE(e->y[t] == e->x[t + 1], "target %d at %d is not the next input", e->y[t], t);
        if (!e->ans[t]) continue;
        int j = key_index(&c, keys, e->x[t]);
        REQUIRE(t >= c.C && (t - c.C) % 2 == 0, "answer at %d is not a query slot", t);
        REQUIRE(j >= 0 && !asked[j], "query at %d: %d is not a context key, or asked twice", t, e->x[t]);
        REQUIRE(e->y[t] == vals[j], "query at %d: target %d, the key's value is %d", t, e->y[t], vals[j]);
        REQUIRE(e->gap[t] == t - ((c.passes - 1) * 2 * c.kv + 2 * j), "gap %d at %d", e->gap[t], t);
        asked[j] = 1, scored++;
        if (seen) seen->slot_hist[(size_t)j * seen->space + (t - c.C) / 2]++, seen->queried[j]++;
        if (!c.random && t + 1 < S) REQUIRE(e->x[t + 1] == 0, "filler after the query at %d is %d", t, e->x[t + 1]);
    }
    REQUIRE(scored == c.nq, "%d queries scored, want %d", scored, c.nq);
    for (int t = c.C; t < S && !c.random; t++)
        REQUIRE(e->x[t] == 0 || e->ans[t], "non-query input %d at %d without random filler", e->x[t], t);
}

static void run_mqar(const char *const *sets, struct mq_seen *seen) {
    struct knob_values kv = kv_of(&task_mqar, sets);
    for_each_view(&task_mqar, &kv, mq_check, seen);
}

START_TEST(test_format_and_answers) {
    static const char *const cases[][16] = {
        {"num_train", "400", "num_test", "100", NULL},
        {"vocab_size", "64", "seq_len", "32", "num_kv_pairs", "8", "num_train", "300", "num_test", "50", NULL},
        {"vocab_size", "100", "seq_len", "40", "num_kv_pairs", "3", "num_passes", "3", "num_train", "300",
         "num_test", "50", NULL},
        {"vocab_size", "50", "seq_len", "30", "num_kv_pairs", "6", "num_queries", "2", "random_non_queries",
         "false", "num_train", "300", "num_test", "50", NULL},
        {"seq_len", "16", "num_kv_pairs", "4", "power_a", "1", "loss_mask", "all", "num_train", "200",
         "num_test", "50", NULL},
    };
    run_mqar(cases[_i], NULL);
}
END_TEST

/* p[s] of the first draw and the marginal of the second (successive draws
 * without replacement): p2[s] = sum over s1 != s of p[s1] p[s] / (1 - p[s1]). */
static void slot_laws(double a, int space, double *p, double *p2) {
    double z = 0;
    for (int s = 0; s < space; s++) z += p[s] = pow(s + 1.0, a - 1.0);
    for (int s = 0; s < space; s++) p[s] /= z;
    for (int s = 0; s < space; s++) {
        p2[s] = 0;
        for (int s1 = 0; s1 < space; s1++)
            if (s1 != s) p2[s] += p[s1] * p[s] / (1 - p[s1]);
    }
}

/* Two keys, 40 slots, 20000 examples: the first key's slot follows the power
 * law, the second key's slot the law of a second draw without replacement. */
START_TEST(test_power_law) {
    static const char *const powers[] = {"0.01", "0.3", "1"};
    enum { SPACE = 40, N = 20000 };
    const char *sets[] = {"seq_len", "84", "num_kv_pairs", "2", "power_a", powers[_i], "num_train", "20000",
                          "num_test", "1", NULL};
    struct knob_values kv = kv_of(&task_mqar, sets);
    long hist[2 * SPACE] = {0}, queried[2] = {0};
    struct mq_seen seen = {.kv = 2, .slot_hist = hist, .space = SPACE, .queried = queried};
    split_views(&task_mqar, &kv, SPLIT_TRAIN, mq_check, &seen);
    double p[SPACE], p2[SPACE], uniform[SPACE];
    slot_laws(atof(powers[_i]), SPACE, p, p2);
    for (int k = 0; k < SPACE; k++) uniform[k] = 1.0 / SPACE;
    double x1 = chi_square(hist, p, SPACE), x2 = chi_square(hist + SPACE, p2, SPACE);
    ck_assert_msg(x1 < chi_square_bound(SPACE - 1), "power_a=%s first slot: chi2 %.1f >= %.1f", powers[_i], x1,
                  chi_square_bound(SPACE - 1));
    ck_assert_msg(x2 < chi_square_bound(SPACE - 1), "power_a=%s second slot: chi2 %.1f >= %.1f", powers[_i], x2,
                  chi_square_bound(SPACE - 1));
    /* The knob says what it does: only power_a = 1 is uniform. */
    double xu = chi_square(hist, uniform, SPACE);
    if (_i < 2) ck_assert_msg(xu > 10 * chi_square_bound(SPACE - 1), "power_a=%s looks uniform (%.1f)", powers[_i], xu);
}
END_TEST

/* num_queries = 3 of 8: each key is asked with probability 3/8. */
START_TEST(test_query_subset) {
    enum { KV = 8, N = 8000 };
    const char *sets[] = {"seq_len", "64", "num_kv_pairs", "8", "num_queries", "3", "num_train", "8000",
                          "num_test", "1", NULL};
    struct knob_values kv = kv_of(&task_mqar, sets);
    long hist[KV * 24] = {0}, queried[KV] = {0};
    struct mq_seen seen = {.kv = KV, .slot_hist = hist, .space = 24, .queried = queried};
    split_views(&task_mqar, &kv, SPLIT_TRAIN, mq_check, &seen);
    double p[KV];
    for (int j = 0; j < KV; j++) p[j] = 1.0 / KV; /* each key's share of the 3 N queries */
    double x = chi_square(queried, p, KV);
    ck_assert_msg(x < chi_square_bound(KV - 1), "queried keys not uniform: chi2 %.1f", x);
}
END_TEST

START_TEST(test_knobs_and_chance) {
    struct knob_values kv = kv_of(&task_mqar, NULL);
    ck_assert_int_eq(task_mqar.vocab_size(&kv), 8192);
    ck_assert_int_eq(task_mqar.example_len(&kv), 65);
    ck_assert(fabs(task_mqar.chance(&kv) - 1.0 / 4096) < 1e-15);
    ck_assert_str_eq(knob_str(&kv, "loss_mask"), "answers"); /* zoology trains on the answers */
    char t[32];
    task_mqar.token_text(&kv, 4097, t, sizeof t);
    ck_assert_str_eq(t, "4097");
    /* With random filler off, non-query inputs are 0; on, they are not all 0. */
    const char *on[] = {"num_train", "50", "num_test", "10", NULL};
    kv = kv_of(&task_mqar, on);
    struct task_split s = gen(&task_mqar, &kv, SPLIT_TRAIN);
    int zeros = 0, fill = 0;
    for (int i = 0; i < s.n; i++)
        for (int t = 8; t < s.L; t++) fill++, zeros += s.x[(size_t)i * s.L + t] == 0;
    ck_assert_msg(zeros < fill / 100, "%d of %d filler inputs are 0 with random_non_queries", zeros, fill);
    task_split_free(&s);
}
END_TEST

static void expect_invalid(const char *const *sets, const char *needle) {
    struct knob_values kv = kv_of(&task_mqar, sets);
    char err[512] = "";
    ck_assert_msg(task_mqar.validate(&kv, err, sizeof err) == -1, "accepted: %s=%s", sets[0], sets[1]);
    ck_assert_msg(strstr(err, needle), "message '%s' lacks '%s'", err, needle);
}

START_TEST(test_validation) {
    struct knob_values kv = kv_of(&task_mqar, NULL);
    char err[512];
    ck_assert_msg(task_mqar.validate(&kv, err, sizeof err) == 0, "defaults rejected: %s", err);
    expect_invalid((const char *const[]){"seq_len", "63", NULL}, "seq_len=63 must be even");
    expect_invalid((const char *const[]){"vocab_size", "8", "num_kv_pairs", "4", NULL}, "num_kv_pairs=4");
    expect_invalid((const char *const[]){"num_queries", "5", NULL}, "num_queries=5 is more than num_kv_pairs=4");
    expect_invalid((const char *const[]){"num_kv_pairs", "17", "seq_len", "64", NULL}, "at least 68");
    /* 2 keys (V=6: ids 1, 2), values 3..5; no filler: 2*3*2 (order) * slots... is tiny. */
    expect_invalid((const char *const[]){"vocab_size", "6", "seq_len", "8", "num_kv_pairs", "2", "random_non_queries",
                                         "false", NULL},
                   "num_train=100000 is more than the");
}
END_TEST

/* Exhaust a tiny space: V=6 (keys 1,2; values 3,4,5), 1 pair, seq_len 6
 * (2 slots), no filler: 2 keys * 3 values * 2 slots = 12 distinct examples. */
START_TEST(test_exhaust_small_space) {
    const char *sets[] = {"vocab_size", "6", "seq_len", "6", "num_kv_pairs", "1", "random_non_queries", "false",
                          "num_train", "12", "num_test", "12", NULL};
    check_exhausts(&task_mqar, sets, 12);
}
END_TEST

START_TEST(test_lengths) {
    /* Train on a mix of 32 and 64, test at 128: every example parses at its own length. */
    const char *sets[] = {"train_seq_lens", "32,64", "test_seq_len", "128", "num_train", "300", "num_test", "60",
                          NULL};
    struct knob_values kv = kv_of(&task_mqar, sets);
    ck_assert_int_eq(task_mqar.example_len(&kv), 129);
    for_each_view(&task_mqar, &kv, mq_check, NULL);
    struct task_split tr = gen(&task_mqar, &kv, SPLIT_TRAIN), te = gen(&task_mqar, &kv, SPLIT_TEST);
    ck_assert_int_eq(tr.L, 64);
    ck_assert_int_eq(te.L, 128);
    int at32 = 0;
    for (int i = 0; i < tr.n; i++) at32 += tr.seq_len[i] == 32;
    ck_assert_int_eq(at32, 150);
    task_split_free(&tr);
    task_split_free(&te);
}
END_TEST

START_TEST(test_determinism_and_disjoint) {
    const char *sets[] = {"num_train", "2000", "num_test", "500", NULL};
    struct knob_values kv = kv_of(&task_mqar, sets);
    check_determinism(&task_mqar, &kv);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("tasks_mqar");
    TCase *tc = tcase_create("mqar");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_format_and_answers, 0, 5);
    tcase_add_loop_test(tc, test_power_law, 0, 3);
    tcase_add_test(tc, test_query_subset);
    tcase_add_test(tc, test_knobs_and_chance);
    tcase_add_test(tc, test_validation);
    tcase_add_test(tc, test_exhaust_small_space);
    tcase_add_test(tc, test_lengths);
    tcase_add_test(tc, test_determinism_and_disjoint);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
