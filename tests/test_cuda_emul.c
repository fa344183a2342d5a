/* test_cuda_emul.c — the CUDA backend's memory model emulated on the CPU,
 * so that everything phase 2 moved behind the ops table is checked on every
 * machine: "emul" is the CPU backend whose memory the host may not touch
 * (host_memory false; every allocation its own mapping, PROT_NONE except
 * while one of its ops, an upload or a download runs). A layer or the model
 * reading or writing a tensor directly instead of through the table faults,
 * and since the arithmetic is the CPU's, results must be the same bits:
 *  - every layer case of cuda_layer_check.h (every registered kind, H3
 *    variants, the short-conv front), forward and backward;
 *  - training runs with train_opts.backend = emul: the report (but for its
 *    backend, device and timing) and the trained weights equal the CPU's,
 *    and a run stopped part way (its checkpoint written from the emulated
 *    device) and resumed there ends with the same numbers. */
#include <cjson/cJSON.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cuda_layer_check.h"

#include "../harness/config.h"
#include "../harness/report.h"
#include "../harness/train.h"

/* ---- the emulated device ------------------------------------------------------------ */

static struct region {
    void *p;
    size_t bytes;
} regions[512];
static int n_regions;
static long op_calls, stop_after = -1; /* set `stop` once op_calls passes stop_after */
static volatile sig_atomic_t stop;

static void protect_all(int prot) {
    for (int i = 0; i < n_regions; i++) HP_CHECK(mprotect(regions[i].p, regions[i].bytes, prot) == 0);
}
static void open_all(void) { protect_all(PROT_READ | PROT_WRITE); }
static void close_all(void) {
    protect_all(PROT_NONE);
    if (stop_after >= 0 && ++op_calls > stop_after) stop = 1;
}

static void *emul_alloc(size_t bytes) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE), n = (bytes + page - 1) / page * page;
    n = n ? n : page;
    void *p = mmap(NULL, n, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* zero-filled */
    HP_CHECK(p != MAP_FAILED && n_regions < (int)(sizeof regions / sizeof regions[0]));
    regions[n_regions++] = (struct region){p, n};
    return p;
}

static void emul_free(void *p) {
    if (!p) return;
    int i = 0;
    while (i < n_regions && regions[i].p != p) i++;
    HP_CHECK(i < n_regions); /* only what emul_alloc returned */
    HP_CHECK(munmap(p, regions[i].bytes) == 0);
    regions[i] = regions[--n_regions];
}

static void emul_copy(void *dst, const void *src, size_t bytes) {
    open_all();
    if (bytes) memcpy(dst, src, bytes);
    close_all();
}

static const char *emul_device(void) { return "emulated device (CPU arithmetic, memory the host may not touch)"; }

/* Every op: the CPU's, with the device's memory open while it runs. */
#define EMUL(name, T)                          \
    static void emul_##name(const struct T *a) { \
        open_all();                            \
        ops_cpu()->name(a);                    \
        close_all();                           \
    }
EMUL(gemm, gemm_args) EMUL(conv, conv_args) EMUL(conv_bwd, conv_bwd_args) EMUL(ssm_kernel, ssm_kernel_args)
EMUL(ssm_kernel_bwd, ssm_kernel_bwd_args) EMUL(softmax, softmax_args) EMUL(softmax_bwd, softmax_bwd_args)
EMUL(layernorm, layernorm_args) EMUL(layernorm_bwd, layernorm_bwd_args) EMUL(gelu, gelu_args)
EMUL(gelu_bwd, gelu_bwd_args) EMUL(xent, xent_args) EMUL(xent_bwd, xent_bwd_args) EMUL(h3_inner, h3_inner_args)
EMUL(h3_inner_bwd, h3_inner_bwd_args) EMUL(ssm_conv_chunked, ssm_conv_args)
EMUL(ssm_conv_chunked_bwd, ssm_conv_bwd_args) EMUL(attention, attention_args)
EMUL(attention_bwd, attention_bwd_args) EMUL(ewise, ewise_args) EMUL(colsum, colsum_args)
EMUL(dropout, dropout_args) EMUL(embed, embed_args) EMUL(embed_bwd, embed_bwd_args) EMUL(adamw, adamw_args)
EMUL(finite, finite_args) EMUL(head_outer, head_outer_args) EMUL(head_outer_bwd, head_outer_bwd_args)
EMUL(head_contract, head_contract_args) EMUL(head_contract_bwd, head_contract_bwd_args)
EMUL(shift_kernel, shift_kernel_args) EMUL(shift_kernel_bwd, shift_kernel_bwd_args) EMUL(sine, sine_args)
EMUL(sine_bwd, sine_bwd_args)

static const struct ops *emul(void) {
    static struct ops t;
    if (t.name) return &t;
    t = (struct ops){
        .gemm = emul_gemm, .conv = emul_conv, .conv_bwd = emul_conv_bwd, .ssm_kernel = emul_ssm_kernel,
        .ssm_kernel_bwd = emul_ssm_kernel_bwd, .softmax = emul_softmax, .softmax_bwd = emul_softmax_bwd,
        .layernorm = emul_layernorm, .layernorm_bwd = emul_layernorm_bwd, .gelu = emul_gelu,
        .gelu_bwd = emul_gelu_bwd, .xent = emul_xent, .xent_bwd = emul_xent_bwd, .h3_inner = emul_h3_inner,
        .h3_inner_bwd = emul_h3_inner_bwd, .ssm_conv_chunked = emul_ssm_conv_chunked,
        .ssm_conv_chunked_bwd = emul_ssm_conv_chunked_bwd, .attention = emul_attention,
        .attention_bwd = emul_attention_bwd, .host_memory = false, .device = emul_device, .alloc = emul_alloc,
        .free = emul_free, .upload = emul_copy, .download = emul_copy, .ewise = emul_ewise, .colsum = emul_colsum,
        .dropout = emul_dropout, .embed = emul_embed, .embed_bwd = emul_embed_bwd, .adamw = emul_adamw,
        .finite = emul_finite, .head_outer = emul_head_outer, .head_outer_bwd = emul_head_outer_bwd,
        .head_contract = emul_head_contract, .head_contract_bwd = emul_head_contract_bwd,
        .shift_kernel = emul_shift_kernel, .shift_kernel_bwd = emul_shift_kernel_bwd, .sine = emul_sine,
        .sine_bwd = emul_sine_bwd,
    };
    t.name = "emul", t.gemm_name = ops_cpu()->gemm_name;
    return &t;
}

