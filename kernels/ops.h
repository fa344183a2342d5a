/* ops.h — the ops table: every numeric routine a layer needs, per backend.
 *
 * Layers are written once against `struct ops`; `ops_cpu()` always exists,
 * `ops_cuda()` when built with nvcc. Every op takes one typed argument struct.
 * Shapes use fixed letters: B batch, L length, D width, H channels, N state
 * (N2 = N/2 stored complex modes), V vocabulary.
 *
 * Output convention, stated per field: "(=)" the op overwrites, "(+=)" it
 * accumulates into (gradients of parameters always accumulate).
 * All tensors are row-major and contiguous unless a stride says otherwise. */
#ifndef HIPPO_OPS_H
#define HIPPO_OPS_H

#include "../core/base.h"

enum op_trans { OP_N = 0, OP_T = 1 };

/* C = alpha * op(A) @ op(B) + beta * C (+ bias on every row), row-major,
 * repeated `batch` times with element strides between consecutive matrices
 * (0 = same matrix every time). op(A) is (M, K), op(B) is (K, N), C is (M, N).
 * lda/ldb/ldc are row strides of the stored (untransposed) matrices. The
 * optional bias is fused into the store, so a linear layer is one pass. */
struct gemm_args {
    enum op_trans ta, tb;
    int M, N, K;
    real alpha, beta;
    const real *A; int lda; size_t stride_a;
    const real *B; int ldb; size_t stride_b;
    real *C; int ldc; size_t stride_c;
    int batch; /* >= 1 */
    const real *bias;   /* (N) added to every row of C, or NULL; entry i uses bias + i * stride_bias */
    size_t stride_bias;
};

enum conv_layout {
    CONV_BLH, /* element (b, l, h) at (b*L + l)*H + h — the activation layout */
    CONV_BHL, /* element (b, h, l) at (b*H + h)*L + l */
};

/* Causal long convolution with skip, per channel c = 0..H-1:
 *   y[b,c,t] = sum_{j=0}^{min(t, Lk-1)} k[c/group, j] * u[b,c,t-j] + D[c/group] * u[b,c,t]
 * `group` channels share one kernel row and one D (H3's outer-product heads
 * use group = head_dim^2); group = 1 otherwise. Lk <= L taps; taps >= Lk are 0.
 * y must not alias u (the kernels read earlier rows of u after writing y). */
struct conv_args {
    int B, L, H, Lk, group;
    enum conv_layout layout;
    const real *u; /* (B, L, H) or (B, H, L) per layout */
    const real *k; /* (H/group, Lk) */
    const real *D; /* (H/group) or NULL for no skip */
    real *y;       /* same shape as u (=) */
};
struct conv_bwd_args {
    struct conv_args f; /* the forward's arguments (y unused) */
    const real *dy;     /* same shape as u */
    real *du;           /* (=), or NULL if not needed */
    real *dk;           /* (H/group, Lk) (+=), or NULL */
    real *dD;           /* (H/group) (+=), or NULL */
};

/* H3's inner op fused (spec/h3.md §1.2-1.3): on (B, L, D) activations (BLH)
 * with H = D / head_dim heads, head h owning channels h d_h .. h d_h + d_h - 1,
 * one kernel row K[h] (Lk <= L taps) and one skip Dk[h]:
 *   kv[t, h, i, j] = kt[t, h d_h + i] v[t, h d_h + j]                (outer product per head)
 *   y[t, h, i, j]  = sum_{s <= t} K[h, t - s] kv[s, h, i, j] + Dk[h] kv[t, h, i, j]
 *   o[t, j H + h]  = sum_i q[t, h d_h + i] y[t, h, i, j]             (the reference's (j h) order)
 * For head_dim 1: o = q * (K * (kt v) + Dk kt v). Equal to models/h3.c's
 * outer_fwd, slot-2 convolution and gate_fwd with both gates on; computed in
 * one pass per panel of channels with no (B, L, E) intermediate. */
