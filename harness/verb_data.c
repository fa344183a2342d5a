/* verb_data.c — `hippodrome data TASK --out FILE.safetensors`: a task's train
 * and test splits exactly as training sees them, for other tools (e.g. a
 * PyTorch run on the same data: tools/train_ref.py). Tensors (int32, (n, L)):
 * train/x, train/y, train/loss_mask, train/answer_mask and the same for test;
 * __metadata__ holds the task, its resolved keys and the content hashes. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"
#include "../core/safetensors.h"
#include "../tasks/task.h"
#include "cli.h"

static int32_t *widen(const uint8_t *m, size_t n) {
    int32_t *v = xmalloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = m[i];
    return v;
}

static char *metadata(const struct task_kind *k, const struct knob_values *kv, const struct task_split *s) {
    cJSON *m = cJSON_CreateObject(), *keys = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "task", k->name);
    for (int i = 0; i < kv->n; i++) cJSON_AddStringToObject(keys, kv->knobs[i].name, kv->str[i]);
    char *kj = cJSON_PrintUnformatted(keys);
    cJSON_AddStringToObject(m, "keys", kj);
    free(kj);
    cJSON_Delete(keys);
    char h[32];
    snprintf(h, sizeof h, "%016" PRIx64, s[0].hash), cJSON_AddStringToObject(m, "train_hash", h);
    snprintf(h, sizeof h, "%016" PRIx64, s[1].hash), cJSON_AddStringToObject(m, "test_hash", h);
    char *out = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    return out;
}

static int write_splits(const char *path, const struct task_kind *k, const struct knob_values *kv,
                        const struct task_split *s) {
    static const char *names[2][4] = {{"train/x", "train/y", "train/loss_mask", "train/answer_mask"},
                                      {"test/x", "test/y", "test/loss_mask", "test/answer_mask"}};
    struct st_out t[8];
    int64_t shape[2][2] = {{s[0].n, s[0].L}, {s[1].n, s[1].L}};
    int32_t *masks[4];
    for (int i = 0; i < 2; i++) {
        size_t n = (size_t)s[i].n * s[i].L;
        masks[2 * i] = widen(s[i].loss_mask, n), masks[2 * i + 1] = widen(s[i].answer_mask, n);
        const void *data[4] = {s[i].x, s[i].y, masks[2 * i], masks[2 * i + 1]};
        for (int j = 0; j < 4; j++) t[4 * i + j] = (struct st_out){names[i][j], ST_I32, 2, shape[i], data[j]};
    }
    char *meta = metadata(k, kv, s), err[512];
    int rc = st_write(path, t, 8, meta, err, sizeof err);
    if (rc) fprintf(stderr, "hippodrome data: %s\n", err);
    free(meta);
    for (int i = 0; i < 4; i++) free(masks[i]);
    return rc ? EXIT_RUN_FAILED : 0;
}

static int run_data(const struct args *a) {
    const struct task_kind *k;
    struct knob_values kv;
    int rc = cli_task_arg(a, "data", &k, &kv);
    if (rc) return rc;
    const char *out = args_get(a, "--out");
    if (!out) return cli_usage_error("data", "--out FILE is required");
    struct task_split s[2];
    char err[512];
    for (int i = 0; i < 2; i++)
        if (task_generate(k, &kv, i == 0 ? SPLIT_TRAIN : SPLIT_TEST, &s[i], err, sizeof err))
            return cli_usage_error("data", "task '%s': %s", k->name, err);
    rc = write_splits(out, k, &kv, s);
    if (!rc) fprintf(stderr, "data: %s (train %d, test %d examples of %d tokens)\n", out, s[0].n, s[1].n, s[0].L);
    task_split_free(&s[0]), task_split_free(&s[1]);
    return rc;
}

static const struct flag_spec data_flags[] = {
    {"--out", "FILE", false, "safetensors file to write"},
    {"--set", "KEY=VALUE", true, "task key, e.g. seq_len=40 (or task.seq_len=40)"},
};

const struct verb verb_data = {
    .name = "data",
    .usage = "TASK --out FILE.safetensors [--set key=value]...",
    .summary = "write a task's train and test splits (inputs, targets, masks) as safetensors",
    .flags = data_flags,
    .n_flags = sizeof data_flags / sizeof data_flags[0],
    .min_pos = 1,
    .max_pos = 1,
    .run = run_data,
};
