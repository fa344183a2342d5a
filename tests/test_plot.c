/* test_plot.c — `hippodrome plot`'s data files and gnuplot scripts.
 *
 * Fake run reports (two tasks, two layers) and a fake table are written to a
 * temporary folder; the .dat files must hold exactly those numbers (percent),
 * one block per run or per layer, and the scripts must name every series.
 * When gnuplot is installed the SVGs are rendered too and must exist. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../harness/plot.h"
#include "../harness/report.h"
#include "cli_testutil.h"


static void write_file(const char *name, const char *text) {
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ck_assert_msg(report_write_text(path, text, err, sizeof err) == 0, "%s", err);
}

static char *read_all(const char *name) {
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *t = report_read_text(path, err, sizeof err);
    ck_assert_msg(t != NULL, "%s", err);
    return t;
}

/* A minimal run report (what report_is_run needs, plus task, model, curve). */
static void fake_run(const char *file, const char *task, const char *layer, const char *acc) {
    char text[1024];
    snprintf(text, sizeof text,
             "{\"schema_version\": 1, \"name\": \"%s_%s\", \"status\": \"ok\", \"config\": {}, "
             "\"config_hash\": \"0123456789abcdef\", \"task\": \"%s\", \"model\": {\"layer\": \"%s\"}, "
             "\"test_accuracy\": [%s]}",
             task, layer, task, layer, acc);
    write_file(file, text);
}

static void setup(void) {
    tmpdir_open("plot");
    fake_run("a.json", "induction_head", "h3", "0.1, 0.5, 0.975");
    fake_run("b.json", "induction_head", "s4d", "0.05, 0.06");
    fake_run("c.json", "assoc_recall", "h3", "0.25, 1.0");
    write_file("notes.json", "{\"not\": \"a report\"}");
    write_file("table.json",
               "{\"row_field\": \"task\", \"col_field\": \"layer\", \"cells\": [{\"task\": \"induction_head\", \"layer\": \"h3\", \"mean\": 0.9, \"std\": 0.05, "
               "\"paper\": 1.0}, {\"task\": \"induction_head\", \"layer\": \"s4d\", \"mean\": 0.2, \"std\": 0.1, "
               "\"paper\": null}, {\"task\": \"assoc_recall\", \"layer\": \"h3\", \"mean\": 1.0, \"std\": 0, "
               "\"paper\": 0.998}]}");
}

static void teardown(void) { tmpdir_close(); }

START_TEST(test_curves_data) {
    char out[128], err[512];
    snprintf(out, sizeof out, "%s/plots/a/b", dir); /* parents created too */
    ck_assert_msg(plot_curves(dir, out, false, err, sizeof err) == 0, "%s", err);
    snprintf(out, sizeof out, "%s/plots", dir);
    ck_assert_msg(plot_curves(dir, out, false, err, sizeof err) == 0, "%s", err);
    char *ih = read_all("plots/induction_head_curves.dat"), *ar = read_all("plots/assoc_recall_curves.dat");
    /* one block per run, epochs from 1, accuracy in percent */
    ck_assert_msg(strstr(ih, "# induction_head_h3\n1 10.0000\n2 50.0000\n3 97.5000\n\n\n"), "%s", ih);
    ck_assert_msg(strstr(ih, "# induction_head_s4d\n1 5.0000\n2 6.0000\n"), "%s", ih);
    ck_assert_msg(!strstr(ih, "assoc_recall"), "%s", ih);
    ck_assert_msg(strstr(ar, "1 25.0000\n2 100.0000\n") && !strstr(ar, "s4d"), "%s", ar);
    char *gp = read_all("plots/induction_head_curves.gp");
    ck_assert_msg(strstr(gp, "index 0") && strstr(gp, "index 1") && !strstr(gp, "index 2"), "%s", gp);
    ck_assert_msg(strstr(gp, "title 'induction_head_h3'") && strstr(gp, "noenhanced"), "%s", gp);
    ck_assert_msg(strstr(gp, "set output 'induction_head_curves.svg'"), "%s", gp); /* names relative to the folder */
    free(ih), free(ar), free(gp);
}
END_TEST

