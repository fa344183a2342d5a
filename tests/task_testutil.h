/* task_testutil.h — helpers the task test suites share (static: each suite
 * is one translation unit). */
#ifndef HIPPO_TASK_TESTUTIL_H
#define HIPPO_TASK_TESTUTIL_H

#include <check.h>
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

#endif
