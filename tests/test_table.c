/* test_table.c — `hippodrome table` over fixture run reports written here by
 * the real report writer: cells grouped by task and layer, mean, sample std,
 * best and statuses (a diverged run counted, not averaged), chance from the
 * task's knobs, non-reports skipped; the --over mode's best value and median;
 * sweep labels as keys; the reference rules (a cell that is off fails, one
 * with a diverged run fails, no rule gives null); and the verb's files, exit
 * codes and markdown. Runs build/hippodrome from the repo root. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../harness/config.h"
#include "../harness/report.h"
#include "../harness/table.h"
#include "../harness/train.h"
#include "testutil.h"
#include "cli_testutil.h"

#define BIN "build/hippodrome"

static void setup(void) { tmpdir_open("table"); }

static void teardown(void) { tmpdir_close(); }


static void write_text(const char *name, const char *text) {
    FILE *f = fopen(at(name), "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* One fixture run. */
struct fx {
    const char *task, *layer;
    double lr;
    int seed;
    enum run_status status;
    double final_acc, best_acc;
    const char *variant; /* a sweep label, or NULL */
};

/* A run report as train writes it, under sub/ in dir. */
static void write_report(const char *sub, const struct fx *f) {
    char cfgtext[1024], name[64], path[256], err[1024];
    snprintf(name, sizeof name, "%s_%s_lr%g_s%d", f->task, f->layer, f->lr, f->seed);
    snprintf(cfgtext, sizeof cfgtext,
             "{\"name\": \"%s\", \"task\": {\"name\": \"%s\", \"vocab_size\": 10, \"seq_len\": 8}, "
             "\"model\": {\"layer\": \"%s\", \"d_model\": 16, \"n_layer\": 1}, "
             "\"train\": {\"epochs\": 3, \"warmup_epochs\": 1, \"lr\": %.17g, \"seed\": %d}}",
             name, f->task, f->layer, f->lr, f->seed);
    write_text("cfg.json", cfgtext);
    struct run_config c;
    ck_assert_msg(config_load(at("cfg.json"), NULL, 0, &c, err, sizeof err) == 0, "%s", err);
    double loss[1] = {1.0}, acc[1] = {f->final_acc};
    struct train_result r = {.status = f->status, .epochs_run = 1, .train_loss = loss, .test_acc = acc,
                             .final_acc = f->final_acc, .best_acc = f->best_acc, .best_epoch = 1,
                             .chance = 0.5 /* wrong on purpose: the table takes the task's */};
    cJSON *j = report_run(&c, &r);
    if (f->variant) {
        cJSON *labels = cJSON_AddObjectToObject(cJSON_AddObjectToObject(j, "sweep"), "labels");
        cJSON_AddStringToObject(labels, "variant", f->variant);
    }
    snprintf(path, sizeof path, "%s/%s/%s.json", dir, sub, name);
    ck_assert_msg(report_write(path, j, err, sizeof err) == 0, "%s", err);
    cJSON_Delete(j);
}

/* ar/attention: 0.5, 0.7 and a diverged 0.99; ar/h3: 0.90, 0.95, 1.00; ih/h3: 0.3. */
static void grid_fixture(void) {
    const struct fx runs[] = {
        {"assoc_recall", "h3", 1e-3, 0, RUN_OK, 0.90, 0.92, "a"},
        {"assoc_recall", "h3", 1e-3, 1, RUN_OK, 0.95, 0.97, "a"},
        {"assoc_recall", "h3", 1e-3, 2, RUN_OK, 1.00, 1.00, "b"},
        {"assoc_recall", "attention", 1e-3, 0, RUN_OK, 0.5, 0.5, "b"},
        {"assoc_recall", "attention", 1e-3, 1, RUN_OK, 0.7, 0.8, "b"},
        {"assoc_recall", "attention", 1e-3, 2, RUN_DIVERGED, 0.99, 0.99, "b"},
        {"induction_head", "h3", 1e-3, 0, RUN_OK, 0.3, 0.4, NULL},
    };
    for (size_t i = 0; i < sizeof runs / sizeof *runs; i++) write_report("grid", &runs[i]);
    write_text("grid/summary.json", "{\"schema_version\": 1, \"cells\": []}");
    write_text("grid/broken.json", "{\"status\": ");
    write_text("grid/notes.txt", "not json at all");
}

static cJSON *build(const char *sub, const struct table_opts *o) {
    char err[1024], path[256];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    cJSON *t = table_build(path, o, NULL, err, sizeof err);
    ck_assert_msg(t != NULL, "%s", err);
    return t;
}

