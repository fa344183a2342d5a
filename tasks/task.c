/* task.c — the shared split machinery behind the task registry: the
 * registry itself, de-duplicated generation of a split (one group per
 * length, tasks/task.h), the input/target/mask/gap layout, the content hash
 * and the train/test overlap count.
 *
 * Content hash (struct task_split.hash): FNV-1a 64 (offset basis
 * 0xcbf29ce484222325, prime 0x100000001b3) over this byte stream:
 *   n and L as int32 little-endian,
 *   x then y, each n*L int32 little-endian, row-major,
 *   loss_mask then answer_mask, each n*L bytes (0 or 1),
 *   and only when some example is shorter than L (padded): len, n int32.
 * It is defined on values, not memory, so every machine computes the same
 * hash for the same split; a split without padding hashes as it did before
 * lengths could mix. */
#include "task.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"

const struct task_kind *const task_kinds[] = {&task_induction_head, &task_assoc_recall, &task_mqar,
                                              &task_selective_copy, &task_noisy_recall, &task_fuzzy_recall, NULL};

const struct task_kind *task_find(const char *name) {
    for (int i = 0; task_kinds[i]; i++)
        if (strcmp(task_kinds[i]->name, name) == 0) return task_kinds[i];
    return NULL;
}

int task_num(const struct knob_values *kv, enum task_split_kind split) {
    return knob_int(kv, split == SPLIT_TRAIN ? "num_train" : "num_test");
}

int task_vocab_knob(const struct knob_values *kv) { return knob_int(kv, "vocab_size"); }

void task_id_text(int V, int id, char *buf, size_t len) {
    if (id < 0 || id >= V) snprintf(buf, len, "<bad id %d>", id);
    else snprintf(buf, len, "%d", id);
}

/* ---- FNV-1a 64 ---- */

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static uint64_t fnv_bytes(uint64_t h, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * FNV_PRIME;
    return h;
}

static uint64_t fnv_i32(uint64_t h, const int32_t *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)v[i];
        for (int b = 0; b < 4; b++) h = (h ^ ((u >> (8 * b)) & 0xFF)) * FNV_PRIME;
    }
    return h;
}

static uint64_t split_hash(const struct task_split *s) {
    int32_t shape[2] = {s->n, s->L};
    size_t nl = (size_t)s->n * (size_t)s->L;
    uint64_t h = fnv_i32(FNV_OFFSET, shape, 2);
    h = fnv_i32(h, s->x, nl);
    h = fnv_i32(h, s->y, nl);
    h = fnv_bytes(h, s->loss_mask, nl);
    h = fnv_bytes(h, s->answer_mask, nl);
    bool padded = false;
    for (int i = 0; s->len && i < s->n && !padded; i++) padded = s->len[i] < s->L;
    return padded ? fnv_i32(h, s->len, (size_t)s->n) : h;
}

/* ---- a set of token rows (open addressing over indices into `rows`) ---- */

struct row_set {
    const int32_t *rows; /* (count, E) */
    int E;
    uint32_t *slot; /* row index + 1; 0 = empty */
    size_t mask;
};

static void set_init(struct row_set *s, const int32_t *rows, int E, size_t count) {
    size_t cap = 16;
    while (cap < 2 * count) cap *= 2; /* load <= 1/2 keeps probes short */
    s->rows = rows;
    s->E = E;
    s->slot = xcalloc(cap, sizeof *s->slot);
    s->mask = cap - 1;
}

/* Slot holding an equal row, or the empty slot where it would go. */
static size_t set_probe(const struct row_set *s, const int32_t *row) {
    size_t i = (size_t)fnv_i32(FNV_OFFSET, row, (size_t)s->E) & s->mask;
    size_t bytes = (size_t)s->E * sizeof *row;
    while (s->slot[i] && memcmp(s->rows + (size_t)(s->slot[i] - 1) * s->E, row, bytes) != 0)
        i = (i + 1) & s->mask;
    return i;
}

static bool set_has(const struct row_set *s, const int32_t *row) { return s->slot[set_probe(s, row)] != 0; }

