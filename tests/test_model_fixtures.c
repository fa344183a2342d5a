/* test_model_fixtures.c — whole models against golden fixtures.
 *
 * tests/fixtures/reference: float64 runs of the authors' own PyTorch code
 * (H3, H3 head_dim 8, S4D, attention). tests/fixtures/ours: our tools/
 * PyTorch implementation (itself checked against the authors' files) for
 * what those do not cover. For each file: build the model, load every stored
 * parameter by the authors' name, run forward and backward on the stored
 * batch, and compare logits, loss, every hidden state, and every parameter
 * gradient.
 *
 * Built twice: in float with the tolerances of the fixtures README §8, and in
 * double (tests/f64/test_model_fixtures.c includes this file) to 1e-10. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/safetensors.h"
#include "../models/adamw.h"
#include "../models/model.h"
#include "testutil.h"

#ifdef HIPPO_F64
/* The same formulas in double: agreement to round-off. */
#define TOL_LOSS 1e-11
#define TOL_FWD 1e-10
#define TOL_GRAD 1e-9
#else
/* Fixtures README §8: about 10x the worst float32 error of the authors' code. */
#define TOL_LOSS 2e-6
#define TOL_FWD 1e-5
#define TOL_GRAD 2e-4
#endif

struct fixture {
    const char *file;
    const char *layer;
    const char *knobs; /* "key=value,key=value" layer knobs */
    int n_pos; /* 0 = taken from the file */
    int short_conv; /* taps of the model's short-conv front (model_cfg.short_conv), 0 = none */
};

static const struct fixture fixtures[] = {
    {"reference/h3.safetensors", "h3", "", 0, 0},
    {"reference/h3_headdim8.safetensors", "h3", "head_dim=8", 0, 0},
    {"reference/s4d.safetensors", "s4d", "", 0, 0},
    {"reference/attention.safetensors", "attention", "n_heads=1,dropout=0", 32, 0},
    {"ours/h3_headdim2.safetensors", "h3", "head_dim=2", 0, 0},
    {"ours/h3_zoh.safetensors", "h3", "disc=zoh", 0, 0},
    {"ours/h3_big.safetensors", "h3", "", 0, 0},
    {"ours/attention_2heads.safetensors", "attention", "n_heads=2,dropout=0", 0, 0},
    {"ours/s4d_v10.safetensors", "s4d", "", 0, 0},
    {"ours/h3_n16.safetensors", "h3", "d_state=16", 0, 0},
    {"ours/gss.safetensors", "gss", "", 0, 0},
    {"ours/h3_diag_diag.safetensors", "h3", "ssm=diag+diag", 0, 0},
    {"ours/h3_shift_shift.safetensors", "h3", "ssm=shift+shift", 0, 0},
    {"ours/h3_nogates.safetensors", "h3", "gate_kv=false,gate_q=false", 0, 0},
    {"ours/hyena.safetensors", "hyena", "emb_dim=5,w=10,l_max=21", 0, 0},
    {"ours/h3_short_conv.safetensors", "h3", "", 0, 4},
};
enum { N_FIX = sizeof fixtures / sizeof fixtures[0] };

/* Vocabulary from the tied embedding; longest input from the ids. */
static struct model *build(const struct fixture *fx, const struct st_file *f, int *B, int *L) {
    const struct st_tensor *ids = tu_st_need(f, "input/ids");
    const struct st_tensor *emb = tu_st_need(f, "param/backbone.embeddings.word_embeddings.weight");
    const struct st_tensor *fc1 = tu_st_need(f, "param/backbone.layers.0.mlp.fc1.weight");
    *B = (int)ids->shape[0], *L = (int)ids->shape[1];
    struct model_cfg c = {.vocab = (int)emb->shape[0], .d_model = (int)emb->shape[1], .n_layer = 0,
                          .d_inner = (int)fc1->shape[0], .max_L = *L, .n_pos = fx->n_pos, .embed_dropout = 0,
                          .ln_eps = 1e-5, .kind = layer_find(fx->layer), .short_conv = fx->short_conv};
    char name[128];
    while (snprintf(name, sizeof name, "param/backbone.layers.%d.norm1.weight", c.n_layer), st_get(f, name))
        c.n_layer++;
    const struct st_tensor *pos = st_get(f, "param/backbone.embeddings.position_embeddings.weight");
    if (pos) c.n_pos = (int)pos->shape[0];
    ck_assert(c.kind != NULL);
    tu_knobs(&c.layer_knobs, c.kind, fx->knobs);
    char err[256] = "";
    struct model *m = model_create(&c, err, sizeof err);
    ck_assert_msg(m != NULL, "%s: %s", fx->file, err);
    return m;
}

