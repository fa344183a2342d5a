/* test_learning.c — the whole stack learns: a seeded small H3 model on
 * associative recall (V 10, 4 key-value pairs per example) must reach >= 95%
 * test accuracy within a fixed budget of 90 epochs x 125 steps. On this
 * machine it crosses 95% near epoch 50 (~20 s on one thread); the budget leaves
 * room for bit-level changes in the ops, not for a broken gradient, optimizer
 * or schedule (a model that cannot compare tokens stays near 60%). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../harness/config.h"
#include "../harness/train.h"
#include "testutil.h"

static const char *config_text =
    "{\"name\": \"learn_ar_h3\","
    " \"task\": {\"name\": \"assoc_recall\", \"vocab_size\": 10, \"seq_len\": 8, \"num_train\": 4000, \"num_test\": 200},"
    " \"model\": {\"layer\": \"h3\", \"d_model\": 32, \"n_layer\": 2, \"d_inner\": 64, \"embed_dropout\": 0},"
    " \"train\": {\"epochs\": 90, \"batch_size\": 32, \"warmup_epochs\": 1, \"lr\": 3e-3, \"ssm_lr\": 1e-3,"
    "  \"weight_decay\": 0, \"schedule\": \"constant\", \"early_stop_acc\": 0.95, \"seed\": 0, \"threads\": 1}}";

START_TEST(test_h3_learns_assoc_recall) {
    char path[] = "/tmp/hippo_learn_XXXXXX.json";
    int fd = mkstemps(path, 5);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs(config_text, f);
    fclose(f);
    struct run_config c;
    char err[1024];
    int rc = config_load(path, NULL, 0, &c, err, sizeof err);
    unlink(path);
    ck_assert_msg(rc == 0, "%s", err);
    struct train_result r;
    ck_assert_int_eq(train_run(&c, &(struct train_opts){.log_every = 10}, &r), 0);
    ck_assert_str_eq(run_status_name(r.status), "ok");
    ck_assert_msg(r.best_acc >= 0.95, "best test accuracy %.3f < 0.95 after %d epochs (%ld steps)", r.best_acc,
                  r.epochs_run, r.steps);
    fprintf(stderr, "learning: %.3f at epoch %d (%ld steps, %.1f s)\n", r.best_acc, r.best_epoch, r.steps,
            r.wall_seconds);
    train_result_free(&r);
}
END_TEST

int main(void) {
    Suite *s = suite_create("learning");
    TCase *tc = tcase_create("learning");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_h3_learns_assoc_recall);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
