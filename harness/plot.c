/* plot.c — SVG plots through gnuplot (`hippodrome plot`).
 *
 * Two kinds: the test-accuracy-vs-epoch curves of a folder of run reports, one
 * SVG per task with every run overlaid (coloured by layer), and the grouped
 * bars of a table (`hippodrome table --json`): one group per row value (task),
 * one bar per column value (layer), mean ± std, the paper's value marked. Each plot is written as a plain data file and
 * a gnuplot script beside the SVG, so a researcher can restyle and rerun it;
 * gnuplot is only needed to render. */
#include "plot.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/base.h"
#include "cli.h"
#include "report.h"

#define PLOT_MAX_RUNS 4096
#define PLOT_MAX_KEYS 64

/* A small set of distinct names in first-seen order (tasks, layers). */
struct names {
    int n;
    char v[PLOT_MAX_KEYS][64];
};

static int names_index(struct names *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0) return i;
    if (s->n == PLOT_MAX_KEYS) return -1;
    snprintf(s->v[s->n], sizeof s->v[0], "%s", name);
    return s->n++;
}

static const char *str_at(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num_at(const cJSON *o, const char *k, double fallback) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

/* Text for a gnuplot single-quoted string (the terminal is noenhanced, so
 * '_' is literal): a quote is doubled. */
static void plot_title(const char *in, char *out, size_t len) {
    size_t j = 0;
    for (size_t i = 0; in[i] && j + 3 < len; i++) {
        if (in[i] == '\'') out[j++] = '\'';
        out[j++] = in[i];
    }
    out[j] = '\0';
}

/* mkdir -p */
static int ensure_dir(const char *dir, char *err, size_t errlen) {
    char path[4096];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1;; p++) {
        bool end = *p == '\0';
        if (*p != '/' && !end) continue;
        *p = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create '%s': %s", path, strerror(errno));
            return -1;
        }
        if (end) return 0;
        *p = '/';
    }
}

/* The file name after the last '/': scripts name their data and SVG by it,
 * so a folder of plots can be moved and its scripts rerun inside it. */
static const char *base_name(const char *path) {
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* Render a script with gnuplot inside its folder (it writes the SVG it names). */
static int run_gnuplot(const char *outdir, const char *script, char *err, size_t errlen) {
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "cd '%s' && gnuplot '%s'", outdir, base_name(script));
    int rc = system(cmd);
    if (rc != 0) {
        snprintf(err, errlen, "gnuplot failed on '%s' (exit status %d)", script, rc);
        return -1;
    }
    return 0;
}

bool plot_have_gnuplot(void) { return system("command -v gnuplot >/dev/null 2>&1") == 0; }

/* ---- curves ---- */

struct run_curve {
    int task, layer; /* indices into the name sets */
    char name[128];
    const cJSON *acc; /* test_accuracy array of the report */
};

/* The runs of DIR that are run reports with at least one epoch; skipped files are noted on stderr. */
static int load_runs(const char *dir, cJSON **docs, struct run_curve *runs, struct names *tasks,
                     struct names *layers, int *n_docs) {
    char *paths[PLOT_MAX_RUNS], err[512];
    int n = cli_list_configs(dir, paths, PLOT_MAX_RUNS), nr = 0;
    *n_docs = 0;
    for (int i = 0; i < (n > 0 ? n : 0); i++) {
        cJSON *j = report_read(paths[i], err, sizeof err);
        const cJSON *acc = j ? cJSON_GetObjectItemCaseSensitive(j, "test_accuracy") : NULL;
        const cJSON *model = j ? cJSON_GetObjectItemCaseSensitive(j, "model") : NULL;
        const char *task = j ? str_at(j, "task") : NULL, *layer = model ? str_at(model, "layer") : NULL;
        if (!j || !report_is_run(j) || !cJSON_IsArray(acc) || cJSON_GetArraySize(acc) < 1 || !task || !layer) {
            fprintf(stderr, "plot: skipping '%s' (not a run report with epochs)\n", paths[i]);
            cJSON_Delete(j);
            free(paths[i]);
            continue;
        }
        docs[(*n_docs)++] = j;
        struct run_curve *r = &runs[nr++];
        r->task = names_index(tasks, task), r->layer = names_index(layers, layer), r->acc = acc;
        /* series title: the layer and the training seed (runs of one task differ by these in a grid) */
        const cJSON *seed = cJSON_GetObjectItemCaseSensitive(j, "seed");
        if (cJSON_IsNumber(seed)) snprintf(r->name, sizeof r->name, "%s seed %d", layer, seed->valueint);
        else snprintf(r->name, sizeof r->name, "%s", str_at(j, "name") ? str_at(j, "name") : paths[i]);
        free(paths[i]);
    }
    return n < 0 ? -1 : nr;
}

