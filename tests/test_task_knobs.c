/* test_task_knobs.c — the reference generator's extra knobs: induction_len
 * and num_triggers (induction_head), num_keys and allow_dot (assoc_recall).
 *
 * Each example is re-read from its tokens alone (our own parse, not the
 * generator's code): segment copies, trigger counts, key tuples, the value
 * map, the query's answer; masks and chance; exact distinct-example counts by
 * exhausting tiny spaces. The paper's values are the defaults, and the pinned
 * hashes in test_tasks.c prove they still produce the same splits. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"
#include "task_testutil.h"

static bool is_arrow(const char *t) { return strcmp(t, "=>") == 0; }

/* ---- induction head ---- */

/* Every "=>" before position S starts a trigger followed by the final
 * segment X = seq[S+1 .. S+k]; there are m of them, segments end by S-2. */
static void check_ih(int S, int k, int m, const int32_t *seq, const char (*txt)[16], int E) {
    REQUIRE(E == S + 1 + k, "example length %d, want %d", E, S + 1 + k);
    REQUIRE(is_arrow(txt[S]), "no \"=>\" at %d", S);
    int triggers = 0;
    for (int p = 0; p < S; p++) {
        REQUIRE(strcmp(txt[p], ".") != 0, "'.' at %d", p);
        if (!is_arrow(txt[p])) continue;
        triggers++;
        REQUIRE(p + k <= S - 2, "trigger at %d: segment ends at %d, past %d", p, p + k, S - 2);
        for (int j = 1; j <= k; j++)
            REQUIRE(seq[p + j] == seq[S + j], "trigger at %d: token %d is %s, the answer has %s", p, j, txt[p + j],
                    txt[S + j]);
    }
    REQUIRE(triggers == m, "%d triggers, want %d", triggers, m);
    for (int j = S + 1; j < E; j++) REQUIRE(!is_arrow(txt[j]) && strcmp(txt[j], ".") != 0, "special in X at %d", j);
}

/* The scored positions (targets) are exactly the last k. */
static void check_masks(const struct task_split *s, int i, int k) {
    for (int t = 0; t < s->L; t++) {
        size_t at = (size_t)i * s->L + t;
        REQUIRE(s->loss_mask[at] == 1, "loss mask 0 at example %d position %d", i, t);
        REQUIRE(s->answer_mask[at] == (t >= s->L - k), "answer mask %d at example %d position %d",
                s->answer_mask[at], i, t);
    }
}

/* Parse every example of both splits with `check`. */
typedef void (*example_check)(const struct knob_values *kv, const int32_t *seq, const char (*txt)[16], int E,
                              void *ctx);

static void for_each_example(const struct task_kind *k, const struct knob_values *kv, int scored,
                             example_check check, void *ctx) {
    int E = k->example_len(kv);
    int32_t *seq = malloc((size_t)E * sizeof *seq);
    char(*txt)[16] = malloc((size_t)E * sizeof *txt);
    for (int sp = 0; sp < 2; sp++) {
        struct task_split s = gen(k, kv, (enum task_split_kind)sp);
        ck_assert_int_eq(s.L, E - 1);
        for (int i = 0; i < s.n; i++) {
            row_of(&s, i, seq);
            for (int j = 0; j < E; j++) text_of(k, kv, seq[j], txt[j]);
            check(kv, seq, (const char(*)[16])txt, E, ctx);
            check_masks(&s, i, scored);
        }
        task_split_free(&s);
    }
    free(seq);
    free(txt);
}

static void ih_check(const struct knob_values *kv, const int32_t *seq, const char (*txt)[16], int E, void *ctx) {
    (void)ctx;
    check_ih(knob_int(kv, "seq_len"), knob_int(kv, "induction_len"), knob_int(kv, "num_triggers"), seq, txt, E);
}

START_TEST(test_ih_variants) {
    static const char *const cases[][8] = {
        {"induction_len", "3", "num_triggers", "2", "vocab_size", "20", "seq_len", "30"},
        {"induction_len", "1", "num_triggers", "3", "vocab_size", "13", "seq_len", "17"},
        {"induction_len", "5", "num_triggers", "1", "vocab_size", "33", "seq_len", "64"},
        {"induction_len", "2", "num_triggers", "4", "vocab_size", "20", "seq_len", "13"}, /* 4 x 3 + 1: full */
    };
    const char *sets[9] = {0};
    memcpy(sets, cases[_i], sizeof cases[_i]);
    struct knob_values kv = kv_of(&task_induction_head, sets);
    char err[512];
    ck_assert_msg(task_induction_head.validate(&kv, err, sizeof err) == 0, "%s", err);
    for_each_example(&task_induction_head, &kv, knob_int(&kv, "induction_len"), ih_check, NULL);
}
END_TEST

