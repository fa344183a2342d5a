/* test_cli.c — the hippodrome binary end to end: exit status 2 with a message
 * naming the problem for usage and config errors, 0 for help/list/show, and a
 * tiny train -> report -> checkpoint -> predict and suite -> summary round trip.
 * Runs build/hippodrome from the repo root (make test builds it first). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "cli_testutil.h"

#define BIN "build/hippodrome"
#define TINY                                                                                                        \
    "{\"name\": \"%s\", \"task\": {\"name\": \"assoc_recall\", \"vocab_size\": 10, \"seq_len\": 8, \"num_train\": 96, " \
    "\"num_test\": 40}, \"model\": {\"layer\": \"%s\", \"d_model\": 16, \"n_layer\": 1, \"d_inner\": 32}, "           \
    "\"train\": {\"epochs\": 2, \"batch_size\": 16, \"warmup_epochs\": 1, \"lr\": 1e-3}}"

static void setup(void) { tmpdir_open("cli"); }

static void teardown(void) { tmpdir_close(); }

static void write_config(const char *path, const char *name, const char *layer) {
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, TINY, name, layer);
    fclose(f);
}

START_TEST(test_usage_errors) {
    expect(2, "usage", BIN);
    expect(2, "unknown verb 'frobnicate'", BIN " frobnicate");
    expect(2, "unknown flag '--bogus'", BIN " train --bogus");
    expect(2, "--config", BIN " train --bogus");             /* the valid flags are listed */
    expect(2, "--config FILE is required", BIN " train");
    expect(2, "needs a value", BIN " train --config");
    expect(2, "cannot open config", BIN " train --config %s/missing.json", dir);
    expect(2, "unknown task 'nope'", BIN " show nope");
    expect(2, "missing argument", BIN " show");
    expect(2, "cannot read directory", BIN " suite %s/none --out %s/o", dir, dir);
    expect(2, "--out OUTDIR is required", BIN " suite %s", dir);
    expect(2, "must be an integer", BIN " show assoc_recall --n x");
    expect(2, "--checkpoint", BIN " predict --tokens '1 2'");
}
END_TEST

START_TEST(test_config_errors) {
    char cfg[128];
    snprintf(cfg, sizeof cfg, "%s/tiny.json", dir);
    write_config(cfg, "tiny", "h3");
    expect(2, "unknown key 'lrr'", BIN " train --config %s --set train.lrr=1", cfg);
    expect(2, "'lr' must be a number", BIN " train --config %s --set train.lr=fast", cfg);
    expect(2, "out of range", BIN " train --config %s --set train.batch_size=0", cfg);
    expect(2, "unknown layer 'mamba'", BIN " train --config %s --set model.layer=mamba", cfg);
    expect(2, "expected section.key=value", BIN " train --config %s --set lr", cfg);
    char bad[128];
    snprintf(bad, sizeof bad, "%s/bad.json", dir);
    FILE *f = fopen(bad, "w");
    fputs("{\"task\": {\"name\": \"assoc_recall\"}, \"model\": {\"layer\": \"h3\", \"widht\": 3}}", f);
    fclose(f);
    expect(2, "unknown key 'widht'", BIN " train --config %s", bad);
    expect(2, "d_model", BIN " train --config %s", bad); /* valid keys listed */
    unlink(bad);
    expect(2, "unknown key 'lrr'", BIN " suite %s --out %s/o --set train.lrr=1", dir, dir); /* all checked first */
}
END_TEST

START_TEST(test_help_and_list) {
    expect(0, "verbs:", BIN " --help");
    expect(0, "--config", BIN " train --help");
    expect(0, "--tokens", BIN " predict --help");
    expect(0, "head_dim", BIN " list");
    expect(0, "induction_head", BIN " list");
    expect(0, "warmup_epochs", BIN " list");
    expect(0, "=>", BIN " show assoc_recall --n 2 --set seq_len=10");
}
END_TEST

static cJSON *read_json(const char *path) {
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s not written", path);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    cJSON *j = cJSON_Parse(buf);
    ck_assert_msg(j != NULL, "%s is not JSON", path);
    return j;
}

