/* table.c — run reports into cells: grouping, statistics, the reference
 * check (see table.h); then the markdown renderer, a second view of the same
 * JSON records. */
#include "table.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"
#include "cli.h"
#include "config.h"
#include "report.h"
#include "version.h"

#define TABLE_MAX_FILES 65536

enum { ST_OK, ST_DIVERGED, ST_FAILED, ST_N };
static const char *const status_names[ST_N] = {"ok", "diverged", "failed"};

struct trun {
    cJSON *row, *col, *over; /* copies of the key values (NULL: missing) */
    double metric;           /* fraction */
    double chance;
    int status;
};

/* ---- values ---- */

/* Order: numbers (numeric), then strings, booleans, anything else, missing last. */
static int rank(const cJSON *v) {
    if (!v || cJSON_IsNull(v)) return 4;
    if (cJSON_IsNumber(v)) return 0;
    if (cJSON_IsString(v)) return 1;
    if (cJSON_IsBool(v)) return 2;
    return 3;
}

static int cmp_value(const cJSON *a, const cJSON *b) {
    int ra = rank(a), rb = rank(b);
    if (ra != rb) return ra < rb ? -1 : 1;
    if (ra == 0) return a->valuedouble < b->valuedouble ? -1 : a->valuedouble > b->valuedouble;
    if (ra == 1) return strcmp(a->valuestring, b->valuestring);
    if (ra == 2) return cJSON_IsTrue(a) - cJSON_IsTrue(b);
    return ra == 4 || cJSON_Compare(a, b, true) ? 0 : -1;
}

static cJSON *dup_or_null(const cJSON *v) {
    cJSON *d = v ? cJSON_Duplicate(v, true) : cJSON_CreateNull();
    HP_CHECK(d != NULL);
    return d;
}

/* A key's value in a report (table.h: config key, sweep label, top-level config key). */
static const cJSON *key_value(const cJSON *report, const char *key) {
    const cJSON *config = cJSON_GetObjectItemCaseSensitive(report, "config");
    if (!strchr(key, '.')) {
        const cJSON *sweep = cJSON_GetObjectItemCaseSensitive(report, "sweep");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(sweep, "labels"), key);
        return v ? v : cJSON_GetObjectItemCaseSensitive(config, key);
    }
    char path[256];
    snprintf(path, sizeof path, "%s", key);
    const cJSON *v = config;
    char *save = NULL;
    for (char *part = strtok_r(path, ".", &save); part && v; part = strtok_r(NULL, ".", &save))
        v = cJSON_GetObjectItemCaseSensitive(v, part);
    return v;
}

/* ---- field names ---- */

static const char *const own_fields[] = {"n", "mean", "std", "best", "runs", "statuses", "chance", "paper",
                                         "pass", "min", "max", "tol", "note", "median", "best_value", "values",
                                         "over", NULL};

static const char *short_name(const char *key) {
    if (strcmp(key, "task.name") == 0) return "task";
    const char *dot = strrchr(key, '.');
    return dot ? dot + 1 : key;
}

static bool is_own_field(const char *name) {
    for (int i = 0; own_fields[i]; i++)
        if (strcmp(own_fields[i], name) == 0) return true;
    return false;
}

static void field_names(const char *rows, const char *cols, const char **rf, const char **cf) {
    *rf = short_name(rows);
    *cf = short_name(cols);
    if (strcmp(*rf, *cf) == 0 || is_own_field(*rf) || is_own_field(*cf)) {
        *rf = rows;
        *cf = cols;
    }
}

/* ---- reading reports ---- */

static int status_of(const cJSON *report) {
    const char *s = cJSON_GetObjectItemCaseSensitive(report, "status")->valuestring;
    for (int i = 0; i < ST_N; i++)
        if (strcmp(s, status_names[i]) == 0) return i;
    return ST_FAILED;
}

/* The task's chance accuracy from the run's own task knobs; the report's
 * recorded value when its config no longer resolves (an older build). */
static double chance_of(const cJSON *report) {
    struct run_config c;
    char err[1024];
    if (config_resolve(cJSON_GetObjectItemCaseSensitive(report, "config"), &c, err, sizeof err) == 0)
        return c.task->chance(&c.task_kv);
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(report, "chance_accuracy");
    return cJSON_IsNumber(ch) ? ch->valuedouble : NAN;
}

