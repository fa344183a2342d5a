/* config.h — a run's configuration: task, model, layer and training keys.
 *
 * A config file is JSON with four top-level keys:
 *   {"name": "ih_h3",
 *    "task":  {"name": "induction_head", <task knobs>},
 *    "model": {"layer": "h3", <model knobs>, "layer_options": {<layer knobs>}},
 *    "train": {<train knobs>}}
 * and optionally "sweep": {...}, the metadata a sweep writes into its runs'
 * configs (harness/sweep.h); it is passed to the report, not resolved or hashed.
 * Every key is typed and range-checked through a core/knob.h table: the task
 * kind's and layer kind's own tables, and the harness tables for model and
 * train below. Unknown keys are rejected by name with the valid keys listed.
 * Overrides (`--set train.lr=1e-3`) edit the JSON document before it is
 * resolved, so they obey exactly the same checks as the file.
 *
 * The resolved config (every default filled in) serialises to canonical JSON
 * (fixed key order, numbers from the parsed values), hashed with FNV-1a 64. */
#ifndef HIPPO_CONFIG_H
#define HIPPO_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "../core/hash.h"
#include "../core/knob.h"
#include "../models/layer.h"
#include "../tasks/task.h"

struct cJSON;

#define CONFIG_NAME 64

struct run_config {
    char name[CONFIG_NAME];          /* report file stem: [A-Za-z0-9_.-] */
    const struct task_kind *task;
    struct knob_values task_kv;
    const struct layer_kind *layer;
    struct knob_values model_kv;     /* config_model_knobs */
    struct knob_values layer_kv;     /* the layer kind's knobs */
    struct knob_values train_kv;     /* config_train_knobs */
};

extern const struct knob config_model_knobs[];
extern const int config_n_model_knobs;
extern const struct knob config_train_knobs[];
extern const int config_n_train_knobs;

/* A raw (unresolved) config document: a file (or its text, `name` naming it
 * in messages), then overrides. */
struct cJSON *config_doc_load(const char *path, char *err, size_t errlen);
struct cJSON *config_doc_parse(const char *text, const char *name, char *err, size_t errlen);
/* Apply "section.key=value" (value parsed as a JSON number/true/false/null when
 * it is one, else taken as a string); creates keys so that resolution can name
 * unknown ones. 0 or -1 with err. */
int config_doc_set(struct cJSON *doc, const char *assignment, char *err, size_t errlen);
/* The same with a JSON value (copied); an object value replaces a section
 * wholesale (e.g. model.layer_options = {} drops the base config's options). */
int config_doc_set_json(struct cJSON *doc, const char *key, const struct cJSON *value, char *err, size_t errlen);

/* Resolve a document into a config: defaults, then every given key checked.
 * 0 or -1 with err naming the key. */
int config_resolve(const struct cJSON *doc, struct run_config *c, char *err, size_t errlen);

/* load + overrides + resolve, the usual path. */
int config_load(const char *path, const char *const *sets, int n_sets, struct run_config *c, char *err,
                size_t errlen);

/* Canonical JSON of the resolved config (cJSON tree / malloc'd unformatted text). */
struct cJSON *config_to_json(const struct run_config *c);
char *config_canonical(const struct run_config *c);
uint64_t config_hash(const struct run_config *c);


/* Shorthands for the harness keys. */
int cfg_model_int(const struct run_config *c, const char *key);
double cfg_model_real(const struct run_config *c, const char *key);
int cfg_train_int(const struct run_config *c, const char *key);
double cfg_train_real(const struct run_config *c, const char *key);
const char *cfg_train_str(const struct run_config *c, const char *key);

#endif