START_TEST(test_train_save_predict) {
    char cfg[128], rep[128], ck[128];
    snprintf(cfg, sizeof cfg, "%s/tiny.json", dir);
    snprintf(rep, sizeof rep, "%s/r/tiny.json", dir);
    snprintf(ck, sizeof ck, "%s/tiny.safetensors", dir);
    write_config(cfg, "tiny", "h3");
    expect(0, "tiny: ok", BIN " train --config %s --out %s --save %s --quiet", cfg, rep, ck);
    cJSON *r = read_json(rep);
    ck_assert_str_eq(cJSON_GetObjectItem(r, "status")->valuestring, "ok");
    cJSON_Delete(r);
    expect(0, "\"positions\"", BIN " predict --checkpoint %s --tokens '1 5 2 6 9 1'", ck);
    cJSON *p = cJSON_Parse(out);
    ck_assert_ptr_nonnull(p);
    const cJSON *pos = cJSON_GetObjectItem(p, "positions");
    ck_assert_int_eq(cJSON_GetArraySize(pos), 6);
    for (int i = 0; i < 6; i++) {
        const cJSON *probs = cJSON_GetObjectItem(cJSON_GetArrayItem(pos, i), "probs");
        ck_assert_int_eq(cJSON_GetArraySize(probs), 10);
        double sum = 0;
        for (int v = 0; v < 10; v++) sum += cJSON_GetArrayItem(probs, v)->valuedouble;
        ck_assert_double_eq_tol(sum, 1.0, 1e-9);
    }
    cJSON_Delete(p);
    expect(2, "not a token id", BIN " predict --checkpoint %s --tokens '1 99'", ck);
    expect(2, "longest input", BIN " predict --checkpoint %s --tokens '1 1 1 1 1 1 1 1 1 1 1 1'", ck);
    expect(2, "checkpoint", BIN " predict --checkpoint %s --tokens '1'", cfg); /* not a safetensors file */
}
END_TEST

START_TEST(test_suite_summary) {
    char cdir[128], odir[128], path[160];
    snprintf(cdir, sizeof cdir, "%s/configs", dir);
    snprintf(odir, sizeof odir, "%s/out", dir);
    ck_assert_int_eq(mkdir(cdir, 0777), 0);
    snprintf(path, sizeof path, "%s/b.json", cdir);
    write_config(path, "assoc_recall_h3", "h3");
    snprintf(path, sizeof path, "%s/a.json", cdir);
    write_config(path, "assoc_recall_s4d", "s4d");
    expect(0, "paper %", BIN " suite %s --out %s --quiet", cdir, odir);
    snprintf(path, sizeof path, "%s/summary.json", odir);
    cJSON *s = read_json(path);
    const cJSON *cells = cJSON_GetObjectItem(s, "cells");
    ck_assert_int_eq(cJSON_GetArraySize(cells), 2);
    const cJSON *first = cJSON_GetArrayItem(cells, 0); /* a.json sorts first */
    ck_assert_str_eq(cJSON_GetObjectItem(first, "layer")->valuestring, "s4d");
    ck_assert_str_eq(cJSON_GetObjectItem(first, "task")->valuestring, "assoc_recall");
    /* The paper's S4D associative-recall number, as a fraction. */
    ck_assert_double_eq_tol(cJSON_GetObjectItem(first, "paper")->valuedouble, 0.86, 1e-12);
    ck_assert_double_eq_tol(cJSON_GetObjectItem(first, "chance")->valuedouble, 0.25, 1e-12);
    const char *need[] = {"accuracy", "best_accuracy", "seconds"};
    for (int i = 0; i < 3; i++) ck_assert_ptr_nonnull(cJSON_GetObjectItem(first, need[i]));
    cJSON_Delete(s);
    snprintf(path, sizeof path, "%s/assoc_recall_h3.json", odir);
    cJSON_Delete(read_json(path));
}
END_TEST

/* bench-long: one row per (config, L) with time and peak memory; a length
 * beyond the memory limit is reported as out of memory, not a crash, and one
 * whose step is projected past --max-step-s is skipped and says so. */
static void write_attention_config(const char *path, const char *name, const char *impl) {
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "{\"name\": \"%s\", \"task\": {\"name\": \"assoc_recall\", \"vocab_size\": 10, \"seq_len\": 8, "
               "\"num_train\": 96, \"num_test\": 40}, \"model\": {\"layer\": \"attention\", \"d_model\": 16, "
               "\"n_layer\": 1, \"d_inner\": 32, \"layer_options\": {\"impl\": \"%s\"}}, \"train\": {\"epochs\": 2, "
               "\"batch_size\": 16, \"warmup_epochs\": 1, \"lr\": 1e-3}}",
            name, impl);
    fclose(f);
}

