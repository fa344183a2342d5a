/* metrics.c — answer-level evaluation metrics (see metrics.h). */
#include "metrics.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"

int metrics_gap_bucket(int gap) {
    if (gap < 0) return -1;
    if (gap < METRICS_EXACT_GAPS) return gap;
    int k = 0;
    while ((gap >> (k + 1)) > 0) k++; /* floor(log2 gap) >= 4 */
    return METRICS_EXACT_GAPS + (k - 4);
}

void metrics_gap_range(int bucket, int *lo, int *hi) {
    if (bucket < METRICS_EXACT_GAPS) {
        *lo = *hi = bucket;
        return;
    }
    int k = bucket - METRICS_EXACT_GAPS + 4;
    *lo = (int)(1u << k);
    *hi = (int)((1u << k) - 1u + (1u << k)); /* 2^(k+1) - 1 without overflow at k = 30 */
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* The distinct seq_len labels, ascending (one label 0 when there are none). */
static void collect_lengths(const struct metrics_input *in, struct metrics *m) {
    int *v = xmalloc((size_t)(in->n > 0 ? in->n : 1) * sizeof *v);
    int k = 0;
    if (!in->seq_len || in->n == 0) v[k++] = 0;
    else {
        memcpy(v, in->seq_len, (size_t)in->n * sizeof *v);
        qsort(v, (size_t)in->n, sizeof *v, cmp_int);
        for (int i = 0; i < in->n; i++)
            if (k == 0 || v[i] != v[k - 1]) v[k++] = v[i];
    }
    m->n_lengths = k;
    m->length = xcalloc((size_t)k, sizeof *m->length);
    for (int i = 0; i < k; i++) m->length[i].seq_len = v[i];
    free(v);
}

static struct metrics_length *length_of(struct metrics *m, int seq_len) {
    int lo = 0, hi = m->n_lengths - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (m->length[mid].seq_len < seq_len) lo = mid + 1;
        else hi = mid;
    }
    return &m->length[lo];
}

static void count(struct metric_cell *c, bool right) {
    c->total++;
    c->correct += right;
}

/* One example's answers into every tally. */
static void add_example(const struct metrics_input *in, int i, struct metrics *m) {
    struct metrics_length *len = length_of(m, in->seq_len ? in->seq_len[i] : 0);
    long answers = 0, right = 0;
    for (int l = 0; l < in->L; l++) {
        size_t at = (size_t)i * in->L + l;
        if (!in->answer[at]) continue;
        bool ok = in->pred[at] == in->target[at];
        answers++, right += ok;
        count(&m->tokens, ok);
        count(&m->position[l], ok);
        count(&len->tokens, ok);
        int b = in->gap ? metrics_gap_bucket(in->gap[at]) : -1;
        if (b >= 0) count(&m->gap[b], ok);
    }
    if (answers == 0) return;
    m->sequences++, len->sequences++;
    if (right == answers) m->exact++, len->exact++;
}

void metrics_compute(const struct metrics_input *in, struct metrics *out) {
    memset(out, 0, sizeof *out);
    out->L = in->L;
    out->position = xcalloc((size_t)(in->L > 0 ? in->L : 1), sizeof *out->position);
    collect_lengths(in, out);
    for (int i = 0; i < in->n; i++) add_example(in, i, out);
}

void metrics_free(struct metrics *m) {
    free(m->position);
    free(m->length);
    memset(m, 0, sizeof *m);
}

static double frac(long a, long b) { return b > 0 ? (double)a / (double)b : 0.0; }

static void add_cell(cJSON *o, const struct metric_cell *c, const char *acc_key) {
    cJSON_AddNumberToObject(o, "correct", (double)c->correct);
    cJSON_AddNumberToObject(o, "answers", (double)c->total);
    cJSON_AddNumberToObject(o, acc_key, frac(c->correct, c->total));
}

static void add_positions(cJSON *root, const struct metrics *m) {
    cJSON *a = cJSON_AddArrayToObject(root, "per_position");
    for (int l = 0; l < m->L; l++) {
        if (!m->position[l].total) continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "position", l);
        add_cell(o, &m->position[l], "accuracy");
        cJSON_AddItemToArray(a, o);
    }
}

static void add_gaps(cJSON *root, const struct metrics *m) {
    cJSON *a = cJSON_AddArrayToObject(root, "per_gap");
    for (int b = 0; b < METRICS_GAP_BUCKETS; b++) {
        if (!m->gap[b].total) continue;
        int lo, hi;
        metrics_gap_range(b, &lo, &hi);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "gap_min", lo);
        cJSON_AddNumberToObject(o, "gap_max", hi);
        add_cell(o, &m->gap[b], "accuracy");
        cJSON_AddItemToArray(a, o);
    }
}

static void add_lengths(cJSON *root, const struct metrics *m) {
    cJSON *a = cJSON_AddArrayToObject(root, "per_length");
    for (int i = 0; i < m->n_lengths; i++) {
        const struct metrics_length *len = &m->length[i];
        if (!len->tokens.total) continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "seq_len", len->seq_len);
        add_cell(o, &len->tokens, "token_accuracy");
        cJSON_AddNumberToObject(o, "sequences", (double)len->sequences);
        cJSON_AddNumberToObject(o, "exact_match", frac(len->exact, len->sequences));
        cJSON_AddItemToArray(a, o);
    }
}

cJSON *metrics_json(const struct metrics *m) {
    cJSON *root = cJSON_CreateObject();
    HP_CHECK(root != NULL);
    add_cell(root, &m->tokens, "token_accuracy");
    cJSON_AddNumberToObject(root, "sequences", (double)m->sequences);
    cJSON_AddNumberToObject(root, "exact_match", frac(m->exact, m->sequences));
    add_positions(root, m);
    add_gaps(root, m);
    add_lengths(root, m);
    return root;
}
