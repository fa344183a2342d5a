/* ssm_kernel.cu — ops.h's ssm_kernel and its backward on the GPU: the
 * Vandermonde product with one thread per tap (ssm_math.cuh: every power
 * exp(l log z) in double, independent of the others), and the backward's
 * power sums with one block per mode, then each mode's gradients and the
 * reductions over modes (dlog_dt) and channels (a shared A) in fixed order.
 *
 * Workspaces: the modes (H N2 of them), the power sums, the per-mode A and dt
 * gradients. */
#include "backend.cuh"
#include "ssm_math.cuh"

enum { TAP_THREADS = 128, SUM_THREADS = 128 };

__global__ void modes_k(struct ssm_params p, struct ssm_mode *m) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < p.H * p.N2) m[i] = ssm_mode_at(&p, i / p.N2, i % p.N2);
}

__global__ void taps_k(const struct ssm_mode *m, int n2, int L, float *K) {
    int l = blockIdx.x * blockDim.x + threadIdx.x, r = blockIdx.y;
    if (l < L) K[(size_t)r * L + l] = (float)ssm_tap(m + (size_t)r * n2, n2, l);
}

__global__ void sums_k(const struct ssm_mode *m, int n2, const float *dK, int L, cd *S) {
    extern __shared__ double part[];
    size_t i = blockIdx.x; /* mode (r, n) */
    ssm_sums_block(m + i, dK + (i / n2) * L, L, part, blockDim.x, S + 2 * i);
}

void cuda_ssm_taps(const struct ssm_mode *m, int rows, int n2, int L, float *K) {
    HP_CHECK(rows <= 65535);
    dim3 grid(cuda_grid(L, TAP_THREADS), rows);
    taps_k<<<grid, TAP_THREADS>>>(m, n2, L, K);
    CUDA_LAUNCHED("taps_k");
}

void cuda_ssm_sums(const struct ssm_mode *m, int rows, int n2, const float *dK, int L, cd *S) {
    sums_k<<<rows * n2, SUM_THREADS, sizeof(double) * 4 * SUM_THREADS>>>(m, n2, dK, L, S);
    CUDA_LAUNCHED("sums_k");
}

static struct ssm_params params_of(const struct ssm_kernel_args *s) {
    HP_CHECK(s->H > 0 && s->N2 > 0 && s->L > 0 && (s->a_rows == 1 || s->a_rows == s->H));
    struct ssm_params p = {s->H, s->N2, s->a_rows, s->disc == SSM_ZOH, s->log_dt, s->A_re, s->A_im, s->B, s->C};
    return p;
}

static struct ssm_mode *modes_of(const struct ssm_params *p) {
    struct ssm_mode *m = (struct ssm_mode *)cuda_ws(WS_SSM_MODES, sizeof(struct ssm_mode) * p->H * p->N2);
    modes_k<<<cuda_grid((size_t)p->H * p->N2, 128), 128>>>(*p, m);
    CUDA_LAUNCHED("modes_k");
    return m;
}

void cuda_ssm_kernel(const struct ssm_kernel_args *s) {
    struct ssm_params p = params_of(s);
    cuda_ssm_taps(modes_of(&p), s->H, s->N2, s->L, s->K);
}

/* ---- backward ------------------------------------------------------------------- */

struct ssm_grad_out {
    float *dB, *dC;    /* (+=), each may be NULL */
    cd *ga;            /* (H, N2) (=) A's gradient per channel */
    double *gdt;       /* (H, N2) (=) dt's gradient per mode */
};

__global__ void grads_k(struct ssm_params p, const struct ssm_mode *m, const cd *S, struct ssm_grad_out g) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= p.H * p.N2) return;
    int h = i / p.N2, n = i % p.N2;
    cd gb, gc;
    g.ga[i] = ssm_mode_grads(&m[i], S[2 * i], S[2 * i + 1], ssm_b_at(&p, h, n), ssm_c_at(&p, h, n), p.zoh, &g.gdt[i],
                             &gb, &gc);
    if (g.dC) g.dC[2 * i] += (float)gc.re, g.dC[2 * i + 1] += (float)gc.im;
    if (g.dB && p.B) g.dB[2 * i] += (float)gb.re, g.dB[2 * i + 1] += (float)gb.im;
}

/* dlog_dt[h] += dt sum_n gdt (n in order); dA[r, n] += ga summed over the
 * channels sharing row r (h in order). One thread per h, then per (r, n). */
__global__ void dt_k(struct ssm_params p, const struct ssm_mode *m, const double *gdt, float *dlog_dt) {
    int h = blockIdx.x * blockDim.x + threadIdx.x;
    if (h < p.H) dlog_dt[h] += (float)ssm_dlog_dt(gdt, m, p.N2, h);
}

__global__ void da_k(struct ssm_params p, const cd *ga, float *dA_re, float *dA_im) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= p.a_rows * p.N2) return;
    cd s = ssm_da(ga, p.H, p.N2, p.a_rows, i / p.N2, i % p.N2);
    if (dA_re) dA_re[i] += (float)s.re;
    if (dA_im) dA_im[i] += (float)s.im;
}

void cuda_ssm_kernel_bwd(const struct ssm_kernel_bwd_args *g) {
    struct ssm_params p = params_of(&g->f);
    size_t modes = (size_t)p.H * p.N2;
    struct ssm_mode *m = modes_of(&p);
    cd *S = (cd *)cuda_ws(WS_SSM_SUMS, sizeof(cd) * 2 * modes);
    cuda_ssm_sums(m, p.H, p.N2, g->dK, g->f.L, S);
    char *w = (char *)cuda_ws(WS_SSM_GRADS, (sizeof(cd) + sizeof(double)) * modes);
    struct ssm_grad_out out = {g->dB, g->dC, (cd *)w, (double *)(w + sizeof(cd) * modes)};
    grads_k<<<cuda_grid(modes, 128), 128>>>(p, m, S, out);
    CUDA_LAUNCHED("grads_k");
    if (g->dlog_dt) {
        dt_k<<<cuda_grid(p.H, 128), 128>>>(p, m, out.gdt, g->dlog_dt);
        CUDA_LAUNCHED("dt_k");
    }
    if (g->dA_re || g->dA_im) {
        da_k<<<cuda_grid((size_t)p.a_rows * p.N2, 128), 128>>>(p, out.ga, g->dA_re, g->dA_im);
        CUDA_LAUNCHED("da_k");
    }
}