struct h3_inner_args {
    int B, L, D, head_dim, Lk;
    const real *q, *kt, *v; /* (B, L, D) each; kt = k~, the slot-1 SSM's output */
    const real *K;          /* (D / head_dim, Lk) */
    const real *Dk;         /* (D / head_dim), or NULL for no skip */
    real *o;                /* (B, L, D) (=) */
};
struct h3_inner_bwd_args {
    struct h3_inner_args f; /* the forward's arguments (o unused; y is recomputed) */
    const real *dout;       /* (B, L, D) */
    real *dq, *dkt, *dv;    /* (B, L, D) (=) each */
    real *dK;               /* (D / head_dim, Lk) (+=), or NULL */
    real *dDk;              /* (D / head_dim) (+=), or NULL */
};

enum ssm_disc { SSM_BILINEAR, SSM_ZOH };

/* Diagonal SSM convolution kernel by a Vandermonde product over conjugate pairs:
 *   dtA = exp(log_dt[h]) * A[h,n],  A = A_re + i A_im
 *   bilinear: Abar = (1 + dtA/2)/(1 - dtA/2),  Ct = B*C*dt/(1 - dtA/2)
 *   zoh:      Abar = exp(dtA),                 Ct = B*C*(exp(dtA) - 1)/A
 *   K[h, l] = 2 Re sum_{n<N2} Ct[h,n] * Abar[h,n]^l,  l = 0..L-1
 * Powers are exp(l * log Abar) evaluated in double. A rows may be shared by all
 * channels (a_rows = 1, S4D) or per channel (a_rows = H, H3). B may be NULL (= 1). */
struct ssm_kernel_args {
    int H, N2, L;
    enum ssm_disc disc;
    int a_rows;          /* 1 or H */
    const real *log_dt;  /* (H) */
    const real *A_re;    /* (a_rows, N2), the real part itself (negative) */
    const real *A_im;    /* (a_rows, N2) */
    const real *B;       /* (H, N2, 2) complex as (re, im), or NULL */
    const real *C;       /* (H, N2, 2) complex as (re, im) */
    real *K;             /* (H, L) (=) */
};
struct ssm_kernel_bwd_args {
    struct ssm_kernel_args f;
    const real *dK;   /* (H, L) */
    real *dlog_dt;    /* (H) (+=) */
    real *dA_re;      /* (a_rows, N2) (+=) */
    real *dA_im;      /* (a_rows, N2) (+=) */
    real *dB;         /* (H, N2, 2) (+=), NULL when B is NULL */
    real *dC;         /* (H, N2, 2) (+=) */
};

/* Causal convolution with a diagonal SSM given by its discrete modes, by state
 * passing (spec/h3.md §3.4), for sequences of any length. Per channel c, with
 * row r = c / group sharing modes Abar[r, n], Ct[r, n] (n < N2 conjugate pairs):
 *   x[t, n] = Abar[r, n] x[t-1, n] + u[b, c, t],  x[-1] = 0
 *   y[b, c, t] = 2 Re sum_n Ct[r, n] x[t, n] + D[r] u[b, c, t]
 * i.e. the conv op with K[r, l] = 2 Re sum_n Ct Abar^l over all L taps (the
 * kernel ssm_kernel computes from log_dt, A, B, C: Abar and Ct there). L is
 * cut into chunks of T: inside a chunk a FlashConv with the first T taps,
 * across chunks the state, so memory is O(T) per channel and the cost per
 * token does not grow with L. The backward gives du and the modes' gradients
 * as (dL/dRe, dL/dIm) pairs, the convention of ssm_kernel_bwd. */
struct ssm_conv_args {
    int B, L, H, N2, group;
    int T; /* chunk length: a power of two >= 16; 0 = automatic (cpu: 4096, or one chunk when L is shorter) */
    enum conv_layout layout;
    const real *Abar; /* (H/group, N2, 2) complex as (re, im); |Abar| < 1 */
    const real *Ct;   /* (H/group, N2, 2) */
    const real *D;    /* (H/group) or NULL */
    const real *u;    /* (B, L, H) or (B, H, L) per layout */
    real *y;          /* like u (=) */
};
struct ssm_conv_bwd_args {
    struct ssm_conv_args f; /* y unused */
    const real *dy;
    real *du;    /* (=), or NULL */
    real *dAbar; /* (H/group, N2, 2) (+=), or NULL */
    real *dCt;   /* (H/group, N2, 2) (+=), or NULL */
    real *dD;    /* (H/group) (+=), or NULL */
};