static void take_run(struct trun *r, const cJSON *j, const struct table_opts *o) {
    r->row = dup_or_null(key_value(j, o->rows));
    r->col = dup_or_null(key_value(j, o->cols));
    r->over = o->over ? dup_or_null(key_value(j, o->over)) : NULL;
    const char *field = strcmp(o->metric, "best") == 0 ? "best_accuracy" : "final_accuracy";
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, field);
    r->metric = cJSON_IsNumber(m) ? m->valuedouble : NAN;
    r->status = status_of(j);
    /* An ok run without its metric cannot be averaged: count it as failed. */
    if (r->status == ST_OK && isnan(r->metric)) r->status = ST_FAILED;
    r->chance = chance_of(j);
}

/* Every run report of dir into runs[]; returns the count, -1 when dir is unreadable. */
static int read_runs(const char *dir, const struct table_opts *o, struct trun **runs, cJSON *skipped, FILE *notes) {
    char **paths = xcalloc(TABLE_MAX_FILES, sizeof *paths);
    int n = cli_list_configs(dir, paths, TABLE_MAX_FILES), k = 0;
    *runs = xcalloc((size_t)(n > 0 ? n : 1), sizeof **runs);
    for (int i = 0; i < n; i++) {
        char err[512];
        cJSON *j = report_read(paths[i], err, sizeof err);
        if (j && report_is_run(j)) {
            take_run(&(*runs)[k++], j, o);
        } else {
            const char *base = strrchr(paths[i], '/') + 1;
            cJSON_AddItemToArray(skipped, cJSON_CreateString(base));
            if (notes) fprintf(notes, "table: skipping %s (%s)\n", paths[i], j ? "not a run report" : err);
        }
        cJSON_Delete(j);
        free(paths[i]);
    }
    free(paths);
    return n < 0 ? -1 : k;
}

static int cmp_run(const void *pa, const void *pb) {
    const struct trun *a = pa, *b = pb;
    int c = cmp_value(a->row, b->row);
    if (c == 0) c = cmp_value(a->col, b->col);
    if (c == 0) c = cmp_value(a->over, b->over);
    return c;
}

/* ---- statistics ---- */

struct stats {
    int n, runs, count[ST_N];
    double mean, std, best;
};

static struct stats stats_of(const struct trun *r, int n) {
    struct stats s = {.runs = n, .mean = NAN, .std = NAN, .best = NAN};
    double sum = 0;
    for (int i = 0; i < n; i++) {
        s.count[r[i].status]++;
        if (r[i].status != ST_OK) continue;
        s.n++;
        sum += r[i].metric;
        if (isnan(s.best) || r[i].metric > s.best) s.best = r[i].metric;
    }
    if (s.n == 0) return s;
    s.mean = sum / s.n;
    double ss = 0;
    for (int i = 0; i < n; i++)
        if (r[i].status == ST_OK) ss += (r[i].metric - s.mean) * (r[i].metric - s.mean);
    s.std = s.n > 1 ? sqrt(ss / (s.n - 1)) : 0.0;
    return s;
}

static void add_num(cJSON *o, const char *key, double v) {
    if (isnan(v)) cJSON_AddNullToObject(o, key);
    else cJSON_AddNumberToObject(o, key, v);
}

static void add_stats(cJSON *o, const struct stats *s) {
    cJSON_AddNumberToObject(o, "n", s->n);
    add_num(o, "mean", s->mean);
    add_num(o, "std", s->std);
    add_num(o, "best", s->best);
}

static void add_statuses(cJSON *o, const struct stats *s) {
    cJSON_AddNumberToObject(o, "runs", s->runs);
    cJSON *st = cJSON_AddObjectToObject(o, "statuses");
    for (int i = 0; i < ST_N; i++)
        if (s->count[i]) cJSON_AddNumberToObject(st, status_names[i], s->count[i]);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* --over: group the cell's runs (sorted by the over value) per value; the
 * best eligible value's stats go to the cell. Returns those stats. */
static struct stats over_cell(cJSON *cell, const struct trun *r, int n) {
    cJSON *values = cJSON_CreateArray();
    double *means = xcalloc((size_t)n, sizeof *means);
    int n_means = 0;
    struct stats best = {.mean = NAN, .std = NAN, .best = NAN};
    const cJSON *best_value = NULL;
    for (int i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && cmp_value(r[i].over, r[j].over) == 0; j++) {}
        struct stats s = stats_of(r + i, j - i);
        bool eligible = s.n > 0 && s.n == s.runs;
        cJSON *v = cJSON_CreateObject();
        cJSON_AddItemToObject(v, "value", dup_or_null(r[i].over));
        add_stats(v, &s);
        add_statuses(v, &s);
        cJSON_AddBoolToObject(v, "eligible", eligible);
        cJSON_AddItemToArray(values, v);
        if (!eligible) continue;
        means[n_means++] = s.mean;
        if (!best_value || s.mean > best.mean) best = s, best_value = r[i].over;
    }
    cJSON_AddItemToObject(cell, "best_value", dup_or_null(best_value));
    qsort(means, (size_t)n_means, sizeof *means, cmp_double);
    double median = n_means == 0 ? NAN
                    : n_means % 2 ? means[n_means / 2]
                                  : 0.5 * (means[n_means / 2 - 1] + means[n_means / 2]);
    add_num(cell, "median", median);
    cJSON_AddItemToObject(cell, "values", values);
    free(means);
    return best;
}