/* ---- associative recall ---- */

struct ar_ctx {
    int dots, values; /* answers seen of each kind */
};

/* Key tuples as base-nk numbers (small in these tests), value indices by tuple. */
static void ar_check(const struct knob_values *kv, const int32_t *seq, const char (*txt)[16], int E, void *vctx) {
    (void)seq;
    struct ar_ctx *ctx = vctx;
    int V = knob_int(kv, "vocab_size"), n = knob_int(kv, "num_keys"), P = knob_int(kv, "seq_len") / (n + 1);
    int m = V - 2, nk = m / 2, K = 1;
    bool dot = knob_bool(kv, "allow_dot");
    for (int t = 0; t < n; t++) K *= nk;
    REQUIRE(E == P * (n + 1) + n + 2, "example length %d, want %d", E, P * (n + 1) + n + 2);
    char **ord = sorted_ordinary(V);
    int *val = malloc((size_t)K * sizeof *val);
    for (int q = 0; q < K; q++) val[q] = -1;
    for (int i = 0; i <= P; i++) { /* P pairs, then the query (after "=>") */
        const char(*at)[16] = txt + i * (n + 1) + (i == P);
        if (i == P) REQUIRE(is_arrow(at[-1]), "no \"=>\" at %d", P * (n + 1));
        int key = 0;
        for (int t = 0; t < n; t++) {
            int kt = index_of(ord, 0, nk, at[t]);
            REQUIRE(kt >= 0, "pair %d: '%s' is not a key token", i, at[t]);
            key = key * nk + kt;
        }
        if (i < P) {
            int v = index_of(ord, nk, m, at[n]);
            REQUIRE(v >= 0, "pair %d: '%s' is not a value", i, at[n]);
            REQUIRE(val[key] < 0 || val[key] == v, "pair %d: a key with two values", i);
            val[key] = v;
        } else if (val[key] >= 0) {
            REQUIRE(strcmp(at[n], ord[val[key]]) == 0, "answer %s, want %s", at[n], ord[val[key]]);
            ctx->values++;
        } else {
            REQUIRE(dot, "the query key did not appear (allow_dot is off)");
            REQUIRE(strcmp(at[n], ".") == 0, "absent key answered '%s', want '.'", at[n]);
            ctx->dots++;
        }
    }
    free(val);
    free_strs(ord, m);
}

START_TEST(test_ar_variants) {
    static const char *const cases[][8] = {
        {"num_keys", "2", "allow_dot", "false", "vocab_size", "10", "seq_len", "20"},
        {"num_keys", "2", "allow_dot", "true", "vocab_size", "10", "seq_len", "20"},
        {"num_keys", "1", "allow_dot", "true", "vocab_size", "20", "seq_len", "8"},
        {"num_keys", "3", "allow_dot", "false", "vocab_size", "12", "seq_len", "40"},
    };
    const char *sets[9] = {0};
    memcpy(sets, cases[_i], sizeof cases[_i]);
    struct knob_values kv = kv_of(&task_assoc_recall, sets);
    char err[512];
    ck_assert_msg(task_assoc_recall.validate(&kv, err, sizeof err) == 0, "%s", err);
    struct ar_ctx ctx = {0, 0};
    for_each_example(&task_assoc_recall, &kv, 1, ar_check, &ctx);
    ck_assert_int_gt(ctx.values, 0);
    /* With allow_dot both kinds of answer occur (absent keys are likely here). */
    if (knob_bool(&kv, "allow_dot")) ck_assert_int_gt(ctx.dots, 0);
    else ck_assert_int_eq(ctx.dots, 0);
}
END_TEST

/* ---- chance ---- */