START_TEST(test_bench_long) {
    char cdir[2][128], path[160], rep[2][160];
    for (int i = 0; i < 2; i++) {
        snprintf(cdir[i], sizeof cdir[i], "%s/long%d", dir, i);
        ck_assert_int_eq(mkdir(cdir[i], 0777), 0);
        snprintf(path, sizeof path, "%s/a.json", cdir[i]);
        write_attention_config(path, i ? "long_attention_tiled" : "long_attention", i ? "tiled" : "full");
        snprintf(rep[i], sizeof rep[i], "%s/long%d.json", dir, i);
    }
    /* full attention at 2^17 needs 64 GiB for one score matrix: far past a 1 GiB limit (with no time
     * budget to speak of, it is tried); the tiled path fits, but its step, projected from L = 32 by
     * L^2, is far past one second */
    expect(0, "out of memory",
           BIN " bench-long --configs %s --lengths 16,32,131072 --steps 1 --mem-limit-gb 1 --max-step-s 1000000 --out %s",
           cdir[0], rep[0]);
    expect(0, "over time budget",
           BIN " bench-long --configs %s --lengths 16,32,131072 --steps 1 --mem-limit-gb 1 --max-step-s 1 --out %s",
           cdir[1], rep[1]);
    for (int k = 0; k < 2; k++) {
        cJSON *j = read_json(rep[k]);
        const cJSON *rows = cJSON_GetObjectItem(j, "rows");
        ck_assert_int_eq(cJSON_GetArraySize(rows), 3);
        for (int i = 0; i < 3; i++) {
            const cJSON *r = cJSON_GetArrayItem(rows, i);
            bool last = i == 2;
            ck_assert_int_eq(cJSON_GetObjectItem(r, "seq_len")->valueint, last ? 131072 : 16 << i);
            ck_assert_str_eq(cJSON_GetObjectItem(r, "status")->valuestring,
                             !last ? "ok" : k ? "over time budget" : "out of memory");
            ck_assert(last || cJSON_GetObjectItem(r, "ms_per_step")->valuedouble > 0);
            ck_assert(!(last && k) || cJSON_GetObjectItem(r, "projected_s_per_step")->valuedouble > 1);
            ck_assert(cJSON_GetObjectItem(r, "peak_rss_mb")->valuedouble >= 0);
        }
        cJSON_Delete(j);
    }
    expect(2, "--lengths", BIN " bench-long --configs %s --lengths 16,abc", cdir[0]);
    expect(2, "--max-step-s", BIN " bench-long --configs %s --max-step-s 0", cdir[0]);
}
END_TEST

/* bench-layers: one row per (layer, L) with the documented fields; full
 * attention (a layer with knobs) at L = 2^16 needs 16 GiB for its scores
 * alone, so under a 1 GiB limit it is reported as out of memory; bad flags
 * and knobs are named. */
START_TEST(test_bench_layers) {
    char rep[160];
    snprintf(rep, sizeof rep, "%s/layers.json", dir);
    expect(0, "attention:impl=full",
           BIN " bench-layers --layers h3,attention:impl=full --lengths 16,65536 --d 8 --min-ms 1 --mem-limit-mb 1024 "
               "--out %s",
           rep);
    cJSON *j = read_json(rep);
    const cJSON *rows = cJSON_GetObjectItem(j, "rows");
    ck_assert_int_eq(cJSON_GetArraySize(rows), 4);
    for (int i = 0; i < 4; i++) { /* lengths outer, layers inner */
        const cJSON *r = cJSON_GetArrayItem(rows, i);
        bool oom = i == 3;
        ck_assert_str_eq(cJSON_GetObjectItem(r, "layer")->valuestring, i % 2 ? "attention:impl=full" : "h3");
        ck_assert_int_eq(cJSON_GetObjectItem(r, "seq_len")->valueint, i < 2 ? 16 : 65536);
        ck_assert_int_eq(cJSON_GetObjectItem(r, "d")->valueint, 8);
        ck_assert_int_eq(cJSON_GetObjectItem(r, "batch")->valueint, 1);
        ck_assert_str_eq(cJSON_GetObjectItem(r, "status")->valuestring, oom ? "out of memory" : "ok");
        const cJSON *ms = cJSON_GetObjectItem(r, "ms_fwd_bwd");
        ck_assert(oom ? cJSON_IsNull(ms) : ms->valuedouble > 0);
        ck_assert(cJSON_GetObjectItem(r, "peak_rss_mb")->valuedouble > 0);
    }
    cJSON_Delete(j);
    expect(2, "--lengths", BIN " bench-layers --lengths 16,abc");
    expect(2, "--layers", BIN " bench-layers --layers h3,mamba");
    expect(2, "'bogus' is not one of auto|full|tiled", BIN " bench-layers --layers attention:impl=bogus");
    expect(2, "--d", BIN " bench-layers --d 0");
    expect(2, "--mem-limit-mb", BIN " bench-layers --mem-limit-mb 1");
}
END_TEST

