/* conv.cu — ops.h's conv and conv_bwd on the GPU: the choice between the
 * direct kernel (one thread per output, Lk multiply-adds) and the cuFFT
 * pipeline (conv_fft.cu), and the direct kernels themselves: y and du one
 * thread per element in the tensor's own layout (coalesced stores), dk and
 * dD one block per (row, tap) summing its B group L items in a fixed tree. */
#include "backend.cuh"
#include "conv_math.cuh"

/* Taps up to which the direct kernel runs. Not measured on a GPU yet
 * (make bench-cuda's conv rows are the place): a direct output costs Lk
 * multiply-adds, the pipeline ~10 log2 n flops per element plus five passes
 * over padded buffers and its launches. */
#define CONV_DIRECT_MAX_TAPS 128

enum { GRAD_THREADS = 256 };

static struct cuconv shape_of(const struct conv_args *a) {
    HP_CHECK(a->B >= 0 && a->L > 0 && a->H > 0 && a->group >= 1 && a->H % a->group == 0);
    HP_CHECK(a->Lk >= 1 && a->Lk <= a->L);
    struct cuconv s = {a->B, a->L, a->H, a->Lk, a->group, a->layout == CONV_BHL};
    return s;
}

extern "C" enum cuda_conv_path cuda_conv_choice(const struct conv_args *a) {
    shape_of(a);
    return a->Lk <= CONV_DIRECT_MAX_TAPS ? CUDA_CONV_DIRECT : CUDA_CONV_CUFFT;
}

/* y (or, grad, du) at every element, in the tensor's own layout: x is u (dy) */
__global__ void direct_k(struct cuconv s, const float *x, const float *k, const float *D, float *out, bool grad, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= n) return;
    int b, c, t;
    cuconv_coords(&s, i, &b, &c, &t);
    out[i] = grad ? cuconv_du(&s, x, k, D, b, c, t) : cuconv_out(&s, x, k, D, b, c, t);
}

/* block (x, y) sums tap j0 + x of row y */
__global__ void grad_k(struct cuconv s, const float *u, const float *dy, int j0, float *dk, float *dD) {
    extern __shared__ double part[];
    cuconv_grad_block(&s, u, dy, blockIdx.y, j0 + blockIdx.x, part, blockDim.x, dk, dD);
}

void cuda_conv_grad_sums(const struct cuconv *s, const float *u, const float *dy, float *dk, float *dD) {
    int rows = s->H / s->group, j0 = dk ? 0 : s->Lk, j1 = dD ? s->Lk + 1 : s->Lk;
    if (j1 <= j0 || s->B == 0) return;
    HP_CHECK(rows <= 65535);
    dim3 grid(j1 - j0, rows);
    grad_k<<<grid, GRAD_THREADS, sizeof(double) * GRAD_THREADS>>>(*s, u, dy, j0, dk, dD);
    CUDA_LAUNCHED("grad_k");
}

static void direct(const struct conv_args *a) {
    struct cuconv s = shape_of(a);
    size_t n = (size_t)a->B * a->L * a->H;
    if (n == 0) return;
    CUDA_LAUNCH(direct_k, n, s, a->u, a->k, a->D, a->y, false);
}

static void direct_bwd(const struct conv_bwd_args *g) {
    struct cuconv s = shape_of(&g->f);
    size_t n = (size_t)s.B * s.L * s.H;
    if (n == 0) return;
    if (g->du) CUDA_LAUNCH(direct_k, n, s, g->dy, g->f.k, g->f.D, g->du, true);
    cuda_conv_grad_sums(&s, g->f.u, g->dy, g->dk, g->dD);
}

extern "C" void cuda_conv_via(const struct conv_args *a, enum cuda_conv_path p) {
    if (p == CUDA_CONV_DIRECT) direct(a);
    else cuda_conv_cufft(a);
}

extern "C" void cuda_conv_bwd_via(const struct conv_bwd_args *g, enum cuda_conv_path p) {
    if (p == CUDA_CONV_DIRECT) direct_bwd(g);
    else cuda_conv_cufft_bwd(g);
}

void cuda_conv(const struct conv_args *a) { cuda_conv_via(a, cuda_conv_choice(a)); }
void cuda_conv_bwd(const struct conv_bwd_args *g) { cuda_conv_bwd_via(g, cuda_conv_choice(&g->f)); }