START_TEST(test_bars_data) {
    char out[128], table[128], err[512];
    snprintf(out, sizeof out, "%s/plots", dir);
    snprintf(table, sizeof table, "%s/table.json", dir);
    ck_assert_msg(plot_bars(table, out, "grid", "a title", false, err, sizeof err) == 0, "%s", err);
    char *d = read_all("plots/grid.dat");
    /* tasks induction_head (group 0), assoc_recall (group 1); layers h3 (bar 0), s4d (bar 1); groups 3 apart */
    ck_assert_msg(strstr(d, "0 90.0000 5.0000 100.0000\n3 100.0000 0.0000 99.8000\n"), "%s", d);
    ck_assert_msg(strstr(d, "1 20.0000 10.0000 ?\n"), "%s", d);
    char *gp = read_all("plots/grid.gp");
    ck_assert_msg(strstr(gp, "boxerrorbars") && strstr(gp, "title 'paper'") && strstr(gp, "'a title'"), "%s", gp);
    ck_assert_msg(strstr(gp, "'induction_head' 0.5") && strstr(gp, "'assoc_recall' 3.5"), "%s", gp);
    ck_assert_msg(strstr(gp, "set xrange [-1:5]"), "%s", gp); /* the first and last bars whole */
    free(d), free(gp);
}
END_TEST

/* Groups follow the table's row field, bars its column field (an ablation table). */
START_TEST(test_bars_fields) {
    write_file("abl.json",
               "{\"row_field\": \"variant\", \"col_field\": \"task\", \"cells\": [{\"variant\": \"h3\", "
               "\"task\": \"ih\", \"mean\": 0.5, \"std\": 0}, {\"variant\": \"zoh\", \"task\": \"ar\", "
               "\"mean\": 0.25, \"std\": 0.01}]}");
    char out[128], table[128], err[512];
    snprintf(out, sizeof out, "%s/plots", dir);
    snprintf(table, sizeof table, "%s/abl.json", dir);
    ck_assert_msg(plot_bars(table, out, "abl", "t", false, err, sizeof err) == 0, "%s", err);
    char *d = read_all("plots/abl.dat"), *gp = read_all("plots/abl.gp");
    /* variants h3, zoh are groups 0 and 1 (3 apart: 2 bars + gap); tasks ih, ar are bars 0 and 1 */
    ck_assert_msg(strstr(d, "# ih:") && strstr(d, "0 50.0000 0.0000 ?\n") && strstr(d, "4 25.0000 1.0000 ?\n"), "%s", d);
    ck_assert_msg(strstr(gp, "'h3' 0.5") && strstr(gp, "'zoh' 3.5") && !strstr(gp, "'paper'"), "%s", gp);
    free(d), free(gp);
}
END_TEST

START_TEST(test_errors) {
    char out[128], err[512], bad[128];
    snprintf(out, sizeof out, "%s/plots", dir);
    snprintf(bad, sizeof bad, "%s/notes.json", dir);
    ck_assert_int_eq(plot_bars(bad, out, "x", "t", false, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "no cells with a 'task' and a 'layer'"), "%s", err);
    ck_assert_int_eq(plot_curves("/nonexistent/dir", out, false, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "/nonexistent/dir"), "%s", err);
}
END_TEST

START_TEST(test_render) {
    if (!plot_have_gnuplot()) return; /* rendering is optional; the data tests above always run */
    char out[128], table[128], err[512];
    snprintf(out, sizeof out, "%s/plots", dir);
    snprintf(table, sizeof table, "%s/table.json", dir);
    ck_assert_msg(plot_curves(dir, out, true, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(plot_bars(table, out, "grid", "t", true, err, sizeof err) == 0, "%s", err);
    char *svg = read_all("plots/grid.svg"), *c = read_all("plots/assoc_recall_curves.svg");
    ck_assert_msg(strstr(svg, "<svg") && strstr(c, "<svg"), "not SVG");
    free(svg), free(c);
}
END_TEST

int main(void) {
    Suite *s = suite_create("plot");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_curves_data);
    tcase_add_test(tc, test_bars_data);
    tcase_add_test(tc, test_bars_fields);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_render);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