/* bench-generate: one row per (layer, context) with tokens/s and prefill
 * time; layers without a recurrent step and bad flags are named. */
START_TEST(test_bench_generate) {
    char rep[160];
    snprintf(rep, sizeof rep, "%s/gen.json", dir);
    expect(0, "h3/attention", BIN " bench-generate --layers h3,attention --contexts 8,32 --tokens 4 --d 8 --rounds 2 --out %s",
           rep);
    cJSON *j = read_json(rep);
    const cJSON *rows = cJSON_GetObjectItem(j, "rows");
    ck_assert_int_eq(cJSON_GetArraySize(rows), 4);
    for (int i = 0; i < 4; i++) { /* contexts outer, layers inner */
        const cJSON *r = cJSON_GetArrayItem(rows, i);
        ck_assert_str_eq(cJSON_GetObjectItem(r, "layer")->valuestring, i % 2 ? "attention" : "h3");
        ck_assert_int_eq(cJSON_GetObjectItem(r, "context")->valueint, i < 2 ? 8 : 32);
        ck_assert_int_eq(cJSON_GetObjectItem(r, "tokens")->valueint, 4);
        ck_assert(cJSON_GetObjectItem(r, "tokens_per_second")->valuedouble > 0);
        ck_assert(cJSON_GetObjectItem(r, "ms_prefill")->valuedouble > 0);
    }
    cJSON_Delete(j);
    expect(2, "--layers", BIN " bench-generate --layers nosuch");
    expect(2, "--contexts", BIN " bench-generate --contexts 8,x");
    expect(2, "--tokens", BIN " bench-generate --tokens 0");
    expect(2, "--d", BIN " bench-generate --d 0");
}
END_TEST

