/* task_testutil.h — helpers the task test suites share (static: each suite
 * is one translation unit). */
#ifndef HIPPO_TASK_TESTUTIL_H
#define HIPPO_TASK_TESTUTIL_H

#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/knob.h"
#include "../tasks/task.h"

/* ck_assert records a mark point (a write) on every pass; inside loops over
 * thousands of examples only a failure should cost anything. */
#define REQUIRE(cond, ...)                      \
    do {                                        \
        if (!(cond)) ck_abort_msg(__VA_ARGS__); \
    } while (0)

static inline struct knob_values kv_of(const struct task_kind *k, const char *const *sets) {
    struct knob_values kv;
    char err[512];
    knob_defaults(&kv, k->knobs, k->n_knobs);
    for (int i = 0; sets && sets[i]; i += 2)
        ck_assert_msg(knob_set(&kv, sets[i], sets[i + 1], err, sizeof err) == 0, "%s", err);
    return kv;
}

static inline struct task_split gen(const struct task_kind *k, const struct knob_values *kv, enum task_split_kind sp) {
    struct task_split s;
    char err[512];
    ck_assert_msg(task_generate(k, kv, sp, &s, err, sizeof err) == 0, "%s: %s", k->name, err);
    return s;
}

/* The full example i: x row plus the last target. */
static inline void row_of(const struct task_split *s, int i, int32_t *row) {
    memcpy(row, s->x + (size_t)i * s->L, (size_t)s->L * sizeof *row);
    row[s->L] = s->y[(size_t)i * s->L + s->L - 1];
}

static inline void text_of(const struct task_kind *k, const struct knob_values *kv, int id, char *buf) {
    k->token_text(kv, id, buf, 16);
}

static inline int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Ordinary token strings "0".."V-3" sorted lexicographically (our own sort). */
static inline char **sorted_ordinary(int V) {
    char **s = malloc((size_t)(V - 2) * sizeof *s);
    for (int i = 0; i < V - 2; i++) {
        s[i] = malloc(12);
        snprintf(s[i], 12, "%d", i);
    }
    qsort(s, (size_t)(V - 2), sizeof *s, cmp_str);
    return s;
}

static inline void free_strs(char **s, int n) {
    for (int i = 0; i < n; i++) free(s[i]);
    free(s);
}

static inline int index_of(char **s, int lo, int hi, const char *t) {
    for (int i = lo; i < hi; i++)
        if (strcmp(s[i], t) == 0) return i;
    return -1;
}

static int g_E;
static inline int cmp_row(const void *a, const void *b) { return memcmp(a, b, (size_t)g_E * sizeof(int32_t)); }

/* Distinct examples in a split, counted by sorting its rows. */
static inline int count_distinct(const struct task_split *s) {
    g_E = s->L + 1;
    int32_t *rows = malloc((size_t)s->n * g_E * sizeof *rows);
    for (int i = 0; i < s->n; i++) row_of(s, i, rows + (size_t)i * g_E);
    qsort(rows, (size_t)s->n, (size_t)g_E * sizeof *rows, cmp_row);
    int d = s->n ? 1 : 0;
    for (int i = 1; i < s->n; i++) d += cmp_row(rows + (size_t)(i - 1) * g_E, rows + (size_t)i * g_E) != 0;
    free(rows);
    return d;
}

/* ---- views, distinct rows, loops and statistics for the newer suites ---- */

/* Example i of a split: its rows (L long) and how much of them is real. */
struct ex_view {
    const int32_t *x, *y, *gap; /* (L) */
    const uint8_t *ans, *loss;  /* (L) */
    int len, seq_len, L;        /* model input tokens, the seq_len it was drawn at, row length */
};

static inline struct ex_view view_of(const struct task_split *s, int i) {
    size_t o = (size_t)i * s->L;
    struct ex_view e = {s->x + o, s->y + o, s->gap + o, s->answer_mask + o, s->loss_mask + o,
                        s->len[i], s->seq_len[i], s->L};
    return e;
}

/* The example's tokens: x[0], then every target (len + 1 ids). */
static inline void tokens_of(const struct ex_view *e, int32_t *seq) {
    seq[0] = e->x[0];
    memcpy(seq + 1, e->y, (size_t)e->len * sizeof *seq);
}

static int g_W;
static inline int cmp_wrow(const void *a, const void *b) { return memcmp(a, b, (size_t)g_W * sizeof(int32_t)); }

/* Distinct examples by inputs and targets over each example's length. */
static inline int count_distinct_xy(const struct task_split *s) {
    g_W = 2 * s->L + 1;
    int32_t *rows = calloc((size_t)s->n * g_W, sizeof *rows);
    for (int i = 0; i < s->n; i++) {
        struct ex_view e = view_of(s, i);
        int32_t *r = rows + (size_t)i * g_W;
        r[0] = e.len;
        memcpy(r + 1, e.x, (size_t)e.len * sizeof *r);
        memcpy(r + 1 + e.len, e.y, (size_t)e.len * sizeof *r);
    }
    qsort(rows, (size_t)s->n, (size_t)g_W * sizeof *rows, cmp_wrow);
    int d = s->n ? 1 : 0;
    for (int i = 1; i < s->n; i++) d += cmp_wrow(rows + (size_t)(i - 1) * g_W, rows + (size_t)i * g_W) != 0;
    free(rows);
    return d;
}

