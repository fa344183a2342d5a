/* checkpoint.h — trained weights as safetensors, loadable by the authors' code.
 *
 * Tensors: every entry of the model's parameter table under its authors'
 * PyTorch name, float32, in table order (the tied lm_head.weight is the word
 * embedding and is stored once, as in the reference fixtures).
 * "__metadata__": {"format": "pt", "hippodrome_schema": "1",
 *   "hippodrome_config": <canonical config JSON>, "git_commit": ...,
 *   "tied": ...}, so `predict` rebuilds the model from the file alone. */
#ifndef HIPPO_CHECKPOINT_H
#define HIPPO_CHECKPOINT_H

#include <stddef.h>

#include "../models/model.h"
#include "config.h"

int checkpoint_save(const char *path, const struct run_config *c, struct model *m, char *err, size_t errlen);
/* Rebuild config and model from a checkpoint (this file's, or a training
 * checkpoint of harness/resume.h, whose optimizer and progress tensors are
 * skipped); NULL with err naming the
 * problem: the file's layout (truncated, header length past the end, bad
 * header, offsets that do not tile the data: core/safetensors.c), bad
 * metadata, a missing or extra tensor, a wrong shape, a NaN or Inf weight. */
struct model *checkpoint_load(const char *path, struct run_config *c, char *err, size_t errlen);
/* Overwrite every parameter of m from a safetensors file, by name — the
 * authors' names as they are, or with a "param/" prefix as in the fixtures;
 * other tensors in the file are ignored. 0, or -1 naming the missing tensor or
 * the wrong shape (m is then partly overwritten). */
int checkpoint_load_params(const char *path, struct model *m, char *err, size_t errlen);

#endif
