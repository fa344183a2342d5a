/* heads.c — H3's heads on the CPU (ops.h head_outer, head_contract): the
 * outer product k~ v per head and the contraction of SSM_2's output by q,
 * with their backwards; head_dim 1 as elementwise products. */
#include <string.h>

#include "cpu.h"

void cpu_head_outer(const struct head_outer_args *a) {
    const int D = a->D, dh = a->dh, E = D * dh;
    const real *kt = a->kt, *v = a->v;
    real *kv = a->kv;
    if (dh == 1) {
        for (size_t i = 0; i < (size_t)a->R * D; i++) kv[i] = kt[i] * v[i];
        return;
    }
    for (size_t r = 0; r < (size_t)a->R; r++)
        for (int c = 0; c < D; c++) {
            real k = kt[r * D + c];
            const real *vh = v + r * D + (c / dh) * dh;
            real *row = kv + r * E + (size_t)c * dh;
            for (int j = 0; j < dh; j++) row[j] = k * vh[j];
        }
}

void cpu_head_outer_bwd(const struct head_outer_bwd_args *g) {
    const int D = g->f.D, dh = g->f.dh, E = D * dh;
    const real *kt = g->f.kt, *v = g->f.v, *dkv = g->dkv;
    real *dkt = g->dkt, *dv = g->dv;
    if (dh == 1) {
        for (size_t i = 0; i < (size_t)g->f.R * D; i++) {
            dkt[i] = dkv[i] * v[i];
            dv[i] = dkv[i] * kt[i];
        }
        return;
    }
    memset(dv, 0, (size_t)g->f.R * D * sizeof(real));
    for (size_t r = 0; r < (size_t)g->f.R; r++)
        for (int c = 0; c < D; c++) {
            const real *gr = dkv + r * E + (size_t)c * dh;
            const real *vh = v + r * D + (c / dh) * dh;
            real *dvh = dv + r * D + (c / dh) * dh;
            real k = kt[r * D + c], acc = 0;
            for (int j = 0; j < dh; j++) {
                acc += gr[j] * vh[j];
                dvh[j] += gr[j] * k;
            }
            dkt[r * D + c] = acc;
        }
}

void cpu_head_contract(const struct head_contract_args *a) {
    const int D = a->D, dh = a->dh, H = D / dh, E = D * dh;
    const real *q = a->q, *y = a->y;
    real *o = a->o;
    if (dh == 1) {
        for (size_t i = 0; i < (size_t)a->R * D; i++) o[i] = q[i] * y[i];
        return;
    }
    memset(o, 0, (size_t)a->R * D * sizeof(real));
    for (size_t r = 0; r < (size_t)a->R; r++)
        for (int c = 0; c < D; c++) {
            int h = c / dh;
            real qc = q[r * D + c];
            const real *yr = y + r * E + (size_t)c * dh;
            real *orow = o + r * D + h;
            for (int j = 0; j < dh; j++) orow[(size_t)j * H] += qc * yr[j];
        }
}

void cpu_head_contract_bwd(const struct head_contract_bwd_args *g) {
    const int D = g->f.D, dh = g->f.dh, H = D / dh, E = D * dh;
    const real *q = g->f.q, *y = g->f.y, *dout = g->dout;
    real *dq = g->dq, *dy = g->dy;
    if (dh == 1) {
        for (size_t i = 0; i < (size_t)g->f.R * D; i++) {
            dq[i] = dout[i] * y[i];
            dy[i] = dout[i] * q[i];
        }
        return;
    }
    for (size_t r = 0; r < (size_t)g->f.R; r++)
        for (int c = 0; c < D; c++) {
            int h = c / dh;
            real qc = q[r * D + c], acc = 0;
            const real *yr = y + r * E + (size_t)c * dh;
            const real *gr = dout + r * D + h;
            real *dyr = dy + r * E + (size_t)c * dh;
            for (int j = 0; j < dh; j++) {
                acc += gr[(size_t)j * H] * yr[j];
                dyr[j] = gr[(size_t)j * H] * qc;
            }
            dq[r * D + c] = acc;
        }
}
