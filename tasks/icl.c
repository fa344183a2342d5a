/* icl.c — the vocabulary and size checks the ICL synthetics share (see icl.h). */
#include "icl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"

struct entry {
    char text[ICL_TOKEN_CHARS];
    int ordinary; /* 1 for "0".."V-3", 0 for the specials */
};

static int by_text(const void *a, const void *b) {
    return strcmp(((const struct entry *)a)->text, ((const struct entry *)b)->text);
}

void icl_vocab_build(struct icl_vocab *v, int V) {
    HP_CHECK(V >= 3 && V <= ICL_MAX_VOCAB);
    struct entry *e = xmalloc((size_t)V * sizeof *e);
    for (int i = 0; i < V - 2; i++) {
        snprintf(e[i].text, ICL_TOKEN_CHARS, "%d", i);
        e[i].ordinary = 1;
    }
    snprintf(e[V - 2].text, ICL_TOKEN_CHARS, "=>");
    snprintf(e[V - 1].text, ICL_TOKEN_CHARS, ".");
    e[V - 2].ordinary = e[V - 1].ordinary = 0;
    qsort(e, (size_t)V, sizeof *e, by_text); /* the strings are distinct, so the order is total */

    v->V = V;
    v->text = xmalloc((size_t)V * sizeof *v->text);
    v->ordinary = xmalloc((size_t)(V - 2) * sizeof *v->ordinary);
    v->id_arrow = v->id_dot = -1;
    int r = 0;
    for (int id = 0; id < V; id++) {
        memcpy(v->text[id], e[id].text, ICL_TOKEN_CHARS);
        if (e[id].ordinary) v->ordinary[r++] = id;
        else if (strcmp(e[id].text, "=>") == 0) v->id_arrow = id;
        else v->id_dot = id;
    }
    HP_CHECK(r == V - 2 && v->id_arrow >= 0 && v->id_dot >= 0);
    free(e);
}

void icl_vocab_free(struct icl_vocab *v) {
    free(v->text);
    free(v->ordinary);
    memset(v, 0, sizeof *v);
}

const struct icl_vocab *icl_vocab_get(int V) {
    /* Per thread, so generators may run in parallel without locks. */
    static _Thread_local struct icl_vocab cache;
    if (cache.V != V) {
        if (cache.V) icl_vocab_free(&cache);
        icl_vocab_build(&cache, V);
    }
    return &cache;
}

void icl_token_text(const struct knob_values *kv, int id, char *buf, size_t len) {
    const struct icl_vocab *v = icl_vocab_get(knob_int(kv, "vocab_size"));
    if (id < 0 || id >= v->V) snprintf(buf, len, "<bad id %d>", id);
    else snprintf(buf, len, "%s", v->text[id]);
}

static int check_split(const struct knob_values *kv, const char *key, const char *task, double distinct,
                       int E, char *err, size_t errlen) {
    int n = knob_int(kv, key);
    if ((double)n > distinct) {
        snprintf(err, errlen,
                 "%s=%d is more than the %.0f distinct examples %s has at vocab_size=%d, seq_len=%d "
                 "(examples are unique within a split); lower %s or enlarge vocab_size/seq_len",
                 key, n, distinct, task, knob_int(kv, "vocab_size"), knob_int(kv, "seq_len"), key);
        return -1;
    }
    double tokens = (double)n * (E - 1);
    if (tokens > ICL_MAX_TOKENS) {
        snprintf(err, errlen, "%s=%d with example length %d gives %.0f tokens; the limit is %d", key, n, E,
                 tokens, ICL_MAX_TOKENS);
        return -1;
    }
    return 0;
}

int icl_check_sizes(const struct knob_values *kv, const char *task, double distinct, int E, char *err,
                    size_t errlen) {
    if (check_split(kv, "num_train", task, distinct, E, err, errlen) != 0) return -1;
    return check_split(kv, "num_test", task, distinct, E, err, errlen);
}
