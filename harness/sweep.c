/* sweep.c — parse a sweep file and expand it into resolved runs (see sweep.h). */
#include "sweep.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/base.h"
#include "paths.h"
#include "report.h"

#define SWEEP_MAX_AXES 16

struct axis_value {
    char label[CONFIG_NAME];
    const cJSON *set;    /* labelled axis: {key: value} (may be NULL) */
    const cJSON *value;  /* key axis: the scalar */
};

struct axis {
    const char *name;
    bool is_key;         /* the name is a config key ("train.seed") */
    int n;
    struct axis_value *v;
};

/* The parsed file: base configs are the first axis. */
struct spec {
    const char *path;
    FILE *sources;       /* collects the file's and the base configs' paths */
    bool plain;          /* every one of them can stand in a makefile unquoted */
    cJSON *file;
    const cJSON *set;
    struct axis configs; /* v[i].label: config name */
    cJSON **base;        /* one document per config */
    int n_axes;
    struct axis axes[SWEEP_MAX_AXES];
};

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static bool safe_char(char ch) { return isalnum((unsigned char)ch) || ch == '_' || ch == '-' || ch == '.'; }

static bool safe_name(const char *s, size_t max) {
    size_t n = strlen(s);
    if (n == 0 || n >= max || s[0] == '.') return false;
    for (size_t i = 0; i < n; i++)
        if (!safe_char(s[i])) return false;
    return true;
}

/* Label text of a scalar: shortest exact number, string, true/false; made
 * filesystem-safe ('+' dropped, other unsafe characters -> '-'). */
static void scalar_text(const cJSON *v, char *out, size_t len) {
    char raw[128];
    if (cJSON_IsNumber(v)) {
        snprintf(raw, sizeof raw, "%.15g", v->valuedouble);
        if (strtod(raw, NULL) != v->valuedouble) snprintf(raw, sizeof raw, "%.17g", v->valuedouble);
    } else if (cJSON_IsString(v)) {
        snprintf(raw, sizeof raw, "%s", v->valuestring);
    } else {
        snprintf(raw, sizeof raw, "%s", cJSON_IsTrue(v) ? "true" : "false");
    }
    size_t k = 0;
    for (const char *p = raw; *p && k + 1 < len; p++)
        if (*p != '+') out[k++] = safe_char(*p) ? *p : '-';
    out[k] = '\0';
}

/* A path make can take unquoted. */
static bool make_safe(const char *p) {
    for (; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("_./-", *p)) return false;
    return true;
}

static bool reserved_key(const char *key) {
    return strcmp(key, "name") == 0 || strcmp(key, "sweep") == 0 || strncmp(key, "sweep.", 6) == 0;
}

static int check_set(const cJSON *set, const char *where, char *err, size_t errlen) {
    if (!cJSON_IsObject(set)) return fail(err, errlen, "%s must be an object of {\"key\": value}", where);
    for (const cJSON *k = set->child; k; k = k->next)
        if (reserved_key(k->string))
            return fail(err, errlen, "%s: key '%s' is the sweep's own (run name and labels)", where, k->string);
    return 0;
}

/* {"label": L, "set": {...}} of a labelled axis. */
static int parse_labelled(const cJSON *item, struct axis_value *v, const char *axis, int i, char *err,
                          size_t errlen) {
    char where[160];
    snprintf(where, sizeof where, "axis '%s' value %d", axis, i + 1);
    if (!cJSON_IsObject(item))
        return fail(err, errlen, "%s: must be an object {\"label\": ..., \"set\": {...}} (axis '%s' is not a "
                    "config key: a config key has a '.', e.g. train.seed)", where, axis);
    for (const cJSON *k = item->child; k; k = k->next)
        if (strcmp(k->string, "label") && strcmp(k->string, "set"))
            return fail(err, errlen, "%s: unknown key '%s'; valid keys are: label, set", where, k->string);
    const cJSON *label = cJSON_GetObjectItemCaseSensitive(item, "label");
    if (!cJSON_IsString(label) || !safe_name(label->valuestring, CONFIG_NAME))
        return fail(err, errlen, "%s: \"label\" must be 1-%d characters of [A-Za-z0-9_.-] (it names runs)", where,
                    CONFIG_NAME - 1);
    snprintf(v->label, sizeof v->label, "%s", label->valuestring);
    v->set = cJSON_GetObjectItemCaseSensitive(item, "set");
    snprintf(where + strlen(where), sizeof where - strlen(where), " ('%s') set", v->label);
    return v->set ? check_set(v->set, where, err, errlen) : 0;
}

