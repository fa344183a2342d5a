/* test_conv_table.c — the conv crossover table: its file format round-trips,
 * a loaded table really steers ops->conv, bad files are refused by name, and
 * HIPPO_CONV_TABLE reaches the binary. */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/cpu/conv_table.h"
#include "../kernels/cpu/cpu.h"
#include "cli_testutil.h"
#include "testutil.h"

static void setup(void) { tmpdir_open("conv_table"); }
static void teardown(void) {
    conv_table_set(NULL, NULL);
    tmpdir_close();
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert(fputs(text, f) >= 0);
    ck_assert_int_eq(fclose(f), 0);
}

static void write_table(const char *path, const struct conv_table *t) {
    cJSON *o = conv_table_json(t);
    char *s = cJSON_Print(o);
    write_text(path, s);
    free(s);
    cJSON_Delete(o);
}

static void rules_eq(const struct conv_table *a, const struct conv_table *b) {
    ck_assert_int_eq(a->short_L, b->short_L);
    for (int c = 0; c < CONV_NCLASS; c++) {
        const struct conv_rule *x = &a->rules[c], *y = &b->rules[c];
        ck_assert_int_eq(x->cls, y->cls);
        ck_assert_int_eq(x->flash_min_H, y->flash_min_H);
        ck_assert_int_eq(x->flash_min_H_short, y->flash_min_H_short);
        ck_assert(x->ratio_flash == y->ratio_flash && x->ratio_flash_b1 == y->ratio_flash_b1 &&
                  x->ratio_fftw == y->ratio_fftw);
    }
}

START_TEST(test_roundtrip) {
    const struct conv_table *b = conv_table_builtin();
    ck_assert_ptr_eq(conv_table_active(), b);
    ck_assert_str_eq(conv_table_source(), "builtin");
    write_table(at("t.json"), b);
    struct conv_table t;
    char err[512];
    ck_assert_msg(conv_table_read(at("t.json"), &t, err, sizeof err) == 0, "%s", err);
    rules_eq(&t, b);
    /* odd ratios survive the text form exactly */
    t.rules[CONV_CLASS_BLH_LOOPS].ratio_flash = 1.0 / 3.0, t.short_L = 77;
    write_table(at("u.json"), &t);
    struct conv_table u;
    ck_assert_msg(conv_table_read(at("u.json"), &u, err, sizeof err) == 0, "%s", err);
    rules_eq(&u, &t);
}
END_TEST

/* The active table decides the path: the same shape goes direct, FFTW or
 * FlashConv as its row says, and the op computes the same numbers on each. */
START_TEST(test_table_steers_dispatch) {
    struct conv_args a = {.B = 2, .L = 4096, .H = 64, .Lk = 4096, .group = 1, .layout = CONV_BLH};
    ck_assert_int_eq(cpu_conv_path(&a), CPU_CONV_FLASH);
    struct conv_table t = *conv_table_builtin();
    t.rules[CONV_CLASS_BLH_BLOCKED].ratio_flash = 1e6;
    conv_table_set(&t, "test");
    ck_assert_int_eq(cpu_conv_path(&a), CPU_CONV_DIRECT);
    ck_assert_str_eq(conv_table_source(), "test");
    t.rules[CONV_CLASS_BLH_BLOCKED].ratio_flash = 5, t.rules[CONV_CLASS_BLH_BLOCKED].flash_min_H = 65;
    t.rules[CONV_CLASS_BLH_BLOCKED].flash_min_H_short = 65;
    conv_table_set(&t, "test");
    ck_assert_int_eq(cpu_conv_path(&a), CPU_CONV_FFTW);
    a.L = a.Lk = 48; /* short: FlashConv only through flash_min_H_short up to short_L */
    t.rules[CONV_CLASS_BLH_BLOCKED].flash_min_H_short = 16, t.rules[CONV_CLASS_BLH_BLOCKED].ratio_flash = 0.01;
    conv_table_set(&t, "test");
    ck_assert_int_eq(cpu_conv_path(&a), CPU_CONV_FLASH);
    t.short_L = 32;
    conv_table_set(&t, "test");
    ck_assert_int_ne(cpu_conv_path(&a), CPU_CONV_FLASH);
    conv_table_set(NULL, NULL);
    ck_assert_str_eq(conv_table_source(), "builtin");
    a.L = a.Lk = 4096;
    ck_assert_int_eq(cpu_conv_path(&a), CPU_CONV_FLASH);
}
END_TEST

/* Every bad file is refused with a message naming what is wrong, and the
 * table read into is left as it was. */
