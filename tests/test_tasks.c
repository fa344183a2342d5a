/* test_tasks.c — the task registry and its two synthetic languages.
 *
 * Every property is recomputed here independently of tasks/: token order by
 * our own sort of the strings, answers by reading the sequence, distinct
 * example counts by enumeration, the content hash by re-hashing the
 * documented byte stream. Build: make test (or build/tests/test_tasks). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"
#include "../core/knob.h"
#include "../tasks/task.h"
#include "testutil.h"

#include "task_testutil.h"

static const struct task_kind *const KINDS[] = {&task_induction_head, &task_assoc_recall};

/* ---- registry ---- */

START_TEST(test_registry) {
    int n = 0;
    while (task_kinds[n]) n++;
    ck_assert_int_eq(n, 6);
    ck_assert_ptr_eq(task_find("induction_head"), &task_induction_head);
    ck_assert_ptr_eq(task_find("assoc_recall"), &task_assoc_recall);
    ck_assert_ptr_null(task_find("copying"));
    struct knob_values kv = kv_of(&task_induction_head, NULL);
    ck_assert_int_eq(task_num(&kv, SPLIT_TRAIN), 5000);
    ck_assert_int_eq(task_num(&kv, SPLIT_TEST), 500);
    ck_assert_int_eq(knob_int(&kv, "vocab_size"), 20);
    ck_assert_int_eq(knob_int(&kv, "seq_len"), 30);
    ck_assert_int_eq(knob_int(&kv, "seed"), 0);
    kv = kv_of(&task_assoc_recall, NULL);
    ck_assert_int_eq(knob_int(&kv, "vocab_size"), 10);
    ck_assert_int_eq(knob_int(&kv, "seq_len"), 20);
}
END_TEST

/* ---- vocabulary order ---- */

static void check_table(const struct task_kind *k, int V, const char *const *want) {
    char vs[16], got[16];
    snprintf(vs, sizeof vs, "%d", V);
    const char *sets[] = {"vocab_size", vs, NULL};
    struct knob_values kv = kv_of(k, sets);
    ck_assert_int_eq(k->vocab_size(&kv), V);
    for (int id = 0; id < V; id++) {
        text_of(k, &kv, id, got);
        ck_assert_msg(strcmp(got, want[id]) == 0, "%s V=%d id %d: got '%s' want '%s'", k->name, V, id, got,
                      want[id]);
    }
}

START_TEST(test_vocab_tables) {
    /* h3.md §4.1 */
    static const char *const v10[] = {".", "0", "1", "2", "3", "4", "5", "6", "7", "=>"};
    static const char *const v20[] = {".",  "0",  "1", "10", "11", "12", "13", "14", "15", "16",
                                      "17", "2",  "3", "4",  "5",  "6",  "7",  "8",  "9",  "=>"};
    for (int t = 0; t < 2; t++) {
        check_table(KINDS[t], 10, v10);
        check_table(KINDS[t], 20, v20);
    }
}
END_TEST

START_TEST(test_vocab_sorted_any_size) {
    /* For other sizes: texts strictly increasing and exactly {".", "=>", "0".."V-3"}. */
    static const int sizes[] = {3, 4, 13, 37, 102, 1234};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int V = sizes[s];
        char vs[16], prev[16] = "", cur[16];
        snprintf(vs, sizeof vs, "%d", V);
        const char *sets[] = {"vocab_size", vs, NULL};
        struct knob_values kv = kv_of(&task_induction_head, sets);
        char *seen = calloc((size_t)V, 1);
        for (int id = 0; id < V; id++) {
            text_of(&task_induction_head, &kv, id, cur);
            if (id) REQUIRE(strcmp(prev, cur) < 0, "V=%d: '%s' then '%s' at id %d", V, prev, cur, id);
            int slot = strcmp(cur, ".") == 0 ? V - 2 : strcmp(cur, "=>") == 0 ? V - 1 : atoi(cur);
            REQUIRE(slot >= 0 && slot < V && !seen[slot], "V=%d: bad or repeated token '%s'", V, cur);
            seen[slot] = 1;
            strcpy(prev, cur);
        }
        free(seen);
    }
}
END_TEST