static int parse_scalar(const cJSON *item, struct axis_value *v, const char *axis, int i, char *err, size_t errlen) {
    if (!cJSON_IsNumber(item) && !cJSON_IsString(item) && !cJSON_IsBool(item))
        return fail(err, errlen, "axis '%s' value %d: a config-key axis takes numbers, strings or booleans", axis,
                    i + 1);
    const char *leaf = strrchr(axis, '.') + 1;
    char text[CONFIG_NAME];
    scalar_text(item, text, sizeof text);
    snprintf(v->label, sizeof v->label, "%.30s%.32s", leaf, text);
    v->value = item;
    return 0;
}

static int parse_axis(const cJSON *arr, struct axis *ax, char *err, size_t errlen) {
    ax->name = arr->string;
    ax->is_key = strchr(ax->name, '.') != NULL;
    if (strcmp(ax->name, "config") == 0) return fail(err, errlen, "axis 'config' is the configs list's own label");
    if (ax->is_key && reserved_key(ax->name))
        return fail(err, errlen, "axis '%s': the key is the sweep's own (run name and labels)", ax->name);
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0)
        return fail(err, errlen, "axis '%s' must be a non-empty array", ax->name);
    ax->n = cJSON_GetArraySize(arr);
    ax->v = xcalloc((size_t)ax->n, sizeof *ax->v);
    int i = 0;
    for (const cJSON *item = arr->child; item; item = item->next, i++) {
        int rc = ax->is_key ? parse_scalar(item, &ax->v[i], ax->name, i, err, errlen)
                            : parse_labelled(item, &ax->v[i], ax->name, i, err, errlen);
        if (rc) return -1;
    }
    return 0;
}

/* The part of an absolute path below the working directory, else the path:
 * runs.mk names its sources as the user would, and keeps working in a
 * checkout at another place. */
static const char *below_cwd(const char *path) {
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return path;
    size_t n = strlen(cwd);
    return strncmp(path, cwd, n) == 0 && path[n] == '/' ? path + n + 1 : path;
}

/* Base config i: a path, or {"path": P, "label": L}; loaded, labelled by L,
 * else its "name", else its file stem. */
static int load_base(const cJSON *entry, struct spec *sp, int i, char *err, size_t errlen) {
    const cJSON *item = entry, *label = NULL;
    if (cJSON_IsObject(entry)) {
        for (const cJSON *k = entry->child; k; k = k->next)
            if (strcmp(k->string, "path") != 0 && strcmp(k->string, "label") != 0)
                return fail(err, errlen, "\"configs\" entry %d: unknown key '%s'; valid keys are: path, label", i + 1,
                            k->string);
        item = cJSON_GetObjectItemCaseSensitive(entry, "path");
        label = cJSON_GetObjectItemCaseSensitive(entry, "label");
        if (label && !cJSON_IsString(label))
            return fail(err, errlen, "\"configs\" entry %d: \"label\" must be a string", i + 1);
    }
    if (!cJSON_IsString(item))
        return fail(err, errlen, "\"configs\" entry %d must be a path string or {\"path\": ..., \"label\": ...}",
                    i + 1);
    char path[4096];
    if (repo_path(item->valuestring, path, sizeof path) != 0)
        return fail(err, errlen, "config '%s' not found (relative paths are from the repository root)",
                    item->valuestring);
    sp->base[i] = config_doc_load(path, err, errlen);
    if (!sp->base[i]) return -1;
    const char *shown = below_cwd(path);
    fprintf(sp->sources, " %s", shown);
    sp->plain = sp->plain && make_safe(shown);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(sp->base[i], "name");
    char stem[CONFIG_NAME];
    const char *slash = strrchr(item->valuestring, '/');
    snprintf(stem, sizeof stem, "%s", slash ? slash + 1 : item->valuestring);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem) *dot = '\0';
    snprintf(sp->configs.v[i].label, CONFIG_NAME, "%s",
             label ? label->valuestring : cJSON_IsString(name) ? name->valuestring : stem);
    if (!safe_name(sp->configs.v[i].label, CONFIG_NAME))
        return fail(err, errlen, "config '%s': its label '%s' is not 1-%d characters of [A-Za-z0-9_.-]",
                    item->valuestring, sp->configs.v[i].label, CONFIG_NAME - 1);
    return 0;
}