/* Row softmax over the last axis of (R, C), optionally causal: for row r the
 * column limit is (r % L) + 1 when `causal_L` > 0 (rows are (…, L) query rows
 * over L keys, C == L), and masked entries of y are written as 0. */
struct softmax_args {
    int R, C;
    int causal_L;   /* 0 = no mask */
    real scale;     /* applied to x before the softmax */
    const real *x;  /* (R, C) */
    real *y;        /* (R, C) (=) */
};
struct softmax_bwd_args {
    struct softmax_args f;
    const real *y;  /* the forward's output */
    const real *dy;
    real *dx;       /* (R, C) (=), includes the scale */
};

/* LayerNorm over the last axis D of (R, D), eps given; saves mean and rstd. */
struct layernorm_args {
    int R, D;
    real eps;
    const real *x, *w, *b; /* (R, D), (D), (D) */
    real *y;               /* (R, D) (=) */
    real *mean, *rstd;     /* (R) (=) */
};
struct layernorm_bwd_args {
    struct layernorm_args f;
    const real *dy;
    real *dx;          /* (=) */
    real *dw, *db;     /* (D) (+=) */
};

enum gelu_kind { GELU_TANH, GELU_ERF };
struct gelu_args {
    size_t n;
    enum gelu_kind kind;
    const real *x;
    real *y;          /* (=) */
};
struct gelu_bwd_args {
    struct gelu_args f; /* f.y: the forward's output, or NULL; with it tanh (or erf)
                           is not evaluated again (one division instead) */
    const real *dy;
    real *dx;         /* (=) */
};

/* Mean cross-entropy over the positions whose target is >= 0 (target -1 =
 * ignored). Returns the mean loss (double) and the number of counted rows;
 * backward writes dlogits = (softmax - onehot) * scale / count. */
struct xent_args {
    int R, V;
    const real *logits; /* (R, V) */
    const int32_t *targets; /* (R), -1 = ignore */
    double *loss;       /* (=) mean over counted rows */
    int *count;         /* (=) */
    real *probs;        /* (R, V) (=) softmax, kept for backward; may be NULL */
};
struct xent_bwd_args {
    struct xent_args f;
    const real *probs;  /* from the forward */
    real scale;         /* upstream gradient of the loss (normally 1) */
    real *dlogits;      /* (R, V) (=) */
};

/* Causal softmax attention without the (L, L) matrix: tiles of queries and
 * keys with an online softmax (FlashAttention's algorithm), per sequence b and
 * head h of a packed qkv (D = NH dh; q, k, v at columns 0, D, 2D; head h at
 * h dh .. h dh + dh - 1 of each):
 *   P[t, s] = softmax_{s <= t}(scale q_t . k_s),  Pd = dropout(P),  o_t = sum_s Pd[t, s] v_s
 * Dropout keeps (t, s) iff hp_uniform_at(seed, stream, ((b NH + h) L + t) L + s) >= p and
 * scales kept entries by 1/(1 - p): the masks of models/attention.c's full
 * path. lse = log sum_{s <= t} exp(scale q_t . k_s) is saved for the
 * backward, which recomputes P tile by tile. Memory O(L) beyond qkv and o. */
struct attention_args {
    int B, L, NH, dh;
    real scale;       /* 1/sqrt(dh) for the standard layer */
    const real *qkv;  /* (B, L, 3D) */
    real *o;          /* (B, L, D) (=) */
    real *lse;        /* (B, NH, L) (=) */
    double p;         /* dropout probability; 0 = none */
    uint64_t seed, stream;
};
struct attention_bwd_args {
    struct attention_args f; /* o and lse as the forward left them */
    const real *dO;          /* (B, L, D) */
    real *dqkv;              /* (B, L, 3D) (=) */
};

