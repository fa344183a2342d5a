/* verb_train.c — `hippodrome train`: one config, one report (and a checkpoint). */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/atomic.h"
#include "cli.h"
#include "checkpoint.h"
#include "config.h"
#include "report.h"
#include "resume.h"
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

static void print_outcome(const struct run_config *c, const struct train_result *r, const char *out, bool written) {
    fprintf(stderr, "%s: %s  final %.4f  best %.4f (epoch %d)  %d epochs  %.1f s  report %s%s\n", c->name,
            run_status_name(r->status), r->final_acc, r->best_acc, r->best_epoch, r->epochs_run, r->wall_seconds,
            out, written ? "" : " NOT written");
    if (r->message[0]) fprintf(stderr, "%s: %s\n", c->name, r->message);
}

int cli_run_config(const struct run_config *c, const struct train_opts *o, const struct run_output *w,
                   struct train_result *r) {
    const char *out = w->out, *save = w->save;
    train_run(c, o, r);
    /* No report for a run that did not start or did not end: it is to be rerun or resumed. */
    if (r->status == RUN_REFUSED || r->status == RUN_STOPPED) {
        fprintf(stderr, "%s: %s\n", c->name, r->message);
        return r->status == RUN_REFUSED ? EXIT_USAGE : EXIT_RUN_FAILED;
    }
    int status = r->status == RUN_OK ? 0 : EXIT_RUN_FAILED;
    char err[512];
    cJSON *j = report_run(c, r);
    if (w->sweep) cJSON_AddItemToObject(j, "sweep", cJSON_Duplicate(w->sweep, true));
    bool written = report_write(out, j, err, sizeof err) == 0;
    if (!written) {
        fprintf(stderr, "hippodrome: %s\n", err);
        status = EXIT_RUN_FAILED;
    }
    cJSON_Delete(j);
    print_outcome(c, r, out, written);
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
 * removed first, so a run that dies before writing leaves none behind, and
 * so is a checkpoint that is damaged or of another config (the run redoes it). */
static int skip_done(const struct run_config *c, const char *out, const cJSON *meta, const char *ckpt) {
    char hex[17], err[768];
    report_hex64((unsigned long long)config_hash(c), hex);
    if (report_done(out, config_hash(c), meta)) {
        if (utimensat(AT_FDCWD, out, NULL, 0) != 0) perror("hippodrome train: cannot refresh the report's time");
        fprintf(stderr, "%s: done (%s holds config %s), skipped\n", c->name, out, hex);
        return 1;
    }
    if (unlink(out) == 0) fprintf(stderr, "%s: %s is from another config or unfinished; redoing it\n", c->name, out);
    if (access(ckpt, F_OK) == 0 && resume_peek(ckpt, c, err, sizeof err) != 0 && unlink(ckpt) == 0)
        fprintf(stderr, "%s: removed checkpoint %s (%s); starting afresh\n", c->name, ckpt, err);
    return 0;
}

/* SIGINT/SIGTERM: the run checkpoints at the next step boundary and stops;
 * a second one of the same kind kills at once (SA_RESETHAND). */
static volatile sig_atomic_t stop_signal;

static void on_stop(int sig) { stop_signal = sig; }

static void catch_stops(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) perror("hippodrome train: sigaction");
}

/* results/x/run.json -> results/x/checkpoints/run.safetensors */
static void default_checkpoint(const char *out, char *buf, size_t len) {
    const char *slash = strrchr(out, '/');
    const char *base = slash ? slash + 1 : out;
    size_t stem = strlen(base);
    if (stem > 5 && strcmp(base + stem - 5, ".json") == 0) stem -= 5;
    snprintf(buf, len, "%.*scheckpoints/%.*s.safetensors", slash ? (int)(slash - out + 1) : 0, out, (int)stem, base);
}

/* --skip-done (sweeps) continues a stopped run too: it implies --resume and
 * checkpoints every this many epochs unless --checkpoint-every says otherwise. */
#define SKIP_DONE_CHECKPOINT_EVERY 10