/* Every parameter of ours must be in the file with the same element count, and vice versa. */
static void load_params(struct model *m, const struct st_file *f, const char *file) {
    const struct param_table *pt = model_params(m);
    real *p = model_param_data(m);
    int n_file = 0;
    for (int i = 0; i < f->n; i++) n_file += strncmp(f->t[i].name, "param/", 6) == 0;
    ck_assert_msg(n_file == pt->n, "%s: file has %d parameters, model %d", file, n_file, pt->n);
    for (int i = 0; i < pt->n; i++) {
        char name[PARAM_NAME + 8];
        snprintf(name, sizeof name, "param/%s", pt->v[i].name);
        tu_load_real(f, name, p + pt->v[i].offset, pt->v[i].numel);
    }
}

/* A tensor of ours against the file's, over the file's length. */
static void compare(const struct st_file *f, const char *name, const real *ours, double tol) {
    tu_check_tensor(f, name, ours, tu_st_need(f, name)->numel, tol);
}

static void compare_forward(const struct model *m, const struct st_file *f, int n_layer) {
    char name[64];
    compare(f, "hidden/embed", model_tap(m, TAP_EMBED, 0), TOL_FWD);
    for (int i = 0; i < n_layer; i++) {
        snprintf(name, sizeof name, "mixer/layer%d/in", i), compare(f, name, model_tap(m, TAP_MIXER_IN, i), TOL_FWD);
        snprintf(name, sizeof name, "mixer/layer%d/out", i), compare(f, name, model_tap(m, TAP_MIXER_OUT, i), TOL_FWD);
        snprintf(name, sizeof name, "mlp/layer%d/out", i), compare(f, name, model_tap(m, TAP_MLP_OUT, i), TOL_FWD);
        snprintf(name, sizeof name, "hidden/block%d", i), compare(f, name, model_tap(m, TAP_BLOCK, i), TOL_FWD);
    }
    compare(f, "hidden/ln_f", model_tap(m, TAP_LN_F, 0), TOL_FWD);
    compare(f, "output/logits", model_tap(m, TAP_LOGITS, 0), TOL_FWD);
}

static void compare_grads(struct model *m, const struct st_file *f) {
    const struct param_table *pt = model_params(m);
    const real *g = model_grad_data(m);
    for (int i = 0; i < pt->n; i++) {
        char name[PARAM_NAME + 8];
        snprintf(name, sizeof name, "grad/%s", pt->v[i].name);
        compare(f, name, g + pt->v[i].offset, TOL_GRAD);
    }
}

static int32_t *load_ids(const struct st_file *f, const char *name) {
    size_t n;
    double *v = tu_load_f64(f, name, &n);
    int32_t *ids = xmalloc(n * sizeof(int32_t));
    for (size_t i = 0; i < n; i++) ids[i] = (int32_t)v[i];
    free(v);
    return ids;
}

/* Open the fixture file into *f and build its model with every stored parameter. */
static struct model *open_model(const struct fixture *fx, struct st_file *f, int *B, int *L) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", FIXTURE_DIR, fx->file);
    if (strncmp(fx->file, "ours/", 5) == 0 && access(path, R_OK) != 0)
        ck_abort_msg("%s: missing; regenerate with tools/make_fixtures.py", path);
    tu_st_open(path, f);
    struct model *m = build(fx, f, B, L);
    load_params(m, f, fx->file);
    return m;
}

