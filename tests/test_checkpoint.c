/* test_checkpoint.c — checkpoints and `hippodrome generate`.
 *  - a checkpoint saved and loaded gives bit-identical parameters and logits
 *    (h3, s4d, attention);
 *  - damaged files are refused with a message naming the problem: truncated
 *    (inside the header length, the header, the data), a header length past
 *    the end, flipped header bytes (JSON syntax, a shape, a name, metadata),
 *    a flipped data byte (the content hash), trailing bytes, a tensor of the
 *    wrong shape, a NaN weight; a file without the hash still loads;
 *  - generate: models trained here on a trivially learnable language (each
 *    token is the previous one plus 1, mod V) continue a prompt with exactly
 *    that pattern, and every generated token is the argmax of a full forward
 *    of the sequence so far; the JSON carries ids and token text; a layer
 *    without step, too many positions for attention and bad flags exit 2.
 * Runs build/hippodrome from the repo root (make test builds it first). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/safetensors.h"
#include "../harness/checkpoint.h"
#include "../harness/config.h"
#include "../harness/train.h"
#include "../models/adamw.h"
#include "../models/model.h"
#include "cli_testutil.h"
#include "testutil.h"

#define BIN "build/hippodrome"
/* assoc_recall with seq_len 16: V 10, inputs of 18 tokens (position rows 18). */
#define CONFIG                                                                                                   \
    "{\"name\": \"ckpt_%s\", \"task\": {\"name\": \"assoc_recall\", \"vocab_size\": 10, \"seq_len\": 16, "       \
    "\"num_train\": 64, \"num_test\": 16}, \"model\": {\"layer\": \"%s\", \"d_model\": 16, \"n_layer\": 1, "     \
    "\"d_inner\": 32, \"layer_options\": {%s}}}"

static void setup(void) { tmpdir_open("ckpt"); }

static void teardown(void) { tmpdir_close(); }

static void make_config(struct run_config *c, const char *layer, const char *opts) {
    char text[1024], err[512];
    snprintf(text, sizeof text, CONFIG, layer, layer, opts);
    cJSON *doc = cJSON_Parse(text);
    ck_assert_ptr_nonnull(doc);
    ck_assert_msg(config_resolve(doc, c, err, sizeof err) == 0, "%s", err);
    cJSON_Delete(doc);
}

/* (B, L) rows of the "+1 mod V" language from random starts. */
static void pattern_batch(int B, int L, int V, uint64_t seed, int32_t *tok, int32_t *tgt) {
    struct hp_rng r = hp_rng_make(seed, 3);
    for (int b = 0; b < B; b++) {
        int s = (int)hp_rng_below(&r, (uint64_t)V);
        for (int t = 0; t < L; t++) tok[b * L + t] = (s + t) % V, tgt[b * L + t] = (s + t + 1) % V;
    }
}