static void set_add(struct row_set *s, size_t index) {
    size_t i = set_probe(s, s->rows + index * s->E);
    if (!s->slot[i]) s->slot[i] = (uint32_t)(index + 1);
}

/* ---- generation ---- */

/* One length group's draws: rows (n, R) = seq (E) then input (E - 1), so
 * de-duplication sees everything the model will see; answers and gaps (n, E). */
struct group {
    int n, E, R, seq_len;
    int32_t *rows;
    uint8_t *ans;
    int32_t *gap;
};

static void draw_one(const struct task_kind *k, const struct knob_values *kv, enum task_split_kind split,
                     struct hp_rng *r, const struct group *g, int i) {
    int32_t *row = g->rows + (size_t)i * g->R;
    struct task_example ex = {.split = split, .seq = row, .input = row + g->E, .own_input = false,
                              .answer = g->ans + (size_t)i * g->E, .gap = g->gap + (size_t)i * g->E};
    memset(ex.answer, 0, (size_t)g->E);
    for (int j = 0; j < g->E; j++) ex.gap[j] = -1;
    k->example(kv, r, &ex);
    if (!ex.own_input) memcpy(ex.input, ex.seq, (size_t)(g->E - 1) * sizeof *ex.seq);
}

/* Draw g->n unique examples. Bounded: a task with barely n distinct examples
 * needs about n*ln(n) draws. */
static int draw_unique(const struct task_kind *k, const struct knob_values *kv, enum task_split_kind split,
                       struct hp_rng *r, struct group *g, char *err, size_t errlen) {
    struct row_set set;
    set_init(&set, g->rows, g->R, (size_t)g->n);
    long max_draws = 50L * g->n + 10000, draws = 0;
    int have = 0;
    while (have < g->n && draws < max_draws) {
        draw_one(k, kv, split, r, g, have);
        draws++;
        if (set_has(&set, g->rows + (size_t)have * g->R)) continue;
        set_add(&set, (size_t)have);
        have++;
    }
    free(set.slot);
    if (have == g->n) return 0;
    snprintf(err, errlen,
             "%s: found only %d distinct examples of the %d asked for after %ld draws; too few distinct "
             "examples exist at these settings (lower num_train/num_test or enlarge vocab_size/seq_len)",
             k->name, have, g->n, draws);
    return -1;
}

static void split_alloc(struct task_split *s, int n, int L) {
    size_t nl = (size_t)n * L;
    s->n = n;
    s->L = L;
    s->x = xcalloc(nl, sizeof *s->x); /* padding is id 0 */
    s->y = xcalloc(nl, sizeof *s->y);
    s->loss_mask = xcalloc(nl, 1);
    s->answer_mask = xcalloc(nl, 1);
    s->gap = xmalloc(nl * sizeof *s->gap);
    for (size_t i = 0; i < nl; i++) s->gap[i] = -1;
    s->len = xmalloc((size_t)n * sizeof *s->len);
    s->seq_len = xmalloc((size_t)n * sizeof *s->seq_len);
}

/* Group g's examples into rows at..at+g->n: x = input, y = seq[1:], answers
 * and gaps shifted by one, the loss on every position or on the answers. */
static void fill_group(struct task_split *s, int at, const struct group *g, bool answers_only) {
    int L = s->L, Lg = g->E - 1;
    for (int i = 0; i < g->n; i++) {
        const int32_t *seq = g->rows + (size_t)i * g->R;
        const uint8_t *ans = g->ans + (size_t)i * g->E;
        const int32_t *gap = g->gap + (size_t)i * g->E;
        size_t o = (size_t)(at + i) * L;
        HP_CHECK(ans[0] == 0); /* position 0 is never a target */
        memcpy(s->x + o, seq + g->E, (size_t)Lg * sizeof *seq);
        memcpy(s->y + o, seq + 1, (size_t)Lg * sizeof *seq);
        for (int t = 0; t < Lg; t++) {
            HP_CHECK(gap[t + 1] < 0 || ans[t + 1]); /* gaps only at answers */
            s->answer_mask[o + t] = ans[t + 1];
            s->gap[o + t] = gap[t + 1];
            s->loss_mask[o + t] = answers_only ? ans[t + 1] : 1;
        }
        s->len[at + i] = Lg;
        s->seq_len[at + i] = g->seq_len;
    }
}

