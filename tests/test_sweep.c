/* test_sweep.c — sweeps: expansion (axes product, run names, labels, stable
 * and distinct hashes that train recomputes from the written configs), keys
 * rejected by name with nothing written, runs.mk and sweep.sbatch content,
 * train --skip-done (same hash kept, other hash or unfinished report redone),
 * and a sweep run by make where one run diverges: it is recorded, the others
 * finish, a second make does nothing, and a run that dies without a report
 * leaves none and is redone; the live progress line and the plain one.
 * Runs build/hippodrome from the repo root. */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../harness/config.h"
#include "../harness/report.h"
#include "../harness/sweep.h"
#include "../harness/train.h"
#include "testutil.h"
#include "cli_testutil.h"

#define BIN "build/hippodrome"
/* Tiny runs: a few hundredths of a second each. */
#define TINY(name, task)                                                                                     \
    "{\"name\": \"" name "\", \"task\": {\"name\": \"" task "\", \"vocab_size\": 10, \"seq_len\": 8, "        \
    "\"num_train\": 64, \"num_test\": 32}, \"model\": {\"layer\": \"h3\", \"d_model\": 16, \"n_layer\": 1, "  \
    "\"d_inner\": 32, \"layer_options\": {\"d_state\": 8}}, \"train\": {\"epochs\": 2, \"batch_size\": 16, " \
    "\"warmup_epochs\": 1, \"lr\": 1e-3}}"
#define LAYER_AXIS                                                                                          \
    "\"layer\": [{\"label\": \"h3\"}, {\"label\": \"attention\", \"set\": {\"model.layer\": \"attention\", " \
    "\"model.layer_options\": {}}}]"

static void setup(void) { tmpdir_open("sweep"); }

static void teardown(void) { tmpdir_close(); }


