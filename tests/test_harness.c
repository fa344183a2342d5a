/* test_harness.c — the harness: strict configs (unknown keys, types, ranges,
 * --set, defaults, canonical hash), lr schedules against hand-computed
 * values, atomic parseable reports, checkpoints round-tripping, and
 * determinism of whole (tiny) training runs.
 * Build and run: make test (or build/tests/test_harness). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../harness/checkpoint.h"
#include "../harness/config.h"
#include "../harness/report.h"
#include "../harness/schedule.h"
#include "../harness/train.h"
#include "../kernels/cpu/conv_table.h"
#include "testutil.h"

/* A tiny run: seconds-scale budget is the whole point of this suite. */
#define TINY_TASK "\"task\": {\"name\": \"assoc_recall\", \"vocab_size\": 10, \"seq_len\": 8, \"num_train\": 96, \"num_test\": 40}"
#define TINY_MODEL "\"model\": {\"layer\": \"h3\", \"d_model\": 16, \"n_layer\": 1, \"d_inner\": 32, \"layer_options\": {\"d_state\": 8}}"
#define TINY_TRAIN "\"train\": {\"epochs\": 2, \"batch_size\": 16, \"warmup_epochs\": 1, \"lr\": 1e-3}"
#define TINY "{\"name\": \"tiny\", " TINY_TASK ", " TINY_MODEL ", " TINY_TRAIN "}"

static char tmpdir[64];

static void make_tmpdir(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/hippo_test_harness_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void) {
    DIR *d = opendir(tmpdir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
            unlink(p);
        }
    closedir(d);
    rmdir(tmpdir);
}

/* Write text to tmpdir/name and return the path (static buffer per call site). */
static const char *write_file(const char *name, const char *text) {
    static char path[8][512];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return p;
}

/* Load text as a config with overrides; returns rc, err filled. */
static int load_text(const char *text, const char *const *sets, int n, struct run_config *c, char *err, size_t len) {
    return config_load(write_file("c.json", text), sets, n, c, err, len);
}

static void expect_error(const char *text, const char *set, const char *needle1, const char *needle2) {
    struct run_config c;
    char err[2048] = "";
    const char *sets[] = {set};
    int rc = load_text(text, sets, set ? 1 : 0, &c, err, sizeof err);
    ck_assert_msg(rc == -1, "config accepted, expected an error containing '%s'", needle1);
    ck_assert_msg(strstr(err, needle1), "error '%s' does not contain '%s'", err, needle1);
    if (needle2) ck_assert_msg(strstr(err, needle2), "error '%s' does not contain '%s'", err, needle2);
}

/* ---- config ---- */

START_TEST(test_fnv1a_vectors) {
    /* Published FNV-1a 64 test vectors. */
    ck_assert_uint_eq(fnv1a64("", 0), 0xcbf29ce484222325ULL);
    ck_assert_uint_eq(fnv1a64("a", 1), 0xaf63dc4c8601ec8cULL);
    ck_assert_uint_eq(fnv1a64("foobar", 6), 0x85944171f73967e8ULL);
}
END_TEST

START_TEST(test_unknown_keys_listed) {
    make_tmpdir();
    expect_error("{\"task\": {\"name\": \"assoc_recall\"}, \"model\": {\"layer\": \"h3\"}, \"train\": {\"lrr\": 1}}", NULL,
                 "unknown key 'lrr'", "ssm_lr, weight_decay");
    expect_error("{\"task\": {\"name\": \"assoc_recall\", \"vocab\": 3}, \"model\": {\"layer\": \"h3\"}}", NULL,
                 "unknown key 'vocab'", "vocab_size, seq_len");
    expect_error("{\"task\": {\"name\": \"assoc_recall\"}, \"model\": {\"layer\": \"h3\", \"layer_options\": {\"heads\": 2}}}",
                 NULL, "unknown key 'heads'", "head_dim");
    expect_error("{\"task\": {\"name\": \"assoc_recall\"}, \"model\": {\"layer\": \"h3\"}, \"optim\": {}}", NULL,
                 "unknown key 'optim'", "train");
    expect_error("{\"task\": {\"name\": \"nope\"}, \"model\": {\"layer\": \"h3\"}}", NULL, "unknown task 'nope'",
                 "induction_head");
    expect_error("{\"task\": {\"name\": \"assoc_recall\"}, \"model\": {\"layer\": \"mamba\"}}", NULL,
                 "unknown layer 'mamba'", "attention");
    expect_error(TINY, "train.nope=3", "unknown key 'nope'", "batch_size");
    remove_tmpdir();
}
END_TEST

