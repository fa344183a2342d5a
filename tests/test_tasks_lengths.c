/* test_tasks_lengths.c — what every task shares beyond its language: the
 * length knobs (a longer test split, mixes of lengths, padding, validation
 * messages), the loss-mask knob, the gap metadata of the H3 tasks, the
 * length-aware overlap and content hash, and the registry as `hippodrome
 * list` and `show` present it. The H3 tasks' default splits stay pinned in
 * test_tasks.c. Build: make test. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"
#include "cli_testutil.h"
#include "testutil.h"

#include "task_testutil.h"

#define BIN "build/hippodrome"

/* Small settings per task, so every split below is quick. */
static const char *const SMALL[][8] = {
    {"num_train", "300", "num_test", "60", NULL},
    {"num_train", "300", "num_test", "60", NULL},
    {"num_train", "300", "num_test", "60", NULL},
    {"num_train", "300", "num_test", "60", "seq_len", "64", NULL},
    {"num_train", "300", "num_test", "60", NULL},
    {"num_train", "300", "num_test", "60", NULL},
};

static struct knob_values small_kv(int t, const char *key, const char *value) {
    struct knob_values kv = kv_of(task_kinds[t], SMALL[t]);
    char err[512];
    if (key) ck_assert_msg(knob_set(&kv, key, value, err, sizeof err) == 0, "%s", err);
    return kv;
}

START_TEST(test_registry) {
    int n = 0;
    for (; task_kinds[n]; n++) {
        const struct task_kind *k = task_kinds[n];
        ck_assert_ptr_eq(task_find(k->name), k);
        struct knob_values kv = kv_of(k, NULL);
        char err[512];
        ck_assert_msg(k->validate(&kv, err, sizeof err) == 0, "%s defaults: %s", k->name, err);
        double c = k->chance(&kv);
        ck_assert_msg(c > 0 && c <= 1, "%s chance %g", k->name, c);
        static const char *const shared[] = {"seq_len", "test_seq_len", "train_seq_lens", "test_seq_lens",
                                             "loss_mask", "num_train", "num_test", "seed", "vocab_size"};
        for (int i = 0; i < 9; i++)
            ck_assert_msg(knob_find(k->knobs, k->n_knobs, shared[i]) >= 0, "%s lacks %s", k->name, shared[i]);
    }
    ck_assert_int_eq(n, 6);
}
END_TEST

/* The model length covers the longest split; each split has its own L. */
START_TEST(test_longer_test_split) {
    struct knob_values base = small_kv(_i, NULL, NULL), kv = base;
    const struct task_kind *k = task_kinds[_i];
    char err[512], tl[16];
    int S = knob_int(&kv, "seq_len");
    snprintf(tl, sizeof tl, "%d", 2 * S);
    ck_assert(knob_set(&kv, "test_seq_len", tl, err, sizeof err) == 0);
    struct task_split tr0 = gen(k, &base, SPLIT_TRAIN), tr = gen(k, &kv, SPLIT_TRAIN), te = gen(k, &kv, SPLIT_TEST);
    ck_assert_msg(tr.hash == tr0.hash, "%s: test_seq_len changed the training split", k->name);
    ck_assert_int_gt(te.L, tr.L);
    ck_assert_int_eq(te.L + 1, k->example_len(&kv));
    for (int i = 0; i < te.n; i++) REQUIRE(te.seq_len[i] == 2 * S && te.len[i] == te.L, "%s test example %d", k->name, i);
    ck_assert_int_eq(task_overlap(&te, &tr), 0);
    task_split_free(&tr0);
    task_split_free(&tr);
    task_split_free(&te);
}
END_TEST

/* A mix: groups by length, shortest first, as equal as n allows; padding
 * after each example; the hash covers len; an example equal to one of
 * another split counts as overlap whatever the two splits' L. */