static void group_free(struct group *g) {
    free(g->rows);
    free(g->ans);
    free(g->gap);
}

static int draw_group(const struct task_kind *k, const struct knob_values *kv, enum task_split_kind split,
                      const struct task_lengths *ls, int i, struct hp_rng *r, struct group *g, char *err,
                      size_t errlen) {
    struct knob_values at = task_knobs_at(kv, split, ls->len[i], ls->count[i]);
    g->n = ls->count[i];
    g->E = k->example_len(&at);
    HP_CHECK(g->E >= 2);
    g->R = 2 * g->E - 1;
    g->seq_len = ls->len[i] > 0 ? ls->len[i] : g->E - 1;
    g->rows = xmalloc((size_t)g->n * g->R * sizeof *g->rows);
    g->ans = xmalloc((size_t)g->n * g->E);
    g->gap = xmalloc((size_t)g->n * g->E * sizeof *g->gap);
    return draw_unique(k, &at, split, r, g, err, errlen);
}

int task_generate(const struct task_kind *k, const struct knob_values *kv, enum task_split_kind split,
                  struct task_split *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (k->validate && k->validate(kv, err, errlen) != 0) return -1;
    struct task_lengths ls;
    if (task_split_lengths(kv, split, &ls, err, errlen)) return -1;
    uint64_t stream = split == SPLIT_TRAIN ? HP_STREAM_TRAIN_DATA : HP_STREAM_TEST_DATA;
    struct hp_rng r = hp_rng_make((uint64_t)knob_int(kv, "seed"), stream); /* one stream, groups in turn */
    struct group g[TASK_MAX_LENS];
    memset(g, 0, sizeof g);
    int rc = 0, E = 0;
    for (int i = 0; i < ls.n && rc == 0; i++) {
        rc = draw_group(k, kv, split, &ls, i, &r, &g[i], err, errlen);
        if (g[i].E > E) E = g[i].E;
    }
    if (rc == 0) {
        split_alloc(out, task_num(kv, split), E - 1);
        bool answers_only = task_loss_answers_only(kv);
        for (int i = 0, at = 0; i < ls.n; at += g[i].n, i++) fill_group(out, at, &g[i], answers_only);
        out->hash = split_hash(out);
    }
    for (int i = 0; i < ls.n; i++) group_free(&g[i]);
    return rc;
}

void task_split_free(struct task_split *s) {
    free(s->x);
    free(s->y);
    free(s->loss_mask);
    free(s->answer_mask);
    free(s->gap);
    free(s->len);
    free(s->seq_len);
    memset(s, 0, sizeof *s);
}

int task_example_tokens(const struct task_split *s, int i) { return s->len ? s->len[i] : s->L; }

/* ---- overlap ---- */

/* Example i as x[:len] then y[:len], filled with a value no token has up to
 * W, so examples of different lengths never compare equal. */
static void example_row(const struct task_split *s, int i, int W, int32_t *row) {
    int n = task_example_tokens(s, i);
    memcpy(row, s->x + (size_t)i * s->L, (size_t)n * sizeof *row);
    memcpy(row + n, s->y + (size_t)i * s->L, (size_t)n * sizeof *row);
    for (int j = 2 * n; j < W; j++) row[j] = INT32_MIN;
}

int task_overlap(const struct task_split *a, const struct task_split *b) {
    if (a->n == 0 || b->n == 0) return 0;
    int W = 2 * (a->L > b->L ? a->L : b->L);
    int32_t *rows = xmalloc((size_t)b->n * W * sizeof *rows);
    for (int i = 0; i < b->n; i++) example_row(b, i, W, rows + (size_t)i * W);
    struct row_set set;
    set_init(&set, rows, W, (size_t)b->n);
    for (int i = 0; i < b->n; i++) set_add(&set, (size_t)i);
    int32_t *row = xmalloc((size_t)W * sizeof *row);
    int count = 0;
    for (int i = 0; i < a->n; i++) {
        example_row(a, i, W, row);
        count += set_has(&set, row);
    }
    free(row);
    free(set.slot);
    free(rows);
    return count;
}