/* ---- layers -------------------------------------------------------------------------------- */

START_TEST(test_every_kind_covered) { check_every_kind_covered(); }
END_TEST

START_TEST(test_layer) {
    tw_dev = emul();
    check_layer(_i, 0, 0); /* the CPU's arithmetic: the same bits */
    ck_assert_int_eq(n_regions, 0); /* the layer's device tables freed with it */
}
END_TEST

/* ---- training -------------------------------------------------------------------------------- */

/* The report without what names the backend and the time. */
static char *report_text(const struct run_config *c, const struct train_result *r) {
    cJSON *j = report_run(c, r);
    const char *drop[] = {"timing", "backend", "device"};
    for (int i = 0; i < 3; i++) cJSON_DeleteItemFromObjectCaseSensitive(j, drop[i]);
    char *t = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return t;
}

static void load(struct run_config *c, const char *config, const char *set) {
    const char *sets[] = {"task.num_train=96", "task.num_test=32", "train.epochs=3", "train.warmup_epochs=1",
                          "train.early_stop_acc=0", "train.stop_epoch=0", set};
    char err[1024];
    ck_assert_msg(config_load(config, sets, set ? 7 : 6, c, err, sizeof err) == 0, "%s", err);
}

/* A run's report text and trained weights (host copies). */
static char *run(const struct run_config *c, const struct train_opts *o, real **w, size_t *n) {
    struct train_result r;
    train_run(c, o, &r);
    ck_assert_msg(r.status == RUN_OK, "%s: %s", run_status_name(r.status), r.message);
    char *t = report_text(c, &r);
    *n = model_params(r.model)->total;
    *w = xmalloc(sizeof(real) * *n);
    memcpy(*w, model_param_data(r.model), sizeof(real) * *n);
    train_result_free(&r);
    return t;
}

static const char *run_layers[][2] = {
    {"configs/paper/assoc_recall_h3.json", NULL},        {"configs/paper/assoc_recall_attention.json", NULL},
    {"configs/paper/assoc_recall_hyena.json", NULL},     {"configs/paper/assoc_recall_gss.json", NULL},
    {"configs/paper/assoc_recall_s4d.json", NULL},       {"configs/paper/assoc_recall_h3.json", "model.short_conv=3"},
};

START_TEST(test_training) {
    struct run_config c;
    load(&c, run_layers[_i][0], run_layers[_i][1]);
    real *wa, *wb;
    size_t na, nb;
    char *a = run(&c, &(struct train_opts){.log_every = 0}, &wa, &na);
    char *b = run(&c, &(struct train_opts){.log_every = 0, .backend = emul()}, &wb, &nb);
    ck_assert_msg(strcmp(a, b) == 0, "%s: the report on the emulated device differs", run_layers[_i][0]);
    ck_assert_msg(na == nb && memcmp(wa, wb, sizeof(real) * na) == 0, "%s: trained weights differ", run_layers[_i][0]);
    ck_assert_int_eq(n_regions, 0);
    free(a), free(b), free(wa), free(wb);
}
END_TEST

/* Stopped after k op calls (a checkpoint written from the device), then resumed. */
START_TEST(test_stop_and_resume) {
    struct run_config c;
    load(&c, "configs/paper/assoc_recall_h3.json", NULL);
    char dir[] = "/tmp/hippo_emul_XXXXXX", ck[64];
    ck_assert(mkdtemp(dir) != NULL);
    snprintf(ck, sizeof ck, "%s/ck.safetensors", dir);
    real *wa, *wb;
    size_t na, nb;
    char *a = run(&c, &(struct train_opts){.log_every = 0}, &wa, &na);
    struct train_opts o = {.log_every = 0, .backend = emul(), .checkpoint = ck, .stop = &stop, .resume = true};
    struct train_result r;
    stop = 0, op_calls = 0, stop_after = 300 + 700 * _i; /* at different steps */
    train_run(&c, &o, &r);
    stop_after = -1;
    ck_assert_msg(r.status == RUN_STOPPED, "the run was not stopped: %s", run_status_name(r.status));
    train_result_free(&r);
    stop = 0;
    char *b = run(&c, &o, &wb, &nb);
    ck_assert_msg(strcmp(a, b) == 0, "the resumed run's report differs");
    ck_assert_msg(na == nb && memcmp(wa, wb, sizeof(real) * na) == 0, "the resumed run's weights differ");
    unlink(ck), rmdir(dir);
    free(a), free(b), free(wa), free(wb);
}
END_TEST

static Suite *emul_suite(void) {
    Suite *s = suite_create("cuda_emul");
    TCase *tc = tcase_create("emul");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_every_kind_covered);
    tcase_add_loop_test(tc, test_layer, 0, N_LAYER_CASES);
    tcase_add_loop_test(tc, test_training, 0, (int)(sizeof run_layers / sizeof run_layers[0]));
    tcase_add_loop_test(tc, test_stop_and_resume, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(emul_suite()); }