START_TEST(test_chance_variants) {
    /* 1/chance = the number of distinct answers that occur (as for the defaults). */
    static const char *const ar_dot[] = {"allow_dot", "true", "num_keys", "2", NULL};
    static const char *const ih_k3[] = {"induction_len", "3", NULL};
    const struct task_kind *k = _i ? &task_induction_head : &task_assoc_recall;
    struct knob_values kv = kv_of(k, _i ? ih_k3 : ar_dot);
    ck_assert_double_eq_tol(k->chance(&kv), _i ? 1.0 / 18 : 1.0 / 5, 1e-15);
    struct task_split s = gen(k, &kv, SPLIT_TRAIN);
    int V = k->vocab_size(&kv), distinct = 0;
    char *seen = calloc((size_t)V, 1);
    for (int i = 0; i < s.n; i++)
        for (int t = 0; t < s.L; t++) {
            int a = s.y[(size_t)i * s.L + t];
            if (s.answer_mask[(size_t)i * s.L + t] && !seen[a]) seen[a] = 1, distinct++;
        }
    ck_assert_double_eq_tol(k->chance(&kv), 1.0 / distinct, 1e-15);
    free(seen);
    task_split_free(&s);
}
END_TEST

/* ---- distinct counts and limits ---- */

/* Tiny spaces, counted by hand:
 * - IH V=3 (one ordinary token) S=8, two triggers of k=1: only the trigger
 *   offsets vary: F = 8-1-4 = 3 free cells, multisets of 2 offsets in [0, 3]
 *   = C(5, 2) = 10.
 * - AR V=6 (keys a, b; values c, d), two-token keys, S=3: one pair: 4 keys x
 *   2 values; the query is that key (8), or any of 4 keys with allow_dot (32). */
START_TEST(test_distinct_exhausted) {
    static const struct {
        const struct task_kind *k;
        const char *sets[7];
        int distinct;
    } c[] = {
        {&task_induction_head, {"vocab_size", "3", "seq_len", "8", "num_triggers", "2", NULL}, 10},
        {&task_assoc_recall, {"vocab_size", "6", "seq_len", "3", "num_keys", "2", NULL}, 8},
        {&task_assoc_recall, {"vocab_size", "6", "seq_len", "3", "num_keys", "2", NULL}, 32},
    };
    char all[16], more[16], err[512];
    snprintf(all, sizeof all, "%d", c[_i].distinct);
    snprintf(more, sizeof more, "%d", c[_i].distinct + 1);
    struct knob_values kv = kv_of(c[_i].k, c[_i].sets);
    if (_i == 2) ck_assert(knob_set(&kv, "allow_dot", "true", err, sizeof err) == 0);
    ck_assert(knob_set(&kv, "num_train", all, err, sizeof err) == 0 && knob_set(&kv, "num_test", "1", err, sizeof err) == 0);
    struct task_split s = gen(c[_i].k, &kv, SPLIT_TRAIN);
    ck_assert_int_eq(count_distinct(&s), c[_i].distinct);
    task_split_free(&s);
    ck_assert(knob_set(&kv, "num_train", more, err, sizeof err) == 0);
    ck_assert_int_eq(c[_i].k->validate(&kv, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "num_train") && strstr(err, all), "message: %s", err);
}
END_TEST

START_TEST(test_limits) {
    static const char *const ih[] = {"seq_len", "6", "num_triggers", "2", "induction_len", "2", NULL};
    static const char *const ar[] = {"seq_len", "2", "num_keys", "2", NULL};
    char err[512];
    struct knob_values kv = kv_of(&task_induction_head, ih);
    ck_assert_int_eq(task_induction_head.validate(&kv, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "seq_len=6") && strstr(err, "at least 7"), "message: %s", err);
    kv = kv_of(&task_assoc_recall, ar);
    ck_assert_int_eq(task_assoc_recall.validate(&kv, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "seq_len=2") && strstr(err, "at least 3"), "message: %s", err);
    kv = kv_of(&task_induction_head, NULL);
    ck_assert_int_eq(knob_set(&kv, "induction_len", "0", err, sizeof err), -1);
    kv = kv_of(&task_assoc_recall, NULL);
    ck_assert_int_eq(knob_set(&kv, "num_keys", "65", err, sizeof err), -1);
    ck_assert_int_eq(knob_set(&kv, "allow_dot", "maybe", err, sizeof err), -1);
}
END_TEST

int main(void) {
    Suite *s = suite_create("task_knobs");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_ih_variants, 0, 4);
    tcase_add_loop_test(tc, test_ar_variants, 0, 4);
    tcase_add_loop_test(tc, test_chance_variants, 0, 2);
    tcase_add_loop_test(tc, test_distinct_exhausted, 0, 3);
    tcase_add_test(tc, test_limits);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
