/* selective_copy.c — selective copying (the Mamba paper's task) as MAD
 * generates it (athms/mad-lab, mad/data/instances.py,
 * generate_selective_copying_instance; peers.md §2).
 *
 * Ids: the ordinary tokens 0..V-3 (text: the number), the blank V-2 ("_")
 * and the copy marker V-1 ("=>"). An example's model input is seq_len
 * tokens: num_tokens_to_copy ordinary tokens (uniform, with replacement) with
 * B = seq_len - 2 num_tokens_to_copy - 1 blanks scattered among them (each
 * blank inserted before one of the tokens, chosen uniformly, so the data
 * region always ends with the last token), then the marker, then
 * num_tokens_to_copy blanks. At the i-th blank after the marker the model
 * must output the i-th token: those positions alone are scored, and the
 * inputs there stay blanks (own_input; the targets are the tokens). As tokens
 * seq is the input up to the first blank after the marker, then the tokens to
 * copy. MAD draws the blanks' places from numpy's unseeded global generator;
 * here they come from the split's stream like everything else.
 *
 * Gap of an answer: from the token's place in the data region to the input
 * position where it is to be produced. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"
#include "icl.h"
#include "task.h"

static const struct knob knobs[] = {
    {"vocab_size", KNOB_INT, "16", 3, ICL_MAX_VOCAB, NULL, "ids: V-2 ordinary tokens, the blank and the copy marker"},
    {"seq_len", KNOB_INT, "256", 4, 1 << 20, NULL, "model input length"},
    {"num_tokens_to_copy", KNOB_INT, "16", 1, 1 << 16, NULL, "tokens scattered among the blanks and copied"},
    TASK_SPLIT_KNOBS("12800", "1280"),
    TASK_LENGTH_KNOBS("answers"),
};

static int sc_len_at(const struct knob_values *kv) { return knob_int(kv, "seq_len") + 1; }
static int sc_example_len(const struct knob_values *kv) { return task_example_len(kv, sc_len_at); }

/* A uniform guess among the ordinary tokens. */
static double sc_chance(const struct knob_values *kv) { return 1.0 / (knob_int(kv, "vocab_size") - 2); }

static void sc_token_text(const struct knob_values *kv, int id, char *buf, size_t len) {
    int V = knob_int(kv, "vocab_size");
    if (id == V - 1) snprintf(buf, len, "=>");
    else if (id == V - 2) snprintf(buf, len, "_");
    else task_id_text(V, id, buf, len);
}

static int n_blanks(const struct knob_values *kv) {
    return knob_int(kv, "seq_len") - 2 * knob_int(kv, "num_tokens_to_copy") - 1;
}

/* Distinct examples: the tokens times the ways to spread B blanks over the
 * n places before the tokens, C(B + n - 1, n - 1) (products exact while
 * small; inf when huge, which only means plenty). */
static double sc_distinct(const struct knob_values *kv) {
    int n = knob_int(kv, "num_tokens_to_copy"), B = n_blanks(kv);
    double places = 1;
    for (int i = 1; i < n; i++) places = places * (B + i) / i;
    return places * pow(knob_int(kv, "vocab_size") - 2.0, n);
}

static int sc_check(const struct knob_values *kv, char *err, size_t errlen) {
    int S = knob_int(kv, "seq_len"), n = knob_int(kv, "num_tokens_to_copy");
    if (n_blanks(kv) < 1)
        return snprintf(err, errlen,
                        "seq_len=%d is too short for selective_copy with num_tokens_to_copy=%d: it needs at least "
                        "%d (the tokens, a blank, the marker and the output blanks)",
                        S, n, 2 * n + 2), -1;
    return icl_check_sizes(kv, "selective_copy", sc_distinct(kv), sc_len_at(kv), err, errlen);
}

static int sc_validate(const struct knob_values *kv, char *err, size_t errlen) {
    return task_validate(kv, sc_check, sc_len_at, err, errlen);
}

static void sc_example(const struct knob_values *kv, struct hp_rng *r, struct task_example *ex) {
    int V = knob_int(kv, "vocab_size"), S = knob_int(kv, "seq_len"), n = knob_int(kv, "num_tokens_to_copy");
    int B = n_blanks(kv), blank = V - 2;
    int32_t *tok = xmalloc(2 * (size_t)n * sizeof *tok), *before = tok + n; /* blanks before token i */
    for (int i = 0; i < n; i++) tok[i] = (int32_t)hp_rng_below(r, (uint64_t)(V - 2)), before[i] = 0;
    for (int b = 0; b < B; b++) before[hp_rng_below(r, (uint64_t)n)]++;
    int t = 0, out = S - n; /* out: input position of the first output blank */
    for (int i = 0; i < n; i++) {
        for (int b = 0; b < before[i]; b++) ex->seq[t++] = blank;
        ex->gap[out + 1 + i] = out + i - t;
        ex->seq[t++] = tok[i];
    }
    ex->seq[t++] = V - 1;
    HP_CHECK(t == out);
    ex->seq[out] = blank;
    for (int i = 0; i < n; i++) {
        ex->seq[out + 1 + i] = tok[i];
        ex->answer[out + 1 + i] = 1;
    }
    memcpy(ex->input, ex->seq, (size_t)(out + 1) * sizeof *ex->seq);
    for (int j = out + 1; j < S; j++) ex->input[j] = blank;
    ex->own_input = true;
    free(tok);
}

const struct task_kind task_selective_copy = {
    .name = "selective_copy",
    .summary = "copy the tokens scattered among blanks, in order, after the marker (Mamba; MAD's V=16, seq_len=256)",
    .knobs = knobs,
    .n_knobs = (int)(sizeof knobs / sizeof knobs[0]),
    .validate = sc_validate,
    .vocab_size = task_vocab_knob,
    .example_len = sc_example_len,
    .chance = sc_chance,
    .token_text = sc_token_text,
    .example = sc_example,
};
