/* verb_table.c — `hippodrome table DIR`: the run reports of a folder as one
 * table (table.h), printed as markdown and optionally written as JSON and
 * markdown files. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "report.h"
#include "table.h"

static int load_reference(const char *path, cJSON **ref) {
    char err[1024], inner[768];
    *ref = NULL;
    if (!path) return 0;
    *ref = report_read(path, err, sizeof err);
    if (!*ref) return cli_usage_error("table", "--reference: %s", err);
    if (table_check_reference(*ref, inner, sizeof inner) != 0) {
        cJSON_Delete(*ref);
        *ref = NULL;
        return cli_usage_error("table", "--reference '%s': %s", path, inner);
    }
    return 0;
}

static int check_opts(const struct args *a, struct table_opts *o) {
    *o = (struct table_opts){
        .rows = args_get(a, "--rows"),
        .cols = args_get(a, "--cols"),
        .metric = args_get(a, "--metric"),
        .over = args_get(a, "--over"),
        .reference_path = args_get(a, "--reference"),
    };
    if (o->metric && strcmp(o->metric, "final") && strcmp(o->metric, "best"))
        return cli_usage_error("table", "--metric '%s': use final or best", o->metric);
    const char *keys[] = {o->rows, o->cols, o->over};
    for (int i = 0; i < 3; i++)
        if (keys[i] && (!keys[i][0] || strlen(keys[i]) > 200))
            return cli_usage_error("table", "a key must be 1-200 characters (e.g. task.name, model.layer, seed)");
    return 0;
}

static int write_outputs(const struct args *a, const cJSON *t, const char *md) {
    char err[512];
    const char *json = args_get(a, "--json"), *mdpath = args_get(a, "--md");
    if (json && report_write(json, t, err, sizeof err) != 0) {
        fprintf(stderr, "hippodrome table: %s\n", err);
        return EXIT_RUN_FAILED;
    }
    if (mdpath && report_write_text(mdpath, md, err, sizeof err) != 0) {
        fprintf(stderr, "hippodrome table: %s\n", err);
        return EXIT_RUN_FAILED;
    }
    return 0;
}

static int run_table(const struct args *a) {
    struct table_opts o;
    cJSON *ref;
    if (check_opts(a, &o) || load_reference(o.reference_path, &ref)) return EXIT_USAGE;
    o.reference = ref;
    char err[1024];
    cJSON *t = table_build(a->pos[0], &o, stderr, err, sizeof err);
    int status = t ? 0 : cli_usage_error("table", "%s", err);
    if (t) {
        char *md = table_markdown(t);
        fputs(md, stdout);
        status = write_outputs(a, t, md);
        int bad = table_failures(t);
        if (bad && args_has(a, "--strict")) {
            fprintf(stderr, "hippodrome table: %d cell%s outside the reference rule\n", bad, bad == 1 ? "" : "s");
            if (status == 0) status = EXIT_RUN_FAILED;
        }
        free(md);
    }
    cJSON_Delete(t);
    cJSON_Delete(ref);
    return status;
}

static const struct flag_spec table_flags[] = {
    {"--rows", "KEY", false, "row key: a config key (task.name, train.lr) or a sweep label (default task.name)"},
    {"--cols", "KEY", false, "column key, as --rows (default model.layer)"},
    {"--metric", "final|best", false, "test accuracy after the last epoch or the best epoch's (default final)"},
    {"--over", "KEY", false, "lr-sweep mode: per cell, average runs per value of KEY and report the best value"},
    {"--reference", "FILE", false, "paper numbers and tolerance rules per cell (JSON; see harness/table.h)"},
    {"--json", "FILE", false, "write the table as JSON"},
    {"--md", "FILE", false, "write the markdown table"},
    {"--strict", NULL, false, "exit 1 when a cell fails its reference rule"},
};

const struct verb verb_table = {
    .name = "table",
    .usage = "DIR [--rows KEY] [--cols KEY] [--metric final|best] [--over KEY] [--reference FILE] [--json FILE] "
             "[--md FILE] [--strict]",
    .summary = "aggregate the run reports in DIR into a table: mean, std, best per cell, paper numbers, PASS/FAIL",
    .flags = table_flags,
    .n_flags = sizeof table_flags / sizeof table_flags[0],
    .min_pos = 1,
    .max_pos = 1,
    .run = run_table,
};
