/* verb_bench.c — `hippodrome bench-train`: ms per training step (forward,
 * loss, backward, AdamW) of each paper config at 1 and 2 threads.
 * Warm-up steps are excluded; median and min over the timed steps. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"
#include "cli.h"
#include "config.h"
#include "paths.h"
#include "report.h"
#include "train.h"

#define BENCH_MAX_CONFIGS 64
static const int bench_threads[] = {1, 2};

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Time `steps` steps after `warmup` untimed ones; fills the row. 0 or -1. */
static int bench_one(const struct run_config *c, int warmup, int steps, struct bench_row *row) {
    struct train_result r;
    struct trainer *t = trainer_create(c, &r);
    if (!t) {
        fprintf(stderr, "hippodrome bench-train: %s: %s\n", c->name, r.message);
        train_result_free(&r);
        return -1;
    }
    int spe = trainer_steps_per_epoch(t);
    double *ms = xmalloc((size_t)steps * sizeof *ms);
    for (int s = 0; s < warmup + steps; s++) {
        double t0 = hp_now();
        trainer_step(t, &r, s / spe, s % spe, s);
        if (s >= warmup) ms[s - warmup] = 1e3 * (hp_now() - t0);
    }
    qsort(ms, (size_t)steps, sizeof *ms, cmp_double);
    *row = (struct bench_row){.threads = cfg_train_int(c, "threads"), .B = cfg_train_int(c, "batch_size"),
                              .L = r.L, .steps = steps, .warmup = warmup, .ms_min = ms[0]};
    row->ms_median = steps % 2 ? ms[steps / 2] : 0.5 * (ms[steps / 2 - 1] + ms[steps / 2]);
    row->tokens_per_second = (double)row->B * row->L / (row->ms_median * 1e-3);
    snprintf(row->name, sizeof row->name, "%s", c->name);
    snprintf(row->task, sizeof row->task, "%s", c->task->name);
    snprintf(row->layer, sizeof row->layer, "%s", c->layer->name);
    free(ms);
    trainer_free(t);
    train_result_free(&r);
    return 0;
}

static int bench_configs(char **paths, int n, int warmup, int steps, struct bench_row *rows, int *n_rows) {
    int nt = (int)(sizeof bench_threads / sizeof bench_threads[0]);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < nt; k++) {
            char set[32], err[1024];
            snprintf(set, sizeof set, "train.threads=%d", bench_threads[k]);
            const char *sets[] = {set};
            struct run_config c;
            if (config_load(paths[i], sets, 1, &c, err, sizeof err) != 0)
                return cli_usage_error("bench-train", "%s", err);
            if (bench_one(&c, warmup, steps, &rows[*n_rows]) != 0) return EXIT_RUN_FAILED;
            fprintf(stderr, "  %-28s threads %d  median %.2f ms\n", c.name, bench_threads[k],
                    rows[*n_rows].ms_median);
            (*n_rows)++;
        }
    return 0;
}

static int finish(const struct args *a, const struct bench_row *rows, int n) {
    report_bench_table(stdout, rows, n);
    const char *out = args_get(a, "--out");
    if (!out) return 0;
    char err[512];
    cJSON *j = report_bench(rows, n, ops_cpu()->gemm_name);
    int rc = report_write(out, j, err, sizeof err);
    cJSON_Delete(j);
    if (rc) fprintf(stderr, "hippodrome bench-train: %s\n", err);
    else fprintf(stderr, "bench: %s\n", out);
    return rc ? EXIT_RUN_FAILED : 0;
}

static int run_bench(const struct args *a) {
    int steps, warmup;
    char err[512], dir[4096];
    if (args_int(a, "--steps", 30, 1, 100000, &steps, err, sizeof err) ||
        args_int(a, "--warmup", 5, 0, 100000, &warmup, err, sizeof err))
        return cli_usage_error("bench-train", "%s", err);
    const char *want = args_get(a, "--configs");
    if (want) snprintf(dir, sizeof dir, "%s", want);
    else if (repo_path("configs/paper", dir, sizeof dir) != 0)
        return cli_usage_error("bench-train", "configs/paper not found; pass --configs DIR");
    char *paths[BENCH_MAX_CONFIGS];
    int n = cli_list_configs(dir, paths, BENCH_MAX_CONFIGS);
    if (n <= 0) return cli_usage_error("bench-train", "no *.json configs in '%s'", dir);
    struct bench_row *rows = xcalloc((size_t)n * 2, sizeof *rows);
    int n_rows = 0;
    int status = bench_configs(paths, n, warmup, steps, rows, &n_rows);
    if (status == 0) status = finish(a, rows, n_rows);
    for (int i = 0; i < n; i++) free(paths[i]);
    free(rows);
    return status;
}

static const struct flag_spec bench_flags[] = {
    {"--out", "FILE", false, "write the rows as JSON (make bench-train: results/bench/train.json)"},
    {"--steps", "N", false, "timed steps per config and thread count (default 30)"},
    {"--warmup", "N", false, "untimed steps first (default 5)"},
    {"--configs", "DIR", false, "configs to time (default configs/paper)"},
};

const struct verb verb_bench_train = {
    .name = "bench-train",
    .usage = "[--out FILE] [--steps N] [--warmup N] [--configs DIR]",
    .summary = "ms per training step and tokens/s of each paper config, 1 and 2 threads",
    .flags = bench_flags,
    .n_flags = sizeof bench_flags / sizeof bench_flags[0],
    .min_pos = 0,
    .max_pos = 0,
    .run = run_bench,
};
