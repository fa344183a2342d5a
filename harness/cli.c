/* cli.c — verb dispatch, help text and usage errors (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/cpu/conv_table.h"

static const struct verb *const verbs[] = {
    &verb_train, &verb_suite, &verb_sweep, &verb_table, &verb_plot, &verb_list,
    &verb_show,  &verb_data,  &verb_predict, &verb_generate, &verb_bench_train, &verb_bench_long,
    &verb_bench_layers, &verb_bench_generate, &verb_bench_summary, NULL,
};

int cli_usage_error(const char *verb, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "hippodrome %s: ", verb);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see: hippodrome %s --help)\n", verb);
    va_end(ap);
    return EXIT_USAGE;
}

static void verb_help(FILE *out, const struct verb *v) {
    fprintf(out, "usage: hippodrome %s %s\n\n%s\n", v->name, v->usage, v->summary);
    if (v->n_flags) fprintf(out, "\nflags:\n");
    for (int i = 0; i < v->n_flags; i++) {
        const struct flag_spec *f = &v->flags[i];
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", f->name, f->meta ? " " : "", f->meta ? f->meta : "");
        fprintf(out, "  %-22s %s%s\n", left, f->help, f->repeat ? " (repeatable)" : "");
    }
    fprintf(out, "  %-22s %s\n", "-h, --help", "this help");
}

static void main_help(FILE *out) {
    fprintf(out, "hippodrome — train small sequence models (H3 and its ablations, S4D, GSS, attention) on synthetic languages\n\n"
                 "usage: hippodrome VERB [flags]\n\nverbs:\n");
    for (int i = 0; verbs[i]; i++) fprintf(out, "  %-12s %s\n", verbs[i]->name, verbs[i]->summary);
    fprintf(out, "\n'hippodrome VERB --help' describes a verb's flags.\n"
                 "exit status: 0 success, 1 run failed (diverged, a result not written), 2 usage or input error\n"
                 "(nothing run), 130/143 train stopped by SIGINT/SIGTERM after a checkpoint\n");
}

static const struct verb *find_verb(const char *name) {
    for (int i = 0; verbs[i]; i++)
        if (strcmp(verbs[i]->name, name) == 0) return verbs[i];
    return NULL;
}

static int run_verb(const struct verb *v, int argc, char **argv) {
    struct args a;
    char err[1024];
    if (args_parse(argc, argv, v->flags, v->n_flags, &a, err, sizeof err) != 0)
        return cli_usage_error(v->name, "%s", err);
    if (a.help) {
        verb_help(stdout, v);
        return 0;
    }
    if (a.n_pos < v->min_pos) return cli_usage_error(v->name, "missing argument (usage: %s)", v->usage);
    if (a.n_pos > v->max_pos) return cli_usage_error(v->name, "unexpected argument '%s'", a.pos[v->max_pos]);
    return v->run(&a);
}

int cli_main(int argc, char **argv) {
    if (argc < 2) {
        main_help(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        main_help(stdout);
        return 0;
    }
    /* Before any op runs: a measured crossover table (make bench) replaces the built-in one. */
    char err[768];
    if (conv_table_from_env(err, sizeof err)) {
        fprintf(stderr, "hippodrome: %s\n", err);
        return EXIT_USAGE;
    }
    const struct verb *v = find_verb(argv[1]);
    if (!v) {
        fprintf(stderr, "hippodrome: unknown verb '%s'; verbs are:", argv[1]);
        for (int i = 0; verbs[i]; i++) fprintf(stderr, " %s", verbs[i]->name);
        fprintf(stderr, "\n(see: hippodrome --help)\n");
        return EXIT_USAGE;
    }
    return run_verb(v, argc - 2, argv + 2);
}

int cli_parse_ids(const char *flag, const char *text, int V, int32_t *out, int max, char *err, size_t errlen) {
    int n = 0;
    for (const char *p = text;;) {
        while (*p == ' ' || *p == ',' || *p == '\t') p++;
        if (!*p) break;
        char *end = NULL;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v >= V) {
            snprintf(err, errlen, "%s: '%.*s' is not a token id in [0, %d)", flag, (int)strcspn(p, " ,\t"), p, V);
            return -1;
        }
        if (n == max) {
            snprintf(err, errlen, "%s: more than %d tokens (the model's longest input)", flag, max);
            return -1;
        }
        out[n++] = (int32_t)v;
        p = end;
    }
    if (n == 0) snprintf(err, errlen, "%s: no token ids given", flag);
    return n ? n : -1;
}