static const cJSON *cell(const cJSON *t, int i) { return cJSON_GetArrayItem(cJSON_GetObjectItem(t, "cells"), i); }

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(o, key);
    ck_assert_msg(cJSON_IsNumber(v), "'%s' is not a number", key);
    return v->valuedouble;
}

static const char *str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(o, key);
    ck_assert_msg(cJSON_IsString(v), "'%s' is not a string", key);
    return v->valuestring;
}

START_TEST(test_aggregate) {
    grid_fixture();
    cJSON *t = build("grid", &(struct table_opts){0});
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(t, "cells")), 3);
    ck_assert_int_eq(num(t, "runs"), 7);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(t, "skipped")), 2); /* summary.json, broken.json */
    const cJSON *att = cell(t, 0), *h3 = cell(t, 1), *ih = cell(t, 2);
    ck_assert_str_eq(str(att, "task"), "assoc_recall");
    ck_assert_str_eq(str(att, "layer"), "attention");
    ck_assert_int_eq(num(att, "n"), 2);
    ck_assert_int_eq(num(att, "runs"), 3);
    ck_assert_double_eq_tol(num(att, "mean"), 0.6, 1e-12); /* the diverged 0.99 is not averaged */
    ck_assert_double_eq_tol(num(att, "std"), sqrt(0.02), 1e-12);
    ck_assert_double_eq_tol(num(att, "best"), 0.7, 1e-12);
    const cJSON *st = cJSON_GetObjectItem(att, "statuses");
    ck_assert_int_eq(num(st, "ok"), 2);
    ck_assert_int_eq(num(st, "diverged"), 1);
    ck_assert_str_eq(str(h3, "layer"), "h3");
    ck_assert_int_eq(num(h3, "n"), 3);
    ck_assert_double_eq_tol(num(h3, "mean"), 0.95, 1e-12);
    ck_assert_double_eq_tol(num(h3, "std"), 0.05, 1e-12); /* sample std (n - 1) */
    ck_assert_double_eq_tol(num(h3, "best"), 1.0, 1e-12);
    ck_assert_double_eq_tol(num(h3, "chance"), 0.25, 1e-12);
    ck_assert_str_eq(str(ih, "task"), "induction_head");
    ck_assert_double_eq(num(ih, "std"), 0.0); /* n = 1 */
    ck_assert_double_eq_tol(num(ih, "chance"), 1.0 / 8, 1e-12); /* 1 / (vocab - 2) */
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(h3, "pass")));    /* no reference */
    cJSON_Delete(t);
    /* The best-epoch metric. */
    t = build("grid", &(struct table_opts){.metric = "best"});
    ck_assert_double_eq_tol(num(cell(t, 1), "mean"), (0.92 + 0.97 + 1.0) / 3, 1e-12);
    cJSON_Delete(t);
}
END_TEST

START_TEST(test_labels_and_keys) {
    grid_fixture();
    /* A sweep label as rows, a config key as columns. */
    cJSON *t = build("grid", &(struct table_opts){.rows = "variant", .cols = "train.seed"});
    ck_assert_str_eq(str(t, "row_field"), "variant");
    ck_assert_str_eq(str(t, "col_field"), "seed");
    const cJSON *first = cell(t, 0);
    ck_assert_str_eq(str(first, "variant"), "a");
    ck_assert_int_eq(num(first, "seed"), 0);
    ck_assert_double_eq_tol(num(first, "mean"), 0.90, 1e-12);
    /* The unlabelled induction-head run has no variant: its cell sorts last with null. */
    const cJSON *last = cell(t, cJSON_GetArraySize(cJSON_GetObjectItem(t, "cells")) - 1);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(last, "variant")));
    cJSON_Delete(t);
    /* Keys that would share a name keep their full names. */
    t = build("grid", &(struct table_opts){.rows = "model.layer", .cols = "layer"});
    ck_assert_str_eq(str(t, "row_field"), "model.layer");
    cJSON_Delete(t);
}
END_TEST

/* ar/h3 over lr: 1e-4 -> .5 .6, 5e-4 -> .95 .97, 1e-3 -> .8 .9, 1e-2 -> 1.0 and a diverged run;
 * ar/attention: 1e-4 -> .2, 1e-3 -> .4. */
