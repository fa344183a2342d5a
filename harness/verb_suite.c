/* verb_suite.c — `hippodrome suite DIR --out OUTDIR`: every config in DIR
 * (sorted by file name), one report each, a summary with the paper's numbers. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../core/base.h"
#include "cli.h"
#include "config.h"
#include "paper.h"
#include "report.h"
#include "train.h"

#define SUITE_MAX 256

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int cli_list_configs(const char *dir, char **paths, int max) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0 || e->d_name[0] == '.') continue;
        paths[n] = xmalloc(strlen(dir) + len + 2);
        sprintf(paths[n++], "%s/%s", dir, e->d_name);
    }
    closedir(d);
    qsort(paths, (size_t)n, sizeof *paths, cmp_str);
    return n;
}

/* Resolve every config before training any, so a typo fails in a second. */
static int resolve_all(char **paths, int n, const struct args *a, struct run_config *cfgs) {
    char err[1024];
    for (int i = 0; i < n; i++) {
        if (config_load(paths[i], a->rep, a->n_rep, &cfgs[i], err, sizeof err) != 0)
            return cli_usage_error("suite", "%s", err);
        for (int j = 0; j < i; j++)
            if (strcmp(cfgs[i].name, cfgs[j].name) == 0)
                return cli_usage_error("suite", "configs %s and %s share the name '%s' (reports would collide)",
                                       paths[j], paths[i], cfgs[i].name);
    }
    return 0;
}

static void fill_cell(struct suite_cell *s, const struct run_config *c, const struct train_result *r,
                      const cJSON *paper) {
    snprintf(s->name, sizeof s->name, "%s", c->name);
    snprintf(s->task, sizeof s->task, "%s", c->task->name);
    snprintf(s->layer, sizeof s->layer, "%s", c->layer->name);
    s->status = r->status;
    s->accuracy = r->epochs_run ? r->final_acc : NAN;
    s->best_accuracy = r->epochs_run ? r->best_acc : NAN;
    s->paper = paper_accuracy(paper, c->task->name, c->layer->name);
    s->chance = r->chance;
    s->seconds = r->wall_seconds;
    s->epochs_run = r->epochs_run;
}

/* "k/n", the progress tag of run i. */
static const char *run_tag(char *buf, size_t len, int i, int n) {
    snprintf(buf, len, "%d/%d", i + 1, n);
    return buf;
}

static int run_all(const struct run_config *cfgs, int n, const char *outdir, const struct train_opts *o,
                   struct suite_cell *cells, const cJSON *paper) {
    int status = 0;
    for (int i = 0; i < n; i++) {
        char out[4096], tag[32];
        snprintf(out, sizeof out, "%s/%s.json", outdir, cfgs[i].name);
        struct train_opts oi = *o;
        oi.tag = run_tag(tag, sizeof tag, i, n);
        struct train_result r;
        if (cli_run_config(&cfgs[i], &oi, &(struct run_output){.out = out}, &r) != 0) status = EXIT_RUN_FAILED;
        fill_cell(&cells[i], &cfgs[i], &r, paper);
        train_result_free(&r);
    }
    return status;
}

/* A cell from a run's report file, for runs done in a child process. */
static void cell_from_report(struct suite_cell *s, const struct run_config *c, const char *path, int exit_code,
                             const cJSON *paper) {
    struct train_result r;
    memset(&r, 0, sizeof r);
    r.status = RUN_FAILED;
    FILE *fp = fopen(path, "rb");
    char *text = NULL;
    if (fp && exit_code == 0) {
        fseek(fp, 0, SEEK_END);
        long n = ftell(fp);
        fseek(fp, 0, SEEK_SET);
        text = xmalloc((size_t)(n > 0 ? n : 0) + 1);
        text[fread(text, 1, (size_t)(n > 0 ? n : 0), fp)] = '\0';
    }
    if (fp) fclose(fp);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
    if (cJSON_IsString(st)) r.status = !strcmp(st->valuestring, "ok") ? RUN_OK
                                       : !strcmp(st->valuestring, "diverged") ? RUN_DIVERGED : RUN_FAILED;
#define NUM(obj, key) cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(obj, key))
    r.epochs_run = j ? (int)NUM(j, "epochs_run") : 0;
    r.final_acc = j ? NUM(j, "final_accuracy") : NAN;
    r.best_acc = j ? NUM(j, "best_accuracy") : NAN;
    r.chance = j ? NUM(j, "chance_accuracy") : NAN;
    r.wall_seconds = j ? NUM(cJSON_GetObjectItemCaseSensitive(j, "timing"), "wall_seconds") : NAN;
#undef NUM
    fill_cell(s, c, &r, paper);
    cJSON_Delete(j);
    free(text);
}

/* Up to `jobs` runs at once, each in its own process (one OpenMP team each;
 * the parent never starts one, so forking is safe). Cells are read back from
 * the reports the children write. */
