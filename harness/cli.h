/* cli.h — the `hippodrome` command line: a table of verbs, each with its flags.
 *
 * Exit status, the same for every verb:
 *   0   success;
 *   1   it ran and failed: a run diverged or failed, a result could not be
 *       written (unwritable folder, full disk: nothing half-written is left),
 *       a tool it needs is missing, a run of a suite failed;
 *   2   usage or input error, found before any work: an unknown verb, flag or
 *       key, a bad value, a config, checkpoint or other input file that is
 *       missing, malformed or does not fit (the message names the problem);
 *   130, 143  train stopped by SIGINT / SIGTERM after writing a checkpoint.
 * Errors go to stderr as one line naming the file, key or flag. */
#ifndef HIPPO_CLI_H
#define HIPPO_CLI_H

#include <stdint.h>

#include "args.h"

enum { EXIT_SUCCESS_ = 0, EXIT_RUN_FAILED = 1, EXIT_USAGE = 2 };

struct verb {
    const char *name;
    const char *usage;   /* after "hippodrome NAME " */
    const char *summary; /* one line */
    const struct flag_spec *flags;
    int n_flags;
    int min_pos, max_pos; /* positional arguments */
    int (*run)(const struct args *a);
};

extern const struct verb verb_train, verb_suite, verb_sweep, verb_table, verb_list, verb_show, verb_data, verb_predict,
    verb_bench_train, verb_bench_long, verb_plot, verb_generate;
extern const struct verb verb_bench_layers, verb_bench_generate, verb_bench_summary;

int cli_main(int argc, char **argv);
/* Print "hippodrome VERB: message" and a pointer to --help; returns EXIT_USAGE. */
int cli_usage_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));


/* Where one run's results go. */
struct cJSON;
struct run_output {
    const char *out;            /* report path */
    const char *save;           /* checkpoint path, or NULL */
    const struct cJSON *sweep;  /* the config's "sweep" metadata, copied into the report, or NULL */
};

/* Shared by train and suite: run one resolved config, write its report (and
 * a checkpoint). Returns the exit status (0 ok, 1 diverged/failed/unwritable);
 * r is left filled for the caller. */
struct run_config;
struct train_result;
struct train_opts;
int cli_run_config(const struct run_config *c, const struct train_opts *o, const struct run_output *w,
                   struct train_result *r);
/* --quiet / --log-every / --progress-tag into train options, live display
 * when stderr is a terminal; -1 with a usage message printed. */
int cli_train_opts(const struct args *a, const char *verb, struct train_opts *o);

/* The TASK positional argument and its --set task keys, validated (show, data). */
struct task_kind;
struct knob_values;
int cli_task_arg(const struct args *a, const char *verb, const struct task_kind **kind, struct knob_values *kv);

/* Space/comma separated token ids in [0, V) into out (at most max): the count,
 * or -1 with a message naming `flag` (predict --tokens, generate --prompt). */
int cli_parse_ids(const char *flag, const char *text, int V, int32_t *out, int max, char *err, size_t errlen);

/* Sorted "DIR/x.json" paths (malloc'd, at most max); -1 when DIR cannot be read. */
int cli_list_configs(const char *dir, char **paths, int max);

#endif
