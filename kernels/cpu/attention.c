/* attention.c — causal softmax attention in tiles (ops->attention, see
 * ops.h): memory O(L) per head instead of the full path's (L, L) scores, so
 * attention runs at lengths where those do not fit (64K: 16 GiB per head).
 *
 * Forward, per head and tile of AT queries: running row max m and sum l
 * over key tiles s0 <= t0; each tile's scores S = scale Q Kᵀ, P = exp(S - m_new),
 * the accumulator rescaled by exp(m_old - m_new), acc += Pd V; at the end
 * o = acc / l and lse = m + log l. Backward, per query tile: P recomputed
 * from lse, dV += Pdᵀ dO, dPd = dO Vᵀ, dS = Pd ∘ dPd - P ∘ Dr with
 * Dr_t = dO_t . o_t (= sum_s dP P, dropout included), dQ += scale dS K,
 * dK += scale dSᵀ Q. The products go through the CPU gemm (one thread inside the
 * head loop, which is what runs in parallel). Shapes: B batch, L length,
 * NH heads, dh head width, D = NH dh, T = AT rows per tile. */
#include <math.h>
#include <string.h>

#include "../../core/rng.h"
#include "cpu.h"
#include "vmath.h"

enum { AT = 64 };

/* One head's views of the packed tensors. */
struct head {
    const real *q, *k, *v; /* rows of stride 3D */
    real *o;               /* rows of stride D */
    real *lse;             /* (L) */
    int D3, D;
    size_t drop0;          /* dropout index of (t, s) = drop0 + t L + s */
};

static struct head head_of(const struct attention_args *a, int b, int h) {
    const int D = a->NH * a->dh;
    const real *base = a->qkv + (size_t)b * a->L * 3 * D;
    return (struct head){
        .q = base + h * a->dh, .k = base + D + h * a->dh, .v = base + 2 * D + h * a->dh,
        .o = a->o + (size_t)b * a->L * D + h * a->dh, .lse = a->lse + ((size_t)b * a->NH + h) * a->L,
        .D3 = 3 * D, .D = D, .drop0 = ((size_t)b * a->NH + h) * a->L * a->L,
    };
}

/* Row r of a tile (query t, keys s0 .. s0 + tk - 1, n of them causal): P in
 * place of the scores given the row's offset mx (P = exp(S - mx), 0 past the
 * diagonal), and with dropout Pd into pd (else pd == row). Returns sum P. */
static real tile_row(const struct attention_args *a, const struct head *hd, int t, int s0, int tk, int n, real mx,
                     real *row, real *pd) {
    real sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < n; j++) {
        row[j] = vm_exp_nonpos(row[j] - mx);
        sum += row[j];
    }
    for (int j = n; j < tk; j++) row[j] = 0;
    if (pd != row) {
        const real inv_keep = (real)(1.0 / (1.0 - a->p));
        size_t i0 = hd->drop0 + (size_t)t * a->L + s0;
        for (int j = 0; j < tk; j++)
            pd[j] = j < n && hp_uniform_at(a->seed, a->stream, i0 + j) >= a->p ? row[j] * inv_keep : 0;
    }
    return sum;
}

static void fwd_head(const struct attention_args *a, const struct head *hd, real *ws) {
    const struct ops *cpu = ops_cpu();
    const int L = a->L, dh = a->dh;
    const bool drop = a->p > 0;
    real *S = ws, *Pd = drop ? S + AT * AT : S, *acc = S + 2 * AT * AT, *m = acc + AT * dh, *l = m + AT;
    for (int t0 = 0; t0 < L; t0 += AT) {
        const int tq = L - t0 < AT ? L - t0 : AT;
        for (int i = 0; i < tq; i++) m[i] = -INFINITY, l[i] = 0;
        memset(acc, 0, sizeof(real) * (size_t)tq * dh);
        for (int s0 = 0; s0 <= t0; s0 += AT) {
            const int tk = L - s0 < AT ? L - s0 : AT;
            const real *Qt = hd->q + (size_t)t0 * hd->D3, *Ks = hd->k + (size_t)s0 * hd->D3;
            ops_gemm(cpu, OP_N, OP_T, tq, tk, dh, a->scale, Qt, hd->D3, Ks, hd->D3, 0, S, AT);
            for (int i = 0; i < tq; i++) {
                const int t = t0 + i, n = t - s0 + 1 < tk ? t - s0 + 1 : tk;
                real *row = S + (size_t)i * AT, mx = m[i];
                for (int j = 0; j < n; j++) mx = row[j] > mx ? row[j] : mx;
                real alpha = m[i] == -INFINITY ? 0 : vm_exp_nonpos(m[i] - mx);
                l[i] = l[i] * alpha + tile_row(a, hd, t, s0, tk, n, mx, row, Pd + (size_t)i * AT);
                m[i] = mx;
                for (int c = 0; c < dh; c++) acc[(size_t)i * dh + c] *= alpha;
            }
            ops_gemm(cpu, OP_N, OP_N, tq, dh, tk, 1, Pd, AT, hd->v + (size_t)s0 * hd->D3, hd->D3, 1, acc, dh);
        }
        for (int i = 0; i < tq; i++) {
            real inv = 1 / l[i];
            for (int c = 0; c < dh; c++) hd->o[(size_t)(t0 + i) * hd->D + c] = acc[(size_t)i * dh + c] * inv;
            hd->lse[t0 + i] = m[i] + (real)log((double)l[i]);
        }
    }
}