/* ---- format and answers ---- */

/* Settings swept by the format/answer tests: defaults and odd sizes. */
static const char *const SWEEP[][4] = {
    {"vocab_size", NULL, "seq_len", NULL}, /* defaults */
    {"vocab_size", "13", "seq_len", "17"}, /* odd seq_len: recall uses 8 pairs */
    {"vocab_size", "33", "seq_len", "64"},
};

static struct knob_values sweep_kv(const struct task_kind *k, int i) {
    const char *sets[] = {SWEEP[i][0], SWEEP[i][1], SWEEP[i][2], SWEEP[i][3], NULL};
    return SWEEP[i][1] ? kv_of(k, sets) : kv_of(k, NULL);
}

/* Induction head: "=>" exactly at p < S-2 and at S; the answer is the token after the first "=>". */
static void check_ih(const struct knob_values *kv, const int32_t *seq, const char (*txt)[16], int E) {
    int S = knob_int(kv, "seq_len");
    REQUIRE(E == S + 2, "example length %d, want %d", E, S + 2);
    int first = -1, arrows = 0;
    for (int j = 0; j < E; j++) {
        REQUIRE(strcmp(txt[j], ".") != 0, "'.' at %d", j);
        if (strcmp(txt[j], "=>") == 0) {
            arrows++;
            if (first < 0) first = j;
        }
    }
    REQUIRE(arrows == 2, "%d \"=>\" tokens, want 2", arrows);
    REQUIRE(first >= 0 && first < S - 2, "trigger at %d, want [0, %d)", first, S - 2);
    REQUIRE(strcmp(txt[S], "=>") == 0, "no \"=>\" at %d", S);
    REQUIRE(seq[E - 1] == seq[first + 1], "answer %s, token after trigger %s", txt[E - 1], txt[first + 1]);
}

/* Recall: keys/values from the sorted halves, key->value consistent, query present, answer = its value. */
static void check_ar(const struct knob_values *kv, const char (*txt)[16], int E) {
    int V = knob_int(kv, "vocab_size"), S = knob_int(kv, "seq_len"), P = S / 2, m = V - 2, nk = m / 2;
    REQUIRE(E == 2 * P + 3, "example length %d, want %d", E, 2 * P + 3);
    char **ord = sorted_ordinary(V);
    int *val = malloc((size_t)nk * sizeof *val);
    for (int k = 0; k < nk; k++) val[k] = -1;
    for (int i = 0; i < P; i++) {
        int k = index_of(ord, 0, nk, txt[2 * i]), v = index_of(ord, nk, m, txt[2 * i + 1]);
        REQUIRE(k >= 0, "pair %d: '%s' is not a key", i, txt[2 * i]);
        REQUIRE(v >= 0, "pair %d: '%s' is not a value", i, txt[2 * i + 1]);
        REQUIRE(val[k] < 0 || val[k] == v, "key %s has two values", txt[2 * i]);
        val[k] = v;
    }
    REQUIRE(strcmp(txt[2 * P], "=>") == 0, "no \"=>\" at %d", 2 * P);
    int q = index_of(ord, 0, nk, txt[2 * P + 1]);
    REQUIRE(q >= 0 && val[q] >= 0, "query '%s' is not a key that appeared", txt[2 * P + 1]);
    REQUIRE(strcmp(txt[2 * P + 2], ord[val[q]]) == 0, "answer %s, want %s", txt[2 * P + 2], ord[val[q]]);
    free(val);
    free_strs(ord, V - 2);
}

