/* knob.h — typed, range-checked configuration keys.
 *
 * Tasks, layers and the harness each declare their keys as a `struct knob`
 * table (name, type, default, limits, help). A `struct knob_values` holds one
 * resolved value per knob of one table: defaults first, then overrides, every
 * override validated (unknown keys are rejected by name with the valid keys
 * listed; out-of-range values explain the limit). */
#ifndef HIPPO_KNOB_H
#define HIPPO_KNOB_H

#include <stdbool.h>
#include <stddef.h>

enum knob_type { KNOB_INT, KNOB_REAL, KNOB_BOOL, KNOB_ENUM, KNOB_STRING };

struct knob {
    const char *name;
    enum knob_type type;
    const char *def;     /* default, as text ("64", "5e-4", "true", "bilinear") */
    double min, max;     /* inclusive limits for INT and REAL */
    const char *choices; /* ENUM only: "bilinear|zoh" */
    const char *help;    /* one line */
};

#define KNOB_MAX 48
#define KNOB_STR 64

struct knob_values {
    const struct knob *knobs; /* the table these values belong to */
    int n;
    double num[KNOB_MAX];          /* INT, REAL, BOOL (0/1) */
    char str[KNOB_MAX][KNOB_STR];  /* ENUM and STRING; for others the text form */
};

/* Fill every knob with its default. */
void knob_defaults(struct knob_values *kv, const struct knob *knobs, int n);

/* Set one knob from text. Returns 0, or -1 with a message in err (which names
 * the key, the value and the limit, or lists the valid keys/choices). */
int knob_set(struct knob_values *kv, const char *key, const char *value, char *err, size_t errlen);

/* Index of key in the table or -1. */
int knob_find(const struct knob *knobs, int n, const char *key);

/* Accessors; a key that is not in the table is a programming error (dies). */
int knob_int(const struct knob_values *kv, const char *key);
double knob_real(const struct knob_values *kv, const char *key);
bool knob_bool(const struct knob_values *kv, const char *key);
const char *knob_str(const struct knob_values *kv, const char *key);

/* "a, b, c": every key of a table, for error messages. */
void knob_list_keys(const struct knob *knobs, int n, char *out, size_t outlen);

#endif
