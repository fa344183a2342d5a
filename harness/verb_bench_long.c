/* verb_bench_long.c — `hippodrome bench-long`: training steps at long sequence
 * lengths, time and peak memory per (config, L), so a researcher sees how each
 * layer scales (H3: linear memory, L log L time; attention: quadratic both).
 *
 * Each (config, L) runs in a child process under an address-space limit, so a
 * length that does not fit is reported as out of memory instead of taking the
 * machine down, and the peak resident set is that child's alone (wait4). The
 * child writes its timing to a pipe; the parent collects, prints and writes JSON. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/base.h"
#include "bench_util.h"
#include "cli.h"
#include "config.h"
#include "paths.h"
#include "report.h"
#include "train.h"

#define LONG_MAX_CONFIGS 16
#define LONG_MAX_LENGTHS 32

struct long_opts {
    int lengths[LONG_MAX_LENGTHS], n_lengths;
    int batch, steps, threads;
    double mem_limit_gb;
    double max_step_s; /* skip a length whose step is projected (quadratically) past this */
    int max_step_i;
};

struct long_row {
    char name[CONFIG_NAME], layer[48];
    int L;
    char status[24];     /* "ok", "out of memory", "failed", "over time budget" */
    double projected_s;  /* over time budget: the projected seconds per step */
    double ms_per_step;  /* median of the timed steps */
    double peak_mb;      /* the child's peak resident set */
};

/* What the child sends back through the pipe. */
struct long_msg {
    double ms_per_step;
    int ok;
};

/* What a child measures. */
struct long_point {
    const char *path;
    int L;
    const struct long_opts *o;
};

/* Child: build the trainer at length L, one untimed step, then `steps` timed. */
static void child_run(void *arg, int fd) {
    const struct long_point *pt = arg;
    const char *path = pt->path;
    int L = pt->L;
    const struct long_opts *o = pt->o;
    char sets[5][64], err[1024];
    snprintf(sets[0], sizeof sets[0], "task.seq_len=%d", L);
    snprintf(sets[1], sizeof sets[1], "task.num_train=%d", o->batch);
    snprintf(sets[2], sizeof sets[2], "task.num_test=1");
    snprintf(sets[3], sizeof sets[3], "train.batch_size=%d", o->batch);
    snprintf(sets[4], sizeof sets[4], "train.threads=%d", o->threads);
    const char *sp[5] = {sets[0], sets[1], sets[2], sets[3], sets[4]};
    struct long_msg m = {0, 0};
    struct run_config c;
    struct train_result r;
    if (config_load(path, sp, 5, &c, err, sizeof err) != 0) {
        fprintf(stderr, "bench-long: %s\n", err);
        _exit(2);
    }
    struct trainer *t = trainer_create(&c, &r);
    if (!t) {
        fprintf(stderr, "bench-long: %s at L=%d: %s\n", c.name, L, r.message);
        _exit(1);
    }
    double ms[64];
    for (int s = 0; s <= o->steps; s++) {
        double t0 = hp_now();
        trainer_step(t, &r, 0, 0, s);
        if (s > 0) ms[s - 1] = 1e3 * (hp_now() - t0);
    }
    m.ms_per_step = bench_median(ms, o->steps), m.ok = r.status == RUN_OK;
    if (write(fd, &m, sizeof m) != (ssize_t)sizeof m) _exit(1);
    _exit(0);
}

/* Run one (config, L) in a child under the memory limit (bench_util.h); fills row. */
static void run_point(const char *path, const struct run_config *base, int L, const struct long_opts *o,
                      struct long_row *row) {
    struct long_msg m = {0, 0};
    struct bench_child ch;
    struct long_point pt = {path, L, o};
    bench_in_child(child_run, &pt, o->mem_limit_gb * 1024, &m, sizeof m, &ch);
    snprintf(row->name, sizeof row->name, "%s", base->name);
    snprintf(row->layer, sizeof row->layer, "%s", base->layer->name);
    row->L = L, row->peak_mb = ch.peak_mb, row->ms_per_step = 0;
    bool ok = ch.ran && m.ok;
    if (ok) row->ms_per_step = m.ms_per_step;
    snprintf(row->status, sizeof row->status, "%s", ok ? "ok" : ch.oom ? "out of memory" : "failed");
    if (!ok && !ch.oom) fprintf(stderr, "bench-long: %s at L=%d failed:\n%s", base->name, L, ch.text);
}

