/* test_resume.c — checkpoints and resume, end to end through the binary.
 *  - kill and resume: a short run SIGKILLed at several points (before its
 *    first checkpoint, mid-epoch at different offsets, wherever the kill
 *    lands), resumed each time, ends with the report of the same run never
 *    stopped (everything but "timing" byte-identical), and no temporary file;
 *  - SIGTERM and SIGINT stop at a step boundary with exit 143 / 130, no
 *    report and a checkpoint, and the resumed run ends identical too;
 *  - --resume refuses (exit 2, nothing written) a damaged checkpoint, one of
 *    another config, weights that are not a checkpoint; --skip-done redoes
 *    them instead; resuming a finished run rewrites the same report;
 *  - the checkpoint file itself: every counter and curve read back, and a
 *    checkpoint loads as weights for predict; files with an intact hash but
 *    counters, curves or tensors that do not fit are refused, each named.
 * Runs build/hippodrome from the repo root (make test builds it first). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../core/safetensors.h"
#include "testutil.h"
#include "cli_testutil.h"

#define BIN "build/hippodrome"
/* About 0.7 s on one core: 188 steps per epoch, 12 epochs. */
#define CONFIG                                                                                                    \
    "{\"name\": \"r\", \"task\": {\"name\": \"assoc_recall\", \"vocab_size\": 10, \"seq_len\": 12, "           \
    "\"num_train\": 3000, \"num_test\": 100}, \"model\": {\"layer\": \"h3\", \"d_model\": 16, \"n_layer\": 2, " \
    "\"d_inner\": 32, \"layer_options\": {\"d_state\": 8}}, \"train\": {\"epochs\": 12, \"batch_size\": 16, "    \
    "\"warmup_epochs\": 1, \"lr\": 1e-3, \"threads\": 1}}"

static void setup(void) { tmpdir_open("resume"); }

static void teardown(void) { tmpdir_close(); }

/* The config file's path (its own buffer: at()'s rotate). */
static const char *write_config(void) {
    static char p[256];
    snprintf(p, sizeof p, "%s", at("r.json"));
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(CONFIG, f);
    fclose(f);
    return p;
}

static bool exists(const char *p) { return access(p, F_OK) == 0; }

/* The report without its "timing" section, as canonical text (malloc'd). */
static char *untimed(const char *path) {
    char err[512];
    char *text = hp_read_text(path, "report", err, sizeof err);
    ck_assert_msg(text != NULL, "%s", err);
    cJSON *j = cJSON_Parse(text);
    free(text);
    ck_assert_msg(j != NULL, "%s is not JSON", path);
    cJSON_DeleteItemFromObjectCaseSensitive(j, "timing");
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

/* The uninterrupted run's report (no checkpoint flags at all). */
static char *reference_report(const char *cfg) {
    expect(0, "r: ok", BIN " train --config %s --out %s --quiet", cfg, at("ref/r.json"));
    return untimed(at("ref/r.json"));
}

static void assert_same_report(const char *ref, const char *path) {
    char *got = untimed(path);
    size_t i = 0;
    while (ref[i] && ref[i] == got[i]) i++;
    size_t from = i > 200 ? i - 200 : 0;
    ck_assert_msg(!ref[i] && !got[i], "resumed report differs at byte %zu:\n...%.400s\nvs uninterrupted\n...%.400s", i,
                  got + from, ref + from);
    free(got);
}

/* Start `train --resume` on the test's checkpoint in a child; its pid. */
static pid_t spawn_train(const char *cfg, const char *extra) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "exec " BIN " train --config %s --out %s --checkpoint %s --resume --quiet %s 2>>%s",
             cfg, at("b/r.json"), at("ck.safetensors"), extra, at("log"));
    fflush(NULL);
    pid_t p = fork();
    ck_assert_int_ge(p, 0);
    if (p == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return p;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static struct timespec mtime_of(const char *p) {
    struct stat st;
    if (stat(p, &st) != 0) return (struct timespec){0, 0};
    return st.st_mtim;
}

static void sleep_ms(int ms) { nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL); }

