/* registry.c — every layer kind hippodrome knows. Adding a layer: one file and one line here. */
#include <string.h>

#include "hyena.h"
#include "layer.h"

const struct layer_kind *const layer_kinds[] = {
    &layer_attention,
    &layer_s4d,
    &layer_h3,
    &layer_gss,
    &layer_hyena,
    NULL,
};

const struct layer_kind *layer_find(const char *name) {
    for (int i = 0; layer_kinds[i]; i++)
        if (strcmp(layer_kinds[i]->name, name) == 0) return layer_kinds[i];
    return NULL;
}
