/* test_metrics.c — the answer-level metrics (harness/metrics.c).
 *
 * A hand-made fixture of predictions whose every number is worked out below
 * by hand; the gap buckets at their edges; the JSON form; and, on a random
 * fixture, that every breakdown sums to the totals. Build: make test. */
#include <check.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/rng.h"
#include "../harness/metrics.h"
#include "testutil.h"

/* Four examples, L = 6. Answers (position: gap, right?), seq_len:
 *   ex 0 (seq_len 4): 2: gap 1 right; 4: gap 3 wrong; 5: gap 20 right
 *   ex 1 (seq_len 4): 4: gap 3 right; 5: gap 40 right
 *   ex 2 (seq_len 6): 1: gap 17 wrong; 5: no gap (-1) right
 *   ex 3 (seq_len 6): no answers
 * Every non-answer position predicts wrong, so nothing leaks in from there. */
enum { N = 4, L = 6 };
static const uint8_t ANS[N][L] = {{0, 0, 1, 0, 1, 1}, {0, 0, 0, 0, 1, 1}, {0, 1, 0, 0, 0, 1}, {0}};
static const uint8_t RIGHT[N][L] = {{0, 0, 1, 0, 0, 1}, {0, 0, 0, 0, 1, 1}, {0, 0, 0, 0, 0, 1}, {0}};
static const int32_t GAP[N][L] = {{-1, -1, 1, -1, 3, 20}, {-1, -1, -1, -1, 3, 40}, {-1, 17, -1, -1, -1, -1},
                                  {-1, -1, -1, -1, -1, -1}};
static const int32_t SEQ_LEN[N] = {4, 4, 6, 6};

static int32_t pred[N][L], target[N][L];

static struct metrics fixture(void) {
    for (int i = 0; i < N; i++)
        for (int l = 0; l < L; l++) {
            target[i][l] = 10 * i + l;
            pred[i][l] = ANS[i][l] && RIGHT[i][l] ? target[i][l] : target[i][l] + 1;
        }
    struct metrics_input in = {.n = N, .L = L, .pred = &pred[0][0], .target = &target[0][0], .answer = &ANS[0][0],
                               .gap = &GAP[0][0], .seq_len = SEQ_LEN};
    struct metrics m;
    metrics_compute(&in, &m);
    return m;
}

static void cell_is(const struct metric_cell *c, long correct, long total, const char *what) {
    ck_assert_msg(c->correct == correct && c->total == total, "%s: %ld/%ld, want %ld/%ld", what, c->correct, c->total,
                  correct, total);
}

START_TEST(test_fixture) {
    struct metrics m = fixture();
    /* 7 answers (3 + 2 + 2), 5 right (2 + 2 + 1). */
    cell_is(&m.tokens, 5, 7, "tokens");
    /* Examples with answers: 0, 1, 2; all right: 1 only. */
    ck_assert_int_eq(m.sequences, 3);
    ck_assert_int_eq(m.exact, 1);
    /* Position 1: ex 2 wrong; 2: ex 0 right; 4: ex 0 wrong, ex 1 right; 5: all three right. */
    cell_is(&m.position[0], 0, 0, "position 0");
    cell_is(&m.position[1], 0, 1, "position 1");
    cell_is(&m.position[2], 1, 1, "position 2");
    cell_is(&m.position[3], 0, 0, "position 3");
    cell_is(&m.position[4], 1, 2, "position 4");
    cell_is(&m.position[5], 3, 3, "position 5");
    /* Gap 1: right; gap 3: one of two; 16..31 holds 20 (right) and 17 (wrong); 32..63 holds 40. */
    cell_is(&m.gap[1], 1, 1, "gap 1");
    cell_is(&m.gap[3], 1, 2, "gap 3");
    cell_is(&m.gap[16], 1, 2, "gaps 16-31");
    cell_is(&m.gap[17], 1, 1, "gaps 32-63");
    long in_gaps = 0;
    for (int b = 0; b < METRICS_GAP_BUCKETS; b++) in_gaps += m.gap[b].total;
    ck_assert_int_eq(in_gaps, 6); /* the answer without a gap is left out */
    /* seq_len 4: 5 answers, 4 right, 2 examples, 1 exact; seq_len 6: 2 answers, 1 right, 1 example (ex 3 has none), 0 exact. */
    ck_assert_int_eq(m.n_lengths, 2);
    ck_assert_int_eq(m.length[0].seq_len, 4);
    cell_is(&m.length[0].tokens, 4, 5, "seq_len 4");
    ck_assert(m.length[0].sequences == 2 && m.length[0].exact == 1);
    ck_assert_int_eq(m.length[1].seq_len, 6);
    cell_is(&m.length[1].tokens, 1, 2, "seq_len 6");
    ck_assert(m.length[1].sequences == 1 && m.length[1].exact == 0);
    metrics_free(&m);
}
END_TEST