START_TEST(test_format_and_answers) {
    const struct task_kind *k = KINDS[_i / 3];
    struct knob_values kv = sweep_kv(k, _i % 3);
    int V = k->vocab_size(&kv);
    for (int sp = 0; sp < 2; sp++) {
        struct task_split s = gen(k, &kv, (enum task_split_kind)sp);
        int E = k->example_len(&kv);
        ck_assert_int_eq(s.L, E - 1);
        ck_assert_int_eq(s.n, task_num(&kv, (enum task_split_kind)sp));
        int32_t *seq = malloc((size_t)E * sizeof *seq);
        char(*txt)[16] = malloc((size_t)E * sizeof *txt);
        for (int i = 0; i < s.n; i++) {
            row_of(&s, i, seq);
            const int32_t *x = s.x + (size_t)i * s.L, *y = s.y + (size_t)i * s.L;
            for (int t = 0; t + 1 < s.L; t++) /* y is x shifted by one */
                REQUIRE(y[t] == x[t + 1], "y is not x shifted at example %d position %d", i, t);
            for (int j = 0; j < E; j++) {
                REQUIRE(seq[j] >= 0 && seq[j] < V, "id %d out of [0, %d)", seq[j], V);
                text_of(k, &kv, seq[j], txt[j]);
            }
            if (k == &task_induction_head) check_ih(&kv, seq, (const char(*)[16])txt, E);
            else check_ar(&kv, (const char(*)[16])txt, E);
        }
        free(seq);
        free(txt);
        task_split_free(&s);
    }
}
END_TEST

START_TEST(test_masks) {
    const struct task_kind *k = KINDS[_i];
    struct knob_values kv = kv_of(k, NULL);
    for (int sp = 0; sp < 2; sp++) {
        struct task_split s = gen(k, &kv, (enum task_split_kind)sp);
        for (int i = 0; i < s.n; i++)
            for (int t = 0; t < s.L; t++) {
                size_t at = (size_t)i * s.L + t;
                REQUIRE(s.loss_mask[at] == 1, "loss mask 0 at example %d position %d", i, t);
                REQUIRE(s.answer_mask[at] == (t == s.L - 1), "answer mask %d at example %d position %d",
                              s.answer_mask[at], i, t);
            }
        task_split_free(&s);
    }
}
END_TEST

/* ---- chance ---- */

START_TEST(test_chance) {
    /* Values from the vocabulary: IH guesses among the V-2 ordinary tokens,
     * recall among the values (the second half of them). */
    const char *v10[] = {"vocab_size", "10", NULL}, *v20[] = {"vocab_size", "20", NULL},
               *v11[] = {"vocab_size", "11", NULL};
    struct knob_values kv = kv_of(&task_induction_head, v20);
    ck_assert_double_eq_tol(task_induction_head.chance(&kv), 1.0 / 18, 1e-15);
    kv = kv_of(&task_induction_head, v10);
    ck_assert_double_eq_tol(task_induction_head.chance(&kv), 1.0 / 8, 1e-15);
    kv = kv_of(&task_assoc_recall, v10);
    ck_assert_double_eq_tol(task_assoc_recall.chance(&kv), 0.25, 1e-15);
    kv = kv_of(&task_assoc_recall, v20);
    ck_assert_double_eq_tol(task_assoc_recall.chance(&kv), 1.0 / 9, 1e-15);
    kv = kv_of(&task_assoc_recall, v11); /* 9 ordinary: 4 keys, 5 values */
    ck_assert_double_eq_tol(task_assoc_recall.chance(&kv), 0.2, 1e-15);
}
END_TEST

START_TEST(test_chance_matches_answers) {
    /* 1/chance = the number of distinct answers that actually occur. */
    const struct task_kind *k = KINDS[_i];
    struct knob_values kv = kv_of(k, NULL);
    struct task_split s = gen(k, &kv, SPLIT_TRAIN);
    int V = k->vocab_size(&kv), distinct = 0;
    char *seen = calloc((size_t)V, 1);
    for (int i = 0; i < s.n; i++) {
        int a = s.y[(size_t)i * s.L + s.L - 1];
        if (!seen[a]) seen[a] = 1, distinct++;
    }
    ck_assert_double_eq_tol(k->chance(&kv), 1.0 / distinct, 1e-15);
    free(seen);
    task_split_free(&s);
}
END_TEST

/* ---- determinism, hashes ---- */

/* FNV-1a 64 over the byte stream documented in tasks/task.c. */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

static uint64_t fnv_le32(uint64_t h, const int32_t *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)v[i];
        unsigned char b[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16),
                              (unsigned char)(u >> 24)};
        h = fnv(h, b, 4);
    }
    return h;
}

