/* rows.cu — softmax, LayerNorm, cross-entropy and GELU on the GPU: the
 * launches of rows_math.cuh's block programs (one block per row, sums in
 * fixed trees, so results are the same run to run) and GELU's elementwise
 * kernels. cross-entropy returns its mean loss and count to the host (the
 * one op that waits for the device). */
#include "backend.cuh"
#include "rows_math.cuh"

#define ROW_KERNEL(name, args_t, fn)                                             \
    __global__ void name(args_t a) {                                           \
        extern __shared__ double part[];                                       \
        fn(&a, blockIdx.x, part, blockDim.x);                                  \
    }
ROW_KERNEL(softmax_k, struct rows_softmax, rows_softmax_block)
ROW_KERNEL(softmax_bwd_k, struct rows_softmax, rows_softmax_bwd_block)
ROW_KERNEL(ln_k, struct rows_ln, rows_ln_block)
ROW_KERNEL(ln_dx_k, struct rows_ln, rows_ln_dx_block)
ROW_KERNEL(ln_dwb_k, struct rows_ln, rows_ln_dwb_block)
ROW_KERNEL(xent_k, struct rows_xent, rows_xent_block)

__global__ void xent_total_k(struct rows_xent a) {
    extern __shared__ double part[];
    rows_xent_total_block(&a, part, blockDim.x);
}

/* blocks of nt threads, 2 nt doubles of shared memory each */
static size_t part_bytes(int nt) { return sizeof(double) * 2 * nt; }

template <class A> static void launch(void (*kernel)(A), unsigned blocks, int nt, A a, const char *name) {
    kernel<<<blocks, nt, part_bytes(nt)>>>(a);
    CUDA_LAUNCHED(name);
}

/* ---- softmax ------------------------------------------------------------------- */

static struct rows_softmax softmax_of(const struct softmax_args *a) {
    HP_CHECK(a->R >= 0 && a->C > 0 && (a->causal_L == 0 || a->causal_L == a->C));
    struct rows_softmax s = {a->C, a->causal_L, a->scale, a->x, NULL, NULL, a->y};
    return s;
}

void cuda_softmax(const struct softmax_args *a) {
    struct rows_softmax s = softmax_of(a);
    if (a->R == 0) return;
    launch(softmax_k, a->R, rows_threads(a->C), s, "softmax_k");
}

void cuda_softmax_bwd(const struct softmax_bwd_args *a) {
    struct rows_softmax s = softmax_of(&a->f);
    s.y = a->y, s.dy = a->dy, s.out = a->dx;
    if (a->f.R == 0) return;
    launch(softmax_bwd_k, a->f.R, rows_threads(a->f.C), s, "softmax_bwd_k");
}

/* ---- LayerNorm ------------------------------------------------------------------ */

static struct rows_ln ln_of(const struct layernorm_args *a) {
    HP_CHECK(a->R >= 0 && a->D > 0 && a->mean && a->rstd);
    struct rows_ln s = {a->R, a->D, a->eps, a->x, a->w, a->b, NULL, a->y, a->mean, a->rstd, NULL, NULL, NULL};
    return s;
}

void cuda_layernorm(const struct layernorm_args *a) {
    struct rows_ln s = ln_of(a);
    if (a->R == 0) return;
    launch(ln_k, a->R, rows_threads(a->D), s, "ln_k");
}

void cuda_layernorm_bwd(const struct layernorm_bwd_args *a) {
    struct rows_ln s = ln_of(&a->f);
    s.dy = a->dy, s.dx = a->dx, s.dw = a->dw, s.db = a->db;
    if (a->f.R == 0) return;
    if (a->dx) launch(ln_dx_k, a->f.R, rows_threads(a->f.D), s, "ln_dx_k");
    if (a->dw || a->db) launch(ln_dwb_k, (a->f.D + ROWS_LN_COLS - 1) / ROWS_LN_COLS, 256, s, "ln_dwb_k");
}

/* ---- cross-entropy ------------------------------------------------------------------ */

/* total[0..1] (=) on the device: the loss sum and the counted rows. */
static void xent_totals(const struct rows_xent *s) { launch(xent_total_k, 1, 256, *s, "xent_total_k"); }

void cuda_xent(const struct xent_args *a) {
    HP_CHECK(a->R >= 0 && a->V > 0 && a->loss && a->count);
    double *w = (double *)cuda_ws(WS_ROWS, sizeof(double) * ((size_t)a->R + 2)), host[2] = {0, 0};
    struct rows_xent s = {a->R, a->V, a->logits, a->targets, a->probs, w + 2, w};
    if (a->R > 0) {
        launch(xent_k, a->R, rows_threads(a->V), s, "xent_k");
        xent_totals(&s);
        CUDA_CHECK(cudaMemcpy(host, w, sizeof host, cudaMemcpyDeviceToHost));
    }
    *a->count = (int)host[1];
    *a->loss = host[1] > 0 ? host[0] / host[1] : 0.0;
}

__global__ void xent_grad_k(const int *targets, const float *probs, int V, float scale, const double *total,
                            float *d, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= n) return;
    float g = total[1] > 0 ? scale / (float)total[1] : 0.0f;
    d[i] = rows_xent_grad(targets, probs, V, g, i);
}

void cuda_xent_bwd(const struct xent_bwd_args *a) {
    HP_CHECK(a->probs && a->dlogits);
    size_t n = (size_t)a->f.R * a->f.V;
    if (n == 0) return;
    double *w = (double *)cuda_ws(WS_ROWS, sizeof(double) * 2);
    struct rows_xent s = {a->f.R, a->f.V, a->f.logits, a->f.targets, NULL, NULL, w};
    xent_totals(&s); /* the count, on the device: no wait */
    CUDA_LAUNCH(xent_grad_k, n, a->f.targets, a->probs, a->f.V, a->scale, w, a->dlogits);
}

/* ---- GELU ------------------------------------------------------------------------ */

__global__ void gelu_k(const float *x, float *y, bool erf_form, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) y[i] = erf_form ? gelu_erf_f(x[i]) : gelu_tanh_f(x[i]);
}

__global__ void gelu_bwd_k(const float *x, const float *dy, float *dx, bool erf_form, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) dx[i] = (erf_form ? gelu_erf_grad(x[i]) : gelu_tanh_grad(x[i])) * dy[i];
}

void cuda_gelu(const struct gelu_args *a) {
    if (a->n == 0) return;
    CUDA_LAUNCH(gelu_k, a->n, a->x, a->y, a->kind == GELU_ERF);
}

/* The derivative from x (the forward's y, when given, is not needed here:
 * the device evaluates tanh or erf again at no cost worth saving). */
void cuda_gelu_bwd(const struct gelu_bwd_args *a) {
    if (a->f.n == 0) return;
    CUDA_LAUNCH(gelu_bwd_k, a->f.n, a->f.x, a->dy, a->dx, a->f.kind == GELU_ERF);
}
