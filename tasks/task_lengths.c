/* task_lengths.c — the length and loss-mask knobs every task shares
 * (tasks/task.h, "Lengths"): which seq_lens each split is drawn at, the
 * knobs at one length, and the validate()/example_len() wrappers that apply
 * a task's own checks at every length either split uses. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"
#include "task.h"

static bool has_knob(const struct knob_values *kv, const char *key) {
    return knob_find(kv->knobs, kv->n, key) >= 0;
}

bool task_loss_answers_only(const struct knob_values *kv) {
    return has_knob(kv, "loss_mask") && strcmp(knob_str(kv, "loss_mask"), "answers") == 0;
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* "64, 128,256" -> ascending distinct lengths. 0, or -1 naming key and value. */
static int parse_list(const char *key, const char *text, int *out, int *n, char *err, size_t errlen) {
    const char *p = text;
    *n = 0;
    while (*p) {
        while (isspace((unsigned char)*p)) p++;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 1 || v > (1 << 20)) {
            snprintf(err, errlen, "%s='%s': every entry must be an integer in [1, %d], comma-separated", key,
                     text, 1 << 20);
            return -1;
        }
        if (*n == TASK_MAX_LENS) {
            snprintf(err, errlen, "%s='%s': at most %d lengths", key, text, TASK_MAX_LENS);
            return -1;
        }
        out[(*n)++] = (int)v;
        for (p = end; isspace((unsigned char)*p); p++) {}
        if (*p == ',') p++;
        else if (*p) {
            snprintf(err, errlen, "%s='%s': unexpected '%c' (write lengths as 64,128,256)", key, text, *p);
            return -1;
        }
    }
    qsort(out, (size_t)*n, sizeof *out, cmp_int);
    for (int i = 1; i < *n; i++)
        if (out[i] == out[i - 1]) {
            snprintf(err, errlen, "%s='%s': length %d appears twice", key, text, out[i]);
            return -1;
        }
    return 0;
}

/* The split's longest length and the knob that names it. */
static int split_top(const struct knob_values *kv, enum task_split_kind split, const char **name) {
    int S = knob_int(kv, "seq_len");
    *name = "seq_len";
    if (split == SPLIT_TEST && has_knob(kv, "test_seq_len") && knob_int(kv, "test_seq_len") > 0) {
        *name = "test_seq_len";
        return knob_int(kv, "test_seq_len");
    }
    return S;
}

int task_split_lengths(const struct knob_values *kv, enum task_split_kind split, struct task_lengths *out,
                       char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    int n = task_num(kv, split);
    out->n = 1;
    out->len[0] = -1; /* a table without seq_len: drawn as its knobs say */
    out->count[0] = n;
    if (!has_knob(kv, "seq_len")) return 0;
    const char *top_name;
    int top = split_top(kv, split, &top_name);
    const struct knob *sk = &kv->knobs[knob_find(kv->knobs, kv->n, "seq_len")];
    if (top < sk->min || top > sk->max) {
        snprintf(err, errlen, "%s=%d is outside seq_len's range [%.0f, %.0f]", top_name, top, sk->min, sk->max);
        return -1;
    }
    out->len[0] = top;
    const char *key = split == SPLIT_TRAIN ? "train_seq_lens" : "test_seq_lens";
    if (!has_knob(kv, key) || knob_str(kv, key)[0] == '\0') return 0;
    const char *text = knob_str(kv, key);
    if (parse_list(key, text, out->len, &out->n, err, errlen)) return -1;
    if (out->n == 0 || out->len[out->n - 1] != top) {
        snprintf(err, errlen, "%s='%s': its longest length must equal %s=%d (the split's longest length)", key,
                 text, top_name, top);
        return -1;
    }
    for (int i = 0; i < out->n; i++)
        if (out->len[i] < sk->min || out->len[i] > sk->max) {
            snprintf(err, errlen, "%s='%s': length %d is outside seq_len's range [%.0f, %.0f]", key, text,
                     out->len[i], sk->min, sk->max);
            return -1;
        }
    const char *nkey = split == SPLIT_TRAIN ? "num_train" : "num_test";
    if (n < out->n) {
        snprintf(err, errlen, "%s=%d is fewer than the %d lengths of %s='%s'", nkey, n, out->n, key, text);
        return -1;
    }
    for (int i = 0; i < out->n; i++) out->count[i] = n / out->n + (i < n % out->n);
    return 0;
}