/* A model of layer `layer` from CONFIG, trained `steps` AdamW steps on the pattern. */
static struct model *trained(struct run_config *c, const char *layer, const char *opts, int steps) {
    make_config(c, layer, opts);
    char err[512];
    struct model *m = train_model_create(c, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    model_init(m, 1);
    const struct model_cfg *mc = model_config(m);
    enum { B = 16 };
    int L = mc->max_L;
    int32_t *tok = xmalloc((size_t)B * L * sizeof *tok), *tgt = xmalloc((size_t)B * L * sizeof *tgt);
    struct adamw opt;
    adamw_init(&opt, &(struct adamw_cfg){.weight_decay = 0, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8},
               model_params(m)->total);
    for (int s = 0; s < steps; s++) {
        pattern_batch(B, L, mc->vocab, (uint64_t)s, tok, tgt);
        model_zero_grad(m);
        model_forward(m, ops_cpu(), &(struct model_batch){.B = B, .L = L, .tokens = tok, .targets = tgt});
        model_backward(m, ops_cpu());
        adamw_step(&opt, model_params(m), model_param_data(m), model_grad_data(m), 1e-2, 1e-2);
    }
    adamw_free(&opt);
    free(tok), free(tgt);
    return m;
}

static const char *save(const struct run_config *c, struct model *m, const char *name) {
    const char *p = at(name);
    char err[512];
    ck_assert_msg(checkpoint_save(p, c, m, err, sizeof err) == 0, "%s", err);
    return p;
}

/* ---- round trip ---------------------------------------------------------------- */

static const char *const layers[][2] = {{"h3", "\"d_state\": 8"}, {"s4d", "\"d_state\": 8"}, {"attention", ""}};

START_TEST(test_roundtrip_bit_identical) {
    struct run_config c, c2;
    struct model *m = trained(&c, layers[_i][0], layers[_i][1], 3);
    const char *p = save(&c, m, "m.safetensors");
    char err[1024];
    struct model *m2 = checkpoint_load(p, &c2, err, sizeof err);
    ck_assert_msg(m2 != NULL, "%s", err);
    ck_assert_uint_eq(config_hash(&c), config_hash(&c2));
    size_t P = model_params(m)->total;
    ck_assert_uint_eq(model_params(m2)->total, P);
    ck_assert_msg(memcmp(model_param_data(m), model_param_data(m2), P * sizeof(real)) == 0, "parameters differ");
    enum { L = 18 };
    int32_t tok[L], tgt[L];
    pattern_batch(1, L, 10, 77, tok, tgt);
    int V = model_config(m)->vocab;
    model_forward(m, ops_cpu(), &(struct model_batch){.B = 1, .L = L, .tokens = tok});
    real *l1 = xmalloc((size_t)L * V * sizeof *l1);
    memcpy(l1, model_tap(m, TAP_LOGITS, 0), (size_t)L * V * sizeof *l1);
    model_forward(m2, ops_cpu(), &(struct model_batch){.B = 1, .L = L, .tokens = tok});
    ck_assert_msg(memcmp(l1, model_tap(m2, TAP_LOGITS, 0), (size_t)L * V * sizeof *l1) == 0, "logits differ");
    free(l1);
    model_free(m), model_free(m2);
}
END_TEST

/* ---- damaged files ------------------------------------------------------------- */

struct bytes {
    unsigned char *b;
    size_t n;
};

static struct bytes read_bytes(const char *path) {
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    struct bytes r = {xmalloc((size_t)n + 1), (size_t)n};
    ck_assert_uint_eq(fread(r.b, 1, r.n, f), r.n);
    fclose(f);
    return r;
}

static void write_bytes(const char *path, const unsigned char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, n, f), n);
    fclose(f);
}

/* checkpoint_load of `b` refused with a message containing both needles. */
static void expect_refused(const char *what, const unsigned char *b, size_t n, const char *needle1,
                           const char *needle2) {
    const char *p = at("bad.safetensors");
    write_bytes(p, b, n);
    struct run_config c;
    char err[1024] = "";
    struct model *m = checkpoint_load(p, &c, err, sizeof err);
    ck_assert_msg(m == NULL, "%s: accepted", what);
    ck_assert_msg(strstr(err, needle1) && (!needle2 || strstr(err, needle2)), "%s: message '%s' lacks '%s'%s%s", what,
                  err, needle1, needle2 ? " / " : "", needle2 ? needle2 : "");
}

/* A saved h3 checkpoint's bytes and its header length. */
static struct bytes good_file(size_t *hlen) {
    struct run_config c;
    struct model *m = trained(&c, "h3", "\"d_state\": 8", 0);
    struct bytes g = read_bytes(save(&c, m, "good.safetensors"));
    model_free(m);
    *hlen = 0;
    for (int i = 7; i >= 0; i--) *hlen = (*hlen << 8) | g.b[i];
    return g;
}

START_TEST(test_truncated) {
    size_t hlen;
    struct bytes g = good_file(&hlen);
    expect_refused("4 bytes", g.b, 4, "truncated", "no 8-byte header length");
    expect_refused("cut inside the header", g.b, 8 + hlen / 2, "truncated", "runs past the end");
    expect_refused("last byte missing", g.b, g.n - 1, "truncated", "ends at data byte");
    expect_refused("cut inside the data", g.b, 8 + hlen + (g.n - 8 - hlen) / 2, "truncated", NULL);
    free(g.b);
}
END_TEST

