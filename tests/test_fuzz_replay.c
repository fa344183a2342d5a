/* test_fuzz_replay.c — every input of the fuzzing corpus through the two
 * fuzz targets (tests/fuzz/fuzz_config.c, fuzz_safetensors.c) in the normal
 * build: the seeds (tests/fuzz/config, tests/fuzz/safetensors, the bad
 * configs and files of tests/bad) and every crash a fuzzer found
 * (tests/fuzz/regressions/<target>/, one file per crash, kept as a
 * regression test). Under `make asan` this is where a regression's memory
 * error would show. A target aborts on a broken property, which fails the test. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LLVMFuzzerTestOneInput fuzz_config_one
#include "fuzz/fuzz_config.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_safetensors_one
#include "fuzz/fuzz_safetensors.c"
#undef LLVMFuzzerTestOneInput

#include "testutil.h"

struct corpus {
    const char *dir;
    int (*target)(const uint8_t *, size_t);
    int at_least; /* inputs the folder must hold (0: may be empty) */
};

static const struct corpus corpora[] = {
    {"tests/fuzz/config", fuzz_config_one, 3},
    {"tests/bad/configs", fuzz_config_one, 30},
    {"configs/paper", fuzz_config_one, 4},
    {"tests/fuzz/regressions/config", fuzz_config_one, 0},
    {"tests/fuzz/safetensors", fuzz_safetensors_one, 2},
    {"tests/bad/files", fuzz_safetensors_one, 20},
    {"tests/fuzz/regressions/safetensors", fuzz_safetensors_one, 0},
};

static unsigned char *file_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = xmalloc(*n + 1);
    ck_assert_uint_eq(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

START_TEST(test_replay) {
    const struct corpus *c = &corpora[_i];
    DIR *d = opendir(c->dir);
    ck_assert_msg(d != NULL || c->at_least == 0, "no folder %s", c->dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' || e->d_type == DT_DIR || !strcmp(e->d_name, "README.md") ||
            strstr(e->d_name, ".py"))
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", c->dir, e->d_name);
        size_t size;
        unsigned char *b = file_bytes(path, &size);
        c->target(b, size); /* a crash or abort fails the test, naming nothing: the log says which file */
        free(b);
        n++;
    }
    if (d) closedir(d);
    ck_assert_msg(n >= c->at_least, "%s holds %d inputs, expected at least %d", c->dir, n, c->at_least);
}
END_TEST

int main(void) {
    Suite *s = suite_create("fuzz_replay");
    TCase *tc = tcase_create("replay");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_replay, 0, (int)(sizeof corpora / sizeof corpora[0]));
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