static uint64_t rehash(const struct task_split *s) {
    int32_t shape[2] = {s->n, s->L};
    size_t nl = (size_t)s->n * s->L;
    uint64_t h = fnv_le32(0xcbf29ce484222325ULL, shape, 2);
    h = fnv_le32(h, s->x, nl);
    h = fnv_le32(h, s->y, nl);
    h = fnv(h, s->loss_mask, nl);
    return fnv(h, s->answer_mask, nl);
}

START_TEST(test_determinism) {
    const struct task_kind *k = KINDS[_i];
    struct knob_values kv = kv_of(k, NULL);
    struct task_split a = gen(k, &kv, SPLIT_TRAIN), b = gen(k, &kv, SPLIT_TRAIN);
    size_t nl = (size_t)a.n * a.L;
    ck_assert_int_eq(a.n, b.n);
    ck_assert_int_eq(a.L, b.L);
    ck_assert(memcmp(a.x, b.x, nl * sizeof *a.x) == 0);
    ck_assert(memcmp(a.y, b.y, nl * sizeof *a.y) == 0);
    ck_assert(memcmp(a.answer_mask, b.answer_mask, nl) == 0);
    ck_assert(a.hash == b.hash);
    ck_assert_msg(a.hash == rehash(&a), "hash %016llx, documented stream gives %016llx",
                  (unsigned long long)a.hash, (unsigned long long)rehash(&a));
    task_split_free(&a);
    task_split_free(&b);
}
END_TEST

START_TEST(test_hash_changes_with_seed) {
    const struct task_kind *k = KINDS[_i];
    const char *s1[] = {"seed", "1", NULL};
    struct knob_values kv0 = kv_of(k, NULL), kv1 = kv_of(k, s1);
    struct task_split a = gen(k, &kv0, SPLIT_TRAIN), b = gen(k, &kv1, SPLIT_TRAIN), t = gen(k, &kv0, SPLIT_TEST);
    ck_assert(a.hash != b.hash);
    ck_assert(memcmp(a.x, b.x, (size_t)a.n * a.L * sizeof *a.x) != 0);
    ck_assert(a.hash != t.hash); /* train and test use different streams */
    task_split_free(&a);
    task_split_free(&b);
    task_split_free(&t);
}
END_TEST

/* Pinned hashes of the default splits (seed 0). They guard cross-machine
 * determinism: any change to the generator, the RNG or the split layout moves
 * them. Such a change must be deliberate; then record the new values here and
 * say so in the commit. */
START_TEST(test_pinned_hashes) {
    static const uint64_t want[2][2] = {
        {0xddad79e61b64b707ULL, 0x89c40276376e266fULL}, /* induction_head train, test */
        {0x91c0e45b574dd5a0ULL, 0x799a1bcd85004d0dULL}, /* assoc_recall train, test */
    };
    for (int t = 0; t < 2; t++) {
        struct knob_values kv = kv_of(KINDS[t], NULL);
        for (int sp = 0; sp < 2; sp++) {
            struct task_split s = gen(KINDS[t], &kv, (enum task_split_kind)sp);
            ck_assert_msg(s.hash == want[t][sp], "%s split %d: hash 0x%016llxULL, pinned 0x%016llxULL",
                          KINDS[t]->name, sp, (unsigned long long)s.hash, (unsigned long long)want[t][sp]);
            task_split_free(&s);
        }
    }
}
END_TEST

/* ---- de-duplication ---- */

START_TEST(test_dedup_default) {
    const struct task_kind *k = KINDS[_i];
    struct knob_values kv = kv_of(k, NULL);
    for (int sp = 0; sp < 2; sp++) {
        struct task_split s = gen(k, &kv, (enum task_split_kind)sp);
        ck_assert_int_eq(count_distinct(&s), s.n);
        task_split_free(&s);
    }
}
END_TEST