START_TEST(test_over_lr) {
    const struct fx runs[] = {
        {"assoc_recall", "h3", 1e-4, 0, RUN_OK, 0.5, 0.5, NULL},   {"assoc_recall", "h3", 1e-4, 1, RUN_OK, 0.6, 0.6, NULL},
        {"assoc_recall", "h3", 5e-4, 0, RUN_OK, 0.95, 0.95, NULL}, {"assoc_recall", "h3", 5e-4, 1, RUN_OK, 0.97, 0.97, NULL},
        {"assoc_recall", "h3", 1e-3, 0, RUN_OK, 0.8, 0.8, NULL},   {"assoc_recall", "h3", 1e-3, 1, RUN_OK, 0.9, 0.9, NULL},
        {"assoc_recall", "h3", 1e-2, 0, RUN_OK, 1.0, 1.0, NULL},   {"assoc_recall", "h3", 1e-2, 1, RUN_DIVERGED, 0, 0, NULL},
        {"assoc_recall", "attention", 1e-4, 0, RUN_OK, 0.2, 0.2, NULL},
        {"assoc_recall", "attention", 1e-3, 0, RUN_OK, 0.4, 0.4, NULL},
    };
    for (size_t i = 0; i < sizeof runs / sizeof *runs; i++) write_report("lr", &runs[i]);
    cJSON *t = build("lr", &(struct table_opts){.over = "train.lr"});
    ck_assert_str_eq(str(t, "over_field"), "lr");
    const cJSON *att = cell(t, 0), *h3 = cell(t, 1);
    /* 1e-2 has the best single run but a diverged seed: not eligible. */
    ck_assert_double_eq(num(h3, "best_value"), 5e-4);
    ck_assert_double_eq_tol(num(h3, "mean"), 0.96, 1e-12);
    ck_assert_double_eq_tol(num(h3, "std"), sqrt(0.0002), 1e-12);
    ck_assert_int_eq(num(h3, "n"), 2);
    ck_assert_double_eq_tol(num(h3, "median"), 0.85, 1e-12); /* of .55, .85, .96 */
    ck_assert_int_eq(num(h3, "runs"), 8);
    const cJSON *values = cJSON_GetObjectItem(h3, "values");
    ck_assert_int_eq(cJSON_GetArraySize(values), 4);
    const cJSON *v3 = cJSON_GetArrayItem(values, 3);
    ck_assert_double_eq(num(v3, "value"), 1e-2);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(v3, "eligible")));
    ck_assert_double_eq(num(att, "best_value"), 1e-3);
    ck_assert_double_eq_tol(num(att, "median"), 0.3, 1e-12); /* even count: the middle two averaged */
    char *md = table_markdown(t);
    ck_assert_msg(strstr(md, "| assoc_recall | h3 | 0.0005 | 2 | 96.0 ± 1.4 | 97.0 | 85.0 |"), "%.1500s", md);
    free(md);
    cJSON_Delete(t);
}
END_TEST

static cJSON *parse(const char *text) {
    cJSON *j = cJSON_Parse(text);
    ck_assert_ptr_nonnull(j);
    return j;
}

START_TEST(test_reference_rules) {
    grid_fixture();
    cJSON *ref = parse("{\"note\": \"fixture numbers\", \"cells\": ["
                       "{\"task\": \"assoc_recall\", \"layer\": \"h3\", \"paper\": 99.8, \"min\": 97.0, \"max\": 100.0},"
                       "{\"task\": \"assoc_recall\", \"layer\": \"attention\", \"paper\": 60.0, \"tol\": 1.0}]}");
    char err[512];
    ck_assert_msg(table_check_reference(ref, err, sizeof err) == 0, "%s", err);
    cJSON *t = build("grid", &(struct table_opts){.reference = ref, .reference_path = "ref.json"});
    const cJSON *att = cell(t, 0), *h3 = cell(t, 1), *ih = cell(t, 2);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(h3, "pass"))); /* 95.0 is below 97 */
    ck_assert_double_eq_tol(num(h3, "paper"), 0.998, 1e-12);
    ck_assert_double_eq_tol(num(h3, "min"), 0.97, 1e-12);
    /* Mean 60 is inside 59..61, but a run diverged. */
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(att, "pass")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(ih, "pass")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(ih, "paper")));
    ck_assert_int_eq(table_failures(t), 2);
    ck_assert_str_eq(str(t, "note"), "fixture numbers");
    char *md = table_markdown(t);
    const char *rows[] = {"| task | layer | n | mean ± std % | best % | paper % | chance % | pass | runs |",
                          "| assoc_recall | h3 | 3 | 95.0 ± 5.0 | 100.0 | 99.8 | 25.0 | FAIL | 3 ok |",
                          "| assoc_recall | attention | 2 | 60.0 ± 14.1 | 70.0 | 60.0 | 25.0 | FAIL | 2 ok, 1 diverged |",
                          "| induction_head | h3 | 1 | 30.0 ± 0.0 | 30.0 | - | 12.5 | - | 1 ok |",
                          "Reference: ref.json. fixture numbers"};
    for (int i = 0; i < 5; i++) ck_assert_msg(strstr(md, rows[i]), "markdown lacks '%s':\n%.1500s", rows[i], md);
    free(md);
    cJSON_Delete(t);
    cJSON_Delete(ref);
    /* A wider rule passes the same cell. */
    ref = parse("{\"cells\": [{\"task\": \"assoc_recall\", \"layer\": \"h3\", \"min\": 90}]}");
    t = build("grid", &(struct table_opts){.reference = ref});
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(cell(t, 1), "pass")));
    ck_assert_int_eq(table_failures(t), 0);
    cJSON_Delete(t);
    cJSON_Delete(ref);
}
END_TEST