/* One data block per run (gnuplot `index`), epoch and accuracy in percent. */
static void write_curve_data(FILE *f, const struct run_curve *r) {
    fprintf(f, "# %s\n", r->name);
    int e = 0;
    const cJSON *a;
    cJSON_ArrayForEach(a, r->acc) fprintf(f, "%d %.4f\n", ++e, 100 * (cJSON_IsNumber(a) ? a->valuedouble : 0));
    fprintf(f, "\n\n");
}

static int curves_for_task(const char *outdir, const char *task, const struct run_curve *runs, int nr, int t,
                           bool render, char *err, size_t errlen) {
    char dat[4096], gp[4096], svg[4096], title[160], series[160];
    snprintf(dat, sizeof dat, "%s/%s_curves.dat", outdir, task);
    snprintf(gp, sizeof gp, "%s/%s_curves.gp", outdir, task);
    snprintf(svg, sizeof svg, "%s/%s_curves.svg", outdir, task);
    FILE *d = fopen(dat, "w"), *g = fopen(gp, "w");
    if (!d || !g) {
        snprintf(err, errlen, "cannot write '%s' or '%s': %s", dat, gp, strerror(errno));
        if (d) fclose(d);
        if (g) fclose(g);
        return -1;
    }
    plot_title(task, title, sizeof title);
    fprintf(g, "set terminal svg size 900,560 dynamic noenhanced font 'sans,12'\nset output '%s'\n", base_name(svg));
    fprintf(g, "set title 'test accuracy by epoch: %s'\nset xlabel 'epoch'\nset ylabel 'accuracy (%%)'\n", title);
    fprintf(g, "set yrange [0:100]\nset key outside right top\nset grid\nplot \\\n");
    int k = 0;
    for (int i = 0; i < nr; i++) {
        if (runs[i].task != t) continue;
        write_curve_data(d, &runs[i]);
        plot_title(runs[i].name, series, sizeof series);
        fprintf(g, "%s  '%s' index %d using 1:2 with lines lc %d lw 1.5 title '%s'", k ? ", \\\n" : "", base_name(dat), k,
                runs[i].layer + 1, series);
        k++;
    }
    fprintf(g, "\n");
    bool bad = ferror(d) || ferror(g);
    bad |= fclose(d) != 0, bad |= fclose(g) != 0;
    if (bad) {
        snprintf(err, errlen, "cannot write '%s' or '%s'", dat, gp);
        return -1;
    }
    return render ? run_gnuplot(outdir, gp, err, errlen) : 0;
}

int plot_curves(const char *dir, const char *outdir, bool render, char *err, size_t errlen) {
    static cJSON *docs[PLOT_MAX_RUNS];
    static struct run_curve runs[PLOT_MAX_RUNS];
    struct names tasks = {0}, layers = {0};
    int n_docs = 0, nr = load_runs(dir, docs, runs, &tasks, &layers, &n_docs), rc = 0;
    if (nr < 0) snprintf(err, errlen, "cannot read the folder '%s'", dir), rc = -1;
    else if (nr == 0) snprintf(err, errlen, "no run reports with epochs in '%s'", dir), rc = -1;
    if (rc == 0) rc = ensure_dir(outdir, err, errlen);
    for (int t = 0; rc == 0 && t < tasks.n; t++) rc = curves_for_task(outdir, tasks.v[t], runs, nr, t, render, err, errlen);
    for (int i = 0; i < n_docs; i++) cJSON_Delete(docs[i]);
    return rc;
}

/* ---- grouped bars from a table ---- */

/* x of layer l in task group t: groups of n_layers bars one gap apart. */
static double bar_x(int t, int l, int n_layers) { return t * (n_layers + 1) + l; }

/* Groups are the table's row values, one bar per column value ("task" and
 * "layer" for the synthetics table). */