static void set_int(struct knob_values *kv, const char *key, int v) {
    char text[24], err[256];
    snprintf(text, sizeof text, "%d", v);
    if (knob_set(kv, key, text, err, sizeof err) != 0) hp_die("%s", err); /* callers pass in-range values */
}

/* The copy has no other lengths left (test_seq_len 0, no mixes), so the
 * task's example_len() at it is the length at seq_len. */
struct knob_values task_knobs_at(const struct knob_values *kv, enum task_split_kind split, int len, int count) {
    struct knob_values at = *kv;
    if (len > 0) set_int(&at, "seq_len", len);
    if (has_knob(&at, "test_seq_len")) set_int(&at, "test_seq_len", 0);
    char err[256];
    static const char *const mixes[] = {"train_seq_lens", "test_seq_lens"};
    for (int i = 0; i < 2; i++)
        if (has_knob(&at, mixes[i]) && knob_set(&at, mixes[i], "", err, sizeof err) != 0) hp_die("%s", err);
    set_int(&at, split == SPLIT_TRAIN ? "num_train" : "num_test", count);
    set_int(&at, split == SPLIT_TRAIN ? "num_test" : "num_train", 1);
    return at;
}

/* check() at one (split, length); its message is prefixed with where, unless
 * this is the split's only length and that is seq_len itself. */
static int check_group(const struct knob_values *kv, enum task_split_kind split, const struct task_lengths *ls,
                       int g, task_check_fn check, char *err, size_t errlen) {
    struct knob_values at = task_knobs_at(kv, split, ls->len[g], ls->count[g]);
    char inner[512];
    if (check(&at, inner, sizeof inner) == 0) return 0;
    bool plain = ls->n == 1 && (ls->len[0] < 0 || ls->len[0] == knob_int(kv, "seq_len"));
    if (plain) snprintf(err, errlen, "%s", inner);
    else
        snprintf(err, errlen, "%s split at seq_len=%d (%d examples): %s", split == SPLIT_TRAIN ? "training" : "test",
                 ls->len[g], ls->count[g], inner);
    return -1;
}

int task_validate(const struct knob_values *kv, task_check_fn check, task_len_fn len_at, char *err,
                  size_t errlen) {
    for (int sp = 0; sp < 2; sp++) {
        struct task_lengths ls;
        if (task_split_lengths(kv, (enum task_split_kind)sp, &ls, err, errlen)) return -1;
        for (int g = 0; g < ls.n; g++)
            if (check_group(kv, (enum task_split_kind)sp, &ls, g, check, err, errlen)) return -1;
        struct knob_values at = task_knobs_at(kv, (enum task_split_kind)sp, ls.len[ls.n - 1], 1);
        int n = task_num(kv, (enum task_split_kind)sp), E = len_at(&at);
        double tokens = (double)n * (E - 1);
        if (tokens > TASK_MAX_TOKENS) {
            const char *nkey = sp == SPLIT_TRAIN ? "num_train" : "num_test";
            snprintf(err, errlen, "%s=%d with model length %d gives %.0f tokens; the limit is %d", nkey, n, E - 1,
                     tokens, TASK_MAX_TOKENS);
            return -1;
        }
    }
    return 0;
}

int task_example_len(const struct knob_values *kv, task_len_fn len_at) {
    int best = len_at(kv);
    char err[512];
    for (int sp = 0; sp < 2; sp++) {
        struct task_lengths ls;
        if (task_split_lengths(kv, (enum task_split_kind)sp, &ls, err, sizeof err)) continue;
        for (int g = 0; g < ls.n; g++) {
            struct knob_values at = task_knobs_at(kv, (enum task_split_kind)sp, ls.len[g], 1);
            int E = len_at(&at);
            if (E > best) best = E;
        }
    }
    return best;
}
