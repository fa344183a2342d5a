/* sweep.h — a sweep file expanded into runs: the product of its axes over
 * one or more base configs, every run resolved and hashed before anything is
 * written or trained.
 *
 *   {"name": "synthetics",
 *    "description": "optional text",
 *    "configs": ["configs/paper/induction_head_h3.json", "configs/paper/assoc_recall_h3.json"],
 *    "axes": {"layer": [{"label": "h3"},
 *                       {"label": "attention", "set": {"model.layer": "attention", "model.layer_options": {}}}],
 *             "train.seed": [0, 1, 2]},
 *    "set": {"train.threads": 1}}
 *
 * - configs: base config files, absolute or relative to the repository root
 *   (repo_path: the directory above build/, else the working directory). They
 *   are the first axis, labelled by each config's "name" (else its file stem);
 *   an entry {"path": P, "label": L} gives the label itself (e.g. the task
 *   when the base configs are one layer's).
 * - axes, in file order: an axis whose name contains a '.' is a config key
 *   and takes scalars (numbers, strings, booleans); any other name takes
 *   objects {"label": L, "set": {key: value, ...}}, where a value may be an
 *   object that replaces a section wholesale (e.g. model.layer_options = {}).
 * - set: applied to every run, before the axes (so an axis wins).
 * Every key is checked as `train --set` checks it (config_resolve): a typo is
 * rejected by name with the valid keys listed. "name" and "sweep" are the
 * sweep's own and may not be set.
 *
 * Run names: the labels in axis order (config first) joined by "__"; a
 * scalar axis is labelled by its key's last part and the value ("seed1",
 * "lr0.0005", "disczoh"); characters outside [A-Za-z0-9_.-] become '-' and a
 * '+' is dropped ("1e+20" -> "lr1e20"). A run's full name is
 * "<sweep>/<run>", e.g. synthetics/induction_head_h3__attention__seed1; the
 * run name is the config's "name" and its file stem, at most 63 characters.
 * Runs are ordered config first, the last axis fastest.
 *
 * Each run's config document carries
 *   "sweep": {"name": <sweep>, "run": <run>, "labels": {"config": <config label>,
 *             <axis>: <label, or the scalar value for a key axis>, ...}}
 * which train copies into the run's report (not part of the config hash);
 * `hippodrome table` reads axis labels from it. */
#ifndef HIPPO_SWEEP_H
#define HIPPO_SWEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct cJSON;

#define SWEEP_NAME 64
#define SWEEP_MAX_RUNS 4096

struct sweep_run {
    char name[CONFIG_NAME];  /* run name (file stem) */
    struct cJSON *doc;       /* the resolved config as JSON, plus its "sweep" object */
    struct run_config cfg;
    uint64_t hash;           /* config_hash(&cfg), what train --skip-done matches */
};

struct sweep {
    char name[SWEEP_NAME];
    int n_runs;
    struct sweep_run *runs;
    char *sources;  /* the sweep file and its base configs, space-separated (runs.mk depends on them) */
    bool sources_plain; /* none of those paths needs quoting in a makefile */
};

/* Parse and expand a sweep file; every run resolved. 0, or -1 with err
 * naming the file, the run and the key. */
int sweep_load(const char *path, struct sweep *s, char *err, size_t errlen);
void sweep_free(struct sweep *s);

/* The text of run i's config file (pretty JSON, final newline; malloc'd). */
char *sweep_run_text(const struct sweep *s, int i);

/* Where the generated files go and what they run. */
struct sweep_out {
    const char *dir;   /* results/<sweep>: reports <dir>/<run>.json, configs <dir>/configs/<run>.json */
    const char *bin;   /* the hippodrome binary, as the makefile and sbatch script call it */
    const char *file;  /* the sweep file as given: runs.mk re-expands it when it or a base config changes */
    bool slurm;        /* re-expansion rewrites sweep.sbatch too */
};

/* results/<sweep>/runs.mk and sweep.sbatch (malloc'd text). runs.mk has
 * <sweep>-all as its first target, one rule per report (prerequisite: the
 * run's config file; recipe: train --skip-done, succeeding whenever a report
 * exists) and a rule that remakes runs.mk itself from the sweep file and the
 * base configs, so make re-expands an edited sweep before running it. */
char *sweep_makefile(const struct sweep *s, const struct sweep_out *o);
char *sweep_sbatch(const struct sweep *s, const struct sweep_out *o);

#endif