START_TEST(test_types_and_ranges) {
    make_tmpdir();
    expect_error("{\"task\": {\"name\": \"assoc_recall\"}, \"model\": {\"layer\": \"h3\"}, \"train\": {\"lr\": \"fast\"}}",
                 NULL, "'lr' must be a number", "a string");
    expect_error("{\"task\": {\"name\": \"assoc_recall\"}, \"model\": {\"layer\": \"h3\"}, \"train\": {\"batch_size\": 0}}",
                 NULL, "batch_size", "out of range");
    expect_error("{\"task\": {\"name\": \"assoc_recall\"}, \"model\": {\"layer\": \"h3\"}, \"train\": {\"epochs\": 2.5}}",
                 NULL, "epochs", "not an integer");
    expect_error("{\"task\": {\"name\": \"assoc_recall\"}, \"model\": {\"layer\": \"h3\"}, \"train\": {\"schedule\": \"step\"}}",
                 NULL, "'step' is not one of", "cosine|linear");
    expect_error(TINY, "train.lr=-1", "lr", "out of range");
    expect_error(TINY, "model.layer_options.head_dim=3", "head_dim", NULL); /* 3 does not divide d_model 16 */
    expect_error("{\"task\": {\"name\": \"assoc_recall\"}, \"model\": {\"layer\": \"h3\"}, \"train\": {\"lr\": 1, \"lr\": 2}}",
                 NULL, "appears twice", NULL);
    expect_error("{\"task\": {\"name\": \"assoc_recall\"} \"model\": 3}", NULL, "invalid JSON", NULL);
    expect_error(TINY, "train.warmup_epochs=5", "warmup_epochs", "epochs");
    /* length mixes as arrays: integers only, a bounded text, checked like the string form */
    expect_error(TINY, "task.train_seq_lens=[4, \"8\"]", "'train_seq_lens' as a number or array must hold integers",
                 NULL);
    expect_error(TINY, "task.train_seq_lens=[4.5, 8]", "must hold integers", NULL);
    expect_error(TINY, "task.train_seq_lens=4.5", "must hold integers", NULL);
    expect_error(TINY, "task.train_seq_lens=true", "'train_seq_lens' must be a string (or an integer", "a boolean");
    expect_error(TINY, "task.train_seq_lens=[1000000,1000000,1000000,1000000,1000000,1000000,1000000,1000000,8]",
                 "too long written out", "at most 63 characters");
    expect_error(TINY, "task.train_seq_lens=[4, 6]", "train_seq_lens", "longest");
    expect_error(TINY, "train.lr=[1]", "'lr' must be a number", "an array");
    remove_tmpdir();
}
END_TEST