START_TEST(test_gap_buckets) {
    int lo, hi;
    ck_assert_int_eq(metrics_gap_bucket(-1), -1);
    for (int g = 0; g < 16; g++) {
        ck_assert_int_eq(metrics_gap_bucket(g), g);
        metrics_gap_range(g, &lo, &hi);
        ck_assert(lo == g && hi == g);
    }
    static const int edges[][3] = {{16, 16, 31}, {31, 16, 31}, {32, 32, 63}, {1000, 512, 1023}, {1024, 1024, 2047},
                                   {2147483647, 1073741824, 2147483647}};
    for (int i = 0; i < 6; i++) {
        int b = metrics_gap_bucket(edges[i][0]);
        ck_assert(b >= 16 && b < METRICS_GAP_BUCKETS);
        metrics_gap_range(b, &lo, &hi);
        ck_assert_msg(lo == edges[i][1] && hi == edges[i][2], "gap %d: bucket [%d, %d]", edges[i][0], lo, hi);
    }
}
END_TEST

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(cJSON_IsNumber(v), "no number '%s'", key);
    return v->valuedouble;
}

START_TEST(test_json) {
    struct metrics m = fixture();
    cJSON *j = metrics_json(&m);
    ck_assert(fabs(num(j, "token_accuracy") - 5.0 / 7) < 1e-15);
    ck_assert(num(j, "answers") == 7 && num(j, "correct") == 5 && num(j, "sequences") == 3);
    ck_assert(fabs(num(j, "exact_match") - 1.0 / 3) < 1e-15);
    const cJSON *pos = cJSON_GetObjectItemCaseSensitive(j, "per_position");
    ck_assert_int_eq(cJSON_GetArraySize(pos), 4); /* positions 1, 2, 4, 5 */
    const cJSON *p4 = cJSON_GetArrayItem(pos, 2);
    ck_assert(num(p4, "position") == 4 && num(p4, "answers") == 2 && num(p4, "accuracy") == 0.5);
    const cJSON *gap = cJSON_GetObjectItemCaseSensitive(j, "per_gap");
    ck_assert_int_eq(cJSON_GetArraySize(gap), 4); /* 1, 3, 16-31, 32-63 */
    const cJSON *g = cJSON_GetArrayItem(gap, 2);
    ck_assert(num(g, "gap_min") == 16 && num(g, "gap_max") == 31 && num(g, "accuracy") == 0.5);
    const cJSON *len = cJSON_GetObjectItemCaseSensitive(j, "per_length");
    ck_assert_int_eq(cJSON_GetArraySize(len), 2);
    const cJSON *l4 = cJSON_GetArrayItem(len, 0);
    ck_assert(num(l4, "seq_len") == 4 && fabs(num(l4, "token_accuracy") - 0.8) < 1e-15 && num(l4, "exact_match") == 0.5);
    cJSON_Delete(j);
    metrics_free(&m);
}
END_TEST

/* No gaps and no lengths given: one length entry, no gap entries. */
START_TEST(test_without_metadata) {
    struct metrics filled = fixture(); /* fills pred and target */
    metrics_free(&filled);
    struct metrics_input in = {.n = N, .L = L, .pred = &pred[0][0], .target = &target[0][0], .answer = &ANS[0][0]};
    struct metrics m;
    metrics_compute(&in, &m);
    cell_is(&m.tokens, 5, 7, "tokens");
    ck_assert_int_eq(m.n_lengths, 1);
    cell_is(&m.length[0].tokens, 5, 7, "the one length");
    for (int b = 0; b < METRICS_GAP_BUCKETS; b++) ck_assert_int_eq(m.gap[b].total, 0);
    metrics_free(&m);
}
END_TEST

/* A random fixture: every breakdown adds up to the totals. */
START_TEST(test_breakdowns_sum) {
    enum { RN = 200, RL = 50 };
    int32_t *p = malloc(sizeof(int32_t) * RN * RL), *t = malloc(sizeof(int32_t) * RN * RL);
    int32_t *gap = malloc(sizeof(int32_t) * RN * RL), lens[RN];
    uint8_t *ans = malloc(RN * RL);
    struct hp_rng r = hp_rng_make(7, 99);
    long answers = 0, right = 0, with_gap = 0;
    for (int i = 0; i < RN * RL; i++) {
        ans[i] = hp_rng_uniform(&r) < 0.2;
        t[i] = (int32_t)hp_rng_below(&r, 5);
        p[i] = (int32_t)hp_rng_below(&r, 5);
        gap[i] = ans[i] && hp_rng_uniform(&r) < 0.9 ? (int32_t)hp_rng_below(&r, 300) : -1;
        answers += ans[i], right += ans[i] && p[i] == t[i], with_gap += gap[i] >= 0;
    }
    for (int i = 0; i < RN; i++) lens[i] = 16 << hp_rng_below(&r, 3);
    struct metrics_input in = {.n = RN, .L = RL, .pred = p, .target = t, .answer = ans, .gap = gap, .seq_len = lens};
    struct metrics m;
    metrics_compute(&in, &m);
    cell_is(&m.tokens, right, answers, "tokens");
    long sp = 0, sg = 0, sl = 0, sq = 0;
    for (int l = 0; l < RL; l++) sp += m.position[l].total;
    for (int b = 0; b < METRICS_GAP_BUCKETS; b++) sg += m.gap[b].total;
    for (int i = 0; i < m.n_lengths; i++) sl += m.length[i].tokens.total, sq += m.length[i].sequences;
    ck_assert(sp == answers && sg == with_gap && sl == answers && sq == m.sequences);
    ck_assert_int_eq(m.n_lengths, 3);
    metrics_free(&m);
    free(p), free(t), free(gap), free(ans);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_test(tc, test_fixture);
    tcase_add_test(tc, test_gap_buckets);
    tcase_add_test(tc, test_json);
    tcase_add_test(tc, test_without_metadata);
    tcase_add_test(tc, test_breakdowns_sum);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