/* Tiny settings whose distinct examples we count by hand:
 * IH V=4 (2 ordinary), S=4: trigger p in {0,1}, 3 free tokens: 2 * 2^3 = 16.
 * AR V=6 (keys {0,1}, values {2,3}), S=4 (2 pairs): key sequences aa, bb use
 * one key (2 values, 1 query) = 2 each; ab, ba use two (4 value pairs, 2
 * queries) = 8 each: 20. Asking for all of them must give all of them;
 * asking for one more must fail naming the key. */
START_TEST(test_dedup_exhausts_small_space) {
    static const struct {
        const struct task_kind *k;
        const char *V, *S;
        int distinct;
    } c[] = {{&task_induction_head, "4", "4", 16}, {&task_assoc_recall, "6", "4", 20}};
    for (int i = 0; i < 2; i++) {
        char all[16], more[16], err[512];
        snprintf(all, sizeof all, "%d", c[i].distinct);
        snprintf(more, sizeof more, "%d", c[i].distinct + 1);
        const char *sets[] = {"vocab_size", c[i].V, "seq_len", c[i].S, "num_train", all, "num_test", "1", NULL};
        struct knob_values kv = kv_of(c[i].k, sets);
        struct task_split s = gen(c[i].k, &kv, SPLIT_TRAIN);
        ck_assert_int_eq(s.n, c[i].distinct);
        ck_assert_int_eq(count_distinct(&s), c[i].distinct);
        task_split_free(&s);
        ck_assert(knob_set(&kv, "num_train", more, err, sizeof err) == 0);
        ck_assert_int_eq(c[i].k->validate(&kv, err, sizeof err), -1);
        ck_assert_msg(strstr(err, "num_train") && strstr(err, all), "message: %s", err);
        ck_assert_int_eq(task_generate(c[i].k, &kv, SPLIT_TRAIN, &s, err, sizeof err), -1);
    }
}
END_TEST

/* A stand-in task with exactly 3 distinct examples and no validate(), to
 * exercise the generic bounded-draws failure path and the regeneration. */
static const struct knob tiny_knobs[] = {
    {"num_train", KNOB_INT, "3", 1, 100, NULL, ""},
    {"num_test", KNOB_INT, "3", 1, 100, NULL, ""},
    {"seed", KNOB_INT, "0", 0, 100, NULL, ""},
};
static int tiny_vocab(const struct knob_values *kv) { (void)kv; return 3; }
static int tiny_len(const struct knob_values *kv) { (void)kv; return 2; }
static double tiny_chance(const struct knob_values *kv) { (void)kv; return 1.0 / 3; }
static void tiny_text(const struct knob_values *kv, int id, char *buf, size_t len) {
    (void)kv;
    snprintf(buf, len, "%d", id);
}
static void tiny_example(const struct knob_values *kv, struct hp_rng *r, struct task_example *ex) {
    (void)kv;
    ex->seq[0] = 0;
    ex->seq[1] = (int32_t)hp_rng_below(r, 3);
    ex->answer[1] = 1;
}
static const struct task_kind tiny = {
    .name = "tiny",
    .summary = "three distinct examples",
    .knobs = tiny_knobs,
    .n_knobs = 3,
    .validate = NULL,
    .vocab_size = tiny_vocab,
    .example_len = tiny_len,
    .chance = tiny_chance,
    .token_text = tiny_text,
    .example = tiny_example,
};

START_TEST(test_dedup_bounded_failure) {
    const struct task_kind *k = &tiny;
    struct knob_values kv;
    knob_defaults(&kv, k->knobs, k->n_knobs);
    char err[512];
    struct task_split s;
    ck_assert_int_eq(task_generate(k, &kv, SPLIT_TRAIN, &s, err, sizeof err), 0);
    ck_assert_int_eq(s.n, 3);
    ck_assert_int_eq(count_distinct(&s), 3);
    task_split_free(&s);
    ck_assert(knob_set(&kv, "num_train", "4", err, sizeof err) == 0);
    ck_assert_int_eq(task_generate(k, &kv, SPLIT_TRAIN, &s, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "tiny") && strstr(err, "only 3 distinct"), "message: %s", err);
    ck_assert_ptr_null(s.x);
}
END_TEST

/* ---- overlap ---- */

