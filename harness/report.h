/* report.h — the one writer of hippodrome's JSON (cJSON), one versioned schema.
 *
 * Run report (schema_version 1): name, status, message, config (fully
 * resolved), config_hash, task, data {train_hash, test_hash, n_train, n_test,
 * overlap, seq_len, vocab}, chance_accuracy, model {layer, parameters,
 * state_size}, seed, git_commit, backend, device (its processor or GPU in
 * words), gemm, precision, threads,
 * epochs_run, steps, early_stopped, train_loss[], test_accuracy[],
 * final_accuracy, best_accuracy, best_epoch, diverged {step, epoch, tensor:
 * "loss" or "<parameter>.grad", the first not finite} (only when diverged),
 * and "timing" {wall_seconds, train_seconds,
 * tokens_per_second, ms_per_step}; runs of a sweep also carry "sweep" {name,
 * run, labels} from their config (harness/sweep.h). Everything outside "timing" is a function
 * of config + seed + threads + build, so it is byte-identical across reruns.
 *
 * Suite summary, bench table and predict output go through here as well; the
 * console tables are a second renderer of the same records.
 * Files are written atomically: temp file, fsync, rename. */
#ifndef HIPPO_REPORT_H
#define HIPPO_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "train.h"

#define REPORT_SCHEMA_VERSION 1

struct cJSON;

struct cJSON *report_run(const struct run_config *c, const struct train_result *r);

/* One suite cell: one config's run (task x layer). */
struct suite_cell {
    char name[CONFIG_NAME];
    char task[48], layer[48];
    enum run_status status;
    double accuracy;      /* final test accuracy, fraction */
    double best_accuracy;
    double paper;         /* fraction, NAN when the paper has no number */
    double chance;
    double seconds;
    int epochs_run;
};
struct cJSON *report_suite(const char *dir, const struct suite_cell *cells, int n, const char *paper_source);
void report_suite_table(FILE *out, const struct suite_cell *cells, int n);

/* One bench-train row: ms per training step of one config at one thread count. */
struct bench_row {
    char name[CONFIG_NAME];
    char task[48], layer[48];
    int threads, B, L, steps, warmup;
    double ms_median, ms_min, tokens_per_second; /* tokens/s at the median */
    double ms_best_round; /* lowest median over rounds of 20 timed steps */
};
struct cJSON *report_bench(const struct bench_row *rows, int n, const char *gemm_name);
void report_bench_table(FILE *out, const struct bench_row *rows, int n);

/* `predict`: next-token probabilities (L, V) after each input token. */
struct cJSON *report_predict(const struct run_config *c, const char *checkpoint, const int32_t *tokens, int L,
                             const double *probs);

/* "0123456789abcdef" */
void report_hex64(unsigned long long h, char out[17]);

/* Write JSON atomically (parents created). 0 or -1 with err. */
int report_write(const char *path, const struct cJSON *j, char *err, size_t errlen);
/* Write text as it is, atomically (parents created): markdown tables, makefiles. */
int report_write_text(const char *path, const char *text, char *err, size_t errlen);
/* A whole file (malloc'd, NUL-terminated) or NULL with err. */
char *report_read_text(const char *path, char *err, size_t errlen);
/* A JSON file, parsed, or NULL with err naming the file (and the line). */
struct cJSON *report_read(const char *path, char *err, size_t errlen);
/* A finished run report: schema_version, config, config_hash and a final
 * status (ok, diverged or failed; every report train writes has one). */
bool report_is_run(const struct cJSON *j);
/* `path` holds a finished run report of the config hashing to `hash`, with
 * the same "sweep" object (NULL: none) — train --skip-done. */
bool report_done(const char *path, uint64_t hash, const struct cJSON *sweep);
/* Pretty-print to a stream with a trailing newline. */
void report_print(FILE *out, const struct cJSON *j);

#endif
