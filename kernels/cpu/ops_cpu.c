/* ops_cpu.c — the CPU backend's ops table. */
#include "cpu.h"

const struct ops *ops_cpu(void) {
    static struct ops t = {
        .name = "cpu",
        .gemm = cpu_gemm,
        .conv = cpu_conv,
        .conv_bwd = cpu_conv_bwd,
        .ssm_kernel = cpu_ssm_kernel,
        .ssm_kernel_bwd = cpu_ssm_kernel_bwd,
        .softmax = cpu_softmax,
        .softmax_bwd = cpu_softmax_bwd,
        .layernorm = cpu_layernorm,
        .layernorm_bwd = cpu_layernorm_bwd,
        .gelu = cpu_gelu,
        .gelu_bwd = cpu_gelu_bwd,
        .xent = cpu_xent,
        .xent_bwd = cpu_xent_bwd,
        .h3_inner = cpu_h3_inner,
        .h3_inner_bwd = cpu_h3_inner_bwd,
        .ssm_conv_chunked = cpu_ssm_conv_chunked,
        .ssm_conv_chunked_bwd = cpu_ssm_conv_chunked_bwd,
        .attention = cpu_attention,
        .attention_bwd = cpu_attention_bwd,
    };
    t.gemm_name = cpu_gemm_name();
    return &t;
}