static struct task_split make_split(int n, int L, const int32_t *seqs) {
    struct task_split s = {0};
    s.n = n;
    s.L = L;
    s.x = malloc((size_t)n * L * sizeof *s.x);
    s.y = malloc((size_t)n * L * sizeof *s.y);
    s.loss_mask = calloc((size_t)n * L, 1);
    s.answer_mask = calloc((size_t)n * L, 1);
    for (int i = 0; i < n; i++)
        for (int t = 0; t < L; t++) {
            s.x[(size_t)i * L + t] = seqs[i * (L + 1) + t];
            s.y[(size_t)i * L + t] = seqs[i * (L + 1) + t + 1];
        }
    return s;
}

START_TEST(test_overlap_constructed) {
    static const int32_t a_rows[] = {1, 2, 3, 4, /**/ 5, 6, 7, 8, /**/ 9, 9, 9, 9};
    /* row 0 shared; row 1 differs only in its last token (a target); row 2 shared */
    static const int32_t b_rows[] = {9, 9, 9, 9, /**/ 5, 6, 7, 0, /**/ 1, 2, 3, 4, /**/ 0, 0, 0, 0};
    static const int32_t c_rows[] = {1, 2, 3, 4, 5};
    struct task_split a = make_split(3, 3, a_rows), b = make_split(4, 3, b_rows), c = make_split(1, 4, c_rows);
    ck_assert_int_eq(task_overlap(&a, &b), 2);
    ck_assert_int_eq(task_overlap(&b, &a), 2);
    ck_assert_int_eq(task_overlap(&a, &a), 3);
    ck_assert_int_eq(task_overlap(&a, &c), 0); /* different lengths never overlap */
    task_split_free(&a);
    task_split_free(&b);
    task_split_free(&c);
}
END_TEST

START_TEST(test_overlap_default_ih) {
    /* 18^29 * 28 possible examples: train and test are disjoint in practice. */
    struct knob_values kv = kv_of(&task_induction_head, NULL);
    struct task_split tr = gen(&task_induction_head, &kv, SPLIT_TRAIN), te = gen(&task_induction_head, &kv, SPLIT_TEST);
    ck_assert_int_eq(task_overlap(&te, &tr), 0);
    ck_assert_int_eq(task_overlap(&te, &te), te.n);
    task_split_free(&tr);
    task_split_free(&te);
}
END_TEST

/* ---- validation ---- */

static void expect_knob_error(const struct task_kind *k, const char *key, const char *value, const char *needle) {
    struct knob_values kv = kv_of(k, NULL);
    char err[512] = "";
    ck_assert_msg(knob_set(&kv, key, value, err, sizeof err) == -1, "%s: %s=%s accepted", k->name, key, value);
    ck_assert_msg(strstr(err, needle) != NULL, "%s=%s: message '%s' lacks '%s'", key, value, err, needle);
}

static void expect_validate_error(const struct task_kind *k, const char *key, const char *value,
                                  const char *limit) {
    const char *sets[] = {key, value, NULL};
    struct knob_values kv = kv_of(k, sets);
    char err[512] = "", kvtext[64];
    snprintf(kvtext, sizeof kvtext, "%s=%s", key, value);
    ck_assert_msg(k->validate(&kv, err, sizeof err) == -1, "%s: %s passed validate", k->name, kvtext);
    ck_assert_msg(strstr(err, kvtext) && strstr(err, limit), "%s: message '%s' lacks '%s' or '%s'", k->name, err,
                  kvtext, limit);
    struct task_split s;
    ck_assert_int_eq(task_generate(k, &kv, SPLIT_TRAIN, &s, err, sizeof err), -1);
}

