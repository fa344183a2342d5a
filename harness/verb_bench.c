/* verb_bench.c — `hippodrome bench-train`: ms per training step (forward,
 * loss, backward, AdamW) of each paper config at 1 and 2 threads.
 * Warm-up steps are excluded; median, min and best-round median over the
 * timed full-batch steps. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"
#include "bench_util.h"
#include "cli.h"
#include "config.h"
#include "paths.h"
#include "report.h"
#include "train.h"

#define BENCH_MAX_CONFIGS 64
static const int bench_threads[] = {1, 2};

/* The lowest median over consecutive rounds of BENCH_ROUND timed steps (the
 * whole run when shorter): on a shared VM a neighbour slows whole stretches,
 * and this is what a quiet core gives. v is in timing order. */
enum { BENCH_ROUND = 20 };
static double best_round(const double *v, int n) {
    double tmp[BENCH_ROUND], best = 0;
    if (n < BENCH_ROUND) {
        double *all = xmalloc((size_t)n * sizeof *all);
        memcpy(all, v, (size_t)n * sizeof *all);
        best = bench_median(all, n);
        free(all);
        return best;
    }
    for (int r = 0; r + BENCH_ROUND <= n; r += BENCH_ROUND) {
        memcpy(tmp, v + r, sizeof tmp);
        double m = bench_median(tmp, BENCH_ROUND);
        if (r == 0 || m < best) best = m;
    }
    return best;
}

/* Time `steps` steps after `warmup` untimed ones; fills the row. 0 or -1.
 * The last step of each epoch is run but not timed: it may be a partial
 * batch (5000 examples = 156 batches of 32 and one of 8). */
static int bench_one(const struct run_config *c, int warmup, int steps, struct bench_row *row) {
    struct train_result r;
    struct trainer *t = trainer_create(c, &r);
    if (!t) {
        fprintf(stderr, "hippodrome bench-train: %s: %s\n", c->name, r.message);
        train_result_free(&r);
        return -1;
    }
    int spe = trainer_steps_per_epoch(t), timed = 0;
    double *ms = xmalloc((size_t)steps * sizeof *ms);
    for (int s = 0; timed < steps; s++) {
        double t0 = hp_now();
        trainer_step(t, &r, s / spe, s % spe, s);
        if (s >= warmup && (spe == 1 || s % spe != spe - 1)) ms[timed++] = 1e3 * (hp_now() - t0);
    }
    *row = (struct bench_row){.threads = cfg_train_int(c, "threads"), .B = cfg_train_int(c, "batch_size"),
                              .L = r.L, .steps = steps, .warmup = warmup};
    row->ms_best_round = best_round(ms, steps);
    row->ms_median = bench_median(ms, steps);
    row->ms_min = ms[0];
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
            fprintf(stderr, "  %-28s threads %d  median %.2f ms  best round %.2f ms\n", c.name,
                    bench_threads[k], rows[*n_rows].ms_median, rows[*n_rows].ms_best_round);
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
