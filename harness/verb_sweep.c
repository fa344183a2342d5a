/* verb_sweep.c — `hippodrome sweep FILE`: expand a sweep (sweep.h) into one
 * config per run and a makefile fragment (and a Slurm array script) that
 * trains them; --list shows which runs are done. Nothing is trained here. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/base.h"
#include "cli.h"
#include "report.h"
#include "sweep.h"

/* This binary as the generated files should call it: relative to the working
 * directory when it lies below it (build/hippodrome), else absolute. */
static void bin_path(char *out, size_t len) {
    char exe[PATH_MAX], cwd[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(out, len, "build/hippodrome");
        return;
    }
    exe[n] = '\0';
    size_t c = getcwd(cwd, sizeof cwd) ? strlen(cwd) : 0;
    bool below = c > 0 && strncmp(exe, cwd, c) == 0 && exe[c] == '/';
    snprintf(out, len, "%s", below ? exe + c + 1 : exe);
}

/* Output directories end up in make targets: keep them to plain characters. */
static int check_dir(const char *dir) {
    for (const char *p = dir; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("_./-", *p))
            return cli_usage_error("sweep", "--out '%s': use only [A-Za-z0-9_./-] (the path goes into make targets)",
                                   dir);
    return *dir ? 0 : cli_usage_error("sweep", "--out must not be empty");
}

/* Write text unless the file already holds exactly it, so make's timestamps
 * keep meaning "this run's config changed". 1 written, 0 unchanged, -1 error. */
static int write_if_changed(const char *path, const char *text) {
    char err[512];
    char *old = access(path, F_OK) == 0 ? report_read_text(path, err, sizeof err) : NULL;
    bool same = old && strcmp(old, text) == 0;
    free(old);
    if (same) return 0;
    if (report_write_text(path, text, err, sizeof err) != 0) {
        fprintf(stderr, "hippodrome sweep: %s\n", err);
        return -1;
    }
    return 1;
}

static int write_configs(const struct sweep *s, const struct sweep_out *o, int *changed) {
    *changed = 0;
    for (int i = 0; i < s->n_runs; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/configs/%s.json", o->dir, s->runs[i].name);
        char *text = sweep_run_text(s, i);
        int rc = write_if_changed(path, text);
        free(text);
        if (rc < 0) return -1;
        *changed += rc;
    }
    return 0;
}

static int write_generated(const char *path, char *text) {
    int rc = write_if_changed(path, text);
    free(text);
    return rc < 0 ? -1 : 0;
}

/* runs.mk is written every time: its time tells make the expansion is current. */
static int write_makefile(const struct sweep *s, const struct sweep_out *o, const char *path) {
    char err[512];
    char *text = sweep_makefile(s, o);
    int rc = report_write_text(path, text, err, sizeof err);
    if (rc) fprintf(stderr, "hippodrome sweep: %s\n", err);
    free(text);
    return rc;
}

static int write_slurm(const struct sweep *s, const struct sweep_out *o) {
    char path[4096];
    snprintf(path, sizeof path, "%s/slurm", o->dir);
    /* sbatch opens --output files there before the script runs. */
    if (mkdir(path, 0777) != 0 && access(path, W_OK) != 0) {
        perror(path);
        return -1;
    }
    snprintf(path, sizeof path, "%s/sweep.sbatch", o->dir);
    if (write_generated(path, sweep_sbatch(s, o))) return -1;
    if (chmod(path, 0755) != 0) perror(path);
    printf("or on Slurm: sbatch %s\n", path);
    return 0;
}

static bool run_done(const struct sweep *s, const struct sweep_out *o, int i, bool *exists) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.json", o->dir, s->runs[i].name);
    *exists = access(path, F_OK) == 0;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(s->runs[i].doc, "sweep");
    return *exists && report_done(path, s->runs[i].hash, meta);
}

static int count_done(const struct sweep *s, const struct sweep_out *o) {
    int done = 0;
    bool exists;
    for (int i = 0; i < s->n_runs; i++) done += run_done(s, o, i, &exists);
    return done;
}

/* --list: one line per run; "stale" = a report from another config or unfinished. */
static void list_runs(const struct sweep *s, const struct sweep_out *o) {
    printf("sweep %s: %d runs, %d done (%s)\n", s->name, s->n_runs, count_done(s, o), o->dir);
    printf("%-5s  %-*s  %-16s  %s\n", "#", (int)strlen(s->name) + 40, "run", "config hash", "report");
    for (int i = 0; i < s->n_runs; i++) {
        char hex[17], full[SWEEP_NAME + CONFIG_NAME + 2];
        bool exists;
        bool done = run_done(s, o, i, &exists);
        report_hex64((unsigned long long)s->runs[i].hash, hex);
        snprintf(full, sizeof full, "%s/%s", s->name, s->runs[i].name);
        printf("%-5d  %-*s  %-16s  %s\n", i + 1, (int)strlen(s->name) + 40, full, hex,
               done ? "done" : exists ? "stale" : "-");
    }
}

static int write_all(const struct sweep *s, const struct sweep_out *o) {
    int changed;
    char path[4096];
    snprintf(path, sizeof path, "%s/runs.mk", o->dir);
    if (write_configs(s, o, &changed) || write_makefile(s, o, path)) return EXIT_RUN_FAILED;
    printf("sweep %s: %d runs, %d done; %d run configs written or changed in %s/configs\n", s->name, s->n_runs,
           count_done(s, o), changed, o->dir);
    printf("run them: make -f %s -j 2\n", path);
    if (o->slurm && write_slurm(s, o)) return EXIT_RUN_FAILED;
    return 0;
}

static int run_sweep(const struct args *a) {
    struct sweep s;
    char err[4096];
    if (sweep_load(a->pos[0], &s, err, sizeof err) != 0) return cli_usage_error("sweep", "%s", err);
    char dir[1024], bin[PATH_MAX];
    if (args_has(a, "--out")) snprintf(dir, sizeof dir, "%s", args_get(a, "--out"));
    else snprintf(dir, sizeof dir, "results/%s", s.name);
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') dir[--n] = '\0';
    bin_path(bin, sizeof bin);
    struct sweep_out o = {.dir = dir, .bin = bin, .file = a->pos[0], .slurm = args_has(a, "--slurm")};
    int status = check_dir(dir);
    if (status == 0 && args_has(a, "--list")) list_runs(&s, &o);
    else if (status == 0) status = write_all(&s, &o);
    sweep_free(&s);
    return status;
}

static const struct flag_spec sweep_flags[] = {
    {"--out", "DIR", false, "where configs, runs.mk and the reports go (default results/<sweep name>)"},
    {"--list", NULL, false, "print the runs (name, config hash, done or not) and write nothing"},
    {"--slurm", NULL, false, "also write DIR/sweep.sbatch, a Slurm job array over the same runs"},
};

const struct verb verb_sweep = {
    .name = "sweep",
    .usage = "FILE.json [--out DIR] [--list] [--slurm]",
    .summary = "expand a sweep file into run configs and DIR/runs.mk (make -f DIR/runs.mk -j N trains them)",
    .flags = sweep_flags,
    .n_flags = sizeof sweep_flags / sizeof sweep_flags[0],
    .min_pos = 1,
    .max_pos = 1,
    .run = run_sweep,
};