static const struct {
    const char *edit; /* a Python-free edit: text that replaces the whole rules of blh_blocked, or a whole file */
    const char *want;
} bad[] = {
    {"not json", "not valid JSON"},
    {"[1, 2]", "not a JSON object"},
    {"{\"schema\": \"hippodrome.conv_table/2\", \"short_L\": 64, \"rules\": {}}", "\"schema\" must be"},
    {"{\"schema\": \"hippodrome.conv_table/1\", \"short_L\": 64, \"rules\": {}, \"ratio\": 1}", "unknown key \"ratio\""},
    {"{\"schema\": \"hippodrome.conv_table/1\", \"short_L\": \"64\", \"rules\": {}}", "\"short_L\" must be a number"},
    {"{\"schema\": \"hippodrome.conv_table/1\", \"short_L\": 0, \"rules\": {}}", "\"short_L\" = 0 is outside [1, 1048576]"},
    {"{\"schema\": \"hippodrome.conv_table/1\", \"short_L\": 64}", "missing key \"rules\""},
    {"{\"schema\": \"hippodrome.conv_table/1\", \"short_L\": 64, \"rules\": {}}", "class \"blh_blocked\" is missing"},
    {"{\"schema\": \"hippodrome.conv_table/1\", \"short_L\": 64, \"rules\": {\"blh_block\": {}}}",
     "unknown class \"blh_block\""},
};

START_TEST(test_bad_files) {
    struct conv_table t = *conv_table_builtin(), before = t;
    char err[512];
    write_text(at("bad.json"), bad[_i].edit);
    ck_assert_int_eq(conv_table_read(at("bad.json"), &t, err, sizeof err), -1);
    ck_assert_msg(strstr(err, bad[_i].want) && strstr(err, at("bad.json")), "got: %s", err);
    rules_eq(&t, &before);
}
END_TEST

/* Bad rows: the builtin table with one value changed. */
START_TEST(test_bad_rules) {
    static const struct {
        const char *key;
        double v;
        const char *want;
    } cases[] = {
        {"ratio_flash", -1, "\"ratio_flash\" = -1 is outside"},
        {"ratio_fftw", 0, "\"ratio_fftw\" = 0 is outside"},
        {"flash_min_H", 2.5, "\"flash_min_H\" = 2.5 is outside [1, 1048576] (an integer)"},
        {"flash_min_H_short", 0, "\"flash_min_H_short\" = 0 is outside"},
        {"ratio_fftw_typo", 1, "rules.bhl_loops: unknown key \"ratio_fftw_typo\""},
    };
    cJSON *o = conv_table_json(conv_table_builtin());
    cJSON *row = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "rules"), "bhl_loops");
    if (cJSON_GetObjectItem(row, cases[_i].key)) cJSON_ReplaceItemInObject(row, cases[_i].key, cJSON_CreateNumber(cases[_i].v));
    else cJSON_AddNumberToObject(row, cases[_i].key, cases[_i].v);
    char *s = cJSON_Print(o);
    write_text(at("bad.json"), s);
    free(s), cJSON_Delete(o);
    struct conv_table t;
    char err[512];
    ck_assert_int_eq(conv_table_read(at("bad.json"), &t, err, sizeof err), -1);
    ck_assert_msg(strstr(err, cases[_i].want) != NULL, "got: %s", err);
    /* a missing row key is named too */
    o = conv_table_json(conv_table_builtin());
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "rules"), "blh_loops"), "ratio_flash_b1");
    s = cJSON_Print(o);
    write_text(at("bad2.json"), s);
    free(s), cJSON_Delete(o);
    ck_assert_int_eq(conv_table_read(at("bad2.json"), &t, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "missing key \"ratio_flash_b1\""), "got: %s", err);
}
END_TEST

START_TEST(test_env) {
    char err[512];
    unsetenv("HIPPO_CONV_TABLE");
    ck_assert_int_eq(conv_table_from_env(err, sizeof err), 0);
    ck_assert_str_eq(conv_table_source(), "builtin");
    struct conv_table t = *conv_table_builtin();
    t.rules[CONV_CLASS_BLH_BLOCKED].ratio_flash = 7;
    write_table(at("t.json"), &t);
    setenv("HIPPO_CONV_TABLE", at("t.json"), 1);
    ck_assert_msg(conv_table_from_env(err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(conv_table_source(), at("t.json"));
    ck_assert(conv_table_active()->rules[CONV_CLASS_BLH_BLOCKED].ratio_flash == 7);
    setenv("HIPPO_CONV_TABLE", at("missing.json"), 1);
    ck_assert_int_eq(conv_table_from_env(err, sizeof err), -1);
    ck_assert_msg(strstr(err, "missing.json") && strstr(err, "HIPPO_CONV_TABLE"), "got: %s", err);
    unsetenv("HIPPO_CONV_TABLE");
}
END_TEST

/* The binary refuses a bad table before doing anything (usage status 2). */
START_TEST(test_cli) {
    write_text(at("bad.json"), "{}");
    int rc = run("HIPPO_CONV_TABLE=%s ./build/hippodrome list", at("bad.json"));
    check_output(rc, 2, "\"schema\" must be");
    ck_assert_ptr_nonnull(strstr(out, "HIPPO_CONV_TABLE"));
    write_table(at("t.json"), conv_table_builtin());
    rc = run("HIPPO_CONV_TABLE=%s ./build/hippodrome list", at("t.json"));
    check_output(rc, 0, "h3");
}
END_TEST

int main(void) {
    Suite *s = suite_create("conv_table");
    TCase *tc = tcase_create("table");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_table_steers_dispatch);
    tcase_add_loop_test(tc, test_bad_files, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_loop_test(tc, test_bad_rules, 0, 5);
    tcase_add_test(tc, test_env);
    tcase_add_test(tc, test_cli);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
