/* test_robust.c — runs that go wrong end clearly and leave nothing half-written.
 *  - divergence: the gradient check finds the first non-finite tensor (and
 *    only that); a run whose loss blows up stops with status "diverged",
 *    exit 1, and a report naming the step, the epoch and the tensor;
 *  - an unwritable results folder (a path through a regular file) fails at
 *    once with exit 1, before any training, and writes nothing;
 *  - a full disk (a file-size limit, `ulimit -f`, with SIGXFSZ ignored):
 *    the report or checkpoint write fails with exit 1 and a message naming
 *    the file, and no report, checkpoint or temporary file is left.
 * Runs build/hippodrome from the repo root (make test builds it first). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../harness/config.h"
#include "../harness/train.h"
#include "testutil.h"
#include "cli_testutil.h"

#define BIN "build/hippodrome"
#define TINY                                                                                                       \
    "{\"name\": \"t\", \"task\": {\"name\": \"assoc_recall\", \"vocab_size\": 10, \"seq_len\": 8, "              \
    "\"num_train\": 96, \"num_test\": 40}, \"model\": {\"layer\": \"h3\", \"d_model\": 16, \"n_layer\": 1, "      \
    "\"d_inner\": 32}, \"train\": {\"epochs\": 3, \"batch_size\": 16, \"warmup_epochs\": 1, \"lr\": 1e-3}}"

static void setup(void) { tmpdir_open("robust"); }

static void teardown(void) { tmpdir_close(); }

static const char *write_config(void) {
    static char p[256];
    snprintf(p, sizeof p, "%s", at("t.json"));
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(TINY, f);
    fclose(f);
    return p;
}

/* Files in folder d (folders aside) other than the test's config. */
static int entries(const char *d, char *first, size_t len) {
    DIR *dd = opendir(d);
    if (!dd) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dd)))
        if (e->d_type != DT_DIR && strcmp(e->d_name, "t.json")) {
            if (n++ == 0) snprintf(first, len, "%s", e->d_name);
        }
    closedir(dd);
    return n;
}

static void assert_empty(const char *d) {
    char first[256] = "";
    int n = entries(d, first, sizeof first);
    ck_assert_msg(n == 0, "%s holds %d entries, e.g. '%s'", d, n, first);
}

START_TEST(test_nonfinite_tensor) {
    struct run_config c;
    char err[512];
    cJSON *doc = cJSON_Parse(TINY);
    ck_assert_msg(config_resolve(doc, &c, err, sizeof err) == 0, "%s", err);
    cJSON_Delete(doc);
    struct model *m = train_model_create(&c, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    const struct param_table *pt = model_params(m);
    real *g = xcalloc(pt->total, sizeof *g);
    for (size_t i = 0; i < pt->total; i++) g[i] = (real)(1e30 * ((i % 7) - 3.0)); /* large, finite: no false alarm */
    ck_assert_int_eq(train_nonfinite_tensor(pt, g), -1);
    const int which[] = {0, pt->n / 2, pt->n - 1};
    const real bad[] = {NAN, INFINITY, -INFINITY};
    for (int k = 0; k < 3; k++) {
        size_t at_ = pt->v[which[k]].offset + pt->v[which[k]].numel - 1; /* its last element */
        real keep = g[at_];
        g[at_] = bad[k];
        ck_assert_int_eq(train_nonfinite_tensor(pt, g), which[k]);
        g[at_] = keep;
    }
    free(g);
    model_free(m);
}
END_TEST

/* lr 10 with weight decay 10 multiplies every weight by -99 per step: the
 * loss overflows within a few steps. */
START_TEST(test_diverged_report) {
    const char *cfg = write_config();
    expect(1, "not finite at step", BIN " train --config %s --out %s --quiet --set train.lr=10 "
           "--set train.weight_decay=10 --set train.warmup_epochs=0", cfg, at("d.json"));
    char err[512], *text = hp_read_text(at("d.json"), "report", err, sizeof err);
    ck_assert_msg(text != NULL, "%s", err);
    cJSON *j = cJSON_Parse(text);
    free(text);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "status")->valuestring, "diverged");
    const cJSON *d = cJSON_GetObjectItem(j, "diverged");
    ck_assert_ptr_nonnull(d);
    ck_assert_int_ge(cJSON_GetObjectItem(d, "step")->valueint, 1);
    ck_assert_int_eq(cJSON_GetObjectItem(d, "epoch")->valueint, 1);
    const char *tensor = cJSON_GetObjectItem(d, "tensor")->valuestring;
    ck_assert_msg(!strcmp(tensor, "loss") || strstr(tensor, ".grad"), "tensor '%s'", tensor);
    ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItem(j, "message")->valuestring, tensor));
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_unwritable_folder) {
    const char *cfg = write_config();
    FILE *f = fopen(at("file"), "w");
    fclose(f);
    /* Through a regular file: not a folder for anyone, root included. */
    expect(1, "cannot", BIN " train --config %s --out %s/sub/r.json --quiet", cfg, at("file"));
    ck_assert_msg(!strstr(out, "epoch"), "it trained first:\n%s", out);
    expect(1, "is a folder", BIN " train --config %s --out %s --quiet", cfg, dir);
    expect(1, "cannot", BIN " train --config %s --out %s --save %s/w.safetensors --quiet", cfg, at("r.json"),
           at("file"));
    expect(1, "cannot", BIN " train --config %s --out %s --checkpoint %s/c.safetensors --checkpoint-every 1 --quiet",
           cfg, at("r.json"), at("file"));
    unlink(at("file"));
    assert_empty(dir);
    expect(1, "cannot", BIN " suite %s --out %s/x --quiet", dir, at("t.json")); /* suite: the summary */
}
END_TEST

/* `ulimit -f` blocks of 512 bytes; SIGXFSZ ignored so the write fails with EFBIG. */
#define LIMITED(blocks) "sh -c 'trap \"\" XFSZ; ulimit -f " #blocks "; exec \"$0\" \"$@\"' " BIN

START_TEST(test_full_disk) {
    const char *cfg = write_config();
    /* The report (~2 KB) does not fit in 1 KB. */
    expect(1, "File too large", LIMITED(2) " train --config %s --out %s/o/r.json --quiet", cfg, dir);
    ck_assert_msg(strstr(out, "o/r.json"), "the message does not name the report:\n%s", out);
    assert_empty(at("o"));
    /* A checkpoint (~50 KB) does not fit in 16 KB: the run stops, no report, no checkpoint. */
    expect(1, "checkpoint: cannot write", LIMITED(32) " train --config %s --out %s/p/r.json --checkpoint-every 1 "
           "--quiet", cfg, dir);
    assert_empty(at("p"));
    assert_empty(at("p/checkpoints"));
    /* --save after a finished run: the report stands, the weights are not half there. */
    expect(1, "cannot write", LIMITED(32) " train --config %s --out %s/q/r.json --save %s/q/w.safetensors --quiet",
           cfg, dir, dir);
    ck_assert(access(at("q/r.json"), F_OK) == 0);
    ck_assert(access(at("q/w.safetensors"), F_OK) != 0);
    unlink(at("q/r.json"));
    assert_empty(at("q"));
}
END_TEST

int main(void) {
    if (access(BIN, X_OK) != 0) {
        fprintf(stderr, "test_robust: %s not built (run make)\n", BIN);
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("robust");
    TCase *tc = tcase_create("robust");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_nonfinite_tensor);
    tcase_add_test(tc, test_diverged_report);
    tcase_add_test(tc, test_unwritable_folder);
    tcase_add_test(tc, test_full_disk);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