START_TEST(test_reference_schema) {
    const char *bad[][2] = {
        {"{\"cells\": [{\"paper\": 50}]}", "no key to match"},
        {"{\"cells\": [{\"task\": \"x\", \"tol\": 2}]}", "needs \"paper\""},
        {"{\"cells\": [{\"task\": \"x\", \"min\": \"high\"}]}", "'min' must be a number"},
        {"{\"cell\": []}", "unknown key 'cell'"},
        {"{\"cells\": 3}", "must be an array"},
    };
    for (int i = 0; i < 5; i++) {
        cJSON *ref = parse(bad[i][0]);
        char err[512] = "";
        ck_assert_int_eq(table_check_reference(ref, err, sizeof err), -1);
        ck_assert_msg(strstr(err, bad[i][1]), "'%s' -> '%s', expected '%s'", bad[i][0], err, bad[i][1]);
        cJSON_Delete(ref);
    }
}
END_TEST


START_TEST(test_verb) {
    grid_fixture();
    write_text("ref.json", "{\"cells\": [{\"task\": \"assoc_recall\", \"layer\": \"h3\", \"paper\": 99.8, \"min\": 97}]}");
    const char *g = at("grid");
    expect(0, "| assoc_recall | h3 | 3 | 95.0 ± 5.0 |", BIN " table %s --json %s --md %s", g, at("t.json"), at("t.md"));
    ck_assert_msg(strstr(out, "skipping") && strstr(out, "summary.json"), "no note for the skipped file:\n%.1500s", out);
    char err[512];
    cJSON *j = report_read(at("t.json"), err, sizeof err);
    ck_assert_msg(j != NULL, "%s", err);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "cells")), 3);
    cJSON_Delete(j);
    char *md = report_read_text(at("t.md"), err, sizeof err);
    ck_assert_msg(md && strstr(md, "| induction_head | h3 | 1 |"), "t.md: %.1500s", md ? md : err);
    free(md);
    expect(0, "FAIL", BIN " table %s --reference %s", g, at("ref.json"));
    expect(1, "outside the reference rule", BIN " table %s --reference %s --strict", g, at("ref.json"));
    expect(0, "| a | 0 |", BIN " table %s --rows variant --cols train.seed", g);
    expect(0, "best lr", BIN " table %s --over train.lr", g);
    expect(2, "use final or best", BIN " table %s --metric last", g);
    expect(2, "--reference", BIN " table %s --reference %s/none.json", g, dir);
    write_text("bad_ref.json", "{\"cells\": [{\"paper\": 1}]}");
    expect(2, "no key to match", BIN " table %s --reference %s", g, at("bad_ref.json"));
    ck_assert_int_eq(mkdir(at("empty"), 0777), 0);
    expect(2, "no run reports", BIN " table %s", at("empty"));
    expect(2, "cannot read directory", BIN " table %s/missing", dir);
}
END_TEST

int main(void) {
    if (access(BIN, X_OK) != 0) {
        fprintf(stderr, "test_table: %s not built (run make)\n", BIN);
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("table");
    TCase *tc = tcase_create("table");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_aggregate);
    tcase_add_test(tc, test_labels_and_keys);
    tcase_add_test(tc, test_over_lr);
    tcase_add_test(tc, test_reference_rules);
    tcase_add_test(tc, test_reference_schema);
    tcase_add_test(tc, test_verb);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