START_TEST(test_fixture) {
    const struct fixture *fx = &fixtures[_i];
    struct st_file f;
    int B, L;
    struct model *m = open_model(fx, &f, &B, &L);
    int32_t *ids = load_ids(&f, "input/ids"), *tgt = load_ids(&f, "input/targets");
    /* Training mode with every dropout at 0, as the fixtures were made. */
    struct model_batch b = {B, L, ids, tgt, true, 0, 0};
    double loss = model_forward(m, ops_cpu(), &b);
    double *ref_loss = tu_load_f64(&f, "output/loss", NULL);
    ck_assert_msg(fabs(loss - ref_loss[0]) <= TOL_LOSS, "%s: loss %.12g, reference %.12g", fx->file, loss,
                  ref_loss[0]);
    compare_forward(m, &f, model_config(m)->n_layer);
    model_zero_grad(m);
    model_backward(m, ops_cpu());
    compare_grads(m, &f);
    free(ref_loss), free(ids), free(tgt);
    model_free(m);
    st_free(&f);
}
END_TEST

/* One AdamW step with the reference's two parameter groups against
 * torch.optim.AdamW (tests/fixtures/ours/optim_h3). The step is compared as a
 * delta (after - before): it is ~lr, far smaller than the parameters, so a
 * wrong group (weight decay on an SSM tensor) shows plainly. */
START_TEST(test_adamw_step) {
    static const struct fixture fx = {"ours/optim_h3.safetensors", "h3", "", 0, 0};
    struct st_file f;
    int B, L;
    struct model *m = open_model(&fx, &f, &B, &L);
    const struct param_table *pt = model_params(m);
    real *p = model_param_data(m), *g = model_grad_data(m);
    real *before = xmalloc(pt->total * sizeof(real));
    for (int i = 0; i < pt->n; i++) {
        char name[PARAM_NAME + 16];
        snprintf(name, sizeof name, "grad/%s", pt->v[i].name);
        tu_load_real(&f, name, g + pt->v[i].offset, pt->v[i].numel);
    }
    memcpy(before, p, pt->total * sizeof(real));
    struct adamw opt;
    struct adamw_cfg cfg = {0.1, 0.9, 0.999, 1e-8};
    adamw_init(&opt, &cfg, pt->total);
    adamw_step(&opt, pt, p, g, 5e-4, 5e-4);
    for (int i = 0; i < pt->n; i++) {
        const struct param_spec *s = &pt->v[i];
        char name[PARAM_NAME + 16];
        size_t n;
        snprintf(name, sizeof name, "param/%s", s->name);
        double *ref0 = tu_load_f64(&f, name, &n);
        snprintf(name, sizeof name, "param_after/%s", s->name);
        double *ref1 = tu_load_f64(&f, name, NULL), *ours = xmalloc(n * sizeof(double));
        for (size_t j = 0; j < n; j++) ours[j] = (double)p[s->offset + j] - (double)before[s->offset + j], ref1[j] -= ref0[j];
        /* The stored parameter is rounded to half an ulp of |p|; relative to a
         * step of ~lr that allows (4 ulp of max|p|) / max|step| on top. */
        double maxp = 0, maxd = 0;
        for (size_t j = 0; j < n; j++) maxp = fmax(maxp, fabs(ref0[j])), maxd = fmax(maxd, fabs(ref1[j]));
        double ulp = sizeof(real) == 4 ? 1.2e-7 : 2.2e-16;
        tu_assert_close(name, ours, ref1, n, TOL_GRAD + 4 * ulp * maxp / fmax(maxd, 1e-30));
        free(ref0), free(ref1), free(ours);
    }
    adamw_free(&opt);
    free(before);
    model_free(m);
    st_free(&f);
}
END_TEST

int main(void) {
    Suite *s = suite_create("model_fixtures_" REAL_NAME);
    TCase *tc = tcase_create("fixtures");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_fixture, 0, N_FIX);
    tcase_add_test(tc, test_adamw_step);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