/* ---- the reference ---- */

static bool rule_key(const char *k) {
    return !strcmp(k, "paper") || !strcmp(k, "min") || !strcmp(k, "max") || !strcmp(k, "tol") || !strcmp(k, "note");
}

int table_check_reference(const cJSON *ref, char *err, size_t errlen) {
    if (!cJSON_IsObject(ref)) return snprintf(err, errlen, "the top level must be an object"), -1;
    for (const cJSON *k = ref->child; k; k = k->next)
        if (strcmp(k->string, "cells") && strcmp(k->string, "note") && strcmp(k->string, "source"))
            return snprintf(err, errlen, "unknown key '%s'; valid keys are: cells, note, source", k->string), -1;
    const cJSON *cells = cJSON_GetObjectItemCaseSensitive(ref, "cells");
    if (!cJSON_IsArray(cells)) return snprintf(err, errlen, "\"cells\" must be an array"), -1;
    int i = 0;
    for (const cJSON *c = cells->child; c; c = c->next, i++) {
        if (!cJSON_IsObject(c)) return snprintf(err, errlen, "cell %d: must be an object", i + 1), -1;
        int match = 0;
        for (const cJSON *k = c->child; k; k = k->next) {
            bool num = !strcmp(k->string, "note") ? cJSON_IsString(k) : cJSON_IsNumber(k);
            if (rule_key(k->string) && !num)
                return snprintf(err, errlen, "cell %d: '%s' must be a %s", i + 1, k->string,
                                strcmp(k->string, "note") ? "number (percent)" : "string"), -1;
            match += !rule_key(k->string);
        }
        if (!match) return snprintf(err, errlen, "cell %d: no key to match (e.g. \"task\", \"layer\")", i + 1), -1;
        if (cJSON_HasObjectItem(c, "tol") && !cJSON_HasObjectItem(c, "paper"))
            return snprintf(err, errlen, "cell %d: \"tol\" needs \"paper\"", i + 1), -1;
    }
    return 0;
}

static const cJSON *find_rule(const cJSON *ref, const cJSON *cell) {
    const cJSON *cells = cJSON_GetObjectItemCaseSensitive(ref, "cells");
    for (const cJSON *c = cells ? cells->child : NULL; c; c = c->next) {
        bool ok = true;
        for (const cJSON *k = c->child; k && ok; k = k->next) {
            if (rule_key(k->string)) continue;
            const cJSON *have = cJSON_GetObjectItemCaseSensitive(cell, k->string);
            ok = have && !cJSON_IsNull(have) && cmp_value(have, k) == 0;
        }
        if (ok) return c;
    }
    return NULL;
}

