/* plot.h — SVG plots through gnuplot: accuracy curves of run reports and
 * grouped bars of a table. Each writes a .dat and a .gp beside the .svg. */
#ifndef HIPPO_PLOT_H
#define HIPPO_PLOT_H

#include <stdbool.h>
#include <stddef.h>

/* Is a gnuplot binary on PATH? */
bool plot_have_gnuplot(void);

/* OUTDIR/<task>_curves.{dat,gp,svg}: test accuracy by epoch of every run
 * report in DIR, one plot per task, runs coloured by layer; the .svg only
 * when `render` (gnuplot runs the .gp). 0 or -1 with err. */
int plot_curves(const char *dir, const char *outdir, bool render, char *err, size_t errlen);

/* OUTDIR/<stem>.{dat,gp,svg}: grouped bars (task groups, one bar per layer,
 * mean ± std) of a table written by `hippodrome table --json`, the paper's
 * value of each cell marked. 0 or -1 with err. */
int plot_bars(const char *table_json, const char *outdir, const char *stem, const char *title, bool render,
              char *err, size_t errlen);

#endif