static cJSON *rows_json(const struct long_row *rows, int n, const struct long_opts *o) {
    cJSON *root = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(root, "rows");
    cJSON_AddNumberToObject(root, "schema_version", 1);
    cJSON_AddNumberToObject(root, "batch_size", o->batch);
    cJSON_AddNumberToObject(root, "threads", o->threads);
    cJSON_AddNumberToObject(root, "timed_steps", o->steps);
    cJSON_AddNumberToObject(root, "memory_limit_gb", o->mem_limit_gb);
    for (int i = 0; i < n; i++) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "config", rows[i].name);
        cJSON_AddStringToObject(r, "layer", rows[i].layer);
        cJSON_AddNumberToObject(r, "seq_len", rows[i].L);
        cJSON_AddStringToObject(r, "status", rows[i].status);
        if (!strcmp(rows[i].status, "ok")) {
            cJSON_AddNumberToObject(r, "ms_per_step", rows[i].ms_per_step);
            cJSON_AddNumberToObject(r, "tokens_per_second", o->batch * (double)rows[i].L / (rows[i].ms_per_step * 1e-3));
        }
        if (rows[i].projected_s > 0) cJSON_AddNumberToObject(r, "projected_s_per_step", rows[i].projected_s);
        cJSON_AddNumberToObject(r, "peak_rss_mb", rows[i].peak_mb);
        cJSON_AddItemToArray(a, r);
    }
    return root;
}

static void print_row(const struct long_row *r, const struct long_opts *o) {
    if (strcmp(r->status, "ok") == 0)
        printf("%-12s %9d %12.1f %14.0f %12.0f  ok\n", r->layer, r->L, r->ms_per_step,
               o->batch * (double)r->L / (r->ms_per_step * 1e-3), r->peak_mb);
    else if (r->projected_s > 0)
        printf("%-12s %9d %12s %14s %12s  %s (projected %.0f s per step)\n", r->layer, r->L, "-", "-", "-", r->status,
               r->projected_s);
    else printf("%-12s %9d %12s %14s %12.0f  %s\n", r->layer, r->L, "-", "-", r->peak_mb, r->status);
    fflush(stdout);
}

static int read_opts(const struct args *a, struct long_opts *o, char *err, size_t errlen) {
    const char *lens = args_get(a, "--lengths") ? args_get(a, "--lengths")
                                                : "1024,2048,4096,8192,16384,32768,65536,131072";
    int gb;
    o->n_lengths = bench_parse_ints("--lengths", lens, o->lengths, LONG_MAX_LENGTHS, 2, 1L << 24, err, errlen);
    if (o->n_lengths < 0 || args_int(a, "--batch", 1, 1, 1024, &o->batch, err, errlen) ||
        args_int(a, "--steps", 2, 1, 64, &o->steps, err, errlen) ||
        args_int(a, "--threads", 1, 1, 256, &o->threads, err, errlen) ||
        args_int(a, "--mem-limit-gb", 16, 1, 1 << 16, &gb, err, errlen) ||
        args_int(a, "--max-step-s", 30, 1, 1 << 20, &o->max_step_i, err, errlen))
        return -1;
    o->mem_limit_gb = gb, o->max_step_s = o->max_step_i;
    return 0;
}