START_TEST(test_header_length_past_end) {
    size_t hlen;
    struct bytes g = good_file(&hlen);
    uint64_t lens[] = {g.n - 7, (uint64_t)1 << 62, UINT64_MAX};
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < 8; i++) g.b[i] = (unsigned char)(lens[k] >> (8 * i));
        expect_refused("header length past the end", g.b, g.n, "header length", "runs past the end");
    }
    free(g.b);
}
END_TEST

/* The first occurrence of s in the header (offset into the file). */
static size_t find_in_header(const struct bytes *g, size_t hlen, const char *s) {
    for (size_t i = 8; i + strlen(s) <= 8 + hlen; i++)
        if (memcmp(g->b + i, s, strlen(s)) == 0) return i;
    ck_abort_msg("'%s' not in the header", s);
    return 0;
}

START_TEST(test_flipped_header_bytes) {
    size_t hlen;
    struct bytes g = good_file(&hlen);
    unsigned char *b = xmalloc(g.n);
    /* JSON syntax: the opening brace. */
    memcpy(b, g.b, g.n), b[8] ^= 0x20;
    expect_refused("flipped '{'", b, g.n, "header is not a JSON object", NULL);
    /* A shape: q_proj.weight (16, 16) becomes (16, 17): its offsets no longer fit. */
    size_t at = find_in_header(&g, hlen, "q_proj.weight\":{\"dtype\":\"F32\",\"shape\":[16,16]");
    memcpy(b, g.b, g.n), b[at + strlen("q_proj.weight\":{\"dtype\":\"F32\",\"shape\":[16,1")] ^= 0x01;
    expect_refused("flipped shape digit", b, g.n, "q_proj.weight", "its shape and dtype need");
    /* A name, a metadata byte, a data byte: the layout still holds, the content hash does not. */
    at = find_in_header(&g, hlen, "q_proj.weight");
    memcpy(b, g.b, g.n), b[at] ^= 0x01;
    expect_refused("flipped name byte", b, g.n, "corrupt: content hash", NULL);
    at = find_in_header(&g, hlen, "\"format\":\"pt\"");
    memcpy(b, g.b, g.n), b[at + strlen("\"format\":\"")] ^= 0x01;
    expect_refused("flipped metadata byte", b, g.n, "corrupt: content hash", NULL);
    memcpy(b, g.b, g.n), b[g.n - 3] ^= 0x40;
    expect_refused("flipped data byte", b, g.n, "corrupt: content hash", NULL);
    /* An offset: a tensor starting one byte late leaves a gap and overlaps its size check. */
    at = find_in_header(&g, hlen, "\"data_offsets\":[0,");
    memcpy(b, g.b, g.n), b[at + strlen("\"data_offsets\":[")] = '4';
    expect_refused("flipped offset", b, g.n, "data_offsets [4,", NULL);
    free(b), free(g.b);
}
END_TEST