/* ---- phase 2: what the layers and the model do between the ops above ------
 * Every tensor a layer or the model touches is reached through these, so a
 * backend that fills the whole table runs every layer with its tensors in its
 * own memory (alloc/upload/download below). */

/* A strided 2-D view over (R, C): element (r, c) at p[r rs + c cs]. rs = 0
 * repeats one row for every r (a per-channel vector broadcast over rows);
 * cs = -1 walks a row backwards (p then points at its first element read,
 * the row's last in memory); rs = 1 with cs = the source's row length
 * reads a transpose. */
struct ew_in {
    const real *p;
    ptrdiff_t rs, cs;
};
struct ew_out {
    real *p;
    ptrdiff_t rs, cs;
};

enum ew_kind {
    EW_FILL,    /* f = alpha */
    EW_COPY,    /* f = a */
    EW_SCALE,   /* f = alpha a */
    EW_ADD,     /* f = a + b */
    EW_MUL,     /* f = a b */
    EW_NEG_EXP, /* f = -exp(a), evaluated in double: the SSMs' Re A = -exp(stored log) */
    EW_KEEP,    /* f = a != 0 ? alpha b : 0 (a dropout mask read back from its output a) */
};

/* Elementwise over (R, C): y (=) f, or y (+=) f when acc. y may be the same
 * view as a or b (in place); no other overlap. */
struct ewise_args {
    enum ew_kind kind;
    size_t R, C;
    real alpha;
    struct ew_in a, b; /* a unused by FILL; b used by ADD, MUL, KEEP */
    struct ew_out y;
    bool acc;
};

/* y[c] (+=) sum_r x[r ldx + c], r = 0, 1, ... added in that order: bias
 * gradients, the same bits whatever the backend's thread count. */
struct colsum_args {
    size_t R;
    int C;
    const real *x; /* (R, ldx) */
    size_t ldx;
    real *y;       /* (C) (+=) */
};

/* Inverted dropout: y_i = keep_i ? x_i / (1 - p) : 0 with keep_i =
 * hp_uniform_at(seed, stream, i) >= p over the flat index i (core/rng.h: the
 * same masks on every backend). With causal_L > 0 the n entries are rows of
 * causal_L columns (attention's (…, L, L) probabilities) and the entries past
 * the diagonal (column > row % causal_L) are 0 as well. x and y may be equal. */
struct dropout_args {
    size_t n;
    int causal_L;
    double p; /* 0 <= p < 1 */
    uint64_t seed, stream;
    const real *x;
    real *y; /* (n) (=) */
};

/* Token (+ position) embedding of R = B L rows:
 *   y[r, :] (=) E[tok[r], :] + (P ? P[r % L, :] : 0)     tokens in [0, V)
 * Backward: dE[tok[r], :] (+=) dy[r, :] and dP[r % L, :] (+=) dy[r, :], each
 * destination row summing its rows r in ascending order (deterministic). */
struct embed_args {
    int R, L, D, V;
    const int32_t *tokens; /* (R) */
    const real *E;         /* (V, D) */
    const real *P;         /* (>= L, D) or NULL */
    real *y;               /* (R, D) */
};
struct embed_bwd_args {
    struct embed_args f; /* y unused */
    const real *dy;      /* (R, D) */
    real *dE;            /* (V, D) (+=) */
    real *dP;            /* (>= L, D) (+=), NULL when f.P is */
};

/* One AdamW step (PyTorch's arithmetic; models/adamw.h) over n contiguous
 * parameters of one optimizer group, the bias corrections folded into
 * scalars: p = decay p; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g²;
 * p -= step m / (sqrt(v) inv_sqrt_c2 + eps). */
struct adamw_args {
    size_t n;
    real decay, b1, b2, step, inv_sqrt_c2, eps;
    real *p, *m, *v; /* (n) updated */
    const real *g;   /* (n) */
};