static int parse_configs(const cJSON *arr, struct spec *sp, char *err, size_t errlen) {
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0)
        return fail(err, errlen, "\"configs\" must be a non-empty array of config files");
    sp->configs.name = "config";
    sp->configs.n = cJSON_GetArraySize(arr);
    sp->configs.v = xcalloc((size_t)sp->configs.n, sizeof *sp->configs.v);
    sp->base = xcalloc((size_t)sp->configs.n, sizeof *sp->base);
    int i = 0;
    for (const cJSON *item = arr->child; item; item = item->next, i++)
        if (load_base(item, sp, i, err, errlen)) return -1;
    return 0;
}

static int parse_top(const cJSON *f, struct sweep *s, char *err, size_t errlen) {
    static const char *const keys[] = {"name", "description", "configs", "axes", "set", NULL};
    for (const cJSON *k = f->child; k; k = k->next) {
        int j = 0;
        while (keys[j] && strcmp(keys[j], k->string)) j++;
        if (!keys[j])
            return fail(err, errlen, "unknown key '%s'; valid keys are: name, description, configs, axes, set",
                        k->string);
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
    if (!cJSON_IsString(name) || !safe_name(name->valuestring, SWEEP_NAME))
        return fail(err, errlen, "\"name\" must be 1-%d characters of [A-Za-z0-9_.-] (it names results/<name>/)",
                    SWEEP_NAME - 1);
    snprintf(s->name, sizeof s->name, "%s", name->valuestring);
    return 0;
}

static int parse_spec(struct spec *sp, struct sweep *s, char *err, size_t errlen) {
    if (!cJSON_IsObject(sp->file)) return fail(err, errlen, "the top level must be a JSON object");
    if (parse_top(sp->file, s, err, errlen)) return -1;
    if (parse_configs(cJSON_GetObjectItemCaseSensitive(sp->file, "configs"), sp, err, errlen)) return -1;
    sp->set = cJSON_GetObjectItemCaseSensitive(sp->file, "set");
    if (sp->set && check_set(sp->set, "\"set\"", err, errlen)) return -1;
    const cJSON *axes = cJSON_GetObjectItemCaseSensitive(sp->file, "axes");
    if (axes && !cJSON_IsObject(axes)) return fail(err, errlen, "\"axes\" must be an object {axis: [values]}");
    for (const cJSON *a = axes ? axes->child : NULL; a; a = a->next) {
        if (sp->n_axes == SWEEP_MAX_AXES) return fail(err, errlen, "more than %d axes", SWEEP_MAX_AXES);
        for (int j = 0; j < sp->n_axes; j++)
            if (!strcmp(sp->axes[j].name, a->string)) return fail(err, errlen, "axis '%s' appears twice", a->string);
        if (parse_axis(a, &sp->axes[sp->n_axes++], err, errlen)) return -1;
    }
    return 0;
}

static void spec_free(struct spec *sp) {
    for (int i = 0; sp->base && i < sp->configs.n; i++) cJSON_Delete(sp->base[i]);
    free(sp->base);
    free(sp->configs.v);
    for (int a = 0; a < sp->n_axes; a++) free(sp->axes[a].v);
    cJSON_Delete(sp->file);
}

/* ---- expansion ---- */

static int apply_set(cJSON *doc, const cJSON *set, char *err, size_t errlen) {
    for (const cJSON *k = set ? set->child : NULL; k; k = k->next)
        if (config_doc_set_json(doc, k->string, k, err, errlen)) return -1;
    return 0;
}

/* The run at config c and axis indices idx: its document, name and labels. */
static int build_doc(const struct spec *sp, const char *sweep, int c, const int *idx, struct sweep_run *run,
                     char *err, size_t errlen) {
    cJSON *doc = cJSON_Duplicate(sp->base[c], true);
    HP_CHECK(doc != NULL);
    run->doc = doc;
    cJSON *labels = cJSON_CreateObject();
    cJSON_AddStringToObject(labels, "config", sp->configs.v[c].label);
    char name[512];
    snprintf(name, sizeof name, "%s", sp->configs.v[c].label);
    int rc = apply_set(doc, sp->set, err, errlen);
    for (int a = 0; a < sp->n_axes && rc == 0; a++) {
        const struct axis *ax = &sp->axes[a];
        const struct axis_value *v = &ax->v[idx[a]];
        snprintf(name + strlen(name), sizeof name - strlen(name), "__%s", v->label);
        if (ax->is_key) {
            rc = config_doc_set_json(doc, ax->name, v->value, err, errlen);
            cJSON_AddItemToObject(labels, ax->name, cJSON_Duplicate(v->value, true));
        } else {
            rc = apply_set(doc, v->set, err, errlen);
            cJSON_AddStringToObject(labels, ax->name, v->label);
        }
    }
    snprintf(run->name, sizeof run->name, "%.*s", CONFIG_NAME - 1, name);
    if (rc == 0 && strlen(name) >= CONFIG_NAME)
        rc = fail(err, errlen, "run name '%s' is longer than %d characters; use shorter labels", name,
                  CONFIG_NAME - 1);
    cJSON_DeleteItemFromObjectCaseSensitive(doc, "name");
    cJSON_AddStringToObject(doc, "name", run->name);
    cJSON *meta = cJSON_AddObjectToObject(doc, "sweep");
    cJSON_AddStringToObject(meta, "name", sweep);
    cJSON_AddStringToObject(meta, "run", run->name);
    cJSON_AddItemToObject(meta, "labels", labels);
    return rc;
}

/* Resolve the document, then replace it by the canonical resolved config
 * (plus its "sweep" object): what the run's config file holds. */
static int resolve_run(struct sweep_run *run, char *err, size_t errlen) {
    if (config_resolve(run->doc, &run->cfg, err, errlen)) return -1;
    run->hash = config_hash(&run->cfg);
    cJSON *meta = cJSON_DetachItemFromObjectCaseSensitive(run->doc, "sweep");
    cJSON_Delete(run->doc);
    run->doc = config_to_json(&run->cfg);
    cJSON_AddItemToObject(run->doc, "sweep", meta);
    return 0;
}

static int count_runs(const struct spec *sp, char *err, size_t errlen) {
    long n = sp->configs.n;
    for (int a = 0; a < sp->n_axes; a++) {
        n *= sp->axes[a].n;
        if (n > SWEEP_MAX_RUNS) return fail(err, errlen, "more than %d runs", SWEEP_MAX_RUNS);
    }
    return (int)n;
}

/* Odometer over the axes, last axis fastest; false after the last point. */
static bool next_point(const struct spec *sp, int *idx) {
    for (int a = sp->n_axes - 1; a >= 0; a--) {
        if (++idx[a] < sp->axes[a].n) return true;
        idx[a] = 0;
    }
    return false;
}

static int expand(const struct spec *sp, struct sweep *s, char *err, size_t errlen) {
    int n = count_runs(sp, err, errlen);
    if (n < 0) return -1;
    s->runs = xcalloc((size_t)n, sizeof *s->runs);
    char inner[2048];
    for (int c = 0; c < sp->configs.n; c++) {
        int idx[SWEEP_MAX_AXES] = {0};
        do {
            struct sweep_run *run = &s->runs[s->n_runs++];
            if (build_doc(sp, s->name, c, idx, run, inner, sizeof inner) || resolve_run(run, inner, sizeof inner))
                return fail(err, errlen, "run '%s': %s", run->name, inner);
            for (int j = 0; j + 1 < s->n_runs; j++)
                if (!strcmp(s->runs[j].name, run->name))
                    return fail(err, errlen, "two runs are named '%s' (give the configs or labels distinct names)",
                                run->name);
        } while (next_point(sp, idx));
    }
    return 0;
}

int sweep_load(const char *path, struct sweep *s, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    struct spec sp = {.path = path, .plain = make_safe(path)};
    size_t len = 0;
    sp.sources = open_memstream(&s->sources, &len);
    if (!sp.sources) hp_die("open_memstream failed");
    fputs(path, sp.sources);
    char inner[2048];
    sp.file = report_read(path, inner, sizeof inner);
    int rc = sp.file ? 0 : fail(err, errlen, "sweep: %s", inner);
    if (rc == 0 && (parse_spec(&sp, s, inner, sizeof inner) || expand(&sp, s, inner, sizeof inner)))
        rc = fail(err, errlen, "sweep '%s': %s", path, inner);
    if (fclose(sp.sources) != 0) hp_die("collecting the sweep's sources failed");
    s->sources_plain = sp.plain;
    spec_free(&sp);
    if (rc) sweep_free(s);
    return rc;
}

void sweep_free(struct sweep *s) {
    for (int i = 0; s->runs && i < s->n_runs; i++) cJSON_Delete(s->runs[i].doc);
    free(s->runs);
    free(s->sources);
    memset(s, 0, sizeof *s);
}

char *sweep_run_text(const struct sweep *s, int i) {
    char *text = cJSON_Print(s->runs[i].doc);
    HP_CHECK(text != NULL);
    size_t n = strlen(text);
    char *out = xmalloc(n + 2);
    memcpy(out, text, n);
    out[n] = '\n';
    out[n + 1] = '\0';
    free(text);
    return out;
}

/* ---- generated files ---- */

static FILE *text_open(char **buf, size_t *len) {
    FILE *f = open_memstream(buf, len);
    if (!f) hp_die("open_memstream failed");
    return f;
}

static char *text_close(FILE *f, char **buf) {
    if (fclose(f) != 0) hp_die("writing generated text failed");
    return *buf;
}

/* GNU make remakes a makefile that is a target, then rereads it: an edited
 * sweep file or base config is re-expanded before any run starts. Left out
 * when a path would need quoting in make. */
static void remake_rule(FILE *f, const struct sweep *s, const struct sweep_out *o) {
    if (!o->file || !s->sources_plain || !make_safe(o->file)) return;
    fprintf(f, "\n# Re-expand the sweep when its file or a base config changes.\n%s/runs.mk: %s\n", o->dir, s->sources);
    fprintf(f, "\t$(HIPPODROME) sweep %s --out %s%s\n", o->file, o->dir, o->slurm ? " --slurm" : "");
}

char *sweep_makefile(const struct sweep *s, const struct sweep_out *o) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = text_open(&buf, &len);
    fprintf(f, "# %s/runs.mk: sweep '%s', %d runs; written by `hippodrome sweep`, regenerate rather than edit.\n#\n",
            o->dir, s->name, s->n_runs);
    fprintf(f, "#   make -f %s/runs.mk -j N           every run, N at a time (-k: go on past a crashed run)\n"
               "#   make -f %s/runs.mk %s/RUN.json    one run\n#\n", o->dir, o->dir, o->dir);
    fputs("# Run it from the directory the sweep was expanded in: the paths are relative to it.\n"
          "# A report depends on its run's config file, rewritten only when the config changes,\n"
          "# and the recipe runs `train --skip-done`, which keeps a report holding the run's config\n"
          "# hash. A failed or diverged run still writes its report (its \"status\" says which), so\n"
          "# its recipe succeeds and the others go on; a run that dies without a report fails its\n"
          "# recipe and leaves no report, so the next make redoes it. An edited sweep file or base\n"
          "# config is re-expanded (`hippodrome sweep`) before any run starts.\n"
          "# HIPPODROME=... runs another binary; TRAIN_FLAGS=... goes to every train, e.g. --quiet (no\n"
          "# progress) or --plain (plain lines: with -j, live lines on one terminal replace each other).\n\n", f);
    fprintf(f, "HIPPODROME ?= %s\nTRAIN_FLAGS ?=\n\n.PHONY: %s-all\n%s-all:", o->bin, s->name, s->name);
    for (int i = 0; i < s->n_runs; i++) fprintf(f, " \\\n  %s/%s.json", o->dir, s->runs[i].name);
    fputs("\n", f);
    remake_rule(f, s, o);
    for (int i = 0; i < s->n_runs; i++) {
        const char *r = s->runs[i].name;
        fprintf(f, "\n%s/%s.json: %s/configs/%s.json\n", o->dir, r, o->dir, r);
        fprintf(f, "\t$(HIPPODROME) train --config %s/configs/%s.json --out $@ --skip-done --progress-tag %d/%d "
                   "$(TRAIN_FLAGS) || test -f $@\n", o->dir, r, i + 1, s->n_runs);
    }
    return text_close(f, &buf);
}