START_TEST(test_overrides_and_defaults) {
    make_tmpdir();
    struct run_config c;
    char err[1024];
    const char *sets[] = {"train.lr=1e-3", "model.layer_options.head_dim=2", "task.seq_len=12", "name=renamed"};
    ck_assert_msg(load_text(TINY, sets, 4, &c, err, sizeof err) == 0, "%s", err);
    ck_assert_double_eq(cfg_train_real(&c, "lr"), 1e-3);
    ck_assert_int_eq(knob_int(&c.layer_kv, "head_dim"), 2);
    ck_assert_int_eq(knob_int(&c.task_kv, "seq_len"), 12);
    ck_assert_str_eq(c.name, "renamed");
    /* Defaults filled for keys the file does not give. */
    ck_assert_int_eq(knob_int(&c.layer_kv, "d_state"), 8);
    ck_assert_str_eq(knob_str(&c.layer_kv, "disc"), "bilinear");
    ck_assert_double_eq(cfg_train_real(&c, "weight_decay"), 0.1);
    ck_assert_double_eq(cfg_model_real(&c, "embed_dropout"), 0.1);
    /* The canonical JSON holds every key of every table. */
    cJSON *j = config_to_json(&c);
    const cJSON *train = cJSON_GetObjectItemCaseSensitive(j, "train");
    for (int i = 0; i < config_n_train_knobs; i++)
        ck_assert_msg(cJSON_GetObjectItemCaseSensitive(train, config_train_knobs[i].name), "train.%s missing",
                      config_train_knobs[i].name);
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "model"), "layer_options");
    ck_assert_int_eq(cJSON_GetArraySize(opts), c.layer->n_knobs);
    cJSON_Delete(j);
    /* Name defaults to the file stem. */
    const char *p = write_file("stem_name.json", "{" TINY_TASK ", " TINY_MODEL "}");
    ck_assert_msg(config_load(p, NULL, 0, &c, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(c.name, "stem_name");
    remove_tmpdir();
}
END_TEST

START_TEST(test_canonical_hash) {
    make_tmpdir();
    struct run_config a, b;
    char err[1024];
    ck_assert_msg(load_text(TINY, NULL, 0, &a, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(load_text(TINY, NULL, 0, &b, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(config_hash(&a), config_hash(&b));
    /* Same values spelled differently: same canonical form. */
    const char *same[] = {"train.lr=0.001", "train.epochs=2"};
    ck_assert_msg(load_text(TINY, same, 2, &b, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(config_hash(&a), config_hash(&b));
    /* A changed value changes the hash; the canonical text re-resolves to itself. */
    const char *diff[] = {"train.lr=0.0011"};
    ck_assert_msg(load_text(TINY, diff, 1, &b, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_ne(config_hash(&a), config_hash(&b));
    /* A length mix as a JSON array resolves, and hashes, as its string form. */
    const char *mix_str[] = {"task.train_seq_lens=4,8"}, *mix_arr[] = {"task.train_seq_lens=[4, 8]"};
    ck_assert_msg(load_text(TINY, mix_str, 1, &b, err, sizeof err) == 0, "%s", err);
    struct run_config m;
    ck_assert_msg(load_text(TINY, mix_arr, 1, &m, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(knob_str(&m.task_kv, "train_seq_lens"), "4,8");
    ck_assert_uint_eq(config_hash(&b), config_hash(&m));
    ck_assert_uint_ne(config_hash(&a), config_hash(&m));
    const char *one_num[] = {"task.train_seq_lens=8"}, *one_str[] = {"task.train_seq_lens=\"8\""};
    ck_assert_msg(load_text(TINY, one_num, 1, &b, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(load_text(TINY, one_str, 1, &m, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(knob_str(&b.task_kv, "train_seq_lens"), "8");
    ck_assert_uint_eq(config_hash(&b), config_hash(&m));
    char *text = config_canonical(&a);
    cJSON *doc = cJSON_Parse(text);
    ck_assert_msg(config_resolve(doc, &b, err, sizeof err) == 0, "%s", err);
    char *again = config_canonical(&b);
    ck_assert_str_eq(text, again);
    cJSON_Delete(doc);
    free(text);
    free(again);
    remove_tmpdir();
}
END_TEST

/* ---- schedules ---- */

START_TEST(test_cosine_schedule) {
    /* timm cosine, W = 100, T = 1000, warmup from 1e-6, lr_min = 0.1 base. */
    struct schedule s = {.kind = SCHED_COSINE, .warmup_steps = 100, .total_steps = 1000, .warmup_lr_init = 1e-6,
                         .min_lr_ratio = 0.1};
    double base = 5e-4;
    ck_assert_double_eq_tol(schedule_lr(&s, base, 0), 1e-6, 1e-15);
    ck_assert_double_eq_tol(schedule_lr(&s, base, 50), 2.505e-4, 1e-15);
    ck_assert_double_eq_tol(schedule_lr(&s, base, 99), 1e-6 + 99 * 4.99e-6, 1e-15);
    /* t = 100: 5e-5 + 2.25e-4 (1 + cos(0.1 pi)), cos(0.1 pi) = 0.95105651629515357 */
    ck_assert_double_eq_tol(schedule_lr(&s, base, 100), 5e-5 + 2.25e-4 * 1.95105651629515357, 1e-15);
    ck_assert_double_eq_tol(schedule_lr(&s, base, 500), 2.75e-4, 1e-15); /* cos(pi/2) = 0 */
    ck_assert_double_eq_tol(schedule_lr(&s, base, 1000), 5e-5, 1e-15);
    ck_assert_double_eq_tol(schedule_lr(&s, base, 5000), 5e-5, 1e-15);
    /* SSM group: base min(1e-3, 2e-3) = 1e-3, same shape on its own base. */
    double ssm = schedule_ssm_base(2e-3, 1e-3);
    ck_assert_double_eq(ssm, 1e-3);
    ck_assert_double_eq(schedule_ssm_base(5e-4, 1e-3), 5e-4);
    ck_assert_double_eq_tol(schedule_lr(&s, ssm, 500), 1e-4 + 4.5e-4, 1e-15);
    ck_assert_double_eq_tol(schedule_lr(&s, ssm, 0), 1e-6, 1e-15);
    ck_assert_double_eq_tol(schedule_lr(&s, ssm, 50), 1e-6 + 50 * (1e-3 - 1e-6) / 100, 1e-15);
}
END_TEST

START_TEST(test_linear_schedule) {
    /* HF linear, W = 10, T = 100. */
    struct schedule s = {.kind = SCHED_LINEAR, .warmup_steps = 10, .total_steps = 100};
    ck_assert_double_eq_tol(schedule_lr(&s, 1e-3, 0), 0, 1e-18);
    ck_assert_double_eq_tol(schedule_lr(&s, 1e-3, 5), 5e-4, 1e-15);
    ck_assert_double_eq_tol(schedule_lr(&s, 1e-3, 10), 1e-3, 1e-15);
    ck_assert_double_eq_tol(schedule_lr(&s, 1e-3, 55), 5e-4, 1e-15);
    ck_assert_double_eq_tol(schedule_lr(&s, 1e-3, 99), 1e-3 / 90, 1e-15);
    ck_assert_double_eq_tol(schedule_lr(&s, 1e-3, 100), 0, 1e-18);
    ck_assert_double_eq_tol(schedule_lr(&s, 1e-3, 150), 0, 1e-18);
    ck_assert_double_eq_tol(schedule_lr(&s, 5e-4, 55), 2.5e-4, 1e-15); /* second group, own base */
    struct schedule k = {.kind = SCHED_CONSTANT, .warmup_steps = 10, .total_steps = 100};
    ck_assert_double_eq(schedule_lr(&k, 3e-4, 0), 3e-4);
    ck_assert_int_eq(schedule_kind("cosine"), SCHED_COSINE);
    ck_assert_int_eq(schedule_kind("linear"), SCHED_LINEAR);
    ck_assert_int_eq(schedule_kind("cos"), -1);
}
END_TEST

START_TEST(test_permutation) {
    int n = 100, a[100], b[100], seen[100] = {0};
    train_permutation(7, 3, n, a);
    train_permutation(7, 3, n, b);
    ck_assert_mem_eq(a, b, sizeof a);
    for (int i = 0; i < n; i++) seen[a[i]]++;
    for (int i = 0; i < n; i++) ck_assert_int_eq(seen[i], 1);
    train_permutation(7, 4, n, b);
    ck_assert_int_ne(memcmp(a, b, sizeof a), 0); /* another epoch, another order */
}
END_TEST

/* ---- runs, reports, determinism ---- */

static char *run_report_text(const char *const *sets, int n, struct train_result *keep, struct run_config *cfg) {
    struct run_config c;
    char err[1024];
    ck_assert_msg(load_text(TINY, sets, n, &c, err, sizeof err) == 0, "%s", err);
    struct train_result r;
    ck_assert_int_eq(train_run(&c, &(struct train_opts){.log_every = 0}, &r), 0);
    cJSON *j = report_run(&c, &r);
    cJSON_DeleteItemFromObjectCaseSensitive(j, "timing");
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (keep) *keep = r;
    else train_result_free(&r);
    if (cfg) *cfg = c;
    return text;
}

START_TEST(test_determinism) {
    make_tmpdir();
    char *a = run_report_text(NULL, 0, NULL, NULL);
    char *b = run_report_text(NULL, 0, NULL, NULL);
    ck_assert_str_eq(a, b);
    const char *other[] = {"train.seed=1"};
    char *c = run_report_text(other, 1, NULL, NULL);
    ck_assert_str_ne(a, c); /* the comparison can fail: another seed, another record */
    free(a);
    free(b);
    free(c);
    remove_tmpdir();
}
END_TEST

static const cJSON *need(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(v != NULL, "report lacks '%s'", key);
    return v;
}

START_TEST(test_report_written_atomically) {
    make_tmpdir();
    struct train_result r;
    struct run_config c;
    free(run_report_text(NULL, 0, &r, &c));
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/sub/dir/report.json", tmpdir);
    cJSON *j = report_run(&c, &r);
    ck_assert_msg(report_write(path, j, err, sizeof err) == 0, "%s", err);
    cJSON_Delete(j);
    /* Parseable, with the required fields and consistent values. */
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    cJSON *doc = cJSON_Parse(buf);
    ck_assert_ptr_nonnull(doc);
    const char *keys[] = {"schema_version", "name", "status", "config", "config_hash", "task", "data",
                          "chance_accuracy", "model", "seed", "git_commit", "backend", "gemm", "conv_table", "threads",
                          "train_loss", "test_accuracy", "final_accuracy", "best_accuracy", "best_epoch", "timing"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) need(doc, keys[i]);
    ck_assert_str_eq(need(doc, "status")->valuestring, "ok");
    ck_assert_str_eq(need(doc, "conv_table")->valuestring, conv_table_source());
    ck_assert_int_eq(cJSON_GetArraySize(need(doc, "train_loss")), 2);
    ck_assert_int_eq(cJSON_GetArraySize(need(doc, "test_accuracy")), 2);
    ck_assert_double_eq_tol(need(doc, "chance_accuracy")->valuedouble, 0.25, 1e-12); /* V10: 4 values */
    const cJSON *data = need(doc, "data");
    ck_assert_int_eq(need(data, "n_train")->valueint, 96);
    ck_assert_int_eq(need(data, "n_test")->valueint, 40);
    ck_assert_int_eq((int)strlen(need(data, "train_hash")->valuestring), 16);
    ck_assert_double_gt(need(need(doc, "model"), "parameters")->valuedouble, 0);
    /* the final model's answer metrics: their token accuracy is the final accuracy */
    const cJSON *tm = need(doc, "test_metrics");
    ck_assert_double_eq_tol(need(tm, "token_accuracy")->valuedouble, need(doc, "final_accuracy")->valuedouble, 1e-12);
    ck_assert_int_eq(need(tm, "answers")->valueint, 40); /* assoc_recall: one answer per test example */
    ck_assert(cJSON_IsArray(need(tm, "per_position")) && cJSON_IsArray(need(tm, "per_length")));
    ck_assert_int_eq(need(data, "test_seq_len")->valueint, need(data, "seq_len")->valueint);
    need(need(doc, "timing"), "tokens_per_second");
    need(need(doc, "timing"), "ms_per_step");
    cJSON_Delete(doc);
    /* Nothing but the report is left in its directory (no temp file). */
    char dir[256];
    snprintf(dir, sizeof dir, "%s/sub/dir", tmpdir);
    DIR *d = opendir(dir);
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            files++;
            ck_assert_str_eq(e->d_name, "report.json");
        }
    closedir(d);
    ck_assert_int_eq(files, 1);
    unlink(path);
    rmdir(dir);
    snprintf(dir, sizeof dir, "%s/sub", tmpdir);
    rmdir(dir);
    /* An unwritable target fails with a message, not a crash. */
    j = cJSON_CreateObject();
    ck_assert_int_eq(report_write("/proc/no/such/report.json", j, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "cannot"), "%s", err);
    cJSON_Delete(j);
    train_result_free(&r);
    remove_tmpdir();
}
END_TEST

START_TEST(test_checkpoint_roundtrip) {
    make_tmpdir();
    struct train_result r;
    struct run_config c;
    free(run_report_text(NULL, 0, &r, &c));
    char path[256], err[1024];
    snprintf(path, sizeof path, "%s/ckpt.safetensors", tmpdir);
    ck_assert_msg(checkpoint_save(path, &c, r.model, err, sizeof err) == 0, "%s", err);
    struct run_config c2;
    struct model *m = checkpoint_load(path, &c2, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    ck_assert_uint_eq(config_hash(&c), config_hash(&c2));
    const struct param_table *pt = model_params(m);
    ck_assert_uint_eq(pt->total, model_params(r.model)->total);
    const real *p1 = model_param_data(r.model), *p2 = model_param_data(m);
    for (size_t i = 0; i < pt->total; i++)
        ck_assert_msg((float)p1[i] == (float)p2[i], "param %zu: %g vs %g", i, (double)p1[i], (double)p2[i]);
    /* Same logits from the reloaded model. */
    int32_t tok[8] = {1, 5, 2, 6, 3, 7, 9, 1};
    struct model_batch b = {.B = 1, .L = 8, .tokens = tok};
    model_forward(r.model, ops_cpu(), &b);
    int V = model_config(m)->vocab;
    real *l1 = malloc(8 * V * sizeof *l1);
    memcpy(l1, model_tap(r.model, TAP_LOGITS, 0), 8 * V * sizeof *l1);
    model_forward(m, ops_cpu(), &b);
    const real *l2 = model_tap(m, TAP_LOGITS, 0);
    for (int i = 0; i < 8 * V; i++) ck_assert_msg(l1[i] == l2[i], "logit %d differs", i);
    free(l1);
    model_free(m);
    train_result_free(&r);
    unlink(path);
    remove_tmpdir();
}
END_TEST

/* --init: weights by name, plain or "param/"-prefixed; extras ignored; a
 * missing tensor is named; the report records the file. */
START_TEST(test_init_weights) {
    make_tmpdir();
    struct train_result r;
    struct run_config c;
    free(run_report_text(NULL, 0, &r, &c));
    const struct param_table *pt = model_params(r.model);
    /* The trained weights under "param/" names, plus an unrelated tensor. */
    struct st_out *t = calloc((size_t)pt->n + 1, sizeof *t);
    char (*names)[PARAM_NAME + 8] = calloc((size_t)pt->n, sizeof *names);
    static const int64_t one = 1;
    static const float extra = 7;
    for (int i = 0; i < pt->n; i++) {
        snprintf(names[i], sizeof names[i], "param/%s", pt->v[i].name);
        t[i] = (struct st_out){names[i], sizeof(real) == 4 ? ST_F32 : ST_F64, pt->v[i].ndim, pt->v[i].shape,
                               model_param_data(r.model) + pt->v[i].offset};
    }
    t[pt->n] = (struct st_out){"grad/unrelated", ST_F32, 1, &one, &extra};
    char path[256], err[1024];
    snprintf(path, sizeof path, "%s/init.safetensors", tmpdir);
    ck_assert_msg(st_write(path, t, pt->n + 1, NULL, err, sizeof err) == 0, "%s", err);
    struct model *m = train_model_create(&c, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    model_init(m, 99);
    ck_assert_msg(checkpoint_load_params(path, m, err, sizeof err) == 0, "%s", err);
    for (size_t i = 0; i < pt->total; i++)
        ck_assert_msg(model_param_data(m)[i] == model_param_data(r.model)[i], "param %zu not loaded", i);
    /* A file missing one tensor is refused by name. */
    ck_assert_msg(st_write(path, t + 1, pt->n, NULL, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(checkpoint_load_params(path, m, err, sizeof err), -1);
    ck_assert_msg(strstr(err, pt->v[0].name) != NULL, "error '%s' does not name '%s'", err, pt->v[0].name);
    /* A run started from a weights file says so in its report. */
    ck_assert_msg(st_write(path, t, pt->n, NULL, err, sizeof err) == 0, "%s", err);
    struct train_result r2;
    ck_assert_int_eq(train_run(&c, &(struct train_opts){.log_every = 0, .init = path}, &r2), 0);
    cJSON *j = report_run(&c, &r2);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "init_weights")), path);
    cJSON_Delete(j);
    train_result_free(&r2);
    model_free(m);
    free(t), free(names);
    train_result_free(&r);
    unlink(path);
    remove_tmpdir();
}
END_TEST

int main(void) {
    Suite *s = suite_create("harness");
    TCase *cfg = tcase_create("config");
    tcase_add_test(cfg, test_fnv1a_vectors);
    tcase_add_test(cfg, test_unknown_keys_listed);
    tcase_add_test(cfg, test_types_and_ranges);
    tcase_add_test(cfg, test_overrides_and_defaults);
    tcase_add_test(cfg, test_canonical_hash);
    suite_add_tcase(s, cfg);
    TCase *sch = tcase_create("schedule");
    tcase_add_test(sch, test_cosine_schedule);
    tcase_add_test(sch, test_linear_schedule);
    tcase_add_test(sch, test_permutation);
    suite_add_tcase(s, sch);
    TCase *run = tcase_create("run");
    tcase_set_timeout(run, 60);
    tcase_add_test(run, test_determinism);
    tcase_add_test(run, test_report_written_atomically);
    tcase_add_test(run, test_checkpoint_roundtrip);
    tcase_add_test(run, test_init_weights);
    suite_add_tcase(s, run);
    return tu_run_suite(s);
}