static int run_bench_long(const struct args *a) {
    struct long_opts o;
    char err[1024], dir[4096];
    if (read_opts(a, &o, err, sizeof err)) return cli_usage_error("bench-long", "%s", err);
    if (args_get(a, "--configs")) snprintf(dir, sizeof dir, "%s", args_get(a, "--configs"));
    else if (repo_path("configs/long", dir, sizeof dir) != 0)
        return cli_usage_error("bench-long", "configs/long not found; pass --configs DIR");
    char *paths[LONG_MAX_CONFIGS];
    int n = cli_list_configs(dir, paths, LONG_MAX_CONFIGS), n_rows = 0, status = 0;
    if (n <= 0) return cli_usage_error("bench-long", "no *.json configs in '%s'", dir);
    struct long_row *rows = xcalloc((size_t)n * o.n_lengths, sizeof *rows);
    printf("%-12s %9s %12s %14s %12s  status (batch %d, %d thread(s), limit %.0f GB)\n", "layer", "seq_len",
           "ms/step", "tokens/s", "peak MB", o.batch, o.threads, o.mem_limit_gb);
    for (int i = 0; i < n && status == 0; i++) {
        struct run_config c;
        if (config_load(paths[i], NULL, 0, &c, err, sizeof err) != 0) {
            status = cli_usage_error("bench-long", "%s", err);
            break;
        }
        bool oom = false;  /* a longer L will not fit either */
        double last_ms = 0; /* the last ok length's step, projected quadratically to the next */
        int last_L = 0;
        for (int k = 0; k < o.n_lengths; k++) {
            struct long_row *r = &rows[n_rows++];
            double ratio = last_L ? (double)o.lengths[k] / last_L : 0, proj = last_ms * 1e-3 * ratio * ratio;
            if (oom || proj > o.max_step_s) {
                *r = (struct long_row){.L = o.lengths[k], .projected_s = oom ? 0 : proj};
                snprintf(r->status, sizeof r->status, "%s", oom ? "out of memory" : "over time budget");
                snprintf(r->layer, sizeof r->layer, "%s", c.layer->name), snprintf(r->name, sizeof r->name, "%s", c.name);
            } else run_point(paths[i], &c, o.lengths[k], &o, r);
            oom = oom || strcmp(r->status, "out of memory") == 0;
            if (!strcmp(r->status, "ok")) last_ms = r->ms_per_step, last_L = r->L;
            else if (r->projected_s > 0) last_ms = proj * 1e3, last_L = r->L; /* longer ones project from here */
            print_row(r, &o);
        }
    }
    const char *out = args_get(a, "--out");
    if (status == 0 && out) {
        cJSON *j = rows_json(rows, n_rows, &o);
        if (report_write(out, j, err, sizeof err) != 0) fprintf(stderr, "hippodrome bench-long: %s\n", err), status = 1;
        cJSON_Delete(j);
    }
    for (int i = 0; i < n; i++) free(paths[i]);
    free(rows);
    return status;
}

static const struct flag_spec long_flags[] = {
    {"--configs", "DIR", false, "configs to time (default configs/long: H3 and attention on long recall)"},
    {"--lengths", "L,L,...", false, "sequence lengths (default 1024,2048,...,131072)"},
    {"--batch", "N", false, "batch size (default 1)"},
    {"--steps", "N", false, "timed steps after one untimed step (default 2)"},
    {"--threads", "N", false, "threads per run (default 1)"},
    {"--mem-limit-gb", "G", false, "address-space limit of each run; beyond it a length is 'out of memory' (default 16)"},
    {"--max-step-s", "S", false,
     "skip a length whose step, projected quadratically from the last one, would pass S seconds (default 30)"},
    {"--out", "FILE", false, "write the rows as JSON"},
};

const struct verb verb_bench_long = {
    .name = "bench-long",
    .usage = "[--configs DIR] [--lengths L,L,...] [--batch N] [--steps N] [--threads N] [--mem-limit-gb G] [--max-step-s S] [--out FILE]",
    .summary = "training steps at long lengths: ms per step and peak memory per layer (each in its own process)",
    .flags = long_flags,
    .n_flags = sizeof long_flags / sizeof long_flags[0],
    .min_pos = 0,
    .max_pos = 0,
    .run = run_bench_long,
};
