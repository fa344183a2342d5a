/* metrics.h — answer-level evaluation metrics, as pure functions of a
 * split's predictions (no model, no I/O), and their JSON form for reports.
 *
 * From (n, L) predicted ids, targets, the answer mask, the gaps and each
 * example's seq_len (tasks/task.h):
 *   token_accuracy  correct answers / answers, over every answer position of
 *                   every example (micro average: an example with more answers
 *                   weighs more);
 *   exact_match     examples whose answers are all right / examples with at
 *                   least one answer;
 *   per_position    token accuracy at each target position l (the input
 *                   position where the answer is predicted), positions that
 *                   hold answers only;
 *   per_gap         token accuracy by key-to-query gap g, in buckets: one per
 *                   gap below 16, then [2^k, 2^(k+1) - 1] for k >= 4; answers
 *                   without a gap (-1) are left out;
 *   per_length      token accuracy and exact match per seq_len, for splits that
 *                   mix lengths (one entry otherwise).
 * Each cell carries its counts (correct, answers) beside the fraction, so
 * cells can be summed across runs. */
#ifndef HIPPO_METRICS_H
#define HIPPO_METRICS_H

#include <stdint.h>

#define METRICS_EXACT_GAPS 16                       /* gaps 0..15 each have a bucket */
#define METRICS_GAP_BUCKETS (METRICS_EXACT_GAPS + 27) /* then 2^4 .. 2^31 - 1 */

struct metric_cell {
    long correct, total; /* answers right, answers */
};

struct metrics_input {
    int n, L;
    const int32_t *pred;    /* (n, L) predicted ids */
    const int32_t *target;  /* (n, L) target ids */
    const uint8_t *answer;  /* (n, L) 1 = scored */
    const int32_t *gap;     /* (n, L) gap of each answer, -1 = none; NULL: no gaps */
    const int32_t *seq_len; /* (n) each example's seq_len; NULL: one length */
};

struct metrics_length {
    int seq_len;
    struct metric_cell tokens;
    long sequences, exact; /* examples with answers; with every answer right */
};

struct metrics {
    struct metric_cell tokens;
    long sequences, exact;
    int L;
    struct metric_cell *position;          /* (L) by target position */
    struct metric_cell gap[METRICS_GAP_BUCKETS];
    int n_lengths;
    struct metrics_length *length;         /* (n_lengths) ascending seq_len */
};

void metrics_compute(const struct metrics_input *in, struct metrics *out);
void metrics_free(struct metrics *m);

/* The bucket of a gap (-1 for a gap < 0) and the gaps a bucket holds. */
int metrics_gap_bucket(int gap);
void metrics_gap_range(int bucket, int *lo, int *hi);

/* {"answers", "correct", "token_accuracy", "sequences", "exact_match",
 *  "per_position": [{"position", "correct", "answers", "accuracy"}],
 *  "per_gap": [{"gap_min", "gap_max", "correct", "answers", "accuracy"}],
 *  "per_length": [{"seq_len", "correct", "answers", "token_accuracy",
 *                  "sequences", "exact_match"}]}; empty cells are left out;
 * a fraction over nothing is 0. */
struct cJSON *metrics_json(const struct metrics *m);

#endif
