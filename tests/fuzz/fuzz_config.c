/* fuzz_config.c — libFuzzer target: the JSON config reader and resolver
 * (harness/config.c with the task and layer knob tables behind it).
 *
 * Input: the bytes of a config file. Beyond "no crash, no leak, no read out
 * of bounds, no undefined behaviour" (the sanitizers), it checks a property:
 * a config that resolves has a canonical form that resolves to the same
 * config (same canonical text, same hash).
 * Build and run: make fuzz (mk/check.mk); replayed by tests/test_fuzz_replay.c. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../harness/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The canonical text of a config resolved from text, or NULL when it does not resolve. */
static char *resolve_text(const char *text, uint64_t *hash) {
    char err[2048];
    cJSON *doc = config_doc_parse(text, "fuzz", err, sizeof err);
    if (!doc) return NULL;
    struct run_config c;
    char *canon = NULL;
    if (config_resolve(doc, &c, err, sizeof err) == 0) {
        canon = config_canonical(&c);
        *hash = config_hash(&c);
    }
    cJSON_Delete(doc);
    return canon;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (memchr(data, 0, size)) return 0; /* not text: hp_read_text refuses it before the parser */
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    uint64_t h1 = 0, h2 = 0;
    char *canon = resolve_text(text, &h1);
    free(text);
    if (!canon) return 0;
    char *again = resolve_text(canon, &h2);
    if (!again || strcmp(canon, again) != 0 || h1 != h2) {
        fprintf(stderr, "fuzz_config: the canonical form does not round-trip:\n%s\n%s\n", canon, again ? again : "(none)");
        abort();
    }
    free(canon);
    free(again);
    return 0;
}