static int run_parallel(const struct run_config *cfgs, int n, int jobs, const char *outdir,
                        const struct train_opts *o, struct suite_cell *cells, const cJSON *paper) {
    pid_t *pid = xcalloc((size_t)n, sizeof *pid);
    int *code = xcalloc((size_t)n, sizeof *code);
    int next = 0, live = 0, status = 0;
    char out[4096];
    while (next < n || live > 0) {
        if (next < n && live < jobs) {
            snprintf(out, sizeof out, "%s/%s.json", outdir, cfgs[next].name);
            fflush(NULL);
            pid_t p = fork();
            if (p < 0) hp_die("fork failed");
            if (p == 0) {
                /* Live lines of parallel runs share the terminal's last line, each redraw whole. */
                char tag[32];
                struct train_opts oi = *o;
                oi.tag = run_tag(tag, sizeof tag, next, n);
                struct train_result r;
                int rc = cli_run_config(&cfgs[next], &oi, &(struct run_output){.out = out}, &r);
                train_result_free(&r);
                fflush(NULL);
                _exit(rc ? EXIT_RUN_FAILED : 0);
            }
            pid[next++] = p, live++;
            continue;
        }
        int ws;
        pid_t done = wait(&ws);
        if (done < 0) hp_die("wait failed");
        for (int i = 0; i < next; i++)
            if (pid[i] == done) code[i] = WIFEXITED(ws) ? WEXITSTATUS(ws) : EXIT_RUN_FAILED;
        live--;
    }
    for (int i = 0; i < n; i++) {
        snprintf(out, sizeof out, "%s/%s.json", outdir, cfgs[i].name);
        cell_from_report(&cells[i], &cfgs[i], out, code[i], paper);
        if (code[i]) status = EXIT_RUN_FAILED;
    }
    free(pid), free(code);
    return status;
}

static int write_summary(const char *dir, const char *outdir, const struct suite_cell *cells, int n,
                         const cJSON *paper) {
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/summary.json", outdir);
    cJSON *j = report_suite(dir, cells, n, paper ? paper_source(paper) : NULL);
    int rc = report_write(path, j, err, sizeof err);
    cJSON_Delete(j);
    if (rc) fprintf(stderr, "hippodrome suite: %s\n", err);
    else fprintf(stderr, "summary: %s\n", path);
    return rc ? EXIT_RUN_FAILED : 0;
}

static int run_suite(const struct args *a) {
    const char *dir = a->pos[0];
    const char *outdir = args_get(a, "--out");
    if (!outdir) return cli_usage_error("suite", "--out OUTDIR is required");
    struct train_opts o;
    if (cli_train_opts(a, "suite", &o)) return EXIT_USAGE;
    int jobs = 1;
    char jerr[256];
    if (args_int(a, "--jobs", 1, 1, 64, &jobs, jerr, sizeof jerr)) return cli_usage_error("suite", "%s", jerr);
    char *paths[SUITE_MAX];
    int n = cli_list_configs(dir, paths, SUITE_MAX);
    if (n < 0) return cli_usage_error("suite", "cannot read directory '%s'", dir);
    if (n == 0) return cli_usage_error("suite", "no *.json configs in '%s'", dir);
    struct run_config *cfgs = xcalloc((size_t)n, sizeof *cfgs);
    struct suite_cell *cells = xcalloc((size_t)n, sizeof *cells);
    int status = resolve_all(paths, n, a, cfgs);
    if (status == 0) {
        char err[512];
        cJSON *paper = paper_load(err, sizeof err);
        if (!paper) fprintf(stderr, "hippodrome suite: warning: %s; the paper column will be empty\n", err);
        status = jobs > 1 ? run_parallel(cfgs, n, jobs, outdir, &o, cells, paper)
                          : run_all(cfgs, n, outdir, &o, cells, paper);
        report_suite_table(stdout, cells, n);
        int ws = write_summary(dir, outdir, cells, n, paper);
        if (status == 0) status = ws;
        cJSON_Delete(paper);
    }
    for (int i = 0; i < n; i++) free(paths[i]);
    free(cfgs);
    free(cells);
    return status;
}

static const struct flag_spec suite_flags[] = {
    {"--out", "OUTDIR", false, "where the run reports and summary.json go"},
    {"--set", "KEY=VALUE", true, "override a key in every config, e.g. train.threads=2"},
    {"--jobs", "N", false, "runs at once, each its own process (default 1); use with train.threads=1"},
    {"--log-every", "K", false, "a progress line every K epochs (default 1); on a terminal one line is redrawn"},
    {"--quiet", NULL, false, "no progress display"},
    {"--plain", NULL, false, "plain progress lines even on a terminal"},
};

const struct verb verb_suite = {
    .name = "suite",
    .usage = "DIR --out OUTDIR [--set key=value]...",
    .summary = "train every *.json config in DIR; reports, summary.json and a table beside the paper's numbers",
    .flags = suite_flags,
    .n_flags = sizeof suite_flags / sizeof suite_flags[0],
    .min_pos = 1,
    .max_pos = 1,
    .run = run_suite,
};
