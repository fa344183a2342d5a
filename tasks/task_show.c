/* task_show.c — the printer behind `hippodrome show TASK`: a few training
 * examples as token text and ids in aligned columns, answers in [ ]. An
 * example is shown as its tokens seq (x[0], then the targets); a task whose
 * inputs are not the previous targets gets a third row, the inputs. Padding
 * is not shown. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"
#include "task.h"

#define CELL 24

struct show_rows {
    int E;                  /* shown columns: the example's tokens */
    char (*text)[CELL];     /* (E) */
    char (*ids)[CELL];      /* (E) */
    char (*input)[CELL];    /* (E) model input text (the last column empty) */
    int *width;             /* (E) */
    uint8_t *ans;           /* (E) */
    bool own_input;         /* some input differs from the token before it */
};

/* One row: cells right-aligned to width[j], answer cells bracketed. */
static void print_row(FILE *out, const char *label, char (*cells)[CELL], const struct show_rows *r) {
    fprintf(out, "  %-6s", label);
    for (int j = 0; j < r->E; j++) {
        if (r->ans[j]) fprintf(out, " [%*s]", r->width[j], cells[j]);
        else fprintf(out, " %*s", r->width[j], cells[j]);
    }
    fputc('\n', out);
}

static int max3(int a, int b, int c) { return a > b ? (a > c ? a : c) : (b > c ? b : c); }

static void fill_rows(struct show_rows *r, const struct task_kind *k, const struct knob_values *kv,
                      const struct task_split *s, int i) {
    const int32_t *x = s->x + (size_t)i * s->L, *y = s->y + (size_t)i * s->L;
    for (int j = 0; j < r->E; j++) {
        int id = j == 0 ? x[0] : y[j - 1];
        k->token_text(kv, id, r->text[j], CELL);
        snprintf(r->ids[j], CELL, "%d", id);
        r->input[j][0] = '\0';
        if (j < r->E - 1) k->token_text(kv, x[j], r->input[j], CELL);
        r->width[j] = max3((int)strlen(r->text[j]), (int)strlen(r->ids[j]), (int)strlen(r->input[j]));
        r->ans[j] = j > 0 && s->answer_mask[(size_t)i * s->L + j - 1];
    }
    for (int j = 1; j < r->E - 1; j++)
        if (x[j] != y[j - 1]) r->own_input = true;
}

static void show_example(FILE *out, const struct task_kind *k, const struct knob_values *kv,
                         const struct task_split *s, int i) {
    struct show_rows r = {.E = task_example_tokens(s, i) + 1};
    r.text = xmalloc((size_t)r.E * sizeof *r.text);
    r.ids = xmalloc((size_t)r.E * sizeof *r.ids);
    r.input = xmalloc((size_t)r.E * sizeof *r.input);
    r.width = xmalloc((size_t)r.E * sizeof *r.width);
    r.ans = xcalloc((size_t)r.E, 1);
    fill_rows(&r, k, kv, s, i);
    fprintf(out, "example %d\n", i);
    print_row(out, "tokens", r.text, &r);
    print_row(out, "ids", r.ids, &r);
    if (r.own_input) print_row(out, "input", r.input, &r);
    free(r.text);
    free(r.ids);
    free(r.input);
    free(r.width);
    free(r.ans);
}

static void show_header(FILE *out, const struct task_kind *k, const struct knob_values *kv) {
    fprintf(out, "%s: %s\n ", k->name, k->summary);
    for (int i = 0; i < kv->n; i++) fprintf(out, " %s=%s", kv->knobs[i].name, kv->str[i]);
    fprintf(out, "\n  vocabulary %d tokens, example length %d (model input %d), chance %.1f%%\n",
            k->vocab_size(kv), k->example_len(kv), k->example_len(kv) - 1, 100.0 * k->chance(kv));
    fprintf(out, "  [ ] marks the answer positions (scored at test time); training loss covers %s\n",
            task_loss_answers_only(kv) ? "the answers only" : "every next token");
}

void task_show(const struct task_kind *k, const struct knob_values *kv, int n, FILE *out) {
    /* The first n of the training split (generation is sequential); with a
     * mix of lengths, n examples spread over the mix as the split would be. */
    struct knob_values first = *kv;
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