/* A file without the hash (as other tools write them) is read on the layout checks alone. */
START_TEST(test_no_hash_still_loads) {
    size_t hlen;
    struct bytes g = good_file(&hlen);
    size_t k = find_in_header(&g, hlen, "\"" ST_HASH_KEY "\"");
    g.b[k + strlen(ST_HASH_KEY)] ^= 0x01; /* the key renamed: no hash in the file */
    const char *p = at("nohash.safetensors");
    write_bytes(p, g.b, g.n);
    struct run_config c;
    char err[1024];
    struct model *m = checkpoint_load(p, &c, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    model_free(m);
    struct st_file f;
    ck_assert_int_eq(st_read(p, &f, err, sizeof err), 0);
    ck_assert(!f.hashed);
    st_free(&f);
    ck_assert_int_eq(st_read(at("good.safetensors"), &f, err, sizeof err), 0);
    ck_assert(f.hashed);
    st_free(&f);
    free(g.b);
}
END_TEST

START_TEST(test_trailing_bytes) {
    size_t hlen;
    struct bytes g = good_file(&hlen);
    unsigned char *b = xcalloc(g.n + 4, 1);
    memcpy(b, g.b, g.n);
    expect_refused("4 extra bytes", b, g.n + 4, "4 bytes after the last tensor", NULL);
    free(b), free(g.b);
}
END_TEST

/* A file with the checkpoint's metadata and tensors, but one tensor (name)
 * reshaped or its first element replaced. */
static void rewrite(const char *src, const char *dst, const char *name, const int64_t *shape, int ndim,
                    const float *first) {
    struct st_file f;
    tu_st_open(src, &f);
    struct st_out *t = xcalloc((size_t)f.n, sizeof *t);
    float *vals = NULL;
    for (int i = 0; i < f.n; i++) {
        const struct st_tensor *s = &f.t[i];
        bool hit = strcmp(s->name, name) == 0;
        t[i] = (struct st_out){s->name, s->dtype, hit && shape ? ndim : s->ndim, hit && shape ? shape : s->shape,
                               s->data};
        if (hit && first) {
            vals = xmalloc(s->numel * sizeof *vals);
            memcpy(vals, s->data, s->numel * sizeof *vals);
            vals[0] = *first;
            t[i].data = vals;
        }
    }
    char err[512];
    ck_assert_msg(st_write(dst, t, f.n, f.metadata_json, err, sizeof err) == 0, "%s", err);
    free(vals), free(t);
    st_free(&f);
}

START_TEST(test_wrong_shape_and_nan) {
    size_t hlen;
    struct bytes g = good_file(&hlen);
    const char *src = at("src.safetensors"), *dst = at("bad.safetensors");
    write_bytes(src, g.b, g.n);
    static const int64_t shape[] = {8, 32};
    rewrite(src, dst, "backbone.layers.0.mixer.q_proj.weight", shape, 2, NULL);
    struct run_config c;
    char err[1024] = "";
    ck_assert_ptr_null(checkpoint_load(dst, &c, err, sizeof err));
    ck_assert_msg(strstr(err, "'backbone.layers.0.mixer.q_proj.weight' has the wrong shape [8, 32], the model's is [16, 16]"),
                  "message: %s", err);
    float nan = NAN;
    rewrite(src, dst, "backbone.layers.0.mixer.v_proj.bias", NULL, 0, &nan);
    ck_assert_ptr_null(checkpoint_load(dst, &c, err, sizeof err));
    ck_assert_msg(strstr(err, "'backbone.layers.0.mixer.v_proj.bias' holds a non-finite value"), "message: %s", err);
    /* The unchanged rewrite loads: the refusals above are about the damage only. */
    rewrite(src, dst, "none", NULL, 0, NULL);
    struct model *m = checkpoint_load(dst, &c, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    model_free(m);
    free(g.b);
}
END_TEST

/* ---- generate ------------------------------------------------------------------ */

static cJSON *generate(const char *ckpt, const char *prompt, int n) {
    expect(0, NULL, BIN " generate --checkpoint %s --prompt '%s' --tokens %d --show-text", ckpt, prompt, n);
    cJSON *j = cJSON_Parse(out);
    ck_assert_msg(j != NULL, "not JSON:\n%.1500s", out);
    return j;
}

static int ids_of(const cJSON *j, const char *key, int32_t *ids, int max) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, key);
    ck_assert_msg(cJSON_IsArray(a), "no array '%s'", key);
    int n = cJSON_GetArraySize(a);
    ck_assert_int_le(n, max);
    for (int i = 0; i < n; i++) ids[i] = (int32_t)cJSON_GetArrayItem(a, i)->valuedouble;
    return n;
}

