/* ssm_conv.cu — ops.h's ssm_conv_chunked on the GPU, version 1: one block
 * of L, not chunks. The kernel K_l = 2 Re sum_n Ct z^l for every l < L comes
 * from the modes (ssm_kernel.cu's taps, exp(l log z) in double), then the
 * long convolution (conv.cu) with the skip; the backward takes the
 * convolution's dk (full length, never returned) to the modes' gradients
 * through the power sums G(z) = sum_l dk_l z^l and G'(z):
 *   dCt = (2 Re G, -2 Im G),  dAbar = (2 Re(Ct G'), -2 Im(Ct G')).
 * Same results as the CPU's state passing; memory O(H L) for the kernel and
 * its gradient instead of O(T), and the chunk length T is not used. State
 * passing between chunks is a later version. */
#include "backend.cuh"
#include "ssm_math.cuh"

static void check_args(const struct ssm_conv_args *a) {
    HP_CHECK(a->B >= 0 && a->L > 0 && a->H > 0 && a->N2 > 0 && a->group >= 1 && a->H % a->group == 0);
    HP_CHECK(a->T == 0 || (a->T >= 16 && (a->T & (a->T - 1)) == 0));
}

__global__ void dmodes_k(const float *Abar, const float *Ct, struct ssm_mode *m, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) m[i] = ssm_mode_discrete(cd_make(Abar[2 * i], Abar[2 * i + 1]), cd_make(Ct[2 * i], Ct[2 * i + 1]));
}

__global__ void dgrads_k(const struct ssm_mode *m, const cd *S, float *dAbar, float *dCt, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    cd gz, gct;
    ssm_discrete_grads(&m[i], S[2 * i], S[2 * i + 1], &gz, &gct);
    if (dAbar) dAbar[2 * i] += (float)gz.re, dAbar[2 * i + 1] += (float)gz.im;
    if (dCt) dCt[2 * i] += (float)gct.re, dCt[2 * i + 1] += (float)gct.im;
}

/* The modes of the H / group rows, and their kernel (rows, L) in WS_SSMCONV_K. */
static struct ssm_mode *modes_and_kernel(const struct ssm_conv_args *a, float **K) {
    int rows = a->H / a->group, n = rows * a->N2;
    struct ssm_mode *m = (struct ssm_mode *)cuda_ws(WS_SSM_MODES, sizeof(struct ssm_mode) * n);
    dmodes_k<<<cuda_grid(n, 128), 128>>>(a->Abar, a->Ct, m, n);
    CUDA_LAUNCHED("dmodes_k");
    *K = (float *)cuda_ws(WS_SSMCONV_K, sizeof(float) * rows * (size_t)a->L);
    cuda_ssm_taps(m, rows, a->N2, a->L, *K);
    return m;
}

static struct conv_args conv_of(const struct ssm_conv_args *a, const float *K) {
    struct conv_args c = {a->B, a->L, a->H, a->L, a->group, a->layout, a->u, K, a->D, a->y};
    return c;
}

void cuda_ssm_conv_chunked(const struct ssm_conv_args *a) {
    check_args(a);
    if (a->B == 0) return;
    float *K;
    modes_and_kernel(a, &K);
    struct conv_args c = conv_of(a, K);
    cuda_conv(&c);
}

void cuda_ssm_conv_chunked_bwd(const struct ssm_conv_bwd_args *g) {
    const struct ssm_conv_args *a = &g->f;
    check_args(a);
    if (a->B == 0) return;
    int rows = a->H / a->group, n = rows * a->N2;
    float *K, *dk = NULL;
    struct ssm_mode *m = modes_and_kernel(a, &K);
    bool modes = g->dAbar || g->dCt;
    if (modes) {
        dk = (float *)cuda_ws(WS_SSMCONV_DK, sizeof(float) * rows * (size_t)a->L);
        CUDA_CHECK(cudaMemsetAsync(dk, 0, sizeof(float) * rows * (size_t)a->L));
    }
    struct conv_bwd_args cb = {conv_of(a, K), g->dy, g->du, dk, g->dD};
    cuda_conv_bwd(&cb);
    if (!modes) return;
    cd *S = (cd *)cuda_ws(WS_SSM_SUMS, sizeof(cd) * 2 * n);
    cuda_ssm_sums(m, rows, a->N2, dk, a->L, S);
    dgrads_k<<<cuda_grid(n, 128), 128>>>(m, S, g->dAbar, g->dCt, n);
    CUDA_LAUNCHED("dgrads_k");
}