/* *finite (=, host memory) is true iff every x_i, i < n, is finite. */
struct finite_args {
    size_t n;
    const real *x;
    bool *finite;
};

/* H3's heads of head_dim dh over R rows of D channels (H = D / dh heads;
 * models/h3.c): the outer product per head, kv (R, D dh),
 *   kv[r, (h dh + i) dh + j] = kt[r, h dh + i] v[r, h dh + j]
 * and the contraction of y (R, D dh) by q, o (R, D) in the reference's (j h) order,
 *   o[r, j H + h] = sum_i q[r, h dh + i] y[r, (h dh + i) dh + j]   (i ascending)
 * dh = 1: elementwise products. Backward outputs are (=). */
struct head_outer_args {
    int R, D, dh;
    const real *kt, *v; /* (R, D) */
    real *kv;           /* (R, D dh) (=) */
};
struct head_outer_bwd_args {
    struct head_outer_args f;
    const real *dkv;
    real *dkt, *dv; /* (R, D) (=) */
};
struct head_contract_args {
    int R, D, dh;
    const real *q; /* (R, D) */
    const real *y; /* (R, D dh) */
    real *o;       /* (R, D) (=) */
};
struct head_contract_bwd_args {
    struct head_contract_args f;
    const real *dout;
    real *dq; /* (R, D) (=) */
    real *dy; /* (R, D dh) (=) */
};

/* The shift SSM's kernel (H3's slot 1, models/h3.h), a learnable FIR:
 *   K[c, j] (=) sum_{n=0}^{N-1-j} B[c, n] C[c, n + j],  j < Lk <= N
 * Backward: dB[c, n] (+=) sum_j dK[c, j] C[c, n + j], dC[c, m] (+=) sum_j dK[c, j] B[c, m - j]. */
struct shift_kernel_args {
    int H, N, Lk;
    const real *B, *C; /* (H, N) */
    real *K;           /* (H, Lk) (=) */
};
struct shift_kernel_bwd_args {
    struct shift_kernel_args f; /* K unused */
    const real *dK;             /* (H, Lk) */
    real *dB, *dC;              /* (H, N) (+=) */
};

/* A sine activation with a per-column frequency (Hyena's filter MLP):
 *   y[r, c] (=) sin(freq[c] x[r, c]), evaluated in double
 * Backward: dx (=) dy freq cos(freq x); dfreq[c] (+=) sum_r dy x cos(freq x),
 * summed over r in double in ascending order. */
struct sine_args {
    int R, C;
    const real *freq; /* (C) */
    const real *x;    /* (R, C) */
    real *y;          /* (R, C) (=) */
};
struct sine_bwd_args {
    struct sine_args f; /* y unused */
    const real *dy;
    real *dx;    /* (R, C) (=) */
    real *dfreq; /* (C) (+=) */
};

struct ops {
    const char *name;       /* "cpu", "cuda" */
    const char *gemm_name;  /* which gemm path, named in reports */
    void (*gemm)(const struct gemm_args *a);
    void (*conv)(const struct conv_args *a);
    void (*conv_bwd)(const struct conv_bwd_args *a);
    void (*ssm_kernel)(const struct ssm_kernel_args *a);
    void (*ssm_kernel_bwd)(const struct ssm_kernel_bwd_args *a);
    void (*softmax)(const struct softmax_args *a);
    void (*softmax_bwd)(const struct softmax_bwd_args *a);
    void (*layernorm)(const struct layernorm_args *a);
    void (*layernorm_bwd)(const struct layernorm_bwd_args *a);
    void (*gelu)(const struct gelu_args *a);
    void (*gelu_bwd)(const struct gelu_bwd_args *a);
    void (*xent)(const struct xent_args *a);
    void (*xent_bwd)(const struct xent_bwd_args *a);
    void (*h3_inner)(const struct h3_inner_args *a);
    void (*h3_inner_bwd)(const struct h3_inner_bwd_args *a);
    void (*ssm_conv_chunked)(const struct ssm_conv_args *a);
    void (*ssm_conv_chunked_bwd)(const struct ssm_conv_bwd_args *a);
    void (*attention)(const struct attention_args *a);
    void (*attention_bwd)(const struct attention_bwd_args *a);