/* A parser of one example: kv are the split's knobs (read the task's own
 * knobs there, the length from e->seq_len). */
typedef void (*view_check)(const struct knob_values *kv, enum task_split_kind sp, const struct ex_view *e,
                           void *ctx);

/* Generate both splits and parse every example (check may be NULL); also the layout every task
 * shares: padding beyond len (ids 0, masks 0, gap -1), the loss mask as the
 * loss_mask knob says, gaps only at answers. */
static inline void for_each_view(const struct task_kind *k, const struct knob_values *kv, view_check check,
                                 void *ctx) {
    bool answers_only = strcmp(knob_str(kv, "loss_mask"), "answers") == 0;
    for (int sp = 0; sp < 2; sp++) {
        struct task_split s = gen(k, kv, (enum task_split_kind)sp);
        for (int i = 0; i < s.n; i++) {
            struct ex_view e = view_of(&s, i);
            REQUIRE(e.len >= 1 && e.len <= s.L, "%s example %d: len %d, L %d", k->name, i, e.len, s.L);
            for (int t = 0; t < s.L; t++) {
                bool real = t < e.len;
                REQUIRE(real || (e.x[t] == 0 && e.y[t] == 0 && !e.ans[t] && !e.loss[t] && e.gap[t] == -1),
                        "%s example %d: padding at %d is not (0, 0, masks 0, gap -1)", k->name, i, t);
                REQUIRE(!real || e.loss[t] == (answers_only ? e.ans[t] : 1), "%s example %d: loss mask %d at %d",
                        k->name, i, e.loss[t], t);
                REQUIRE(e.ans[t] || e.gap[t] == -1, "%s example %d: gap %d at unscored %d", k->name, i, e.gap[t], t);
            }
            if (check) check(kv, (enum task_split_kind)sp, &e, ctx);
        }
        task_split_free(&s);
    }
}

/* Parse every example of one split with check. */
static inline void split_views(const struct task_kind *k, const struct knob_values *kv, enum task_split_kind sp,
                               view_check check, void *ctx) {
    struct task_split s = gen(k, kv, sp);
    for (int i = 0; i < s.n; i++) {
        struct ex_view e = view_of(&s, i);
        check(kv, sp, &e, ctx);
    }
    task_split_free(&s);
}

/* The same knobs give the same split (tokens, gaps, hash), another seed or
 * the other split another one; train and test are disjoint; no duplicates. */
static inline void check_determinism(const struct task_kind *k, const struct knob_values *kv) {
    struct task_split a = gen(k, kv, SPLIT_TRAIN), b = gen(k, kv, SPLIT_TRAIN), t = gen(k, kv, SPLIT_TEST);
    size_t nl = (size_t)a.n * a.L;
    ck_assert(a.hash == b.hash && memcmp(a.x, b.x, nl * sizeof *a.x) == 0 && memcmp(a.y, b.y, nl * sizeof *a.y) == 0);
    ck_assert(memcmp(a.gap, b.gap, nl * sizeof *a.gap) == 0);
    ck_assert(a.hash != t.hash);
    ck_assert_int_eq(task_overlap(&t, &a), 0);
    ck_assert_int_eq(count_distinct_xy(&a), a.n);
    struct knob_values kv1 = *kv;
    char err[256];
    ck_assert(knob_set(&kv1, "seed", "1", err, sizeof err) == 0);
    struct task_split c = gen(k, &kv1, SPLIT_TRAIN);
    ck_assert(c.hash != a.hash);
    task_split_free(&a);
    task_split_free(&b);
    task_split_free(&t);
    task_split_free(&c);
}

/* A space of exactly `distinct` examples (sets ask num_train = distinct):
 * the split holds all of them; one more is refused by validate, naming
 * num_train and the count. */
static inline void check_exhausts(const struct task_kind *k, const char *const *sets, int distinct) {
    struct knob_values kv = kv_of(k, sets);
    struct task_split s = gen(k, &kv, SPLIT_TRAIN);
    ck_assert_int_eq(s.n, distinct);
    ck_assert_int_eq(count_distinct_xy(&s), distinct);
    task_split_free(&s);
    char err[512], more[16], want[48];
    snprintf(more, sizeof more, "%d", distinct + 1);
    ck_assert(knob_set(&kv, "num_train", more, err, sizeof err) == 0);
    ck_assert_int_eq(k->validate(&kv, err, sizeof err), -1);
    snprintf(want, sizeof want, "num_train=%d is more than the %d distinct", distinct + 1, distinct);
    ck_assert_msg(strstr(err, want), "message '%s' lacks '%s'", err, want);
}

/* Pearson's statistic of counts obs[k] against probabilities p[k]. */
static inline double chi_square(const long *obs, const double *p, int k) {
    long total = 0;
    for (int i = 0; i < k; i++) total += obs[i];
    double x = 0;
    for (int i = 0; i < k; i++) {
        double e = p[i] * (double)total;
        x += (obs[i] - e) * (obs[i] - e) / e;
    }
    return x;
}

/* Mean + 6 standard deviations of chi-square with df degrees of freedom:
 * a correct generator stays below it (the seeds are fixed, so a test using it
 * is deterministic); a wrong distribution lands far above. */
static inline double chi_square_bound(int df) { return df + 6.0 * sqrt(2.0 * df); }

#endif
