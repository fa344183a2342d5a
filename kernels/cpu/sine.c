/* sine.c — the sine activation with per-column frequencies on the CPU
 * (ops.h sine, sine_bwd: Hyena's filter MLP), in double per element. */
#include <math.h>

#include "cpu.h"

void cpu_sine(const struct sine_args *a) {
    const int C = a->C;
    for (size_t r = 0; r < (size_t)a->R; r++)
        for (int c = 0; c < C; c++) a->y[r * C + c] = (real)sin((double)a->freq[c] * a->x[r * C + c]);
}

void cpu_sine_bwd(const struct sine_bwd_args *g) {
    const int C = g->f.C;
    const real *fr = g->f.freq, *x = g->f.x;
    for (int c = 0; c < C; c++) {
        double acc = 0;
        for (size_t r = 0; r < (size_t)g->f.R; r++) {
            double xv = x[r * C + c], cs = cos((double)fr[c] * xv), d = g->dy[r * C + c];
            g->dx[r * C + c] = (real)(d * fr[c] * cs);
            acc += d * xv * cs;
        }
        g->dfreq[c] += (real)acc;
    }
}
