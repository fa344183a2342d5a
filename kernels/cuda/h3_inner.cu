/* h3_inner.cu — ops.h's h3_inner and its backward on the GPU: FlashConv
 * (flashconv.cu) for the shapes its kernel supports, else the pipeline of
 * separate passes (h3_math.cuh): the k~ v outer product into (B, L, E),
 * E = D head_dim, the long convolution (conv.cu: direct or cuFFT) with the
 * skip, and the q contraction. The backward is the pipeline for every shape
 * (a fused backward is a later version): y is recomputed, dq and dy formed,
 * the convolution's backward gives dkv, dK and dDk, then dk~ and dv. */
#include "backend.cuh"
#include "h3_math.cuh"

/* The FlashConv kernel (flashconv.cu). */
bool cuda_flash_h3_supports(const struct h3_inner_args *a);
void cuda_flash_h3(const struct h3_inner_args *a);

static void check_args(const struct h3_inner_args *a) {
    HP_CHECK(a->B >= 0 && a->L > 0 && a->D > 0 && a->head_dim >= 1 && a->D % a->head_dim == 0);
    HP_CHECK(a->Lk >= 1 && a->Lk <= a->L);
}

__global__ void map_k(struct cuh3 s, enum cuh3_map m, const float *x, const float *y, float *out, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) out[i] = cuh3_at(&s, m, x, y, i);
}

/* The convolution the pipeline runs: kv (B, L, E) -> y, group d_h^2. */
static struct conv_args conv_of(const struct h3_inner_args *a, const float *kv, float *y) {
    struct conv_args c = {a->B, a->L, a->D * a->head_dim, a->Lk, a->head_dim * a->head_dim, CONV_BLH,
                          kv, a->K, a->Dk, y};
    return c;
}

/* kv and y = conv(kv) in the pipeline's workspaces. */
static void pipeline_y(const struct h3_inner_args *a, float **kv, float **y) {
    struct cuh3 s = {a->D, a->head_dim};
    size_t ne = (size_t)a->B * a->L * cuh3_E(&s);
    *kv = (float *)cuda_ws(WS_H3_KV, sizeof(float) * ne);
    *y = (float *)cuda_ws(WS_H3_Y, sizeof(float) * ne);
    CUDA_LAUNCH(map_k, ne, s, CUH3_OUTER, a->kt, a->v, *kv);
    struct conv_args c = conv_of(a, *kv, *y);
    cuda_conv(&c);
}

static void pipeline(const struct h3_inner_args *a) {
    float *kv, *y;
    pipeline_y(a, &kv, &y);
    struct cuh3 s = {a->D, a->head_dim};
    CUDA_LAUNCH(map_k, (size_t)a->B * a->L * a->D, s, CUH3_CONTRACT, a->q, y, a->o);
}

extern "C" bool cuda_h3_flash_supports(const struct h3_inner_args *a) {
    check_args(a);
    return cuda_ready() && cuda_flash_h3_supports(a);
}

extern "C" void cuda_h3_inner_via(const struct h3_inner_args *a, enum cuda_h3_path p) {
    check_args(a);
    if (a->B == 0) return;
    if (p == CUDA_H3_FLASH) {
        HP_CHECK(cuda_flash_h3_supports(a)); /* never run it on a shape it does not take */
        cuda_flash_h3(a);
    } else {
        pipeline(a);
    }
}

void cuda_h3_inner(const struct h3_inner_args *a) {
    check_args(a);
    cuda_h3_inner_via(a, cuda_flash_h3_supports(a) ? CUDA_H3_FLASH : CUDA_H3_PIPELINE);
}

void cuda_h3_inner_bwd(const struct h3_inner_bwd_args *g) {
    const struct h3_inner_args *a = &g->f;
    check_args(a);
    HP_CHECK(g->dq && g->dkt && g->dv);
    if (a->B == 0) return;
    struct cuh3 s = {a->D, a->head_dim};
    size_t ne = (size_t)a->B * a->L * cuh3_E(&s), nd = (size_t)a->B * a->L * a->D;
    float *kv, *y;
    pipeline_y(a, &kv, &y);
    float *dy = (float *)cuda_ws(WS_H3_DY, sizeof(float) * ne), *dkv = (float *)cuda_ws(WS_H3_DKV, sizeof(float) * ne);
    CUDA_LAUNCH(map_k, nd, s, CUH3_DQ, g->dout, y, g->dq);
    CUDA_LAUNCH(map_k, ne, s, CUH3_DY, g->dout, a->q, dy);
    struct conv_bwd_args cb = {conv_of(a, kv, NULL), dy, dkv, g->dK, g->dDk};
    cuda_conv_bwd(&cb);
    CUDA_LAUNCH(map_k, nd, s, CUH3_DKT, dkv, a->v, g->dkt);
    CUDA_LAUNCH(map_k, nd, s, CUH3_DV, dkv, a->kt, g->dv);
}
