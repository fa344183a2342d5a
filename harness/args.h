/* args.h — command-line flags for one verb, from a table.
 *
 * Flags are "--name value" or "--name=value"; booleans take no value. A flag
 * marked `repeat` collects every occurrence (--set). Anything else starting
 * with "-" is rejected with the verb's valid flags listed. */
#ifndef HIPPO_ARGS_H
#define HIPPO_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#define ARGS_MAX_FLAGS 16
#define ARGS_MAX_REPEAT 64
#define ARGS_MAX_POS 4

struct flag_spec {
    const char *name;  /* "--out" */
    const char *meta;  /* "FILE"; NULL = boolean flag */
    bool repeat;       /* may be given many times */
    const char *help;
};

struct args {
    const struct flag_spec *specs;
    int n_specs;
    const char *value[ARGS_MAX_FLAGS]; /* last value (booleans: "1") or NULL */
    const char *rep[ARGS_MAX_REPEAT];  /* every value of the repeatable flag */
    int n_rep;
    const char *pos[ARGS_MAX_POS];     /* positional arguments */
    int n_pos;
    bool help;                         /* -h / --help given */
};

/* Parse argv[0..argc). 0, or -1 with err naming the problem. */
int args_parse(int argc, char **argv, const struct flag_spec *specs, int n_specs, struct args *a, char *err,
               size_t errlen);
const char *args_get(const struct args *a, const char *name); /* NULL if absent */
bool args_has(const struct args *a, const char *name);
/* Integer flag with a default and limits; -1 with err when malformed. */
int args_int(const struct args *a, const char *name, int def, int lo, int hi, int *out, char *err, size_t errlen);

#endif