/* Every generated token is the argmax of the full forward of everything before it. */
static void check_argmax(struct model *m, const int32_t *seq, int P, int N) {
    int V = model_config(m)->vocab;
    for (int i = 0; i < N; i++) {
        int L = P + i;
        model_forward(m, ops_cpu(), &(struct model_batch){.B = 1, .L = L, .tokens = seq});
        const real *z = model_tap(m, TAP_LOGITS, 0) + (size_t)(L - 1) * V;
        int best = 0;
        for (int v = 1; v < V; v++)
            if (z[v] > z[best]) best = v;
        ck_assert_msg(seq[L] == best, "generated token %d is %d, the full forward's argmax %d", i, seq[L], best);
    }
}

START_TEST(test_generate_continues_the_pattern) {
    struct run_config c;
    struct model *m = trained(&c, layers[_i][0], layers[_i][1], 150);
    const char *p = save(&c, m, "gen.safetensors");
    enum { P = 3, N = 15, V = 10 }; /* P + N = 18 positions: the trained length */
    cJSON *j = generate(p, "7 8 9", N);
    int32_t seq[P + N];
    ck_assert_int_eq(ids_of(j, "prompt", seq, P), P);
    ck_assert_int_eq(ids_of(j, "generated", seq + P, N), N);
    for (int i = 0; i < P + N; i++) ck_assert_msg(seq[i] == (7 + i) % V, "%s: token %d is %d, the pattern says %d",
                                                  layers[_i][0], i, seq[i], (7 + i) % V);
    check_argmax(m, seq, P, N);
    /* The tokens as the task writes them: id 1 is "0", 0 is "." (lexicographic ids). */
    const cJSON *gt = cJSON_GetObjectItemCaseSensitive(j, "generated_tokens");
    char want[8];
    c.task->token_text(&c.task_kv, seq[P], want, sizeof want);
    ck_assert_str_eq(cJSON_GetArrayItem(gt, 0)->valuestring, want);
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "text"));
    ck_assert_msg(text && strstr(text, " | "), "text: %s", text ? text : "(none)");
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "task")), "assoc_recall");
    ck_assert_int_eq((int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, "state_size")),
                     (int)model_state_size(m, P + N - 1));
    cJSON_Delete(j);
    model_free(m);
}
END_TEST

START_TEST(test_generate_refusals) {
    struct run_config c;
    struct model *m = trained(&c, "gss", "\"d_state\": 8", 0);
    const char *gss = save(&c, m, "gss.safetensors");
    model_free(m);
    /* gss has a recurrent step too (the refusal itself is tested in test_step.c with a step-less copy) */
    expect(0, "\"generated\"", BIN " generate --checkpoint %s --prompt '1 2' --tokens 3", gss);
    m = trained(&c, "attention", "", 0);
    const char *att = save(&c, m, "att.safetensors");
    model_free(m);
    expect(2, "position embeddings for 18", BIN " generate --checkpoint %s --prompt '1 2' --tokens 18", att);
    expect(0, "\"generated\"", BIN " generate --checkpoint %s --prompt '1 2' --tokens 17", att);
    expect(2, "'10' is not a token id in [0, 10)", BIN " generate --checkpoint %s --prompt '1 10'", att);
    expect(2, "--prompt: no token ids", BIN " generate --checkpoint %s --prompt ' '", att);
    expect(2, "--tokens", BIN " generate --checkpoint %s --prompt '1' --tokens 0", att);
    expect(2, "--checkpoint FILE and --prompt", BIN " generate --prompt '1'");
    expect(2, "cannot open", BIN " generate --checkpoint %s/none --prompt '1'", dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_roundtrip_bit_identical, 0, 3);
    tcase_add_test(tc, test_truncated);
    tcase_add_test(tc, test_header_length_past_end);
    tcase_add_test(tc, test_flipped_header_bytes);
    tcase_add_test(tc, test_trailing_bytes);
    tcase_add_test(tc, test_no_hash_still_loads);
    tcase_add_test(tc, test_wrong_shape_and_nan);
    tcase_add_loop_test(tc, test_generate_continues_the_pattern, 0, 3);
    tcase_add_test(tc, test_generate_refusals);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
