/* cuda_layer_check.h — one layer's forward and backward on a device backend
 * against the CPU backend (test_cuda_layers.c on the GPU, test_cuda_emul.c
 * on the CPU with memory the host may not touch): the cases, every
 * registered kind among them, and the comparison. Include after
 * cuda_testutil.h (the twins live on tw_dev). */
#ifndef HIPPO_CUDA_LAYER_CHECK_H
#define HIPPO_CUDA_LAYER_CHECK_H

#include "cuda_testutil.h"

/* Awkward shapes: odd L, B = 1, widths that are not a multiple of a warp,
 * L = 1 and 2; every H3 variant, tiled attention, the short-conv front. */
struct layer_case {
    const char *kind, *knobs;
    int short_conv, D, B, L;
};
static const struct layer_case layer_cases[] = {
    {"attention", "n_heads=3", 0, 24, 2, 37},
    {"attention", "n_heads=2,impl=tiled", 0, 20, 1, 45},
    {"attention", "n_heads=1,dropout=0", 0, 8, 3, 1},
    {"s4d", "d_state=16", 0, 20, 1, 129},
    {"s4d", "d_state=64", 0, 33, 3, 31},
    {"h3", "d_state=16", 0, 24, 2, 50},
    {"h3", "d_state=8,head_dim=2", 0, 12, 1, 33},
    {"h3", "d_state=8,head_dim=3,fused=true", 0, 18, 2, 21},
    {"h3", "d_state=8,fused=true", 0, 20, 1, 300},
    {"h3", "d_state=16,ssm=diag+diag,disc=zoh,measure=diag-inv", 0, 20, 2, 40},
    {"h3", "d_state=32,ssm=shift+shift,gate_kv=false,gate_q=false", 0, 16, 2, 13},
    {"h3", "d_state=16,gate_kv=false", 0, 16, 1, 17},
    {"gss", "expand=2,d_ssm=12,d_state=16", 0, 20, 2, 45},
    {"hyena", "filter_order=16,emb_dim=5,short_filter=3", 0, 16, 2, 33},
    {"h3", "d_state=16", 4, 24, 2, 29},
    {"attention", "n_heads=2", 3, 16, 1, 30},
    {"gss", "d_ssm=8,d_state=8", 2, 12, 1, 2},
};
#define N_LAYER_CASES ((int)(sizeof layer_cases / sizeof layer_cases[0]))

/* Every registered kind has a case. */
static inline void check_every_kind_covered(void) {
    for (int k = 0; layer_kinds[k]; k++) {
        int n = 0;
        for (int i = 0; i < N_LAYER_CASES; i++) n += strcmp(layer_cases[i].kind, layer_kinds[k]->name) == 0;
        ck_assert_msg(n > 0, "layer '%s' has no case in cuda_layer_check.h", layer_kinds[k]->name);
    }
}

/* Every parameter's gradient, tensor by tensor: the device's (g) against the CPU's (cpu). */
static inline void check_layer_grads(const struct param_table *pt, const struct twin *g, const real *cpu,
                                     const char *what, double tol) {
    real *got = xmalloc(sizeof(real) * (g->n ? g->n : 1));
    tw_dev->download(got, g->d, sizeof(real) * g->n);
    for (int i = 0; i < pt->n; i++) {
        const struct param_spec *s = &pt->v[i];
        double *want = tu_to_f64(cpu + s->offset, s->numel);
        char name[PARAM_NAME + 256];
        snprintf(name, sizeof name, "%s: grad %s", what, s->name);
        tu_assert_close_real(name, got + s->offset, want, s->numel, tol);
        free(want);
    }
    free(got);
}

/* Case i on the CPU, then on tw_dev with the same parameters (init plus
 * noise, so no gradient is trivially zero), input, upstream gradient and
 * dropout masks (training mode); y and dx within tol_y, the parameter
 * gradients within tol_g (scaled errors; 0: the same bits), the device's act
 * and scratch inside guard regions. */
static inline void check_layer(int i, double tol_y, double tol_g) {
    const struct layer_case *c = &layer_cases[i];
    struct tu_layer_cfg cfg = {layer_find(c->kind), c->knobs, c->D, c->B, c->L, 0, c->short_conv};
    ck_assert_msg(cfg.k != NULL, "no layer %s", c->kind);
    struct tu_layer r;
    tu_layer_open(&r, &cfg);
    tu_layer_init(&r, 7);
    real *noise = xmalloc(sizeof(real) * (r.pt.total + 1));
    tu_fill_normal(noise, r.pt.total, 0.01, 8, (uint64_t)i);
    for (size_t k = 0; k < r.pt.total; k++) r.p[k] += noise[k];
    tu_fill_normal(r.x, r.n, 1, 9, (uint64_t)i), tu_fill_normal(r.dy, r.n, 1, 10, (uint64_t)i);
    r.training = c->L > 1, r.seed = 11, r.stream = 12;
    tu_layer_forward(&r);
    tu_layer_backward(&r);
    if (r.k->bind) r.k->bind(r.self, tw_dev); /* the layer's tables to the device */
    struct twin p = twin_new(r.pt.total, 0, 0), g = twin_new(r.pt.total, 0, 0), x = twin_new(r.n, 0, 0);
    struct twin dy = twin_new(r.n, 0, 0), y = twin_new(r.n, 0, 0), dx = twin_new(r.n, 0, 0);
    struct twin act = twin_new(r.n_act, 0, 0), scr = twin_new(r.n_scr, 0, 0);
    tw_dev->upload(p.d, r.p, sizeof(real) * r.pt.total), tw_dev->upload(x.d, r.x, sizeof(real) * r.n);
    tw_dev->upload(dy.d, r.dy, sizeof(real) * r.n);
    struct layer_fwd f = {r.B, r.L, x.d, y.d, p.d, act.d, scr.d, r.training, r.seed, r.stream};
    r.k->forward(r.self, tw_dev, &f);
    struct layer_bwd b = {r.B, r.L, x.d, dy.d, dx.d, p.d, g.d, act.d, scr.d, r.training, r.seed, r.stream};
    r.k->backward(r.self, tw_dev, &b);
    char what[160];
    snprintf(what, sizeof what, "%s%s %s D%d B%d L%d", c->short_conv ? "short_conv+" : "", c->kind, c->knobs, c->D,
             c->B, c->L);
    memcpy(y.h, r.y, sizeof(real) * r.n), memcpy(dx.h, r.dx, sizeof(real) * r.n);
    twin_check(what, &y, tol_y), twin_check(what, &dx, tol_y);
    check_layer_grads(&r.pt, &g, r.g, what, tol_g);
    /* act and scratch: their guards (h set to what the device holds) */
    tw_dev->download(act.h, act.d, sizeof(real) * act.n), tw_dev->download(scr.h, scr.d, sizeof(real) * scr.n);
    twin_check("act", &act, 0), twin_check("scratch", &scr, 0);
    struct twin *all[] = {&p, &g, &x, &dy, &y, &dx, &act, &scr};
    for (int k = 0; k < 8; k++) twin_free(all[k]);
    free(noise);
    tu_layer_close(&r);
}

#endif
