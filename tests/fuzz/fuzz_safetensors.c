/* fuzz_safetensors.c — libFuzzer target: the safetensors reader
 * (core/safetensors.c) and, when the file parses, the checkpoint loader
 * that checks its tensors against the model its metadata describes
 * (harness/checkpoint.c).
 *
 * Input: the bytes of a .safetensors file. Every tensor of a file that
 * parses is read whole (the sanitizers see any read out of bounds); the
 * model loader runs only for small models (it allocates what the config
 * asks for), through a memfd path.
 * Build and run: make fuzz (mk/check.mk); replayed by tests/test_fuzz_replay.c. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../core/safetensors.h"
#include "../../harness/checkpoint.h"
#include "../../harness/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile double fuzz_sink; /* every value read lands here, so no read is optimised away */

/* The file's config resolves to a model small enough to build per input. */
static int small_model(const struct st_file *f) {
    cJSON *meta = f->metadata_json ? cJSON_Parse(f->metadata_json) : NULL;
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "hippodrome_config"));
    char err[2048];
    cJSON *doc = text ? config_doc_parse(text, "fuzz", err, sizeof err) : NULL;
    struct run_config c;
    int ok = doc && config_resolve(doc, &c, err, sizeof err) == 0 && cfg_model_int(&c, "d_model") <= 64 &&
             cfg_model_int(&c, "d_inner") <= 256 && cfg_model_int(&c, "n_layer") <= 2 &&
             c.task->vocab_size(&c.task_kv) <= 256 && c.task->example_len(&c.task_kv) <= 256;
    cJSON_Delete(doc);
    cJSON_Delete(meta);
    return ok;
}

static void load_model(const uint8_t *data, size_t size) {
    int fd = memfd_create("fuzz", 0);
    if (fd < 0) return;
    char path[64], err[2048];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    if (write(fd, data, size) == (ssize_t)size) {
        struct run_config c;
        struct model *m = checkpoint_load(path, &c, err, sizeof err);
        if (m) model_free(m);
    }
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned char *image = malloc(size + 1);
    if (!image) return 0;
    memcpy(image, data, size);
    struct st_file f;
    char err[2048];
    if (st_parse(image, size, "fuzz", &f, err, sizeof err) != 0) return 0;
    for (int i = 0; i < f.n; i++) {
        double *v = malloc((f.t[i].numel ? f.t[i].numel : 1) * sizeof *v);
        if (!v) break;
        st_to_f64(&f.t[i], v);
        for (size_t k = 0; k < f.t[i].numel; k++) fuzz_sink += v[k];
        free(v);
    }
    int small = small_model(&f);
    st_free(&f);
    if (small) load_model(data, size);
    return 0;
}
