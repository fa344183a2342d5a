/* verb_predict.c — `hippodrome predict --checkpoint FILE --tokens "3 7 1"`:
 * next-token probabilities at every position, as JSON on stdout. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"
#include "checkpoint.h"
#include "cli.h"
#include "report.h"

static void softmax_rows(const real *logits, int L, int V, double *probs) {
    for (int l = 0; l < L; l++) {
        const real *z = logits + (size_t)l * V;
        double *p = probs + (size_t)l * V, mx = z[0], sum = 0;
        for (int v = 1; v < V; v++) mx = z[v] > mx ? z[v] : mx;
        for (int v = 0; v < V; v++) sum += p[v] = exp((double)z[v] - mx);
        for (int v = 0; v < V; v++) p[v] /= sum;
    }
}

static int run_predict(const struct args *a) {
    const char *ckpt = args_get(a, "--checkpoint"), *text = args_get(a, "--tokens");
    if (!ckpt || !text) return cli_usage_error("predict", "--checkpoint FILE and --tokens \"ID ID ...\" are required");
    struct run_config c;
    char err[1024];
    struct model *m = checkpoint_load(ckpt, &c, err, sizeof err);
    if (!m) return cli_usage_error("predict", "%s", err);
    const struct model_cfg *mc = model_config(m);
    int32_t *tokens = xmalloc((size_t)mc->max_L * sizeof *tokens);
    int L = cli_parse_ids("--tokens", text, mc->vocab, tokens, mc->max_L, err, sizeof err);
    int status = 0;
    if (L < 0) status = cli_usage_error("predict", "%s", err);
    else {
        struct model_batch b = {.B = 1, .L = L, .tokens = tokens, .training = false};
        model_forward(m, ops_cpu(), &b);
        double *probs = xmalloc((size_t)L * mc->vocab * sizeof *probs);
        softmax_rows(model_tap(m, TAP_LOGITS, 0), L, mc->vocab, probs);
        cJSON *j = report_predict(&c, ckpt, tokens, L, probs);
        report_print(stdout, j);
        cJSON_Delete(j);
        free(probs);
    }
    free(tokens);
    model_free(m);
    return status;
}

static const struct flag_spec predict_flags[] = {
    {"--checkpoint", "FILE", false, "safetensors written by `train --save`"},
    {"--tokens", "\"ID ID ...\"", false, "input token ids (see `hippodrome show TASK` for ids)"},
};

const struct verb verb_predict = {
    .name = "predict",
    .usage = "--checkpoint FILE --tokens \"3 7 1 ...\"",
    .summary = "next-token probabilities at every position of an input, as JSON",
    .flags = predict_flags,
    .n_flags = sizeof predict_flags / sizeof predict_flags[0],
    .min_pos = 0,
    .max_pos = 0,
    .run = run_predict,
};