/* The checkpoint flags into o; -1 after a usage message. */
static int checkpoint_opts(const struct args *a, const char *out, char *ckpt, size_t len, struct train_opts *o) {
    char err[256];
    bool sweep = args_has(a, "--skip-done");
    if (args_int(a, "--checkpoint-every", sweep ? SKIP_DONE_CHECKPOINT_EVERY : 0, 0, 1000000, &o->checkpoint_every,
                 err, sizeof err) != 0) {
        cli_usage_error("train", "%s", err);
        return -1;
    }
    if (args_has(a, "--checkpoint")) snprintf(ckpt, len, "%s", args_get(a, "--checkpoint"));
    else default_checkpoint(out, ckpt, len);
    if (strcmp(ckpt, out) == 0) {
        cli_usage_error("train", "--checkpoint and --out are the same file '%s'", out);
        return -1;
    }
    o->checkpoint = ckpt;
    o->resume = sweep || args_has(a, "--resume");
    o->stop = &stop_signal;
    if (args_has(a, "--resume") && access(ckpt, F_OK) != 0)
        fprintf(stderr, "hippodrome train: no checkpoint at %s; starting from the beginning\n", ckpt);
    return 0;
}

/* Fail before training when a result could not be written. */
static int probe_outputs(const char *const *paths, int n) {
    char err[768];
    for (int i = 0; i < n; i++)
        if (paths[i] && hp_atomic_probe(paths[i], err, sizeof err) != 0) {
            fprintf(stderr, "hippodrome train: %s\n", err);
            return -1;
        }
    return 0;
}

static int train_one(const struct run_config *c, const struct train_opts *o, const struct run_output *w) {
    /* The checkpoint's folder is made when one is written (a stop) unless checkpoints are asked for. */
    const char *outs[] = {w->out, w->save, o->checkpoint_every > 0 || o->resume ? o->checkpoint : NULL};
    if (probe_outputs(outs, 3) != 0) return EXIT_RUN_FAILED;
    catch_stops();
    struct train_result r;
    int status = cli_run_config(c, o, w, &r);
    if (r.status == RUN_STOPPED && stop_signal) status = 128 + stop_signal;
    train_result_free(&r);
    return status;
}

static int run_train(const struct args *a) {
    const char *path = args_get(a, "--config");
    if (!path) return cli_usage_error("train", "--config FILE is required");
    struct train_opts o;
    if (cli_train_opts(a, "train", &o)) return EXIT_USAGE;
    o.init = args_get(a, "--init");
    const char *backend = args_get(a, "--backend");
    char berr[640];
    if (backend && !(o.backend = ops_by_name(backend, berr, sizeof berr)))
        return cli_usage_error("train", "--backend %s: %s", backend, berr);
    struct run_config c;
    char err[1024];
    if (config_load(path, a->rep, a->n_rep, &c, err, sizeof err) != 0) return cli_usage_error("train", "%s", err);
    char out[HP_PATH_MAX], ckpt[HP_PATH_MAX + 32];
    if (args_has(a, "--out")) snprintf(out, sizeof out, "%s", args_get(a, "--out"));
    else snprintf(out, sizeof out, "results/train/%s.json", c.name);
    if (checkpoint_opts(a, out, ckpt, sizeof ckpt, &o) != 0) return EXIT_USAGE;
    cJSON *meta = sweep_meta(path);
    int status = 0;
    if (!args_has(a, "--skip-done") || !skip_done(&c, out, meta, ckpt)) {
        struct run_output w = {.out = out, .save = args_get(a, "--save"), .sweep = meta};
        status = train_one(&c, &o, &w);
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
    {"--skip-done", NULL, false, "sweeps: exit 0 at once when --out already holds this config's finished report "
                                 "(same hash); else resume from the checkpoint, writing one every 10 epochs"},
    {"--checkpoint-every", "N", false, "write the run's whole state every N epochs and at the end (default 0: only "
                                       "when stopped by SIGINT/SIGTERM)"},
    {"--checkpoint", "FILE", false, "where (default: beside the report, checkpoints/<report name>.safetensors)"},
    {"--resume", NULL, false, "continue from the checkpoint when there is one (same config); else start"},
    {"--progress-tag", "K/N", false, "shown before the run's name in progress lines, e.g. 3/24 (sweeps)"},
    {"--backend", "NAME", false, "cpu (default) or cuda: where the model's tensors live and its ops run (cuda needs "
                                 "the CUDA build and a GPU)"},
};

const struct verb verb_train = {
    .name = "train",
    .usage = "--config FILE.json [--set key=value]... [--out REPORT.json] [--save CKPT.safetensors]"
             " [--init W.safetensors] [--skip-done] [--checkpoint-every N] [--checkpoint FILE] [--resume]"
             " [--progress-tag K/N] [--backend cpu|cuda]",
    .summary = "train one config and write its JSON report",
    .flags = train_flags,
    .n_flags = sizeof train_flags / sizeof train_flags[0],
    .min_pos = 0,
    .max_pos = 0,
    .run = run_train,
};