/* Wait (up to 30 s) until the checkpoint changes or the child ends; true when it changed. */
static bool await_checkpoint(pid_t p, struct timespec before, int *ws, bool *ended) {
    for (double t0 = now(); now() - t0 < 30;) {
        struct timespec m = mtime_of(at("ck.safetensors"));
        if (m.tv_sec != before.tv_sec || m.tv_nsec != before.tv_nsec) return true;
        if (waitpid(p, ws, WNOHANG) == p) {
            *ended = true;
            return false;
        }
        sleep_ms(1);
    }
    ck_abort_msg("no checkpoint within 30 s");
    return false;
}

/* Kill i: the first 30 ms after start (before any checkpoint), the others
 * i x 11 ms after the next checkpoint appears (a different point in an epoch
 * each time). Returns whether the kill landed (the run had not finished). */
static bool kill_once(const char *cfg, int i) {
    struct timespec before = mtime_of(at("ck.safetensors"));
    pid_t p = spawn_train(cfg, "--checkpoint-every 1");
    int ws = 0;
    bool ended = false;
    if (i == 0) sleep_ms(30);
    else if (await_checkpoint(p, before, &ws, &ended)) sleep_ms(11 * i);
    if (!ended) {
        kill(p, SIGKILL);
        ck_assert_int_eq(waitpid(p, &ws, 0), p);
    }
    bool killed = WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL;
    ck_assert_msg(killed || (WIFEXITED(ws) && WEXITSTATUS(ws) == 0), "kill %d: the run failed (status %d)", i, ws);
    ck_assert_msg(killed || exists(at("b/r.json")), "kill %d: the run ended without a report", i);
    return killed;
}

/* No PATH.tmp.PID is left in the folder. */
static void assert_no_temp(const char *folder) {
    DIR *d = opendir(folder);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d))) ck_assert_msg(!strstr(e->d_name, ".tmp."), "%s/%s left behind", folder, e->d_name);
    closedir(d);
}

START_TEST(test_kill_and_resume) {
    const char *cfg = write_config();
    char *ref = reference_report(cfg);
    int kills = 0;
    for (int i = 0; i < 6; i++) kills += kill_once(cfg, i);
    ck_assert_msg(kills >= 3, "only %d of 6 kills landed before the run finished", kills);
    if (!exists(at("b/r.json"))) expect(0, "resuming from", BIN " train --config %s --out %s --checkpoint %s --resume",
                                        cfg, at("b/r.json"), at("ck.safetensors"));
    assert_same_report(ref, at("b/r.json"));
    assert_no_temp(dir);
    assert_no_temp(at("b"));
    free(ref);
}
END_TEST

/* SIGTERM (143) and SIGINT (130): a checkpoint at the next step, no report;
 * the run resumes mid-epoch and ends identical. */
START_TEST(test_signals_stop_cleanly) {
    const char *cfg = write_config();
    char *ref = reference_report(cfg);
    const int sigs[] = {SIGTERM, SIGINT};
    for (int k = 0; k < 2; k++) {
        struct timespec before = mtime_of(at("ck.safetensors"));
        pid_t p = spawn_train(cfg, "");
        sleep_ms(150 + 100 * k); /* the data is drawn in ~20 ms; an epoch takes ~55 ms */
        kill(p, sigs[k]);
        int ws;
        ck_assert_int_eq(waitpid(p, &ws, 0), p);
        ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 128 + sigs[k], "signal %d: status %d", sigs[k], ws);
        struct timespec after = mtime_of(at("ck.safetensors"));
        ck_assert_msg(after.tv_sec != before.tv_sec || after.tv_nsec != before.tv_nsec, "no checkpoint written");
        ck_assert_msg(!exists(at("b/r.json")), "a stopped run wrote a report");
    }
    /* The checkpoint sits at a step boundary, very likely mid-epoch. */
    expect(0, "resuming from", BIN " train --config %s --out %s --checkpoint %s --resume --plain", cfg, at("b/r.json"),
           at("ck.safetensors"));
    assert_same_report(ref, at("b/r.json"));
    /* A finished run resumed again: nothing to do, the same report. */
    expect(0, "r: ok", BIN " train --config %s --out %s --checkpoint %s --resume --checkpoint-every 3 --quiet", cfg,
           at("b/r.json"), at("ck.safetensors"));
    expect(0, "r: ok", BIN " train --config %s --out %s --checkpoint %s --resume --quiet", cfg, at("b/r.json"),
           at("ck.safetensors"));
    assert_same_report(ref, at("b/r.json"));
    free(ref);
}
END_TEST

