/* heads.cu — the token embedding, H3's heads and the shift SSM kernel on the
 * GPU (ops.h embed, head_outer, head_contract, shift_kernel and their
 * backwards): launches of heads_math.cuh, one thread per output element;
 * the embedding's dE one block per vocabulary row (its rows in order). */
#include "backend.cuh"
#include "heads_math.cuh"

#define ELEM_KERNEL(name, args_t, fn)                               \
    __global__ void name(args_t a, size_t n) {                      \
        size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;   \
        if (i < n) fn(&a, i);                                       \
    }
ELEM_KERNEL(embed_k, struct hd_embed, embed_elem)
ELEM_KERNEL(embed_dP_k, struct hd_embed, embed_dP_elem)
ELEM_KERNEL(outer_k, struct hd_heads, outer_elem)
ELEM_KERNEL(outer_dkt_k, struct hd_heads, outer_dkt_elem)
ELEM_KERNEL(outer_dv_k, struct hd_heads, outer_dv_elem)
ELEM_KERNEL(contract_k, struct hd_heads, contract_elem)
ELEM_KERNEL(contract_dq_k, struct hd_heads, contract_dq_elem)
ELEM_KERNEL(contract_dy_k, struct hd_heads, contract_dy_elem)
ELEM_KERNEL(shift_k_k, struct hd_shift, shift_k_elem)
ELEM_KERNEL(shift_grad_k, struct hd_shift, shift_grad_elem)

/* ---- embedding --------------------------------------------------------------------- */

static struct hd_embed embed_of(const struct embed_args *a) {
    struct hd_embed e = {a->R, a->L, a->D, a->tokens, a->E, a->P, a->y, NULL, NULL, NULL};
    return e;
}

void cuda_embed(const struct embed_args *a) {
    struct hd_embed e = embed_of(a);
    size_t n = (size_t)a->R * a->D;
    if (n) CUDA_LAUNCH(embed_k, n, e);
}

__global__ void embed_dE_k(struct hd_embed a) {
    extern __shared__ float acc[]; /* D floats, then the token tile */
    embed_dE_block(&a, blockIdx.x, (int *)(acc + a.D), acc, blockDim.x);
}

void cuda_embed_bwd(const struct embed_bwd_args *g) {
    struct hd_embed e = embed_of(&g->f);
    e.dy = g->dy, e.dE = g->dE, e.dP = g->dP;
    if (g->f.R == 0 || g->f.D == 0) return;
    int nt = g->f.D < 256 ? (g->f.D + 31) / 32 * 32 : 256;
    size_t smem = sizeof(float) * g->f.D + sizeof(int) * EMBED_TILE;
    HP_CHECK(smem <= 48 * 1024); /* D <= 8192: the default shared memory of a block */
    embed_dE_k<<<g->f.V, nt, smem>>>(e);
    CUDA_LAUNCHED("embed_dE_k");
    if (g->dP) CUDA_LAUNCH(embed_dP_k, (size_t)g->f.L * g->f.D, e);
}

/* ---- H3's heads ---------------------------------------------------------------------- */

void cuda_head_outer(const struct head_outer_args *a) {
    struct hd_heads h = {a->R, a->D, a->dh, a->kt, a->v, NULL, NULL, NULL, a->kv, NULL, NULL};
    size_t n = (size_t)a->R * a->D * a->dh;
    if (n) CUDA_LAUNCH(outer_k, n, h);
}

void cuda_head_outer_bwd(const struct head_outer_bwd_args *g) {
    const struct head_outer_args *a = &g->f;
    struct hd_heads h = {a->R, a->D, a->dh, a->kt, a->v, NULL, NULL, g->dkv, NULL, g->dkt, g->dv};
    size_t n = (size_t)a->R * a->D;
    if (!n) return;
    CUDA_LAUNCH(outer_dkt_k, n, h);
    CUDA_LAUNCH(outer_dv_k, n, h);
}

void cuda_head_contract(const struct head_contract_args *a) {
    struct hd_heads h = {a->R, a->D, a->dh, NULL, NULL, a->q, a->y, NULL, a->o, NULL, NULL};
    size_t n = (size_t)a->R * a->D;
    if (n) CUDA_LAUNCH(contract_k, n, h);
}

void cuda_head_contract_bwd(const struct head_contract_bwd_args *g) {
    const struct head_contract_args *a = &g->f;
    struct hd_heads h = {a->R, a->D, a->dh, NULL, NULL, a->q, a->y, g->dout, NULL, g->dq, g->dy};
    size_t n = (size_t)a->R * a->D;
    if (!n) return;
    CUDA_LAUNCH(contract_dq_k, n, h);
    CUDA_LAUNCH(contract_dy_k, n * a->dh, h);
}

/* ---- the shift SSM kernel ----------------------------------------------------------------- */

void cuda_shift_kernel(const struct shift_kernel_args *a) {
    HP_CHECK(a->Lk <= a->N);
    struct hd_shift s = {a->H, a->N, a->Lk, a->B, a->C, NULL, a->K, NULL, NULL};
    size_t n = (size_t)a->H * a->Lk;
    if (n) CUDA_LAUNCH(shift_k_k, n, s);
}

void cuda_shift_kernel_bwd(const struct shift_kernel_bwd_args *g) {
    const struct shift_kernel_args *a = &g->f;
    struct hd_shift s = {a->H, a->N, a->Lk, a->B, a->C, g->dK, NULL, g->dB, g->dC};
    size_t n = (size_t)a->H * a->N;
    if (n) CUDA_LAUNCH(shift_grad_k, n, s);
}
