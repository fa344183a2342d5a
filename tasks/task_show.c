/* task_show.c — the printer behind `hippodrome show TASK`: a few training
 * examples as token text and ids in aligned columns, answers in [ ]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"
#include "task.h"

#define CELL 24

/* One row: cells right-aligned to width[j], answer cells bracketed. */
static void print_row(FILE *out, const char *label, char (*cells)[CELL], const int *width, const uint8_t *ans,
                      int E) {
    fprintf(out, "  %-6s", label);
    for (int j = 0; j < E; j++) {
        if (ans[j]) fprintf(out, " [%*s]", width[j], cells[j]);
        else fprintf(out, " %*s", width[j], cells[j]);
    }
    fputc('\n', out);
}

static void show_example(FILE *out, const struct task_kind *k, const struct knob_values *kv,
                         const struct task_split *s, int i) {
    int E = s->L + 1;
    char(*text)[CELL] = xmalloc((size_t)E * sizeof *text);
    char(*ids)[CELL] = xmalloc((size_t)E * sizeof *ids);
    int *width = xmalloc((size_t)E * sizeof *width);
    uint8_t *ans = xcalloc((size_t)E, 1);
    for (int j = 0; j < E; j++) {
        int id = j < s->L ? s->x[(size_t)i * s->L + j] : s->y[(size_t)i * s->L + s->L - 1];
        k->token_text(kv, id, text[j], CELL);
        snprintf(ids[j], CELL, "%d", id);
        int a = (int)strlen(text[j]), b = (int)strlen(ids[j]);
        width[j] = a > b ? a : b;
        if (j > 0) ans[j] = s->answer_mask[(size_t)i * s->L + j - 1];
    }
    fprintf(out, "example %d\n", i);
    print_row(out, "tokens", text, width, ans, E);
    print_row(out, "ids", ids, width, ans, E);
    free(text);
    free(ids);
    free(width);
    free(ans);
}

static void show_header(FILE *out, const struct task_kind *k, const struct knob_values *kv) {
    fprintf(out, "%s: %s\n ", k->name, k->summary);
    for (int i = 0; i < kv->n; i++) fprintf(out, " %s=%s", kv->knobs[i].name, kv->str[i]);
    fprintf(out, "\n  vocabulary %d tokens, example length %d (model input %d), chance %.1f%%\n",
            k->vocab_size(kv), k->example_len(kv), k->example_len(kv) - 1, 100.0 * k->chance(kv));
    fprintf(out, "  [ ] marks the answer position (scored at test time); training loss covers every next token\n");
}

void task_show(const struct task_kind *k, const struct knob_values *kv, int n, FILE *out) {
    struct knob_values first = *kv; /* the first n of the training split: generation is sequential */
    char num[32], err[512];
    snprintf(num, sizeof num, "%d", n);
    struct task_split s;
    if (knob_set(&first, "num_train", num, err, sizeof err) != 0 ||
        task_generate(k, &first, SPLIT_TRAIN, &s, err, sizeof err) != 0) {
        fprintf(out, "%s: %s\n", k->name, err);
        return;
    }
    show_header(out, k, kv);
    for (int i = 0; i < s.n; i++) show_example(out, k, kv, &s, i);
    task_split_free(&s);
}
