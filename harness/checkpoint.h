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
/* Rebuild config and model from a checkpoint; NULL with err on any mismatch
 * (missing or extra tensor, wrong shape, bad metadata). */
struct model *checkpoint_load(const char *path, struct run_config *c, char *err, size_t errlen);

#endif
