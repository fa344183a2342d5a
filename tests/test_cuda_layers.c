/* test_cuda_layers.c — every registered layer's forward and backward on the
 * CUDA backend against the CPU backend, and a short training run on both:
 *  - layers: the same parameters (init plus noise, so no gradient is
 *    trivially zero), input and upstream gradient on both sides, at awkward
 *    shapes (odd L, B = 1, widths that are not a multiple of a warp; L = 1),
 *    training mode with dropout (the same masks), every H3 variant, tiled
 *    attention, the short-conv front; y, dx and every parameter's gradient
 *    compared tensor by tensor, the device act and scratch inside guard
 *    regions (tests/cuda_layer_check.h, shared with test_cuda_emul.c); y and
 *    dx within 1e-4, the parameter gradients within 5e-4 (scaled errors);
 *  - a run: associative recall with H3 at the paper's model and optimizer
 *    settings, a few epochs of a smaller split, trained with --backend cpu
 *    and cuda: each epoch's mean loss within 2e-3 relative.
 * Built in every build; without a device it prints one line and exits 0. */
#include "cuda_layer_check.h"

#include "../harness/config.h"
#include "../harness/train.h"

START_TEST(test_every_kind_covered) { check_every_kind_covered(); }
END_TEST

/* A layer is ~10 ops, each within 2e-5 of the CPU (test_cuda_ops.c): y and
 * dx within 1e-4, the parameter gradients (sums over every row) 5e-4. */
START_TEST(test_layer) {
    QUICK_SKIP();
    check_layer(_i, 1e-4, 5e-4);
}
END_TEST

/* ---- a short training run on both backends ------------------------------------------------- */

static void run_on(const struct ops *backend, struct train_result *r) {
    static const char *sets[] = {"task.num_train=512", "task.num_test=64", "train.epochs=4", "train.warmup_epochs=1",
                                 "train.early_stop_acc=0", "train.stop_epoch=0"};
    struct run_config c;
    char err[1024];
    ck_assert_msg(config_load("configs/paper/assoc_recall_h3.json", sets, 6, &c, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(train_run(&c, &(struct train_opts){.log_every = 0, .backend = backend}, r), 0);
    ck_assert_int_eq(r->status, RUN_OK);
}

START_TEST(test_training) {
    if (quick) return; /* not for compute-sanitizer */
    struct train_result a, b;
    run_on(ops_cpu(), &a);
    run_on(ops_cuda(), &b);
    ck_assert_str_eq(b.backend, "cuda");
    ck_assert_int_eq(a.epochs_run, b.epochs_run);
    for (int e = 0; e < a.epochs_run; e++) {
        double rel = fabs(a.train_loss[e] - b.train_loss[e]) / fabs(a.train_loss[e]);
        printf("  epoch %d: loss cpu %.6f cuda %.6f (rel %.2g), test acc %.3f / %.3f\n", e + 1, a.train_loss[e],
               b.train_loss[e], rel, a.test_acc[e], b.test_acc[e]);
        ck_assert_msg(rel <= 2e-3, "epoch %d: loss %.6f on cuda, %.6f on cpu", e + 1, b.train_loss[e], a.train_loss[e]);
    }
    train_result_free(&a), train_result_free(&b);
}
END_TEST

static Suite *cuda_layers_suite(void) {
    Suite *s = suite_create("cuda_layers");
    TCase *tc = tcase_create("cuda_layers");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_every_kind_covered);
    tcase_add_loop_test(tc, test_layer, 0, N_LAYER_CASES);
    tcase_add_test(tc, test_training);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_cuda_main("test_cuda_layers", cuda_layers_suite); }