/* dir/name (=) text, a benchmark file bench-summary reads. */
static void write_bench(const char *dir, const char *name, const char *text) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* bench-summary: goals computed from the benchmark files; a missing file leaves its goals unmeasured. */
START_TEST(test_bench_summary) {
    char bdir[128], path[192];
    snprintf(bdir, sizeof bdir, "%s/bench", dir);
    ck_assert_int_eq(mkdir(bdir, 0777), 0);
    /* batch 1: H3 slower at 128, faster from 256 on; attention out of memory at 64K */
    write_bench(bdir, "layers.json",
                "{\"rows\": [{\"layer\": \"h3\", \"seq_len\": 128, \"status\": \"ok\", \"ms_fwd_bwd\": 2},"
                "{\"layer\": \"attention\", \"seq_len\": 128, \"status\": \"ok\", \"ms_fwd_bwd\": 1},"
                "{\"layer\": \"h3\", \"seq_len\": 256, \"status\": \"ok\", \"ms_fwd_bwd\": 3},"
                "{\"layer\": \"attention\", \"seq_len\": 256, \"status\": \"ok\", \"ms_fwd_bwd\": 4},"
                "{\"layer\": \"h3\", \"seq_len\": 65536, \"status\": \"ok\", \"ms_fwd_bwd\": 700},"
                "{\"layer\": \"attention\", \"seq_len\": 65536, \"status\": \"out of memory\"}]}\n");
    /* batch 32: H3 faster from 128 (slower at 64); the goal reads this file */
    write_bench(bdir, "layers_b32.json",
                "{\"rows\": [{\"layer\": \"h3\", \"seq_len\": 64, \"status\": \"ok\", \"ms_fwd_bwd\": 2},"
                "{\"layer\": \"attention\", \"seq_len\": 64, \"status\": \"ok\", \"ms_fwd_bwd\": 1},"
                "{\"layer\": \"h3\", \"seq_len\": 128, \"status\": \"ok\", \"ms_fwd_bwd\": 3},"
                "{\"layer\": \"attention\", \"seq_len\": 128, \"status\": \"ok\", \"ms_fwd_bwd\": 4},"
                "{\"layer\": \"h3\", \"seq_len\": 256, \"status\": \"ok\", \"ms_fwd_bwd\": 5},"
                "{\"layer\": \"attention\", \"seq_len\": 256, \"status\": \"ok\", \"ms_fwd_bwd\": 9}]}\n");
    write_bench(bdir, "generate.json",
                "{\"rows\": [{\"layer\": \"h3\", \"context\": 128, \"status\": \"ok\", \"tokens_per_second\": 1000},"
                "{\"layer\": \"h3\", \"context\": 1536, \"status\": \"ok\", \"tokens_per_second\": 1100},"
                "{\"layer\": \"attention\", \"context\": 1536, \"status\": \"ok\", \"tokens_per_second\": 500}]}\n");
    expect(0, "flashconv.json", BIN " bench-summary --dir %s", bdir); /* no flashconv.json: said, not fatal */
    snprintf(path, sizeof path, "%s/summary.json", bdir);
    cJSON *j = read_json(path);
    const cJSON *g;
    int seen = 0;
    cJSON_ArrayForEach(g, cJSON_GetObjectItem(j, "goals")) {
        const char *name = cJSON_GetObjectItem(g, "name")->valuestring;
        const cJSON *m = cJSON_GetObjectItem(g, "measured"), *p = cJSON_GetObjectItem(g, "pass");
        if (!strcmp(name, "h3_layer_faster_from")) ck_assert(m->valuedouble == 128 && cJSON_IsTrue(p)), seen++;
        if (!strcmp(name, "h3_layer_vs_attention_64k")) ck_assert(cJSON_IsNull(m) && cJSON_IsNull(p)), seen++;
        if (!strcmp(name, "generation_flat")) ck_assert(fabs(m->valuedouble - 1.1) < 1e-12 && cJSON_IsTrue(p)), seen++;
        if (!strcmp(name, "generation_vs_attention_1536")) ck_assert(fabs(m->valuedouble - 2.2) < 1e-12 && cJSON_IsFalse(p)), seen++;
        if (!strcmp(name, "state_passing_flat")) ck_assert(cJSON_IsNull(p)), seen++;
    }
    ck_assert_int_eq(seen, 5);
    const cJSON *also = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "also"), 0); /* batch 1: from 256, no verdict */
    ck_assert_str_eq(cJSON_GetObjectItem(also, "name")->valuestring, "h3_layer_faster_from_b1");
    ck_assert(cJSON_GetObjectItem(also, "measured")->valuedouble == 256 && !cJSON_GetObjectItem(also, "pass"));
    cJSON_Delete(j);
    /* H3 faster at 128 but not finishing 256 (out of memory): not faster from any L, a FAIL, not "unmeasured" */
    write_bench(bdir, "layers_b32.json",
                "{\"rows\": [{\"layer\": \"h3\", \"seq_len\": 128, \"status\": \"ok\", \"ms_fwd_bwd\": 3},"
                "{\"layer\": \"attention\", \"seq_len\": 128, \"status\": \"ok\", \"ms_fwd_bwd\": 4},"
                "{\"layer\": \"h3\", \"seq_len\": 256, \"status\": \"out of memory\"},"
                "{\"layer\": \"attention\", \"seq_len\": 256, \"status\": \"ok\", \"ms_fwd_bwd\": 9}]}\n");
    expect(0, "FAIL", BIN " bench-summary --dir %s", bdir);
    snprintf(path, sizeof path, "%s/summary.json", bdir);
    j = read_json(path);
    seen = 0;
    cJSON_ArrayForEach(g, cJSON_GetObjectItem(j, "goals")) {
        if (strcmp(cJSON_GetObjectItem(g, "name")->valuestring, "h3_layer_faster_from")) continue;
        ck_assert(cJSON_IsNull(cJSON_GetObjectItem(g, "measured")) && cJSON_IsFalse(cJSON_GetObjectItem(g, "pass")));
        seen++;
    }
    ck_assert_int_eq(seen, 1);
    cJSON_Delete(j);
}
END_TEST

int main(void) {
    if (access(BIN, X_OK) != 0) {
        fprintf(stderr, "test_cli: %s not built (run make)\n", BIN);
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_usage_errors);
    tcase_add_test(tc, test_config_errors);
    tcase_add_test(tc, test_help_and_list);
    tcase_add_test(tc, test_train_save_predict);
    tcase_add_test(tc, test_suite_summary);
#ifndef __SANITIZE_ADDRESS__
    /* AddressSanitizer reserves terabytes of address space for its shadow memory, so under
     * `make asan` no bench child can run below bench's address-space limit (RLIMIT_AS):
     * these two run in `make test` only. */
    tcase_add_test(tc, test_bench_long);
    tcase_add_test(tc, test_bench_layers);
#else
    (void)test_bench_long, (void)test_bench_layers;
#endif
    tcase_add_test(tc, test_bench_summary);
    tcase_add_test(tc, test_bench_generate);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
