/* conv_fft.cu — the long convolution as a cuFFT pipeline (the baseline the
 * fused FlashConv is measured against, and the path for long kernels):
 * gather into rows of n reals zero-padded past L (n >= L + Lk - 1, a power
 * of two, so the circular convolution has no wrap-around in the L outputs
 * kept), batched R2C, multiply by the kernel rows' spectra / n, C2R, then the
 * skip pass y = that + D u scattered back to the layout.
 * Backward: du = C2R(conj(K) DY / n) + D dy; dk = C2R(sum over the row's
 * channels and batch of conj(U) DY / n) (that sum one thread per frequency,
 * in a fixed order); dD by the direct sums (conv.cu).
 * Workspaces: padded rows (WS_CONV_U, _Y, _K) and their spectra (_UF, _YF, _KF). */
#include "backend.cuh"
#include "conv_math.cuh"

/* The pipeline's sizes for one call. */
struct pipe {
    struct cuconv s;
    int n, nf;    /* FFT size, spectrum length n/2 + 1 */
    size_t rows;  /* B H signal rows */
    int krows;    /* H / group kernel rows */
};

static struct pipe pipe_of(const struct conv_args *a) {
    HP_CHECK(a->B >= 0 && a->L > 0 && a->H > 0 && a->group >= 1 && a->H % a->group == 0);
    HP_CHECK(a->Lk >= 1 && a->Lk <= a->L);
    struct pipe p;
    p.s.B = a->B, p.s.L = a->L, p.s.H = a->H, p.s.Lk = a->Lk, p.s.group = a->group, p.s.bhl = a->layout == CONV_BHL;
    p.n = 8;
    while (p.n < a->L + a->Lk - 1) p.n *= 2;
    p.nf = p.n / 2 + 1, p.rows = (size_t)a->B * a->H, p.krows = a->H / a->group;
    HP_CHECK(p.rows * p.n < ((size_t)1 << 31)); /* cuFFT's 32-bit plans */
    return p;
}

/* rows x n padded signals from a tensor in its layout */
__global__ void pad_k(struct cuconv s, const float *x, float *rows, int n, size_t total) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < total) rows[i] = cuconv_pad(&s, x, i / n, (int)(i % n));
}

/* kernel rows (krows, Lk) zero-padded to n */
__global__ void kpad_k(const float *k, int Lk, float *rows, int n, size_t total) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= total) return;
    int t = (int)(i % n);
    rows[i] = t < Lk ? k[i / n * Lk + t] : 0.0f;
}

/* X[row] *= K[row's kernel row] (conj K when conj_k) / n */
__global__ void mul_k(cufftComplex *X, const cufftComplex *K, int nf, int H, int group, float inv_n, bool conj_k,
                      size_t total) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= total) return;
    size_t row = i / nf;
    cufftComplex k = K[(row % H / group) * nf + i % nf], x = X[i];
    if (conj_k) k.y = -k.y;
    X[i] = make_cuComplex((x.x * k.x - x.y * k.y) * inv_n, (x.x * k.y + x.y * k.x) * inv_n);
}

/* out (=) the first L of each row + D skip, in the layout */
__global__ void unpad_k(struct cuconv s, const float *rows, int n, const float *skip, const float *D, float *out,
                        size_t total) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= total) return;
    int b, c, t;
    cuconv_coords(&s, i, &b, &c, &t);
    float v = rows[((size_t)b * s.H + c) * n + t];
    out[i] = D ? v + D[c / s.group] * skip[i] : v;
}

/* G[r] = sum over batch b and the row's channels of conj(U) DY / n */
__global__ void corr_k(const cufftComplex *U, const cufftComplex *DY, int nf, int B, int H, int group, float inv_n,
                       cufftComplex *G, size_t total) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= total) return;
    int r = (int)(i / nf), f = (int)(i % nf);
    double re = 0, im = 0;
    for (int b = 0; b < B; b++)
        for (int c = r * group; c < (r + 1) * group; c++) {
            size_t o = ((size_t)b * H + c) * nf + f;
            cufftComplex u = U[o], d = DY[o];
            re += (double)u.x * d.x + (double)u.y * d.y, im += (double)u.x * d.y - (double)u.y * d.x;
        }
    G[i] = make_cuComplex((float)(re * inv_n), (float)(im * inv_n));
}

/* dk[r, j] += g[r, j], j < Lk */
__global__ void dk_add_k(const float *g, int n, int Lk, float *dk, size_t total) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < total) dk[i] += g[i / Lk * n + i % Lk];
}