static double pct_field(const cJSON *rule, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rule, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* paper, min, max (fractions) and pass for a cell whose stats are s. */
static void add_rule(cJSON *cell, const cJSON *ref, const struct stats *s, bool all_ok) {
    const cJSON *rule = ref ? find_rule(ref, cell) : NULL;
    double paper = pct_field(rule, "paper"), lo = pct_field(rule, "min"), hi = pct_field(rule, "max");
    double tol = pct_field(rule, "tol");
    if (!isnan(tol)) lo = paper - tol, hi = paper + tol;
    add_num(cell, "paper", paper / 100.0);
    add_num(cell, "min", lo / 100.0);
    add_num(cell, "max", hi / 100.0);
    if (isnan(lo) && isnan(hi)) {
        cJSON_AddNullToObject(cell, "pass");
        return;
    }
    /* Compare in percent with a little slack for the decimal rule values. */
    double m = 100.0 * s->mean;
    bool pass = s->n > 0 && all_ok && (isnan(lo) || m >= lo - 1e-9) && (isnan(hi) || m <= hi + 1e-9);
    cJSON_AddBoolToObject(cell, "pass", pass);
}

/* ---- cells ---- */

struct layout {
    const struct table_opts *o;
    const char *row_field, *col_field;
};

static double cell_chance(const struct trun *r, int n) {
    for (int i = 1; i < n; i++)
        if (!(r[i].chance == r[0].chance)) return NAN;
    return r[0].chance;
}

static cJSON *make_cell(const struct layout *L, const struct trun *r, int n) {
    cJSON *cell = cJSON_CreateObject();
    cJSON_AddItemToObject(cell, L->row_field, dup_or_null(r[0].row));
    cJSON_AddItemToObject(cell, L->col_field, dup_or_null(r[0].col));
    struct stats all = stats_of(r, n), s = all;
    if (L->o->over) s = over_cell(cell, r, n);
    add_stats(cell, &s);
    add_statuses(cell, &all);
    add_num(cell, "chance", cell_chance(r, n));
    /* With --over a diverging value is just not chosen; without, any non-ok run fails the cell. */
    add_rule(cell, L->o->reference, &s, L->o->over || all.n == all.runs);
    return cell;
}

static cJSON *make_cells(const struct layout *L, struct trun *runs, int n) {
    qsort(runs, (size_t)n, sizeof *runs, cmp_run);
    cJSON *cells = cJSON_CreateArray();
    for (int i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && cmp_value(runs[i].row, runs[j].row) == 0 && cmp_value(runs[i].col, runs[j].col) == 0;
             j++) {}
        cJSON_AddItemToArray(cells, make_cell(L, runs + i, j - i));
    }
    return cells;
}

static void add_str_or_null(cJSON *o, const char *key, const char *v) {
    if (v) cJSON_AddStringToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

static cJSON *table_head(const char *dir, const struct table_opts *o, const struct layout *L, int n_runs) {
    cJSON *t = cJSON_CreateObject();
    cJSON_AddNumberToObject(t, "schema_version", REPORT_SCHEMA_VERSION);
    cJSON_AddStringToObject(t, "dir", dir);
    cJSON_AddStringToObject(t, "git_commit", hippo_commit());
    cJSON_AddStringToObject(t, "rows", o->rows);
    cJSON_AddStringToObject(t, "cols", o->cols);
    cJSON_AddStringToObject(t, "row_field", L->row_field);
    cJSON_AddStringToObject(t, "col_field", L->col_field);
    cJSON_AddStringToObject(t, "metric", o->metric);
    add_str_or_null(t, "over", o->over);
    add_str_or_null(t, "over_field", o->over ? short_name(o->over) : NULL);
    add_str_or_null(t, "reference", o->reference ? o->reference_path : NULL);
    const cJSON *note = cJSON_GetObjectItemCaseSensitive(o->reference, "note");
    add_str_or_null(t, "note", cJSON_IsString(note) ? note->valuestring : NULL);
    cJSON_AddNumberToObject(t, "runs", n_runs);
    return t;
}

cJSON *table_build(const char *dir, const struct table_opts *opts, FILE *notes, char *err, size_t errlen) {
    struct table_opts o = *opts;
    if (!o.rows) o.rows = "task.name";
    if (!o.cols) o.cols = "model.layer";
    if (!o.metric) o.metric = "final";
    struct layout L = {.o = &o};
    field_names(o.rows, o.cols, &L.row_field, &L.col_field);
    cJSON *skipped = cJSON_CreateArray();
    struct trun *runs = NULL;
    int n = read_runs(dir, &o, &runs, skipped, notes);
    cJSON *t = NULL;
    if (n < 0) snprintf(err, errlen, "cannot read directory '%s'", dir);
    else if (n == 0) snprintf(err, errlen, "no run reports in '%s'", dir);
    else {
        t = table_head(dir, &o, &L, n);
        cJSON_AddItemToObject(t, "skipped", skipped);
        skipped = NULL;
        cJSON_AddItemToObject(t, "cells", make_cells(&L, runs, n));
    }
    for (int i = 0; i < (n > 0 ? n : 0); i++) cJSON_Delete(runs[i].row), cJSON_Delete(runs[i].col),
                                                 cJSON_Delete(runs[i].over);
    free(runs);
    cJSON_Delete(skipped);
    return t;
}

int table_failures(const cJSON *t) {
    int bad = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(t, "cells")) bad += cJSON_IsFalse(
        cJSON_GetObjectItemCaseSensitive(c, "pass"));
    return bad;
}

