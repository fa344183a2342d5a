/* verb_generate.c — `hippodrome generate --checkpoint FILE --prompt "3 7 1" --tokens N`:
 * greedy continuation in recurrent mode (spec/h3.md §1.7). The prompt runs
 * through the convolution-mode forward, which sets every layer's state; each
 * further token is one model_step, so a token costs the same whatever the
 * context length (attention: its KV cache grows). JSON on stdout. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"
#include "checkpoint.h"
#include "cli.h"
#include "report.h"

/* Index of the largest logit (the first on ties). */
static int32_t argmax(const real *z, int V) {
    int best = 0;
    for (int v = 1; v < V; v++)
        if (z[v] > z[best]) best = v;
    return (int32_t)best;
}

/* Prefill the prompt, then N - 1 steps: gen[0..N) greedy. 0, or -1 with err. */
static int continue_greedy(struct model *m, const int32_t *prompt, int P, int N, int32_t *gen, size_t *state_reals,
                           char *err, size_t errlen) {
    const int V = model_config(m)->vocab;
    struct model_state *s = model_state_create(m, 1, P + N - 1, err, errlen);
    if (!s) return -1;
    *state_reals = model_state_reals(s);
    gen[0] = argmax(model_prefill(m, ops_cpu(), s, prompt, P), V);
    for (int i = 1; i < N; i++) gen[i] = argmax(model_step(m, ops_cpu(), s, &gen[i - 1]), V);
    model_state_free(s);
    return 0;
}

static cJSON *id_array(const int32_t *ids, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
    return a;
}

/* The tokens as the task writes them. */
static cJSON *text_array(const struct run_config *c, const int32_t *ids, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        char t[32];
        c->task->token_text(&c->task_kv, ids[i], t, sizeof t);
        cJSON_AddItemToArray(a, cJSON_CreateString(t));
    }
    return a;
}

/* "a b => | c d": the whole sequence as text, the continuation after '|'. */
static void add_line(cJSON *root, const struct run_config *c, const int32_t *prompt, int P, const int32_t *gen,
                     int N) {
    size_t cap = 34 * (size_t)(P + N) + 4, len = 0;
    char *line = xcalloc(cap, 1);
    for (int i = 0; i < P + N; i++) {
        char t[32];
        c->task->token_text(&c->task_kv, i < P ? prompt[i] : gen[i - P], t, sizeof t);
        len += (size_t)snprintf(line + len, cap - len, "%s%s%s", i ? " " : "", i == P ? "| " : "", t);
    }
    cJSON_AddStringToObject(root, "text", line);
    free(line);
}

static cJSON *generate_json(const struct run_config *c, const char *ckpt, const int32_t *prompt, int P,
                            const int32_t *gen, int N, size_t state_reals, bool show_text) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "schema_version", REPORT_SCHEMA_VERSION);
    cJSON_AddStringToObject(root, "checkpoint", ckpt);
    cJSON_AddStringToObject(root, "name", c->name);
    cJSON_AddStringToObject(root, "layer", c->layer->name);
    cJSON_AddStringToObject(root, "decoding", "greedy");
    cJSON_AddNumberToObject(root, "state_size", (double)state_reals);
    cJSON_AddItemToObject(root, "prompt", id_array(prompt, P));
    cJSON_AddItemToObject(root, "generated", id_array(gen, N));
    if (c->task) {
        cJSON_AddStringToObject(root, "task", c->task->name);
        cJSON_AddItemToObject(root, "prompt_tokens", text_array(c, prompt, P));
        cJSON_AddItemToObject(root, "generated_tokens", text_array(c, gen, N));
        if (show_text) add_line(root, c, prompt, P, gen, N);
    }
    return root;
}

static int run_generate(const struct args *a) {
    const char *ckpt = args_get(a, "--checkpoint"), *text = args_get(a, "--prompt");
    if (!ckpt || !text) return cli_usage_error("generate", "--checkpoint FILE and --prompt \"ID ID ...\" are required");
    char err[1024];
    int N;
    if (args_int(a, "--tokens", 16, 1, 1000000, &N, err, sizeof err) != 0) return cli_usage_error("generate", "%s", err);
    struct run_config c;
    struct model *m = checkpoint_load(ckpt, &c, err, sizeof err);
    if (!m) return cli_usage_error("generate", "%s", err);
    const struct model_cfg *mc = model_config(m);
    int32_t *prompt = xmalloc((size_t)mc->max_L * sizeof *prompt), *gen = xmalloc((size_t)N * sizeof *gen);
    int P = cli_parse_ids("--prompt", text, mc->vocab, prompt, mc->max_L, err, sizeof err);
    size_t state_reals = 0;
    int status = 0;
    if (P < 0 || continue_greedy(m, prompt, P, N, gen, &state_reals, err, sizeof err) != 0)
        status = cli_usage_error("generate", "%s", err);
    else {
        cJSON *j = generate_json(&c, ckpt, prompt, P, gen, N, state_reals, args_has(a, "--show-text"));
        report_print(stdout, j);
        cJSON_Delete(j);
    }
    free(prompt), free(gen);
    model_free(m);
    return status;
}

static const struct flag_spec generate_flags[] = {
    {"--checkpoint", "FILE", false, "safetensors written by `train --save`"},
    {"--prompt", "\"ID ID ...\"", false, "prompt token ids (see `hippodrome show TASK` for ids)"},
    {"--tokens", "N", false, "tokens to generate (default 16)"},
    {"--show-text", NULL, false, "also the whole sequence as one line of text, the continuation after '|'"},
};

const struct verb verb_generate = {
    .name = "generate",
    .usage = "--checkpoint FILE --prompt \"3 7 1 ...\" [--tokens N] [--show-text]",
    .summary = "greedy continuation of a prompt in recurrent mode (one state update per token), as JSON",
    .flags = generate_flags,
    .n_flags = sizeof generate_flags / sizeof generate_flags[0],
    .min_pos = 0,
    .max_pos = 0,
    .run = run_generate,
};
