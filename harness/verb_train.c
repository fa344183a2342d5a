/* verb_train.c — `hippodrome train`: one config, one report (and a checkpoint). */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "checkpoint.h"
#include "config.h"
#include "report.h"
#include "train.h"

int cli_train_opts(const struct args *a, const char *verb, struct train_opts *o) {
    char err[256];
    *o = (struct train_opts){.log_every = 1, .log = stderr};
    if (args_int(a, "--log-every", 1, 1, 1000000, &o->log_every, err, sizeof err) != 0) {
        cli_usage_error(verb, "%s", err);
        return -1;
    }
    if (args_has(a, "--quiet")) o->log_every = 0;
    o->tag = args_get(a, "--progress-tag");
    o->live = o->log_every > 0 && !args_has(a, "--plain") && isatty(fileno(o->log));
    return 0;
}

static void print_outcome(const struct run_config *c, const struct train_result *r, const char *out) {
    fprintf(stderr, "%s: %s  final %.4f  best %.4f (epoch %d)  %d epochs  %.1f s  report %s\n", c->name,
            run_status_name(r->status), r->final_acc, r->best_acc, r->best_epoch, r->epochs_run, r->wall_seconds,
            out);
    if (r->message[0]) fprintf(stderr, "%s: %s\n", c->name, r->message);
}

int cli_run_config(const struct run_config *c, const struct train_opts *o, const struct run_output *w,
                   struct train_result *r) {
    const char *out = w->out, *save = w->save;
    train_run(c, o, r);
    int status = r->status == RUN_OK ? 0 : EXIT_RUN_FAILED;
    char err[512];
    cJSON *j = report_run(c, r);
    if (w->sweep) cJSON_AddItemToObject(j, "sweep", cJSON_Duplicate(w->sweep, true));
    if (report_write(out, j, err, sizeof err) != 0) {
        fprintf(stderr, "hippodrome: %s\n", err);
        status = EXIT_RUN_FAILED;
    }
    cJSON_Delete(j);
    print_outcome(c, r, out);
    if (save && r->model && checkpoint_save(save, c, r->model, err, sizeof err) != 0) {
        fprintf(stderr, "hippodrome: %s\n", err);
        status = EXIT_RUN_FAILED;
    }
    return status;
}

/* The config file's "sweep" metadata (config.h), detached, or NULL. */
static cJSON *sweep_meta(const char *path) {
    char err[512];
    cJSON *doc = config_doc_load(path, err, sizeof err);
    cJSON *meta = doc ? cJSON_DetachItemFromObjectCaseSensitive(doc, "sweep") : NULL;
    cJSON_Delete(doc);
    return meta;
}

/* --skip-done: 1 when `out` already holds this run's finished report (its
 * time is refreshed so make sees it up to date); otherwise a stale report is
 * removed first, so a run that dies before writing leaves none behind. */
static int skip_done(const struct run_config *c, const char *out, const cJSON *meta) {
    char hex[17];
    report_hex64((unsigned long long)config_hash(c), hex);
    if (report_done(out, config_hash(c), meta)) {
        if (utimensat(AT_FDCWD, out, NULL, 0) != 0) perror("hippodrome train: cannot refresh the report's time");
        fprintf(stderr, "%s: done (%s holds config %s), skipped\n", c->name, out, hex);
        return 1;
    }
    if (unlink(out) == 0) fprintf(stderr, "%s: %s is from another config or unfinished; redoing it\n", c->name, out);
    return 0;
}

static int run_train(const struct args *a) {
    const char *path = args_get(a, "--config");
    if (!path) return cli_usage_error("train", "--config FILE is required");
    struct train_opts o;
    if (cli_train_opts(a, "train", &o)) return EXIT_USAGE;
    o.init = args_get(a, "--init");
    struct run_config c;
    char err[1024];
    if (config_load(path, a->rep, a->n_rep, &c, err, sizeof err) != 0) return cli_usage_error("train", "%s", err);
    char out[256];
    if (args_has(a, "--out")) snprintf(out, sizeof out, "%s", args_get(a, "--out"));
    else snprintf(out, sizeof out, "results/train/%s.json", c.name);
    cJSON *meta = sweep_meta(path);
    int status = 0;
    if (!args_has(a, "--skip-done") || !skip_done(&c, out, meta)) {
        struct train_result r;
        struct run_output w = {.out = out, .save = args_get(a, "--save"), .sweep = meta};
        status = cli_run_config(&c, &o, &w, &r);
        train_result_free(&r);
    }
    cJSON_Delete(meta);
    return status;
}

static const struct flag_spec train_flags[] = {
    {"--config", "FILE", false, "run config (JSON; see configs/ and `hippodrome list`)"},
    {"--set", "KEY=VALUE", true, "override a config key, e.g. train.lr=1e-3 or model.layer_options.head_dim=2"},
    {"--out", "FILE", false, "report path (default results/train/<name>.json)"},
    {"--save", "FILE", false, "write the trained weights as safetensors (authors' tensor names)"},
    {"--init", "FILE", false, "start from these weights (safetensors, authors' names; e.g. a PyTorch init)"},
    {"--log-every", "K", false, "a progress line every K epochs (default 1); on a terminal one line is redrawn"},
    {"--quiet", NULL, false, "no progress display"},
    {"--plain", NULL, false, "plain progress lines even on a terminal (runs sharing one, e.g. make -j)"},
    {"--skip-done", NULL, false, "exit 0 at once when --out already holds this config's finished report (same hash)"},
    {"--progress-tag", "K/N", false, "shown before the run's name in progress lines, e.g. 3/24 (sweeps)"},
};

const struct verb verb_train = {
    .name = "train",
    .usage = "--config FILE.json [--set key=value]... [--out REPORT.json] [--save CKPT.safetensors]"
             " [--init W.safetensors] [--skip-done] [--progress-tag K/N]",
    .summary = "train one config and write its JSON report",
    .flags = train_flags,
    .n_flags = sizeof train_flags / sizeof train_flags[0],
    .min_pos = 0,
    .max_pos = 0,
    .run = run_train,
};