START_TEST(test_validation) {
    for (int t = 0; t < 2; t++) {
        const struct task_kind *k = KINDS[t];
        struct knob_values kv = kv_of(k, NULL);
        char err[512];
        ck_assert_msg(k->validate(&kv, err, sizeof err) == 0, "defaults rejected: %s", err);
        expect_knob_error(k, "vocab_size", "2", "vocab_size");
        expect_knob_error(k, "seq_len", "abc", "seq_len");
        expect_knob_error(k, "seq_len", "0", "seq_len");
        expect_knob_error(k, "num_train", "0", "num_train");
        expect_knob_error(k, "seed", "-1", "seed");
        expect_knob_error(k, "num_pairs", "2", "valid keys are");
    }
    expect_validate_error(&task_induction_head, "seq_len", "2", "at least 3");
    expect_knob_error(&task_assoc_recall, "induction_len", "2", "valid keys are");
    expect_knob_error(&task_induction_head, "num_keys", "2", "valid keys are");
    expect_validate_error(&task_assoc_recall, "vocab_size", "3", "at least 4");
    expect_validate_error(&task_assoc_recall, "seq_len", "1", "at least 2");
    /* V=3 has one ordinary token: seq_len-2 distinct IH examples only. */
    const char *tiny[] = {"vocab_size", "3", "seq_len", "6", NULL};
    struct knob_values kv = kv_of(&task_induction_head, tiny);
    char err[512];
    ck_assert_int_eq(task_induction_head.validate(&kv, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "num_train=5000") && strstr(err, " 4 distinct"), "message: %s", err);
}
END_TEST

/* ---- show ---- */

START_TEST(test_show) {
    struct knob_values kv = kv_of(&task_assoc_recall, NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    task_show(&task_assoc_recall, &kv, 2, f);
    fclose(f);
    ck_assert_msg(strstr(buf, "example 1") && !strstr(buf, "example 2"), "%s", buf);
    ck_assert_msg(strstr(buf, "chance 25.0%") && strstr(buf, "=>"), "%s", buf);
    /* The first example's answer, as text and as id, bracketed. */
    struct task_split s = gen(&task_assoc_recall, &kv, SPLIT_TRAIN);
    char want[32], txt[16];
    int a = s.y[s.L - 1];
    text_of(&task_assoc_recall, &kv, a, txt);
    snprintf(want, sizeof want, "[%s]", txt);
    ck_assert_msg(strstr(buf, want), "no '%s' in\n%s", want, buf);
    snprintf(want, sizeof want, "[%d]", a);
    ck_assert_msg(strstr(buf, want), "no '%s' in\n%s", want, buf);
    task_split_free(&s);
    free(buf);
    f = open_memstream(&buf, &len);
    task_show(&task_assoc_recall, &kv, 0, f);
    fclose(f);
    ck_assert_msg(strstr(buf, "num_train"), "%s", buf);
    free(buf);
}
END_TEST

START_TEST(test_speed) {
    /* 5000 examples should take milliseconds; 1 s is a generous bound for a shared machine. */
    struct knob_values kv = kv_of(&task_induction_head, NULL);
    double t0 = hp_now();
    struct task_split s = gen(&task_induction_head, &kv, SPLIT_TRAIN);
    double dt = hp_now() - t0;
    ck_assert_msg(dt < 1.0, "5000 examples took %.3f s", dt);
    task_split_free(&s);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("tasks");
    TCase *tc = tcase_create("tasks");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_registry);
    tcase_add_test(tc, test_vocab_tables);
    tcase_add_test(tc, test_vocab_sorted_any_size);
    tcase_add_loop_test(tc, test_format_and_answers, 0, 6);
    tcase_add_loop_test(tc, test_masks, 0, 2);
    tcase_add_test(tc, test_chance);
    tcase_add_loop_test(tc, test_chance_matches_answers, 0, 2);
    tcase_add_loop_test(tc, test_determinism, 0, 2);
    tcase_add_loop_test(tc, test_hash_changes_with_seed, 0, 2);
    tcase_add_test(tc, test_pinned_hashes);
    tcase_add_loop_test(tc, test_dedup_default, 0, 2);
    tcase_add_test(tc, test_dedup_exhausts_small_space);
    tcase_add_test(tc, test_dedup_bounded_failure);
    tcase_add_test(tc, test_overlap_constructed);
    tcase_add_test(tc, test_overlap_default_ih);
    tcase_add_test(tc, test_validation);
    tcase_add_test(tc, test_show);
    tcase_add_test(tc, test_speed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return tu_run_suite(suite());
}