/* The checkpoint's counters and curves, and the file as weights. */
START_TEST(test_checkpoint_contents) {
    const char *cfg = write_config();
    expect(0, "r: ok", BIN " train --config %s --out %s --checkpoint %s --checkpoint-every 5 --quiet --set "
           "train.stop_epoch=7", cfg, at("b/r.json"), at("ck.safetensors"));
    struct st_file f;
    char err[1024];
    ck_assert_msg(st_read(at("ck.safetensors"), &f, err, sizeof err) == 0, "%s", err);
    ck_assert(f.hashed);
    const struct st_tensor *t = st_get(&f, "progress.epoch");
    ck_assert_ptr_nonnull(t);
    double v;
    st_to_f64(t, &v);
    ck_assert_int_eq((int)v, 7); /* the last write is the run's end, after the one at epoch 5 */
    st_to_f64(st_get(&f, "progress.steps"), &v);
    ck_assert_int_eq((int)v, 7 * 188);
    st_to_f64(st_get(&f, "progress.adam_steps"), &v);
    ck_assert_int_eq((int)v, 7 * 188);
    ck_assert_int_eq((int)st_get(&f, "progress.test_accuracy")->numel, 7);
    ck_assert_ptr_nonnull(st_get(&f, "optimizer.exp_avg_sq"));
    ck_assert_ptr_nonnull(st_get(&f, "backbone.layers.1.mixer.q_proj.weight"));
    st_free(&f);
    /* Its curves are the report's. */
    char *text = untimed(at("b/r.json"));
    cJSON *j = cJSON_Parse(text);
    free(text);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "test_accuracy")), 7);
    cJSON_Delete(j);
    /* The parameters load as weights: predict takes the checkpoint. */
    expect(0, "\"positions\"", BIN " predict --checkpoint %s --tokens '1 5 2 6'", at("ck.safetensors"));
}
END_TEST

static void corrupt_byte(const char *path, long from_end) {
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, -from_end, SEEK_END);
    int c = fgetc(f);
    fseek(f, -from_end, SEEK_END);
    fputc(c ^ 0x10, f);
    fclose(f);
}

/* --resume refuses what does not fit (exit 2, nothing written); --skip-done
 * removes it and starts afresh. */
START_TEST(test_refusals) {
    const char *cfg = write_config();
    const char *ck = at("ck.safetensors"), *rep = at("b/r.json");
    expect(0, "r: ok", BIN " train --config %s --out %s --checkpoint %s --checkpoint-every 4 --quiet --set "
           "train.stop_epoch=2", cfg, rep, ck);
    unlink(rep);
    /* another config */
    expect(2, "another config", BIN " train --config %s --out %s --checkpoint %s --resume --quiet --set train.lr=2e-3",
           cfg, rep, ck);
    ck_assert(!exists(rep));
    /* different --init than the checkpoint started from */
    expect(2, "started from init weights '(none)'", BIN " train --config %s --out %s --checkpoint %s --resume --quiet "
           "--set train.stop_epoch=2 --init %s", cfg, rep, ck, ck);
    /* a flipped data byte */
    corrupt_byte(ck, 5);
    expect(2, "corrupt: content hash", BIN " train --config %s --out %s --checkpoint %s --resume --quiet --set "
           "train.stop_epoch=2", cfg, rep, ck);
    ck_assert(!exists(rep));
    /* a truncated one */
    ck_assert_int_eq(truncate(ck, 4000), 0);
    expect(2, "truncated", BIN " train --config %s --out %s --checkpoint %s --resume --quiet --set train.stop_epoch=2",
           cfg, rep, ck);
    /* --skip-done: removed and redone */
    expect(0, "removed checkpoint", BIN " train --config %s --out %s --checkpoint %s --skip-done --quiet --set "
           "train.stop_epoch=2", cfg, rep, ck);
    ck_assert(exists(rep));
    /* weights from --save are not a training checkpoint */
    expect(0, "r: ok", BIN " train --config %s --out %s --save %s --quiet --set train.stop_epoch=1", cfg,
           at("w.json"), at("w.safetensors"));
    expect(2, "not a training checkpoint", BIN " train --config %s --out %s --checkpoint %s --resume --quiet --set "
           "train.stop_epoch=1", cfg, at("w2.json"), at("w.safetensors"));
    ck_assert(!exists(at("w2.json")));
    /* flags */
    expect(2, "--checkpoint-every", BIN " train --config %s --checkpoint-every x", cfg);
    expect(2, "are the same file", BIN " train --config %s --out %s --checkpoint %s", cfg, rep, rep);
}
END_TEST

