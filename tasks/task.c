/* task.c — the shared split machinery behind the task registry: the
 * registry itself, de-duplicated generation of a split, the input/target/
 * mask layout, the content hash and the train/test overlap count.
 *
 * Content hash (struct task_split.hash): FNV-1a 64 (offset basis
 * 0xcbf29ce484222325, prime 0x100000001b3) over this byte stream:
 *   n and L as int32 little-endian,
 *   x then y, each n*L int32 little-endian, row-major,
 *   loss_mask then answer_mask, each n*L bytes (0 or 1).
 * It is defined on values, not memory, so every machine computes the same
 * hash for the same split. */
#include "task.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"

const struct task_kind *const task_kinds[] = {&task_induction_head, &task_assoc_recall, NULL};

const struct task_kind *task_find(const char *name) {
    for (int i = 0; task_kinds[i]; i++)
        if (strcmp(task_kinds[i]->name, name) == 0) return task_kinds[i];
    return NULL;
}

int task_num(const struct knob_values *kv, enum task_split_kind split) {
    return knob_int(kv, split == SPLIT_TRAIN ? "num_train" : "num_test");
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
    return fnv_bytes(h, s->answer_mask, nl);
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

/* Draw unique examples into seqs (n, E) and answers (n, E). Bounded: a task
 * with barely n distinct examples needs about n*ln(n) draws. */
static int draw_unique(const struct task_kind *k, const struct knob_values *kv, struct hp_rng *r, int n,
                       int E, int32_t *seqs, uint8_t *answers, char *err, size_t errlen) {
    struct row_set set;
    set_init(&set, seqs, E, (size_t)n);
    long max_draws = 50L * n + 10000, draws = 0;
    int have = 0;
    while (have < n && draws < max_draws) {
        int32_t *row = seqs + (size_t)have * E;
        uint8_t *ans = answers + (size_t)have * E;
        memset(ans, 0, (size_t)E);
        k->example(kv, r, row, ans);
        draws++;
        if (set_has(&set, row)) continue;
        set_add(&set, (size_t)have);
        have++;
    }
    free(set.slot);
    if (have == n) return 0;
    snprintf(err, errlen,
             "%s: found only %d distinct examples of the %d asked for after %ld draws; too few distinct "
             "examples exist at these settings (lower num_train/num_test or enlarge vocab_size/seq_len)",
             k->name, have, n, draws);
    return -1;
}

/* x = seq[:-1], y = seq[1:], loss on every position, answers shifted by one. */
static void fill_split(struct task_split *s, const int32_t *seqs, const uint8_t *answers, int n, int E) {
    int L = E - 1;
    size_t nl = (size_t)n * L;
    s->n = n;
    s->L = L;
    s->x = xmalloc(nl * sizeof *s->x);
    s->y = xmalloc(nl * sizeof *s->y);
    s->loss_mask = xmalloc(nl);
    s->answer_mask = xmalloc(nl);
    for (int i = 0; i < n; i++) {
        const int32_t *seq = seqs + (size_t)i * E;
        const uint8_t *ans = answers + (size_t)i * E;
        HP_CHECK(ans[0] == 0); /* position 0 is never a target */
        memcpy(s->x + (size_t)i * L, seq, (size_t)L * sizeof *seq);
        memcpy(s->y + (size_t)i * L, seq + 1, (size_t)L * sizeof *seq);
        memcpy(s->answer_mask + (size_t)i * L, ans + 1, (size_t)L);
    }
    memset(s->loss_mask, 1, nl);
}

int task_generate(const struct task_kind *k, const struct knob_values *kv, enum task_split_kind split,
                  struct task_split *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (k->validate && k->validate(kv, err, errlen) != 0) return -1;
    int n = task_num(kv, split), E = k->example_len(kv);
    HP_CHECK(n >= 1 && E >= 2);
    int32_t *seqs = xmalloc((size_t)n * E * sizeof *seqs);
    uint8_t *answers = xmalloc((size_t)n * E);
    uint64_t stream = split == SPLIT_TRAIN ? HP_STREAM_TRAIN_DATA : HP_STREAM_TEST_DATA;
    struct hp_rng r = hp_rng_make((uint64_t)knob_int(kv, "seed"), stream);
    int rc = draw_unique(k, kv, &r, n, E, seqs, answers, err, errlen);
    if (rc == 0) {
        fill_split(out, seqs, answers, n, E);
        out->hash = split_hash(out);
    }
    free(seqs);
    free(answers);
    return rc;
}

void task_split_free(struct task_split *s) {
    free(s->x);
    free(s->y);
    free(s->loss_mask);
    free(s->answer_mask);
    memset(s, 0, sizeof *s);
}

/* ---- overlap ---- */

static void example_row(const struct task_split *s, int i, int32_t *row) {
    memcpy(row, s->x + (size_t)i * s->L, (size_t)s->L * sizeof *row);
    row[s->L] = s->y[(size_t)i * s->L + s->L - 1];
}

int task_overlap(const struct task_split *a, const struct task_split *b) {
    if (a->L != b->L || a->n == 0 || b->n == 0) return 0;
    int E = a->L + 1;
    int32_t *rows = xmalloc((size_t)b->n * E * sizeof *rows);
    for (int i = 0; i < b->n; i++) example_row(b, i, rows + (size_t)i * E);
    struct row_set set;
    set_init(&set, rows, E, (size_t)b->n);
    for (int i = 0; i < b->n; i++) set_add(&set, (size_t)i);
    int32_t *row = xmalloc((size_t)E * sizeof *row);
    int count = 0;
    for (int i = 0; i < a->n; i++) {
        example_row(a, i, row);
        count += set_has(&set, row);
    }
    free(row);
    free(set.slot);
    free(rows);
    return count;
}
