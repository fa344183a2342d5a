/* test_short_conv.c — the short-conv front (models/short_conv.c) beyond the
 * generic layer checks it also goes through (tests/f64/test_layers.c,
 * tests/test_step.c): its weight is PyTorch's Conv1d layout (checked against
 * the cross-correlation written out here), a model without it keeps every
 * parameter name, it adds exactly its two tensors, its state is the mixer's
 * plus the history, and bad tap counts are refused by name. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/rng.h"
#include "../models/layer.h"
#include "../models/model.h"
#include "testutil.h"

enum { TB = 2, TL = 9, TD = 16 };

/* s[b, t, d] = sum_i weight[d, 0, i] x[b, t - (k-1) + i, d] + bias[d]: Conv1d(D, D, k,
 * groups=D, padding=k-1) truncated to the first L outputs. The wrapper's act
 * starts with s (B, L, D). */
START_TEST(test_pytorch_layout) {
    static const int ks[] = {1, 3, 4, TL + 3};
    const int k = ks[_i];
    struct tu_layer h;
    tu_layer_open(&h, &(struct tu_layer_cfg){.k = &layer_s4d, .D = TD, .B = TB, .L = TL, .short_conv = k});
    tu_layer_init(&h, 5);
    tu_fill_normal(h.x, h.n, 1.0, 3, 1);
    const real *w = tu_layer_P(&h, "short_conv.weight"), *bias = tu_layer_P(&h, "short_conv.bias");
    ck_assert_int_eq(tu_layer_spec(&h, "short_conv.weight")->ndim, 3);
    ck_assert_int_eq(tu_layer_spec(&h, "short_conv.weight")->shape[2], k);
    double bound = 1 / sqrt((double)k), seen = 0;
    for (int i = 0; i < TD * k; i++) ck_assert(fabs(w[i]) <= bound), seen = fmax(seen, fabs(w[i]));
    ck_assert(seen > bound / 4); /* drawn, not zero */
    tu_layer_forward(&h);
    for (int b = 0; b < TB; b++)
        for (int t = 0; t < TL; t++)
            for (int d = 0; d < TD; d++) {
                double s = bias[d];
                for (int i = 0; i < k; i++) {
                    int src = t - (k - 1) + i;
                    if (src >= 0) s += (double)w[(size_t)d * k + i] * h.x[((size_t)b * TL + src) * TD + d];
                }
                real got = h.act[((size_t)b * TL + t) * TD + d];
                ck_assert_msg(fabs(got - s) <= 1e-5 * (1 + fabs(s)), "k %d (b %d, t %d, d %d): %g vs %g", k, b, t, d,
                              got, s);
            }
    struct tu_layer plain; /* the same mixer without the front */
    tu_layer_open(&plain, &(struct tu_layer_cfg){.k = &layer_s4d, .D = TD, .B = TB, .L = TL});
    size_t inner = plain.k->state_size(plain.self, TL);
    tu_layer_close(&plain);
    int rows = k - 1 < TL - 1 ? k - 1 : TL - 1;
    ck_assert_uint_eq(h.k->state_size(h.self, TL), inner + (size_t)rows * TD);
    tu_layer_close(&h);
}
END_TEST

static struct model *make(const char *kind, int short_conv, char *err) {
    struct model_cfg c = {.vocab = 7, .d_model = TD, .n_layer = 2, .d_inner = 2 * TD, .max_L = TL, .ln_eps = 1e-5,
                          .kind = layer_find(kind), .short_conv = short_conv};
    tu_knobs(&c.layer_knobs, c.kind, "");
    return model_create(&c, err, 256);
}

/* Names: the model without the front is untouched; with it, two more tensors per block. */
START_TEST(test_names) {
    static const char *kinds[] = {"h3", "s4d", "attention", "gss"};
    char err[256] = "";
    struct model *a = make(kinds[_i], 0, err), *b = make(kinds[_i], 5, err);
    ck_assert_msg(a && b, "%s", err);
    const struct param_table *pa = model_params(a), *pb = model_params(b);
    ck_assert_int_eq(pb->n, pa->n + 2 * 2);
    for (int i = 0; i < pa->n; i++) ck_assert_int_ge(param_find(pb, pa->v[i].name), 0);
    ck_assert_int_ge(param_find(pb, "backbone.layers.1.mixer.short_conv.weight"), 0);
    ck_assert_int_ge(param_find(pb, "backbone.layers.0.mixer.short_conv.bias"), 0);
    ck_assert_int_lt(param_find(pa, "backbone.layers.0.mixer.short_conv.bias"), 0);
    ck_assert_ptr_eq(model_kind(a), layer_find(kinds[_i]));
    ck_assert_ptr_ne(model_kind(b), layer_find(kinds[_i]));
    model_free(a), model_free(b);
}
END_TEST

START_TEST(test_bad_taps) {
    char err[256] = "";
    ck_assert_ptr_null(make("h3", SHORT_CONV_MAX + 1, err));
    ck_assert_msg(strstr(err, "short_conv 65 must be in [0, 64]"), "message: %s", err);
    ck_assert_ptr_null(make("h3", -1, err));
    ck_assert_msg(strstr(err, "short_conv -1"), "message: %s", err);
}
END_TEST

int main(void) {
    Suite *s = suite_create("short_conv");
    TCase *tc = tcase_create("front");
    tcase_add_loop_test(tc, test_pytorch_layout, 0, 4);
    tcase_add_loop_test(tc, test_names, 0, 4);
    tcase_add_test(tc, test_bad_taps);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
