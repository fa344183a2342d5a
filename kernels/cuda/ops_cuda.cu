/* ops_cuda.cu — the CUDA backend's ops table (ops.h): every entry for
 * device pointers, NULL until a device is usable (cuda_ready). */
#include "backend.cuh"

extern "C" const struct ops *ops_cuda(void) {
    static const struct ops t = {
        .name = "cuda",
        .gemm_name = "cuBLAS sgemm (FP32, no TF32)",
        .gemm = cuda_gemm,
        .conv = cuda_conv,
        .conv_bwd = cuda_conv_bwd,
        .ssm_kernel = cuda_ssm_kernel,
        .ssm_kernel_bwd = cuda_ssm_kernel_bwd,
        .softmax = cuda_softmax,
        .softmax_bwd = cuda_softmax_bwd,
        .layernorm = cuda_layernorm,
        .layernorm_bwd = cuda_layernorm_bwd,
        .gelu = cuda_gelu,
        .gelu_bwd = cuda_gelu_bwd,
        .xent = cuda_xent,
        .xent_bwd = cuda_xent_bwd,
        .h3_inner = cuda_h3_inner,
        .h3_inner_bwd = cuda_h3_inner_bwd,
        .ssm_conv_chunked = cuda_ssm_conv_chunked,
        .ssm_conv_chunked_bwd = cuda_ssm_conv_chunked_bwd,
        .attention = cuda_attention,
        .attention_bwd = cuda_attention_bwd,
        .host_memory = false,
        .alloc = cuda_alloc_zero,
        .free = cuda_free,
        .upload = cuda_upload_n,
        .download = cuda_download_n,
        /* the generic ops: not on the device yet */
        .ewise = NULL,
        .colsum = NULL,
        .dropout = NULL,
        .embed = NULL,
        .embed_bwd = NULL,
        .adamw = NULL,
        .finite = NULL,
        .head_outer = NULL,
        .head_outer_bwd = NULL,
        .head_contract = NULL,
        .head_contract_bwd = NULL,
        .shift_kernel = NULL,
        .shift_kernel_bwd = NULL,
        .sine = NULL,
        .sine_bwd = NULL,
    };
    return cuda_ready() ? &t : NULL;
}