START_TEST(test_mixed_lengths) {
    const char *sets[] = {"seq_len", "40", "train_seq_lens", "40, 10,20", "num_train", "301", "num_test", "50", NULL};
    struct knob_values kv = kv_of(&task_assoc_recall, sets);
    struct task_split s = gen(&task_assoc_recall, &kv, SPLIT_TRAIN);
    ck_assert_int_eq(s.L, 42);
    static const int want_len[] = {10, 20, 40}, want_n[] = {101, 100, 100};
    for (int g = 0, i = 0; g < 3; g++)
        for (int j = 0; j < want_n[g]; j++, i++) {
            REQUIRE(s.seq_len[i] == want_len[g] && s.len[i] == want_len[g] + 2, "example %d: seq_len %d len %d", i,
                    s.seq_len[i], s.len[i]);
            struct ex_view e = view_of(&s, i);
            REQUIRE(e.ans[e.len - 1] && e.gap[e.len - 1] >= 1, "example %d: no answer at its end", i);
        }
    /* The first group alone, drawn first from the same stream, is the same examples. */
    const char *first[] = {"seq_len", "10", "num_train", "101", "num_test", "50", NULL};
    struct knob_values kv10 = kv_of(&task_assoc_recall, first);
    struct task_split f = gen(&task_assoc_recall, &kv10, SPLIT_TRAIN);
    ck_assert_int_eq(f.L, 12);
    ck_assert_int_eq(task_overlap(&f, &s), 101);
    ck_assert_int_eq(task_overlap(&s, &f), 101);
    ck_assert_int_eq(count_distinct_xy(&s), s.n);
    /* The documented hash: the old stream, then len (n int32) when padded. */
    uint64_t h = 0xcbf29ce484222325ULL;
    int32_t shape[2] = {s.n, s.L};
    size_t nl = (size_t)s.n * s.L;
    const uint8_t *parts[4] = {(const uint8_t *)shape, (const uint8_t *)s.x, (const uint8_t *)s.y, s.loss_mask};
    size_t sizes[4] = {sizeof shape, nl * 4, nl * 4, nl};
    for (int p = 0; p < 4; p++)
        for (size_t b = 0; b < sizes[p]; b++) h = (h ^ parts[p][b]) * 0x100000001b3ULL;
    for (size_t b = 0; b < nl; b++) h = (h ^ s.answer_mask[b]) * 0x100000001b3ULL;
    for (size_t b = 0; b < (size_t)s.n * 4; b++) h = (h ^ ((const uint8_t *)s.len)[b]) * 0x100000001b3ULL;
    ck_assert_msg(h == s.hash, "hash %016llx, documented stream %016llx (little-endian host)",
                  (unsigned long long)s.hash, (unsigned long long)h);
    for_each_view(&task_assoc_recall, &kv, NULL, NULL); /* padding and masks */
    task_split_free(&s);
    task_split_free(&f);
}
END_TEST

/* loss_mask=answers puts the loss on the answers only; the tokens, answers
 * and gaps do not move, the hash does. */
START_TEST(test_loss_mask) {
    const struct task_kind *k = task_kinds[_i];
    struct knob_values a = small_kv(_i, "loss_mask", "all"), b = small_kv(_i, "loss_mask", "answers");
    struct task_split sa = gen(k, &a, SPLIT_TRAIN), sb = gen(k, &b, SPLIT_TRAIN);
    size_t nl = (size_t)sa.n * sa.L;
    ck_assert(memcmp(sa.x, sb.x, nl * sizeof *sa.x) == 0 && memcmp(sa.y, sb.y, nl * sizeof *sa.y) == 0);
    ck_assert(memcmp(sa.answer_mask, sb.answer_mask, nl) == 0 && memcmp(sa.gap, sb.gap, nl * sizeof *sa.gap) == 0);
    ck_assert(sa.hash != sb.hash);
    long loss_a = 0, loss_b = 0, answers = 0;
    for (size_t i = 0; i < nl; i++) {
        REQUIRE(sb.loss_mask[i] == sb.answer_mask[i], "%s: answers-only loss mask differs at %zu", k->name, i);
        loss_a += sa.loss_mask[i], loss_b += sb.loss_mask[i], answers += sa.answer_mask[i];
    }
    long real = 0;
    for (int i = 0; i < sa.n; i++) real += sa.len[i];
    ck_assert_int_eq(loss_a, real);
    ck_assert_int_eq(loss_b, answers);
    for_each_view(k, &a, NULL, NULL);
    for_each_view(k, &b, NULL, NULL);
    task_split_free(&sa);
    task_split_free(&sb);
}
END_TEST

/* The H3 tasks' gaps, read off the tokens: induction head from the last
 * earlier "=>" to the final one; recall from the last token of the query key
 * back to the last token of the key's latest pair (num_keys 1 and 2). */
static void ih_gap_check(const struct knob_values *kv, enum task_split_kind sp, const struct ex_view *e, void *ctx) {
    (void)sp, (void)ctx;
    int S = e->seq_len, arrow = -1, last = -1;
    char t[16];
    for (int id = 0; id < knob_int(kv, "vocab_size") && arrow < 0; id++) {
        task_induction_head.token_text(kv, id, t, sizeof t);
        if (strcmp(t, "=>") == 0) arrow = id;
    }
    REQUIRE(e->x[S] == arrow, "no final arrow at %d", S);
    for (int p = 0; p < S; p++)
        if (e->x[p] == arrow) last = p;
    for (int j = S; j < e->len; j++) REQUIRE(e->ans[j] && e->gap[j] == S - last, "gap %d at %d, want %d", e->gap[j], j, S - last);
}

static void ar_gap_check(const struct knob_values *kv, enum task_split_kind sp, const struct ex_view *e, void *ctx) {
    (void)sp, (void)ctx;
    int n = knob_int(kv, "num_keys"), q = e->len - 1, want = -1; /* q: last query token, where the value is predicted */
    for (int s = q - n - 2; s >= n - 1 && want < 0; s -= n + 1) { /* s: last token of a pair's key */
        bool same = true;
        for (int i = 0; i < n; i++) same &= e->x[s - i] == e->x[q - i];
        if (same) want = q - s;
    }
    REQUIRE(e->ans[q] && e->gap[q] == want, "gap %d, want %d", e->gap[q], want);
}

