/* test_tasks_copy.c — selective copying (tasks/selective_copy.c).
 *
 * Every example is re-read from its inputs and targets alone: the data
 * region's tokens and blanks, the marker, the output blanks as inputs, the
 * tokens in order as the scored targets, their gaps; the blanks' places
 * against the uniform choice of a token to precede (chi-square, fixed seed);
 * an exhausted tiny space; knobs, lengths, determinism. Build: make test. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"
#include "testutil.h"

#include "task_testutil.h"

/* Blanks before the i-th token, summed over examples. */
struct sc_tally {
    long before[64];
};

static void sc_check(const struct knob_values *kv, enum task_split_kind sp, const struct ex_view *e, void *vctx) {
    (void)sp;
    struct sc_tally *tally = vctx;
    int V = knob_int(kv, "vocab_size"), n = knob_int(kv, "num_tokens_to_copy"), S = e->seq_len;
    int blank = V - 2, marker = V - 1, out = S - n; /* out: input position of the first output blank */
    REQUIRE(e->len == S, "model input %d, seq_len %d", e->len, S);
    int pos[1024], k = 0, run = 0;
    for (int t = 0; t < out - 1; t++) {
        REQUIRE(e->x[t] >= 0 && e->x[t] < marker, "data input %d at %d", e->x[t], t);
        if (e->x[t] == blank) {
            run++;
            continue;
        }
        REQUIRE(k < n, "more than %d tokens in the data region", n);
        if (tally) tally->before[k] += run;
        run = 0;
        pos[k++] = t;
    }
    REQUIRE(k == n && run == 0, "%d tokens, %d trailing blanks before the marker", k, run);
    REQUIRE(e->x[out - 1] == marker, "no marker at %d", out - 1);
    for (int t = out; t < S; t++) REQUIRE(e->x[t] == blank, "output input %d at %d is not a blank", e->x[t], t);
    for (int t = 0; t < S; t++) {
        int i = t - out;
        REQUIRE(e->ans[t] == (i >= 0), "answer mask %d at %d", e->ans[t], t);
        if (i < 0) {
            REQUIRE(e->y[t] == e->x[t + 1], "target %d at %d is not the next input", e->y[t], t);
            continue;
        }
        REQUIRE(e->y[t] == e->x[pos[i]], "output %d: %d, the %d-th token is %d", i, e->y[t], i, e->x[pos[i]]);
        REQUIRE(e->gap[t] == t - pos[i], "output %d: gap %d, want %d", i, e->gap[t], t - pos[i]);
    }
}

START_TEST(test_format_and_answers) {
    static const char *const cases[][12] = {
        {"num_train", "1000", "num_test", "200", NULL},
        {"vocab_size", "5", "seq_len", "20", "num_tokens_to_copy", "4", "loss_mask", "all", NULL},
        {"vocab_size", "64", "seq_len", "1024", "num_tokens_to_copy", "96", "num_train", "200", "num_test", "50",
         NULL},
        {"seq_len", "34", "num_tokens_to_copy", "16", "num_train", "500", "num_test", "100", NULL},
    };
    struct knob_values kv = kv_of(&task_selective_copy, cases[_i]);
    for_each_view(&task_selective_copy, &kv, sc_check, NULL);
}
END_TEST

/* Each blank picks the token it precedes uniformly: over all examples the
 * blanks before each token are equally many in expectation. */
START_TEST(test_blank_places) {
    enum { N = 16 };
    const char *sets[] = {"num_train", "3000", "num_test", "1", NULL};
    struct knob_values kv = kv_of(&task_selective_copy, sets);
    struct sc_tally t = {{0}};
    split_views(&task_selective_copy, &kv, SPLIT_TRAIN, sc_check, &t);
    double p[N];
    for (int i = 0; i < N; i++) p[i] = 1.0 / N;
    double x = chi_square(t.before, p, N);
    ck_assert_msg(x < chi_square_bound(N - 1), "blank places not uniform: chi2 %.1f", x);
}
END_TEST

/* V=4 (tokens 0, 1), 2 tokens, seq_len 7 (2 blanks): 2^2 tokens times 3
 * ways to place the blanks (2+0, 1+1, 0+2) = 12 distinct examples. */
START_TEST(test_exhaust_small_space) {
    const char *sets[] = {"vocab_size", "4", "seq_len", "7", "num_tokens_to_copy", "2", "num_train", "12",
                          "num_test", "12", NULL};
    check_exhausts(&task_selective_copy, sets, 12);
}
END_TEST

START_TEST(test_knobs_and_validation) {
    struct knob_values kv = kv_of(&task_selective_copy, NULL);
    char err[512], t[16];
    ck_assert_msg(task_selective_copy.validate(&kv, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(task_selective_copy.example_len(&kv), 257);
    ck_assert(fabs(task_selective_copy.chance(&kv) - 1.0 / 14) < 1e-15);
    ck_assert_str_eq(knob_str(&kv, "loss_mask"), "answers"); /* MAD trains on the copied tokens */
    task_selective_copy.token_text(&kv, 14, t, sizeof t);
    ck_assert_str_eq(t, "_");
    task_selective_copy.token_text(&kv, 15, t, sizeof t);
    ck_assert_str_eq(t, "=>");
    const char *bad[] = {"seq_len", "33", NULL};
    kv = kv_of(&task_selective_copy, bad);
    ck_assert_int_eq(task_selective_copy.validate(&kv, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "seq_len=33") && strstr(err, "at least 34"), "%s", err);
    /* The copy length is what the knob says. */
    const char *n32[] = {"num_tokens_to_copy", "32", "num_train", "10", "num_test", "10", NULL};
    kv = kv_of(&task_selective_copy, n32);
    struct task_split s = gen(&task_selective_copy, &kv, SPLIT_TRAIN);
    int answers = 0;
    for (int i = 0; i < s.L; i++) answers += s.answer_mask[i];
    ck_assert_int_eq(answers, 32);
    task_split_free(&s);
}
END_TEST

START_TEST(test_lengths) {
    const char *sets[] = {"train_seq_lens", "64,256", "test_seq_lens", "512,1024", "test_seq_len", "1024",
                          "num_train", "400", "num_test", "60", NULL};
    struct knob_values kv = kv_of(&task_selective_copy, sets);
    for_each_view(&task_selective_copy, &kv, sc_check, NULL);
    struct task_split te = gen(&task_selective_copy, &kv, SPLIT_TEST);
    ck_assert_int_eq(te.L, 1024);
    ck_assert_int_eq(te.seq_len[0], 512);
    ck_assert_int_eq(te.seq_len[te.n - 1], 1024);
    task_split_free(&te);
}
END_TEST

START_TEST(test_determinism_and_disjoint) {
    const char *sets[] = {"num_train", "2000", "num_test", "300", NULL};
    struct knob_values kv = kv_of(&task_selective_copy, sets);
    check_determinism(&task_selective_copy, &kv);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("tasks_copy");
    TCase *tc = tcase_create("selective_copy");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_format_and_answers, 0, 4);
    tcase_add_test(tc, test_blank_places);
    tcase_add_test(tc, test_exhaust_small_space);
    tcase_add_test(tc, test_knobs_and_validation);
    tcase_add_test(tc, test_lengths);
    tcase_add_test(tc, test_determinism_and_disjoint);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
