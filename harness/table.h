/* table.h — aggregate a folder of run reports into a table of cells.
 *
 * Every *.json in the folder (not recursive) that is a run report
 * (report_is_run) is one run; other files are skipped with a note. A run
 * falls in the cell (row value, column value) given by two keys:
 * - a key with a '.' is a config key, read from the report's resolved config
 *   ("task.name", "model.layer", "train.lr", "model.layer_options.d_state");
 * - any other key is a sweep axis label from the report's "sweep"."labels"
 *   (sweep.h; "config" is the base config's name), else a top-level config
 *   key ("name").
 * A missing key gives the value null ("-").
 *
 * In the JSON cells a key is named by its last part ("train.lr" -> "lr"),
 * except task.name -> "task"; the full key is used when both keys would get
 * the same name or the name is one of the cell's own fields. So the default
 * keys, rows task.name and cols model.layer, give cells {"task", "layer"}.
 *
 * Per cell, over the runs whose status is ok: n, mean, sample std (n-1; 0
 * when n is 1) and best of the metric (final or best test accuracy, as a
 * fraction); "runs" counts every run and "statuses" each status, so a
 * diverged or failed run is shown, never silently dropped. "chance" is the
 * task's chance accuracy (task_kind.chance of the run's task knobs), null
 * when the cell's runs disagree.
 *
 * --over KEY (an lr sweep): within a cell, runs are grouped by KEY's value
 * and each value averaged over its runs (seeds); a value counts only when all
 * its runs are ok. The cell then reports the best value's n, mean, std and
 * best, the value itself ("best_value") and the median over the values'
 * means ("median"); "values" lists every value.
 *
 * Reference file (--reference):
 *   {"note": "where the numbers come from",
 *    "cells": [{"task": "induction_head", "layer": "h3", "paper": 100.0, "min": 97.0, "max": 100.0},
 *              {"task": "assoc_recall", "layer": "s4d", "paper": 86.0, "tol": 5.0}, ...]}
 * Numbers in percent. In a reference cell, "paper", "min", "max" and "tol"
 * are the rule (tol: min = paper - tol, max = paper + tol); every other key
 * must equal the table cell's field of that name (e.g. "task", "layer"); the
 * first reference cell that matches applies. A cell with a rule passes when
 * min <= mean <= max (inclusive) and, without --over, every run is ok;
 * "pass" is null without a rule, false with no usable runs. */
#ifndef HIPPO_TABLE_H
#define HIPPO_TABLE_H

#include <stddef.h>
#include <stdio.h>

struct cJSON;

struct table_opts {
    const char *rows, *cols;          /* keys; NULL = task.name, model.layer */
    const char *metric;               /* "final" or "best"; NULL = final */
    const char *over;                 /* NULL, or the key runs are grouped by within a cell */
    const struct cJSON *reference;    /* checked with table_check_reference, or NULL */
    const char *reference_path;       /* named in the output */
};

/* 0, or -1 with err naming the offending cell or key. */
int table_check_reference(const struct cJSON *ref, char *err, size_t errlen);

/* The table of every run report in dir: {"schema_version", "dir", "rows",
 * "cols", "row_field", "col_field", "metric", "over", "over_field",
 * "reference", "note", "runs", "skipped": [files], "cells": [...]}; NULL with
 * err when dir cannot be read or holds no run report. A note per skipped file
 * goes to `notes` (NULL: none). */
struct cJSON *table_build(const char *dir, const struct table_opts *o, FILE *notes, char *err, size_t errlen);

/* The markdown rendering of a table_build result (malloc'd): percent, mean
 * ± std, best, paper and chance beside them, PASS/FAIL, statuses. */
char *table_markdown(const struct cJSON *table);

/* Cells whose rule failed. */
int table_failures(const struct cJSON *table);

#endif