static const char *write_text(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *write_text(const char *name, const char *fmt, ...) {
    const char *p = at(name);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    ck_assert_int_eq(fclose(f), 0);
    return p;
}

static char *read_text(const char *path) {
    char err[512];
    char *t = report_read_text(path, err, sizeof err);
    ck_assert_msg(t != NULL, "%s", err);
    return t;
}


static bool exists(const char *path) { return access(path, F_OK) == 0; }

/* Two base configs x two layers x three seeds, with a shared set that an axis overrides. */
static const char *demo_sweep(void) {
    const char *ar = write_text("ar.json", TINY("ar", "assoc_recall"));
    const char *ih = write_text("ih.json", TINY("ih", "induction_head"));
    return write_text("demo.json",
                      "{\"name\": \"demo\", \"configs\": [\"%s\", \"%s\"], \"axes\": {" LAYER_AXIS
                      ", \"train.seed\": [0, 1, 2]}, \"set\": {\"train.seed\": 7, \"train.epochs\": 1, "
                      "\"train.warmup_epochs\": 0}}",
                      ar, ih);
}

START_TEST(test_expansion) {
    const char *path = demo_sweep();
    struct sweep s, again;
    char err[2048];
    ck_assert_msg(sweep_load(path, &s, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(sweep_load(path, &again, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(s.name, "demo");
    ck_assert_int_eq(s.n_runs, 2 * 2 * 3); /* configs x layers x seeds, last axis fastest */
    const char *names[] = {"ar__h3__seed0", "ar__h3__seed1", "ar__h3__seed2", "ar__attention__seed0"};
    for (int i = 0; i < 4; i++) ck_assert_str_eq(s.runs[i].name, names[i]);
    ck_assert_str_eq(s.runs[6].name, "ih__h3__seed0");
    ck_assert_str_eq(s.runs[11].name, "ih__attention__seed2");
    const struct run_config *c = &s.runs[4].cfg; /* ar, attention, seed 1 */
    ck_assert_str_eq(c->layer->name, "attention");
    ck_assert_str_eq(c->task->name, "assoc_recall");
    ck_assert_int_eq(cfg_train_int(c, "seed"), 1);   /* the axis wins over "set" */
    ck_assert_int_eq(cfg_train_int(c, "epochs"), 1); /* "set" reaches every run */
    ck_assert_str_eq(c->name, "ar__attention__seed1");
    ck_assert_str_eq(s.runs[6].cfg.task->name, "induction_head");
    for (int i = 0; i < s.n_runs; i++) {
        ck_assert_uint_eq(s.runs[i].hash, again.runs[i].hash); /* stable */
        for (int j = 0; j < i; j++) ck_assert_uint_ne(s.runs[i].hash, s.runs[j].hash);
    }
    /* Labels: base config name, object-axis label, key-axis value. */
    const cJSON *labels = cJSON_GetObjectItem(cJSON_GetObjectItem(s.runs[4].doc, "sweep"), "labels");
    ck_assert_str_eq(cJSON_GetObjectItem(labels, "config")->valuestring, "ar");
    ck_assert_str_eq(cJSON_GetObjectItem(labels, "layer")->valuestring, "attention");
    ck_assert_int_eq(cJSON_GetObjectItem(labels, "train.seed")->valueint, 1);
    /* The run's config file resolves to the same hash that train will compute. */
    char *text = sweep_run_text(&s, 4);
    const char *cfg = write_text("run.json", "%s", text);
    free(text);
    struct run_config back;
    ck_assert_msg(config_load(cfg, NULL, 0, &back, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(config_hash(&back), s.runs[4].hash);
    sweep_free(&s);
    sweep_free(&again);
}
END_TEST

START_TEST(test_label_text) {
    const char *ar = write_text("ar.json", TINY("ar", "assoc_recall"));
    const char *path = write_text("lr.json",
                                  "{\"name\": \"lrs\", \"configs\": [\"%s\"], \"axes\": {\"train.lr\": [0.001, 5e-4], "
                                  "\"model.ln_eps\": [1e-5], \"train.schedule\": [\"linear\"]}}",
                                  ar);
    struct sweep s;
    char err[2048];
    ck_assert_msg(sweep_load(path, &s, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(s.n_runs, 2);
    ck_assert_str_eq(s.runs[0].name, "ar__lr0.001__ln_eps1e-05__schedulelinear");
    ck_assert_str_eq(s.runs[1].name, "ar__lr0.0005__ln_eps1e-05__schedulelinear");
    ck_assert_double_eq(cfg_train_real(&s.runs[1].cfg, "lr"), 5e-4);
    sweep_free(&s);
}
END_TEST

/* {"path", "label"} entries label a base config themselves; a bad entry is refused. */
START_TEST(test_config_labels) {
    const char *ar = write_text("ar.json", TINY("ar", "assoc_recall"));
    const char *path = write_text("cl.json",
                                  "{\"name\": \"cl\", \"configs\": [{\"path\": \"%s\", \"label\": \"recall\"}], "
                                  "\"axes\": {\"train.seed\": [0]}}",
                                  ar);
    struct sweep s;
    char err[2048];
    ck_assert_msg(sweep_load(path, &s, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(s.runs[0].name, "recall__seed0");
    sweep_free(&s);
    const char *bad = write_text("cl2.json", "{\"name\": \"cl\", \"configs\": [{\"path\": \"%s\", \"lable\": \"x\"}]}", ar);
    expect(2, "unknown key 'lable'; valid keys are: path, label", BIN " sweep %s --out %s/results", bad, dir);
}
END_TEST

/* A sweep whose only fault is in `axes` or `set`; it must exit 2 naming `needle` and write nothing. */
static void expect_rejected(const char *axes, const char *set, const char *needle) {
    const char *ar = write_text("ar.json", TINY("ar", "assoc_recall"));
    const char *path = write_text("bad.json", "{\"name\": \"bad\", \"configs\": [\"%s\"], \"axes\": {%s}, \"set\": {%s}}",
                                  ar, axes, set);
    expect(2, needle, BIN " sweep %s --out %s/results", path, dir);
    ck_assert_msg(!exists(at("results")), "a rejected sweep wrote %s", at("results"));
}

START_TEST(test_unknown_keys_rejected) {
    expect_rejected("", "\"train.lrr\": 1", "unknown key 'lrr'");
    ck_assert_msg(strstr(out, "valid keys are") && strstr(out, "warmup_epochs"), "keys not listed:\n%.1500s", out);
    expect_rejected("\"train.seeed\": [0, 1]", "", "unknown key 'seeed'");
    expect_rejected("\"layer\": [{\"label\": \"x\", \"set\": {\"model.widht\": 3}}]", "", "unknown key 'widht'");
    expect_rejected("", "\"model.layer_options.d_stat\": 4", "unknown key 'd_stat'");
    expect_rejected("\"layer\": [{\"label\": \"x\", \"sett\": {}}]", "", "unknown key 'sett'");
    expect_rejected("\"layer\": [3]", "", "axis 'layer' value 1");
    expect_rejected("\"train.lr\": [{\"label\": \"a\"}]", "", "numbers, strings or booleans");
    expect_rejected("\"train.lr\": [1e-3, 1e-3]", "", "two runs are named");
    expect_rejected("", "\"name\": \"x\"", "sweep's own");
    expect_rejected("", "\"train.lr\": 99", "out of range");
    const char *top = write_text("top.json", "{\"name\": \"t\", \"configs\": [], \"axis\": {}}");
    expect(2, "unknown key 'axis'", BIN " sweep %s --out %s/results", top, dir);
    expect(2, "not found", BIN " sweep %s --out %s/results", write_text("nf.json",
           "{\"name\": \"t\", \"configs\": [\"%s/none.json\"]}", dir), dir);
}
END_TEST

START_TEST(test_runs_mk) {
    const char *path = demo_sweep();
    expect(0, "12 runs", BIN " sweep %s --out %s/r", path, dir);
    ck_assert(exists(at("r/configs/ar__h3__seed0.json")) && exists(at("r/configs/ih__attention__seed2.json")));
    char *mk = read_text(at("r/runs.mk"));
    char want[1024];
    const char *lines[] = {"HIPPODROME ?= build/hippodrome\n", ".PHONY: demo-all\n", "demo-all: \\\n"};
    for (int i = 0; i < 3; i++) ck_assert_msg(strstr(mk, lines[i]), "runs.mk lacks '%s':\n%.1500s", lines[i], mk);
    snprintf(want, sizeof want, "  %s/r/ih__attention__seed2.json\n", dir); /* the last prerequisite */
    ck_assert_msg(strstr(mk, want), "runs.mk lacks '%s'", want);
    snprintf(want, sizeof want,
             "\n%s/r/ar__h3__seed1.json: %s/r/configs/ar__h3__seed1.json\n"
             "\t$(HIPPODROME) train --config %s/r/configs/ar__h3__seed1.json --out $@ --skip-done "
             "--progress-tag 2/12 $(TRAIN_FLAGS) || test -f $@\n",
             dir, dir, dir);
    ck_assert_msg(strstr(mk, want), "runs.mk lacks the rule\n%s\nin:\n%.1500s", want, mk);
    snprintf(want, sizeof want, "\n%s/r/runs.mk: %s %s/ar.json %s/ih.json\n\t$(HIPPODROME) sweep %s --out %s/r\n", dir,
             path, dir, dir, path, dir);
    ck_assert_msg(strstr(mk, want), "runs.mk lacks the rule\n%s\nin:\n%.1500s", want, mk);
    free(mk);
    ck_assert(!exists(at("r/sweep.sbatch"))); /* only with --slurm */
    /* A config file is rewritten only when its content changes (make's timestamps). */
    expect(0, "0 run configs written or changed", BIN " sweep %s --out %s/r", path, dir);
    /* One base config left and a new lr: its 6 runs change, the ih ones are no longer listed. */
    write_text("demo.json", "{\"name\": \"demo\", \"configs\": [\"%s\"], \"axes\": {" LAYER_AXIS
               ", \"train.seed\": [0, 1, 2]}, \"set\": {\"train.epochs\": 1, \"train.warmup_epochs\": 0, "
               "\"train.lr\": 2e-3}}", at("ar.json"));
    expect(0, "6 run configs written or changed", BIN " sweep %s --out %s/r", path, dir);
}
END_TEST

START_TEST(test_sbatch) {
    const char *path = demo_sweep();
    expect(0, "sbatch", BIN " sweep %s --out %s/r --slurm", path, dir);
    char *sb = read_text(at("r/sweep.sbatch"));
    char want[512];
    const char *lines[] = {"#!/bin/bash\n", "#SBATCH --array=0-11\n", "#SBATCH --time=", "#SBATCH --cpus-per-task=1\n",
                           "#SBATCH --job-name=demo\n", "RUNS=(\n  ar__h3__seed0\n", "  ih__attention__seed2\n)\n",
                           "--skip-done", "HIPPODROME=${HIPPODROME:-build/hippodrome}\n", "$SLURM_ARRAY_TASK_ID"};
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++)
        ck_assert_msg(strstr(sb, lines[i]), "sweep.sbatch lacks '%s':\n%.1500s", lines[i], sb);
    snprintf(want, sizeof want, "#SBATCH --output=%s/r/slurm/%%A_%%a.out\n", dir);
    ck_assert_msg(strstr(sb, want), "sweep.sbatch lacks '%s'", want);
    snprintf(want, sizeof want, "train --config %s/r/configs/$run.json --out \"$report\" --skip-done", dir);
    ck_assert_msg(strstr(sb, want), "sweep.sbatch lacks '%s'", want);
    free(sb);
    struct stat st;
    ck_assert_int_eq(stat(at("r/slurm"), &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_int_eq(stat(at("r/sweep.sbatch"), &st), 0);
    ck_assert(st.st_mode & S_IXUSR);
    /* The script is valid bash. */
    expect(0, NULL, "bash -n %s", at("r/sweep.sbatch"));
}
END_TEST

START_TEST(test_skip_done) {
    const char *cfg = write_text("ar.json", TINY("ar", "assoc_recall"));
    const char *rep = at("rep.json");
    expect(0, "[2/5] ar  epoch    2/2  loss", BIN " train --config %s --out %s --skip-done --plain --progress-tag 2/5",
           cfg, rep);
    char *first = read_text(rep);
    expect(0, "skipped", BIN " train --config %s --out %s --skip-done --quiet", cfg, rep);
    char *second = read_text(rep);
    ck_assert_str_eq(first, second); /* untouched: a rerun would differ in its timings */
    free(second);
    /* Another config (a different hash) is redone. */
    expect(0, "redoing", BIN " train --config %s --out %s --skip-done --quiet --set train.lr=2e-3", cfg, rep);
    cJSON *j = cJSON_Parse(second = read_text(rep));
    struct run_config c;
    char err[1024];
    const char *sets[] = {"train.lr=2e-3"};
    ck_assert_msg(config_load(cfg, sets, 1, &c, err, sizeof err) == 0, "%s", err);
    char hex[17];
    report_hex64((unsigned long long)config_hash(&c), hex);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "config_hash")->valuestring, hex);
    cJSON_Delete(j);
    free(second);
    /* An unfinished or unreadable report is redone too. */
    write_text("rep.json", "%.*s", (int)(strlen(first) / 2), first);
    expect(0, "ar: ok", BIN " train --config %s --out %s --skip-done --quiet", cfg, rep);
    free(first);
    /* A redo that dies before writing leaves no report: the stale one went first. */
    expect(137, "redoing", "timeout -s KILL 1 " BIN " train --config %s --out %s --skip-done --quiet "
           "--set train.epochs=1000000", cfg, rep);
    ck_assert_msg(!exists(rep), "a killed redo left %s", rep);
}
END_TEST

/* One run diverges (lr 10 with decoupled weight decay 10 multiplies every
 * weight by -99 per step); make still finishes every run. */
START_TEST(test_failed_run_recorded) {
    const char *ar = write_text("ar.json", TINY("ar", "assoc_recall"));
    const char *path = write_text("div.json",
                                  "{\"name\": \"div\", \"configs\": [\"%s\"], \"axes\": {\"train.lr\": [0.001, 10], "
                                  "\"train.seed\": [0, 1]}, \"set\": {\"train.weight_decay\": 10, "
                                  "\"train.schedule\": \"constant\"}}", ar);
    expect(0, "4 runs", BIN " sweep %s --out %s/r", path, dir);
    expect(0, NULL, "make -s -f %s/r/runs.mk -j 2 TRAIN_FLAGS=--quiet", dir);
    const char *runs[] = {"ar__lr0.001__seed0", "ar__lr0.001__seed1", "ar__lr10__seed0", "ar__lr10__seed1"};
    for (int i = 0; i < 4; i++) {
        char rep[256], err[512];
        snprintf(rep, sizeof rep, "%s/r/%s.json", dir, runs[i]);
        cJSON *j = report_read(rep, err, sizeof err);
        ck_assert_msg(j != NULL, "%s", err);
        ck_assert_str_eq(cJSON_GetObjectItem(j, "status")->valuestring, i < 2 ? "ok" : "diverged");
        ck_assert_ptr_nonnull(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "sweep"), "labels"));
        cJSON_Delete(j);
    }
    expect(0, "4 done", BIN " sweep %s --out %s/r --list", path, dir);
    expect(0, "Nothing to be done", "make -f %s/r/runs.mk -j 2", dir);
    /* A run that dies without a report fails its recipe, leaves no file, and is redone next time. */
    char rep[256];
    snprintf(rep, sizeof rep, "%s/r/ar__lr0.001__seed1.json", dir);
    ck_assert_int_eq(unlink(rep), 0);
    expect(2, NULL, "make -s -f %s/r/runs.mk HIPPODROME=false", dir);
    ck_assert(!exists(rep));
    expect(0, "3 done", BIN " sweep %s --out %s/r --list", path, dir);
    expect(0, NULL, "make -s -f %s/r/runs.mk TRAIN_FLAGS=--quiet", dir);
    ck_assert(exists(rep));
    /* An edited sweep file is re-expanded by make itself; only the new runs train. */
    sleep(1); /* a newer mtime than runs.mk on second-resolution file systems */
    write_text("div.json", "{\"name\": \"div\", \"configs\": [\"%s\"], \"axes\": {\"train.lr\": [0.001, 10], "
               "\"train.seed\": [0, 1, 2]}, \"set\": {\"train.weight_decay\": 10, \"train.schedule\": \"constant\"}}", ar);
    expect(0, "6 runs, 4 done", "make -f %s/r/runs.mk -j 2 TRAIN_FLAGS=--quiet", dir);
    ck_assert(exists(at("r/ar__lr10__seed2.json")));
    ck_assert_msg(strstr(out, "ar__lr0.001__seed2: ok") && !strstr(out, "ar__lr0.001__seed0: ok"), "%.1500s", out);
}
END_TEST

/* What a run prints with the given options (live or plain), as text. */
static char *progress_text(bool live, int log_every) {
    struct run_config c;
    char err[1024];
    ck_assert_msg(config_load(write_text("ar.json", TINY("ar", "assoc_recall")), NULL, 0, &c, err, sizeof err) == 0,
                  "%s", err);
    FILE *log = tmpfile();
    ck_assert_ptr_nonnull(log);
    struct train_opts o = {.log_every = log_every, .log = log, .tag = "3/9", .live = live};
    struct train_result r;
    ck_assert_int_eq(train_run(&c, &o, &r), 0);
    train_result_free(&r);
    long n = ftell(log);
    char *text = xcalloc((size_t)n + 1, 1);
    rewind(log);
    ck_assert_int_eq(fread(text, 1, (size_t)n, log), (size_t)n);
    fclose(log);
    return text;
}

START_TEST(test_progress) {
    /* A terminal: one line redrawn in place, tagged, with an ETA, cleared at the end. */
    char *t = progress_text(true, 1);
    const char *head = "\r\033[K[3/9] ar  epoch 1/2  ETA ";
    ck_assert_msg(strncmp(t, head, strlen(head)) == 0, "live: '%s'", t);
    ck_assert_msg(strstr(t, "\r\033[K[3/9] ar  epoch 2/2  ETA 0m00s  loss "), "live: '%s'", t);
    ck_assert_msg(!strchr(t, '\n'), "a live display wrote a newline: '%s'", t);
    size_t n = strlen(t);
    ck_assert_msg(n > 4 && strcmp(t + n - 4, "\r\033[K") == 0, "the live line is not cleared: '%s'", t);
    free(t);
    /* Not a terminal: the plain lines, tagged. */
    t = progress_text(false, 1);
    head = "[3/9] ar  epoch    1/2  loss ";
    ck_assert_msg(strncmp(t, head, strlen(head)) == 0 && !strchr(t, '\r'), "plain: '%s'", t);
    ck_assert_msg(strstr(t, "\n[3/9] ar  epoch    2/2  loss "), "plain: '%s'", t);
    free(t);
    t = progress_text(true, 0); /* --quiet */
    ck_assert_str_eq(t, "");
    free(t);
}
END_TEST

START_TEST(test_example_sweep) {
    /* The committed demo stays valid: 3 layers x 2 seeds, nothing trained. */
    struct sweep s;
    char err[2048];
    ck_assert_msg(sweep_load("configs/sweeps/example.json", &s, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(s.n_runs, 6);
    ck_assert_str_eq(s.runs[5].name, "assoc_recall_h3__s4d__seed1");
    ck_assert_str_eq(s.runs[5].cfg.layer->name, "s4d");
    sweep_free(&s);
    expect(0, "6 runs, 0 done", BIN " sweep configs/sweeps/example.json --list --out %s/none", dir);
    ck_assert(!exists(at("none")));
}
END_TEST

int main(void) {
    if (access(BIN, X_OK) != 0) {
        fprintf(stderr, "test_sweep: %s not built (run make)\n", BIN);
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("sweep");
    TCase *tc = tcase_create("sweep");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_expansion);
    tcase_add_test(tc, test_label_text);
    tcase_add_test(tc, test_config_labels);
    tcase_add_test(tc, test_unknown_keys_rejected);
    tcase_add_test(tc, test_runs_mk);
    tcase_add_test(tc, test_sbatch);
    tcase_add_test(tc, test_skip_done);
    tcase_add_test(tc, test_failed_run_recorded);
    tcase_add_test(tc, test_progress);
    tcase_add_test(tc, test_example_sweep);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