static int max_threads(const struct sweep *s) {
    int t = 1;
    for (int i = 0; i < s->n_runs; i++)
        if (cfg_train_int(&s->runs[i].cfg, "threads") > t) t = cfg_train_int(&s->runs[i].cfg, "threads");
    return t;
}

static void sbatch_header(FILE *f, const struct sweep *s, const struct sweep_out *o) {
    fprintf(f, "#!/bin/bash\n# %s/sweep.sbatch: sweep '%s' as a Slurm job array, one array task per run (%d runs);\n"
               "# written by `hippodrome sweep --slurm`, regenerate rather than edit the run list.\n#\n"
               "#   sbatch %s/sweep.sbatch    submit from the directory the sweep was expanded in\n#\n",
            o->dir, s->name, s->n_runs, o->dir);
    fprintf(f, "# Edit the #SBATCH lines for your cluster: --time limits one run (one array task);\n"
               "# --cpus-per-task is the runs' largest train.threads (%d); add --partition, --account, or\n"
               "# --array=0-%d%%K to run at most K at once. Every task runs `train --skip-done`, so a\n"
               "# resubmission redoes only runs whose report is missing or from another config. A failed\n"
               "# or diverged run writes its report and counts as done. Logs: %s/slurm/.\n",
            max_threads(s), s->n_runs - 1, o->dir);
    fprintf(f, "#SBATCH --job-name=%s\n#SBATCH --array=0-%d\n#SBATCH --time=02:00:00\n#SBATCH --cpus-per-task=%d\n"
               "#SBATCH --mem=2G\n#SBATCH --output=%s/slurm/%%A_%%a.out\n\n",
            s->name, s->n_runs - 1, max_threads(s), o->dir);
}

char *sweep_sbatch(const struct sweep *s, const struct sweep_out *o) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = text_open(&buf, &len);
    sbatch_header(f, s, o);
    fprintf(f, "set -eu\nHIPPODROME=${HIPPODROME:-%s}\nRUNS=(\n", o->bin);
    for (int i = 0; i < s->n_runs; i++) fprintf(f, "  %s\n", s->runs[i].name);
    fprintf(f, ")\nrun=${RUNS[$SLURM_ARRAY_TASK_ID]}\nreport=%s/$run.json\n", o->dir);
    fprintf(f, "\"$HIPPODROME\" train --config %s/configs/$run.json --out \"$report\" --skip-done \\\n"
               "  --progress-tag \"$((SLURM_ARRAY_TASK_ID + 1))/%d\" || test -f \"$report\"\n",
            o->dir, s->n_runs);
    return text_close(f, &buf);
}