/* Reals of one head's workspace. */
static size_t ws_size(int dh) { return 3 * (size_t)AT * AT + (size_t)AT * dh + 2 * AT + 64; }

void cpu_attention(const struct attention_args *a) {
    const int pairs = a->B * a->NH;
    const double work = (double)pairs * a->L * a->L * a->dh;
#pragma omp parallel for schedule(dynamic, 1) if (cpu_par(work) && pairs > 1)
    for (int bh = 0; bh < pairs; bh++) {
        real *ws = cpu_scratch(SCRATCH_ATTN, sizeof(real) * ws_size(a->dh));
        struct head hd = head_of(a, bh / a->NH, bh % a->NH);
        fwd_head(a, &hd, ws);
    }
}

/* ---- backward ---- */

struct head_grad {
    const real *dO; /* rows of stride D */
    real *dq, *dk, *dv; /* rows of stride 3D */
};

static void zero_rows(real *x, int rows, int stride, int w) {
    for (int r = 0; r < rows; r++) memset(x + (size_t)r * stride, 0, sizeof(real) * w);
}

static void bwd_head(const struct attention_args *a, const struct head *hd, const struct head_grad *gd, real *ws) {
    const struct ops *cpu = ops_cpu();
    const int L = a->L, dh = a->dh, D3 = hd->D3;
    const bool drop = a->p > 0;
    real *S = ws, *Pd = drop ? S + AT * AT : S, *dP = S + 2 * AT * AT, *Dr = dP + AT * AT;
    zero_rows(gd->dq, L, D3, dh), zero_rows(gd->dk, L, D3, dh), zero_rows(gd->dv, L, D3, dh);
    for (int t0 = 0; t0 < L; t0 += AT) {
        const int tq = L - t0 < AT ? L - t0 : AT;
        for (int i = 0; i < tq; i++) {
            const real *dot = gd->dO + (size_t)(t0 + i) * hd->D, *o = hd->o + (size_t)(t0 + i) * hd->D;
            real s = 0;
            for (int c = 0; c < dh; c++) s += dot[c] * o[c];
            Dr[i] = s;
        }
        for (int s0 = 0; s0 <= t0; s0 += AT) {
            const int tk = L - s0 < AT ? L - s0 : AT;
            const real *Qt = hd->q + (size_t)t0 * D3, *Ks = hd->k + (size_t)s0 * D3, *Vs = hd->v + (size_t)s0 * D3;
            const real *dOt = gd->dO + (size_t)t0 * hd->D;
            ops_gemm(cpu, OP_N, OP_T, tq, tk, dh, a->scale, Qt, D3, Ks, D3, 0, S, AT);
            for (int i = 0; i < tq; i++) {
                const int t = t0 + i, n = t - s0 + 1 < tk ? t - s0 + 1 : tk;
                tile_row(a, hd, t, s0, tk, n, hd->lse[t], S + (size_t)i * AT, Pd + (size_t)i * AT);
            }
            /* dV_s += Pdᵀ dO_t;  dPd = dO_t V_sᵀ */
            ops_gemm(cpu, OP_T, OP_N, tk, dh, tq, 1, Pd, AT, dOt, hd->D, 1, gd->dv + (size_t)s0 * D3, D3);
            ops_gemm(cpu, OP_N, OP_T, tq, tk, dh, 1, dOt, hd->D, Vs, D3, 0, dP, AT);
            for (int i = 0; i < tq; i++) {
                const real *p = S + (size_t)i * AT, *pd = Pd + (size_t)i * AT;
                real *ds = dP + (size_t)i * AT;
#pragma omp simd
                for (int j = 0; j < tk; j++) ds[j] = pd[j] * ds[j] - p[j] * Dr[i];
            }
            ops_gemm(cpu, OP_N, OP_N, tq, dh, tk, a->scale, dP, AT, Ks, D3, 1, gd->dq + (size_t)t0 * D3, D3);
            ops_gemm(cpu, OP_T, OP_N, tk, dh, tq, a->scale, dP, AT, Qt, D3, 1, gd->dk + (size_t)s0 * D3, D3);
        }
    }
}

void cpu_attention_bwd(const struct attention_bwd_args *g) {
    const struct attention_args *a = &g->f;
    const int pairs = a->B * a->NH, D = a->NH * a->dh;
    const double work = (double)pairs * a->L * a->L * a->dh;
#pragma omp parallel for schedule(dynamic, 1) if (cpu_par(work) && pairs > 1)
    for (int bh = 0; bh < pairs; bh++) {
        const int b = bh / a->NH, h = bh % a->NH;
        real *ws = cpu_scratch(SCRATCH_ATTN, sizeof(real) * ws_size(a->dh));
        struct head hd = head_of(a, b, h);
        real *dbase = g->dqkv + (size_t)b * a->L * 3 * D;
        struct head_grad gd = {.dO = g->dO + (size_t)b * a->L * D + h * a->dh, .dq = dbase + h * a->dh,
                               .dk = dbase + D + h * a->dh, .dv = dbase + 2 * D + h * a->dh};
        bwd_head(a, &hd, &gd, ws);
    }
}