START_TEST(test_h3_task_gaps) {
    const char *ih[] = {"num_triggers", "3", "seq_len", "40", NULL};
    struct knob_values kv = kv_of(&task_induction_head, ih);
    for_each_view(&task_induction_head, &kv, ih_gap_check, NULL);
    kv = kv_of(&task_assoc_recall, NULL);
    for_each_view(&task_assoc_recall, &kv, ar_gap_check, NULL);
    const char *ar2[] = {"num_keys", "2", "vocab_size", "12", "seq_len", "30", NULL};
    kv = kv_of(&task_assoc_recall, ar2);
    for_each_view(&task_assoc_recall, &kv, ar_gap_check, NULL);
}
END_TEST

static void expect_error(const struct task_kind *k, const char *const *sets, const char *a, const char *b) {
    struct knob_values kv = kv_of(k, sets);
    char err[512] = "";
    ck_assert_msg(k->validate(&kv, err, sizeof err) == -1, "%s: accepted %s=%s", k->name, sets[0], sets[1]);
    ck_assert_msg(strstr(err, a) && strstr(err, b), "%s: message '%s' lacks '%s' or '%s'", k->name, err, a, b);
    struct task_split s;
    ck_assert_int_eq(task_generate(k, &kv, SPLIT_TRAIN, &s, err, sizeof err), -1);
}

START_TEST(test_length_validation) {
    const struct task_kind *ar = &task_assoc_recall, *ih = &task_induction_head, *mq = &task_mqar;
    expect_error(ar, (const char *const[]){"train_seq_lens", "10,30", NULL}, "train_seq_lens='10,30'", "seq_len=20");
    expect_error(ar, (const char *const[]){"train_seq_lens", "10,abc", NULL}, "train_seq_lens='10,abc'", "integer");
    expect_error(ar, (const char *const[]){"train_seq_lens", "10;20", NULL}, "unexpected ';'", "64,128,256");
    expect_error(ar, (const char *const[]){"train_seq_lens", "20,10,20", NULL}, "length 20 appears twice", "20,10,20");
    expect_error(ar, (const char *const[]){"test_seq_lens", "10,20", "test_seq_len", "40", NULL}, "test_seq_lens",
                 "test_seq_len=40");
    expect_error(ar, (const char *const[]){"test_seq_lens", "10,30", NULL}, "test_seq_lens='10,30'", "seq_len=20");
    expect_error(ar, (const char *const[]){"test_seq_lens", "4,8,12,16,20", "num_test", "4", NULL}, "num_test=4",
                 "5 lengths");
    expect_error(mq, (const char *const[]){"train_seq_lens", "2,64", NULL}, "length 2", "[4, 1048576]");
    expect_error(ih, (const char *const[]){"test_seq_len", "2", NULL}, "test split at seq_len=2", "at least 3");
    expect_error(ih, (const char *const[]){"train_seq_lens", "2,30", NULL}, "training split at seq_len=2",
                 "at least 3");
    expect_error(mq, (const char *const[]){"test_seq_len", "65", NULL}, "test split at seq_len=65", "even");
    expect_error(mq, (const char *const[]){"seq_len", "1048576", "num_train", "300", "num_test", "1", NULL},
                 "num_train=300", "the limit is");
    /* Good mixes pass, spaces allowed. */
    struct knob_values kv = kv_of(ar, (const char *const[]){"train_seq_lens", " 20 , 10 ", NULL});
    char err[512];
    ck_assert_msg(ar->validate(&kv, err, sizeof err) == 0, "%s", err);
}
END_TEST

START_TEST(test_cli_list_and_show) {
    expect(0, "selective_copy", BIN " list");
    for (int t = 0; task_kinds[t]; t++) {
        ck_assert_msg(strstr(out, task_kinds[t]->name), "list lacks %s", task_kinds[t]->name);
        ck_assert_msg(strstr(out, task_kinds[t]->summary), "list lacks %s's summary", task_kinds[t]->name);
    }
    ck_assert_msg(strstr(out, "train_seq_lens") && strstr(out, "loss_mask"), "%.2000s", out);
    expect(0, "training loss covers the answers only", BIN " show mqar --n 2");
    ck_assert_msg(strstr(out, "example 1") && strstr(out, "  input "), "%.2000s", out);
    expect(0, "=>", BIN " show selective_copy --n 1 --set seq_len=40 --set num_tokens_to_copy=4");
    expect(0, "example 0", BIN " show fuzzy_recall --n 1");
    expect(0, "example 0", BIN " show noisy_recall --n 1");
    expect(0, "example 1", BIN " show assoc_recall --n 2 --set train_seq_lens=10,20");
    expect(2, "train_seq_lens='10,30'", BIN " show assoc_recall --set train_seq_lens=10,30");
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("tasks_lengths");
    TCase *tc = tcase_create("lengths");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_registry);
    tcase_add_loop_test(tc, test_longer_test_split, 0, 6);
    tcase_add_test(tc, test_mixed_lengths);
    tcase_add_loop_test(tc, test_loss_mask, 0, 6);
    tcase_add_test(tc, test_h3_task_gaps);
    tcase_add_test(tc, test_length_validation);
    tcase_add_test(tc, test_cli_list_and_show);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
