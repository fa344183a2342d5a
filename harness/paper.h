/* paper.h — the paper's numbers (results/reference/paper.json), found from the
 * binary by repo_path (paths.h). */
#ifndef HIPPO_PAPER_H
#define HIPPO_PAPER_H

#include <stddef.h>

struct cJSON;

#define PAPER_FILE "results/reference/paper.json"

/* Parsed paper.json or NULL with err (missing, unreadable, malformed). */
struct cJSON *paper_load(char *err, size_t errlen);
/* Accuracy as a fraction, or NAN when the paper has no such cell. */
double paper_accuracy(const struct cJSON *paper, const char *task, const char *layer);
/* The "source" text or NULL. */
const char *paper_source(const struct cJSON *paper);

#endif