static int write_bars(FILE *d, FILE *g, const cJSON *cells, const char *rf, const char *cf, const struct names *tasks,
                      const struct names *layers, const char *dat, const char *svg, const char *title) {
    const cJSON *c;
    bool has_paper[PLOT_MAX_KEYS] = {0};
    for (int l = 0; l < layers->n; l++) { /* block l: this layer's bar in every task group */
        fprintf(d, "# %s: x mean std paper (percent; paper '?' when unknown)\n", layers->v[l]);
        cJSON_ArrayForEach(c, cells) {
            const char *task = str_at(c, rf), *layer = str_at(c, cf);
            if (!task || !layer || strcmp(layer, layers->v[l]) != 0) continue;
            int t = 0;
            while (t < tasks->n && strcmp(tasks->v[t], task) != 0) t++;
            double paper = num_at(c, "paper", -1); /* a fraction, like mean and std */
            fprintf(d, "%g %.4f %.4f ", bar_x(t, l, layers->n), 100 * num_at(c, "mean", 0), 100 * num_at(c, "std", 0));
            if (paper >= 0) fprintf(d, "%.4f\n", 100 * paper), has_paper[l] = true;
            else fprintf(d, "?\n");
        }
        fprintf(d, "\n\n");
    }
    fprintf(g, "set terminal svg size 900,560 dynamic noenhanced font 'sans,12'\nset output '%s'\n", base_name(svg));
    fprintf(g, "set title '%s'\nset ylabel 'test accuracy (%%), mean ± std over runs'\nset yrange [0:105]\n", title);
    fprintf(g, "set style fill solid 0.6 border -1\nset boxwidth 0.9\nset key outside right top\nset grid ytics\n");
    if (tasks->n > 5) fprintf(g, "set xtics rotate by -30\n"); /* many group names would overlap */
    fprintf(g, "set datafile missing '?'\nset xrange [-1:%g]\nset xtics (", bar_x(tasks->n - 1, layers->n, layers->n));
    for (int t = 0; t < tasks->n; t++) {
        char name[160];
        plot_title(tasks->v[t], name, sizeof name);
        fprintf(g, "%s'%s' %g", t ? ", " : "", name, bar_x(t, 0, layers->n) + (layers->n - 1) / 2.0);
    }
    fprintf(g, ")\nplot \\\n");
    for (int l = 0; l < layers->n; l++) {
        char name[160];
        plot_title(layers->v[l], name, sizeof name);
        fprintf(g, "%s  '%s' index %d using 1:2:3 with boxerrorbars lc %d title '%s'", l ? ", \\\n" : "", base_name(dat), l,
                l + 1, name);
    }
    bool titled = false; /* the paper marks of layers that have any */
    for (int l = 0; l < layers->n; l++) {
        if (!has_paper[l]) continue;
        fprintf(g, ", \\\n  '%s' index %d using 1:4 with points pt 7 ps 1.2 lc rgb 'black' %s", base_name(dat), l,
                titled ? "notitle" : "title 'paper'");
        titled = true;
    }
    fprintf(g, "\n");
    return 0;
}

int plot_bars(const char *table_json, const char *outdir, const char *stem, const char *title, bool render,
              char *err, size_t errlen) {
    cJSON *j = report_read(table_json, err, errlen);
    if (!j) return -1;
    const cJSON *cells = cJSON_GetObjectItemCaseSensitive(j, "cells"), *c;
    const char *rf = str_at(j, "row_field") ? str_at(j, "row_field") : "task";
    const char *cf = str_at(j, "col_field") ? str_at(j, "col_field") : "layer";
    struct names tasks = {0}, layers = {0};
    cJSON_ArrayForEach(c, cells) {
        const char *task = str_at(c, rf), *layer = str_at(c, cf);
        if (task && layer && names_index(&tasks, task) >= 0) names_index(&layers, layer);
    }
    if (!cJSON_IsArray(cells) || tasks.n == 0) {
        snprintf(err, errlen, "'%s' has no cells with a '%s' and a '%s' (write it with hippodrome table --json)",
                 table_json, rf, cf);
        cJSON_Delete(j);
        return -1;
    }
    char dat[4096], gp[4096], svg[4096];
    snprintf(dat, sizeof dat, "%s/%s.dat", outdir, stem);
    snprintf(gp, sizeof gp, "%s/%s.gp", outdir, stem);
    snprintf(svg, sizeof svg, "%s/%s.svg", outdir, stem);
    int rc = ensure_dir(outdir, err, errlen);
    FILE *d = rc ? NULL : fopen(dat, "w"), *g = rc ? NULL : fopen(gp, "w");
    if (rc == 0 && (!d || !g)) snprintf(err, errlen, "cannot write '%s' or '%s': %s", dat, gp, strerror(errno)), rc = -1;
    if (rc == 0) write_bars(d, g, cells, rf, cf, &tasks, &layers, dat, svg, title);
    if (d && (ferror(d) | fclose(d))) rc = rc ? rc : (snprintf(err, errlen, "cannot write '%s'", dat), -1);
    if (g && (ferror(g) | fclose(g))) rc = rc ? rc : (snprintf(err, errlen, "cannot write '%s'", gp), -1);
    cJSON_Delete(j);
    return rc || !render ? rc : run_gnuplot(outdir, gp, err, errlen);
}