/* A copy of checkpoint src with tensor `name` replaced (shape and data; the
 * content hash is written afresh, so only the reader's own checks can refuse it). */
static void rewrite(const char *src, const char *dst, const char *name, int ndim, const int64_t *shape,
                    const void *data) {
    struct st_file f;
    char err[1024];
    ck_assert_msg(st_read(src, &f, err, sizeof err) == 0, "%s", err);
    struct st_out *t = xcalloc((size_t)f.n + 1, sizeof *t);
    int n = 0;
    for (int i = 0; i < f.n; i++) {
        const struct st_tensor *s = &f.t[i];
        bool hit = !strcmp(s->name, name);
        if (hit && !data) continue; /* dropped */
        t[n++] = (struct st_out){s->name, s->dtype, hit ? ndim : s->ndim, hit ? shape : s->shape, hit ? data : s->data};
    }
    if (!st_get(&f, name) && data) t[n++] = (struct st_out){name, ST_F64, ndim, shape, data}; /* added */
    ck_assert_msg(st_write(dst, t, n, f.metadata_json, err, sizeof err) == 0, "%s", err);
    free(t);
    st_free(&f);
}

/* Files with an intact hash whose contents do not fit: every counter, curve
 * and tensor is checked against the others and the model. */
START_TEST(test_inconsistent_checkpoints) {
    const char *cfg = write_config();
    char good[256];
    snprintf(good, sizeof good, "%s", at("good.safetensors"));
    expect(0, "r: ok", BIN " train --config %s --out %s --checkpoint %s --checkpoint-every 2 --quiet --set "
           "train.stop_epoch=2", cfg, at("b/r.json"), good);
    const int64_t steps = 2 * 188 + 1, epoch = 13, E1[] = {1}, E3[] = {3}, P[] = {5};
    const double curve[3] = {1, 1, 1}, big[1] = {2}, five[5] = {0};
    const struct {
        const char *name;
        int ndim;
        const int64_t *shape;
        const void *data;
        const char *message;
    } cases[] = {
        {"progress.steps", 0, NULL, &steps, "steps is not epoch x steps per epoch + batch"},
        {"progress.epoch", 0, NULL, &epoch, "epoch outside [0, epochs]"},
        {"progress.test_accuracy", 1, E3, curve, "tensor 'progress.test_accuracy' is F64 [3], the run needs F64 [2]"},
        {"progress.best_accuracy", 0, NULL, big, "best_accuracy above 1"},
        {"progress.adam_steps", 1, E1, &steps, "tensor 'progress.adam_steps' is I64 [1], the run needs I64 []"},
        {"optimizer.exp_avg", 1, P, five, "tensor 'optimizer.exp_avg' is F32 [5], the run needs F32 ["},
        {"progress.tokens_seen", 0, NULL, NULL, "tensor 'progress.tokens_seen' is missing"},
        {"progress.extra", 1, P, five, "tensors, a checkpoint of this model has"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        rewrite(good, at("bad.safetensors"), cases[k].name, cases[k].ndim, cases[k].shape, cases[k].data);
        expect(2, cases[k].message, BIN " train --config %s --out %s --checkpoint %s --resume --quiet --set "
               "train.stop_epoch=2", cfg, at("c/r.json"), at("bad.safetensors"));
        ck_assert_msg(!exists(at("c/r.json")), "case %zu wrote a report", k);
    }
    /* The unchanged rewrite resumes: the refusals are about the changes only. */
    rewrite(good, at("same.safetensors"), "none", 0, NULL, NULL);
    expect(0, "r: ok", BIN " train --config %s --out %s --checkpoint %s --resume --quiet --set train.stop_epoch=2", cfg,
           at("c/r.json"), at("same.safetensors"));
}
END_TEST

int main(void) {
    if (access(BIN, X_OK) != 0) {
        fprintf(stderr, "test_resume: %s not built (run make)\n", BIN);
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("resume");
    TCase *tc = tcase_create("resume");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_kill_and_resume);
    tcase_add_test(tc, test_signals_stop_cleanly);
    tcase_add_test(tc, test_checkpoint_contents);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_inconsistent_checkpoints);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
