/* verb_plot.c — `hippodrome plot DIR [--out DIR] [--table FILE]`: SVG
 * accuracy curves of a folder of run reports and, with --table, the grouped
 * bars of a table, through gnuplot (plot.c). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "plot.h"

/* "results/synthetics/table.json" -> "table" */
static void stem_of(const char *path, char *out, size_t len) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strcspn(base, ".");
    snprintf(out, len, "%.*s", (int)n, base);
}

static int run_plot(const struct args *a) {
    const char *dir = a->pos[0], *table = args_get(a, "--table");
    const char *title = args_get(a, "--title") ? args_get(a, "--title") : "test accuracy by task and layer";
    char out[4096], err[1024], stem[256];
    snprintf(out, sizeof out, "%s", args_get(a, "--out") ? args_get(a, "--out") : dir);
    if (strcmp(out, dir) == 0) snprintf(out, sizeof out, "%s/plots", dir);
    if (!plot_have_gnuplot()) { /* a missing tool, not a wrong command: exit 1 */
        fprintf(stderr, "hippodrome plot: gnuplot not found on PATH; install it (Debian: apt-get install gnuplot-nox; "
                        "`make plots` does this when run as root)\n");
        return EXIT_RUN_FAILED;
    }
    if (plot_curves(dir, out, true, err, sizeof err) != 0) {
        fprintf(stderr, "hippodrome plot: %s\n", err);
        return EXIT_RUN_FAILED;
    }
    if (table) {
        stem_of(table, stem, sizeof stem);
        strncat(stem, "_bars", sizeof stem - strlen(stem) - 1);
        if (plot_bars(table, out, stem, title, true, err, sizeof err) != 0) {
            fprintf(stderr, "hippodrome plot: %s\n", err);
            return EXIT_RUN_FAILED;
        }
    }
    fprintf(stderr, "plots: %s/*.svg (data and gnuplot scripts beside them)\n", out);
    return 0;
}

static const struct flag_spec plot_flags[] = {
    {"--out", "DIR", false, "where the .svg, .dat and .gp files go (default DIR/plots)"},
    {"--table", "FILE", false, "also the grouped bars of a table written by `hippodrome table --json`"},
    {"--title", "TEXT", false, "title of the bar chart"},
};

const struct verb verb_plot = {
    .name = "plot",
    .usage = "DIR [--out DIR] [--table FILE] [--title TEXT]",
    .summary = "SVG plots (gnuplot): accuracy curves of DIR's run reports per task; bars of a table",
    .flags = plot_flags,
    .n_flags = sizeof plot_flags / sizeof plot_flags[0],
    .min_pos = 1,
    .max_pos = 1,
    .run = run_plot,
};
