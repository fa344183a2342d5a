/* attention.cu — ops.h's attention and attention_bwd on the GPU, version 1:
 * the launches of attn_math.cuh's block programs, one block of ATTN_CHUNK
 * threads per query row (forward; dq) or key row (dk, dv), plus dO . o per
 * row first. Memory O(L) beyond qkv and o, deterministic (every output
 * element owned by one block, sums in a fixed order); not FlashAttention's
 * speed (no tensor cores, scores recomputed from global rows): a later
 * version. */
#include "backend.cuh"
#include "attn_math.cuh"

__global__ void attn_fwd_k(struct attn a) {
    extern __shared__ float sm_attn[];
    attn_fwd_block(&a, blockIdx.x, sm_attn, blockDim.x);
}
__global__ void attn_dr_k(struct attn a, float *Dr, int rows) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r < rows) { /* Dr is indexed like lse: (b, h, t) */
        int b, h, t;
        attn_row(&a, r, &b, &h, &t);
        Dr[attn_rowix(&a, b, h, t)] = attn_dr(&a, r);
    }
}
__global__ void attn_dq_k(struct attn a) {
    extern __shared__ float sm_attn[];
    attn_dq_block(&a, blockIdx.x, sm_attn, blockDim.x);
}
__global__ void attn_dkv_k(struct attn a) {
    extern __shared__ float sm_attn[];
    attn_dkv_block(&a, blockIdx.x, sm_attn, blockDim.x);
}

static struct attn attn_of(const struct attention_args *a) {
    HP_CHECK(a->B >= 0 && a->L > 0 && a->NH > 0 && a->dh > 0 && a->p >= 0 && a->p < 1);
    HP_CHECK((size_t)a->B * a->NH * a->L < (1u << 31));
    struct attn s = {a->B, a->L, a->NH, a->dh, a->scale, a->qkv, a->o, a->lse, a->p, a->seed, a->stream,
                     NULL, NULL, NULL};
    return s;
}

void cuda_attention(const struct attention_args *a) {
    struct attn s = attn_of(a);
    int rows = a->B * a->NH * a->L;
    if (rows == 0) return;
    attn_fwd_k<<<rows, ATTN_CHUNK, attn_fwd_smem(a->dh)>>>(s);
    CUDA_LAUNCHED("attn_fwd_k");
}

void cuda_attention_bwd(const struct attention_bwd_args *g) {
    struct attn s = attn_of(&g->f);
    int rows = g->f.B * g->f.NH * g->f.L;
    if (rows == 0) return;
    float *Dr = (float *)cuda_ws(WS_ATTN_DR, sizeof(float) * rows);
    s.dO = g->dO, s.Dr = Dr, s.dqkv = g->dqkv;
    attn_dr_k<<<cuda_grid(rows, 128), 128>>>(s, Dr, rows);
    CUDA_LAUNCHED("attn_dr_k");
    attn_dq_k<<<rows, ATTN_CHUNK, attn_bwd_smem(g->f.dh)>>>(s);
    CUDA_LAUNCHED("attn_dq_k");
    attn_dkv_k<<<rows, ATTN_CHUNK, attn_bwd_smem(g->f.dh)>>>(s);
    CUDA_LAUNCHED("attn_dkv_k");
}
