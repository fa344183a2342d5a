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
        .host_memory = true,
        .alloc = cpu_alloc,
        .free = cpu_free,
        .upload = cpu_copy_bytes,
        .download = cpu_copy_bytes,
        .ewise = cpu_ewise,
        .colsum = cpu_colsum,
        .dropout = cpu_dropout,
        .embed = cpu_embed,
        .embed_bwd = cpu_embed_bwd,
        .adamw = cpu_adamw,
        .finite = cpu_finite,
        .head_outer = cpu_head_outer,
        .head_outer_bwd = cpu_head_outer_bwd,
        .head_contract = cpu_head_contract,
        .head_contract_bwd = cpu_head_contract_bwd,
        .shift_kernel = cpu_shift_kernel,
        .shift_kernel_bwd = cpu_shift_kernel_bwd,
        .sine = cpu_sine,
        .sine_bwd = cpu_sine_bwd,
    };
    t.gemm_name = cpu_gemm_name();
    return &t;
}