/* ---- markdown ---- */

static void md_value(FILE *f, const cJSON *v) {
    if (cJSON_IsString(v)) fputs(v->valuestring, f);
    else if (cJSON_IsNumber(v)) fprintf(f, "%g", v->valuedouble);
    else if (cJSON_IsBool(v)) fputs(cJSON_IsTrue(v) ? "true" : "false", f);
    else fputs("-", f);
}

static void md_pct(FILE *f, const cJSON *cell, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cell, key);
    if (cJSON_IsNumber(v)) fprintf(f, " %.1f |", 100.0 * v->valuedouble);
    else fputs(" - |", f);
}

static const char *str_field(const cJSON *t, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(t, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void md_head(FILE *f, const cJSON *t) {
    const char *over = str_field(t, "over");
    bool best = strcmp(str_field(t, "metric"), "best") == 0;
    fprintf(f, "%s test accuracy (%%), %d run reports in %s: ", best ? "Best-epoch" : "Final",
            (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(t, "runs")), str_field(t, "dir"));
    if (over)
        fprintf(f, "runs grouped by %s within a cell, each value averaged over its runs; the best value's "
                   "mean ± sample std (n runs) and best run, the median over values.\n\n", over);
    else fputs("mean ± sample std over the ok runs (n), the best run.\n\n", f);
    fprintf(f, "| %s | %s |", str_field(t, "row_field"), str_field(t, "col_field"));
    if (over) fprintf(f, " best %s |", str_field(t, "over_field"));
    fprintf(f, " n | mean ± std %% | best %% |%s paper %% | chance %% | pass | runs |\n", over ? " median % |" : "");
    fprintf(f, "|---|---|%s---:|---:|---:|%s---:|---:|:---:|---|\n", over ? "---:|" : "", over ? "---:|" : "");
}

static void md_statuses(FILE *f, const cJSON *cell) {
    const cJSON *st;
    bool first = true;
    cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(cell, "statuses")) {
        fprintf(f, "%s%d %s", first ? " " : ", ", (int)st->valuedouble, st->string);
        first = false;
    }
    fputs(" |\n", f);
}

static void md_cell(FILE *f, const cJSON *t, const cJSON *cell) {
    fputs("| ", f);
    md_value(f, cJSON_GetObjectItemCaseSensitive(cell, str_field(t, "row_field")));
    fputs(" | ", f);
    md_value(f, cJSON_GetObjectItemCaseSensitive(cell, str_field(t, "col_field")));
    fputs(" |", f);
    if (str_field(t, "over")) {
        fputs(" ", f);
        md_value(f, cJSON_GetObjectItemCaseSensitive(cell, "best_value"));
        fputs(" |", f);
    }
    const cJSON *mean = cJSON_GetObjectItemCaseSensitive(cell, "mean");
    const cJSON *sd = cJSON_GetObjectItemCaseSensitive(cell, "std");
    fprintf(f, " %d |", (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(cell, "n")));
    if (cJSON_IsNumber(mean)) fprintf(f, " %.1f ± %.1f |", 100.0 * mean->valuedouble, 100.0 * sd->valuedouble);
    else fputs(" - |", f);
    md_pct(f, cell, "best");
    if (str_field(t, "over")) md_pct(f, cell, "median");
    md_pct(f, cell, "paper");
    md_pct(f, cell, "chance");
    const cJSON *pass = cJSON_GetObjectItemCaseSensitive(cell, "pass");
    fprintf(f, " %s |", cJSON_IsTrue(pass) ? "PASS" : cJSON_IsFalse(pass) ? "FAIL" : "-");
    md_statuses(f, cell);
}

char *table_markdown(const cJSON *t) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) hp_die("open_memstream failed");
    md_head(f, t);
    const cJSON *cell;
    cJSON_ArrayForEach(cell, cJSON_GetObjectItemCaseSensitive(t, "cells")) md_cell(f, t, cell);
    const char *ref = str_field(t, "reference"), *note = str_field(t, "note");
    if (ref) fprintf(f, "\nReference: %s%s%s\n", ref, note ? ". " : "", note ? note : "");
    if (fclose(f) != 0) hp_die("writing the markdown table failed");
    return buf;
}