/* rows x n reals -> rows x nf complex, and back */
static void r2c(int n, size_t rows, float *x, cufftComplex *X) {
    CUFFT_CHECK(cuda_lib()->cufftExecR2C(cuda_fft_plan(n, (int)rows, CUFFT_R2C), x, X));
}
static void c2r(int n, size_t rows, cufftComplex *X, float *x) {
    CUFFT_CHECK(cuda_lib()->cufftExecC2R(cuda_fft_plan(n, (int)rows, CUFFT_C2R), X, x));
}

/* The kernel rows' spectra into WS_CONV_KF. */
static cufftComplex *kernel_spectra(const struct pipe *p, const float *k) {
    float *kp = (float *)cuda_ws(WS_CONV_K, sizeof(float) * p->krows * p->n);
    cufftComplex *KF = (cufftComplex *)cuda_ws(WS_CONV_KF, sizeof(cufftComplex) * p->krows * p->nf);
    CUDA_LAUNCH(kpad_k, (size_t)p->krows * p->n, k, p->s.Lk, kp, p->n);
    r2c(p->n, p->krows, kp, KF);
    return KF;
}

/* Spectra of a tensor's padded rows: X (rows, nf) from x; the real rows in xr. */
static void signal_spectra(const struct pipe *p, const float *x, float *xr, cufftComplex *X) {
    CUDA_LAUNCH(pad_k, p->rows * p->n, p->s, x, xr, p->n);
    r2c(p->n, p->rows, xr, X);
}

void cuda_conv_cufft(const struct conv_args *a) {
    struct pipe p = pipe_of(a);
    if (p.rows == 0) return;
    cufftComplex *KF = kernel_spectra(&p, a->k);
    float *U = (float *)cuda_ws(WS_CONV_U, sizeof(float) * p.rows * p.n);
    cufftComplex *UF = (cufftComplex *)cuda_ws(WS_CONV_UF, sizeof(cufftComplex) * p.rows * p.nf);
    signal_spectra(&p, a->u, U, UF);
    CUDA_LAUNCH(mul_k, p.rows * p.nf, UF, KF, p.nf, a->H, a->group, 1.0f / p.n, false);
    c2r(p.n, p.rows, UF, U);
    CUDA_LAUNCH(unpad_k, p.rows * a->L, p.s, U, p.n, a->u, a->D, a->y);
}

void cuda_conv_cufft_bwd(const struct conv_bwd_args *g) {
    const struct conv_args *a = &g->f;
    struct pipe p = pipe_of(a);
    if (p.rows == 0) return;
    float *Y = (float *)cuda_ws(WS_CONV_Y, sizeof(float) * p.rows * p.n);
    cufftComplex *YF = (cufftComplex *)cuda_ws(WS_CONV_YF, sizeof(cufftComplex) * p.rows * p.nf);
    float *U = (float *)cuda_ws(WS_CONV_U, sizeof(float) * p.rows * p.n);
    cufftComplex *UF = (cufftComplex *)cuda_ws(WS_CONV_UF, sizeof(cufftComplex) * p.rows * p.nf);
    signal_spectra(&p, g->dy, Y, YF);
    if (g->du) { /* the correlation with k, through UF as scratch */
        cufftComplex *KF = kernel_spectra(&p, a->k);
        CUDA_CHECK(cudaMemcpyAsync(UF, YF, sizeof(cufftComplex) * p.rows * p.nf, cudaMemcpyDeviceToDevice));
        CUDA_LAUNCH(mul_k, p.rows * p.nf, UF, KF, p.nf, a->H, a->group, 1.0f / p.n, true);
        c2r(p.n, p.rows, UF, U);
        CUDA_LAUNCH(unpad_k, p.rows * a->L, p.s, U, p.n, g->dy, a->D, g->du);
    }
    if (g->dk) {
        signal_spectra(&p, a->u, U, UF);
        cufftComplex *G = (cufftComplex *)cuda_ws(WS_CONV_KF, sizeof(cufftComplex) * p.krows * p.nf);
        float *gr = (float *)cuda_ws(WS_CONV_K, sizeof(float) * p.krows * p.n);
        CUDA_LAUNCH(corr_k, (size_t)p.krows * p.nf, UF, YF, p.nf, a->B, a->H, a->group, 1.0f / p.n, G);
        c2r(p.n, p.krows, G, gr);
        CUDA_LAUNCH(dk_add_k, (size_t)p.krows * a->Lk, gr, p.n, a->Lk, g->dk);
    }
    if (g->dD) cuda_conv_grad_sums(&p.s, a->u, g->dy, NULL, g->dD);
}