    /* Memory: every tensor argument above and below lives in the backend's
     * memory. host_memory: that is host memory (the CPU backend), so host
     * pointers are tensors and upload/download are copies. alloc returns
     * zero-filled memory (never NULL: it dies naming the size); free(NULL)
     * does nothing. */
    bool host_memory;
    const char *(*device)(void); /* the device in words, for reports */
    void *(*alloc)(size_t bytes);
    void (*free)(void *p);
    void (*upload)(void *dst, const void *src, size_t bytes);   /* host src -> backend dst */
    void (*download)(void *dst, const void *src, size_t bytes); /* backend src -> host dst */
    /* The generic tensor ops (phase 2). */
    void (*ewise)(const struct ewise_args *a);
    void (*colsum)(const struct colsum_args *a);
    void (*dropout)(const struct dropout_args *a);
    void (*embed)(const struct embed_args *a);
    void (*embed_bwd)(const struct embed_bwd_args *a);
    void (*adamw)(const struct adamw_args *a);
    void (*finite)(const struct finite_args *a);
    void (*head_outer)(const struct head_outer_args *a);
    void (*head_outer_bwd)(const struct head_outer_bwd_args *a);
    void (*head_contract)(const struct head_contract_args *a);
    void (*head_contract_bwd)(const struct head_contract_bwd_args *a);
    void (*shift_kernel)(const struct shift_kernel_args *a);
    void (*shift_kernel_bwd)(const struct shift_kernel_bwd_args *a);
    void (*sine)(const struct sine_args *a);
    void (*sine_bwd)(const struct sine_bwd_args *a);
};

const struct ops *ops_cpu(void);

/* The CUDA backend (kernels/cuda): the same table for device memory — every
 * tensor argument is a device pointer (kernels/cuda/cuda.h allocates and
 * copies); the scalars xent returns (loss, count) are host pointers, the op
 * waits for them. Same semantics as the CPU op, (=) and (+=) included, f32
 * only. Always declared: NULL when the build has no backend (CUDA=0, or the
 * f64 build) or no usable device, and ops_cuda_status() says which in words
 * (or names the device when there is one). Nothing calls CUDA before
 * ops_cuda() is asked for. */
const struct ops *ops_cuda(void);
const char *ops_cuda_status(void);

/* The backend called `name` ("cpu" or "cuda"), or NULL with the reason in
 * err: an unknown name (the known ones listed), or for "cuda" why it cannot
 * run here (ops_cuda_status(): not built, no device, ...). */
const struct ops *ops_by_name(const char *name, char *err, size_t errlen);

/* Convenience wrapper for the common single-matrix case. */
void ops_gemm(const struct ops *o, enum op_trans ta, enum op_trans tb, int M, int N, int K, real alpha,
              const real *A, int lda, const real *B, int ldb, real beta, real *C, int ldc);

/* ewise on n contiguous elements (one row), the common cases: y (=) v; y (=) a;
 * y (=) alpha a; y (=) a + b; y (=) a b; y (+=) a; y (+=) a b. */
void ops_fill(const struct ops *o, real *y, size_t n, real v);
void ops_copy(const struct ops *o, real *y, const real *a, size_t n);
void ops_scale(const struct ops *o, real *y, const real *a, real alpha, size_t n);
void ops_add(const struct ops *o, real *y, const real *a, const real *b, size_t n);
void ops_mul(const struct ops *o, real *y, const real *a, const real *b, size_t n);
void ops_acc(const struct ops *o, real *y, const real *a, size_t n);
void ops_acc_mul(const struct ops *o, real *y, const real *a, const real *b, size_t n);
/* A contiguous (R, C) view with row stride ld (ew_in / ew_out). */
struct ew_in ew_rows(const real *p, size_t ld);
struct ew_out ew_rows_out(real *p, size_t ld);

#endif
