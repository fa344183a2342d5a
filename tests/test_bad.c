/* test_bad.c — the bad-input corpus (tests/bad/cases.txt, tests/bad/README.md):
 * every case runs build/hippodrome and must exit with its status, print its
 * message fragments, and leave its output folder without a file. Damaged
 * copies of real files ({weights|...}, {resume|...}) are made from a weights
 * file and a training checkpoint written once, before the cases run.
 * Runs from the repo root (make test builds the binary first). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "cli_testutil.h"

#define BIN "build/hippodrome"
#define CORPUS "tests/bad"
#define MAX_CASES 256

struct bad_case {
    int line;
    int status;
    char fragments[512];
    char args[1024];
};

static struct bad_case cases[MAX_CASES];
static int n_cases;
static char gen[64]; /* the good files and every case's folders */

/* ---- the manifest ---- */

static char *trim(char *s) {
    while (*s == ' ') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n')) s[--n] = '\0';
    return s;
}

static void load_cases(void) {
    FILE *f = fopen(CORPUS "/cases.txt", "r");
    if (!f) hp_die("cannot open " CORPUS "/cases.txt");
    char line[2048];
    for (int no = 1; fgets(line, sizeof line, f); no++) {
        char *s = trim(line);
        if (!*s || *s == '#') continue;
        char *a = strstr(s, " | "), *b = a ? strstr(a + 3, " | ") : NULL;
        if (!b || n_cases == MAX_CASES) hp_die(CORPUS "/cases.txt:%d: expected 'status | fragments | args'", no);
        *a = *b = '\0';
        struct bad_case *c = &cases[n_cases++];
        c->line = no;
        c->status = atoi(s);
        snprintf(c->fragments, sizeof c->fragments, "%s", trim(a + 3));
        snprintf(c->args, sizeof c->args, "%s", trim(b + 3));
    }
    fclose(f);
}

/* ---- damaged copies ---- */

struct bytes {
    unsigned char *b;
    size_t n;
};

static struct bytes slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    struct bytes r = {NULL, (size_t)ftell(f)};
    fseek(f, 0, SEEK_SET);
    r.b = xmalloc(r.n + 1);
    ck_assert_uint_eq(fread(r.b, 1, r.n, f), r.n);
    fclose(f);
    return r;
}

static size_t find(const struct bytes *d, const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i + n <= d->n; i++)
        if (memcmp(d->b + i, s, n) == 0) return i;
    ck_abort_msg("'%s' is not in the file", s);
    return 0;
}

/* One mutation (README.md): cut=N, flip=N, nohash, sub=OLD/NEW. */
static void mutate(struct bytes *d, const char *m) {
    if (!strncmp(m, "cut=", 4)) {
        long n = atol(m + 4);
        d->n = n >= 0 ? (size_t)n : d->n - (size_t)-n;
    } else if (!strncmp(m, "flip=", 5)) {
        long n = atol(m + 5);
        d->b[n >= 0 ? (size_t)n : d->n - (size_t)-n] ^= 0x01;
    } else if (!strcmp(m, "nohash")) {
        d->b[find(d, "\"hippodrome_fnv1a64\"") + 18] ^= 0x01; /* the key's last character */
    } else if (!strncmp(m, "sub=", 4)) {
        const char *slash = strchr(m + 4, '/');
        ck_assert_msg(slash && strlen(slash + 1) == (size_t)(slash - m - 4), "sub=OLD/NEW of equal lengths: %s", m);
        char old[256];
        snprintf(old, sizeof old, "%.*s", (int)(slash - m - 4), m + 4);
        memcpy(d->b + find(d, old), slash + 1, strlen(old));
    } else {
        ck_abort_msg("unknown mutation '%s'", m);
    }
}

/* {base|mut|mut...} -> a new file in the case's folder; its path. */
static const char *damaged(const char *spec, int id, int k) {
    char buf[512], *save = NULL;
    snprintf(buf, sizeof buf, "%s", spec);
    char *base = strtok_r(buf, "|", &save), src[128];
    ck_assert_msg(!strcmp(base, "weights") || !strcmp(base, "resume"), "unknown file '{%s}'", base);
    snprintf(src, sizeof src, "%s/%s.safetensors", gen, base);
    struct bytes d = slurp(src);
    for (char *m = strtok_r(NULL, "|", &save); m; m = strtok_r(NULL, "|", &save)) mutate(&d, m);
    static char path[8][160];
    char *p = path[k % 8];
    snprintf(p, 160, "%s/in%d/%s_%d.safetensors", gen, id, base, k);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(d.b, 1, d.n, f), d.n);
    fclose(f);
    free(d.b);
    return p;
}

/* The arguments with @PATH, {tmp} and {files} replaced. */
static void expand(const struct bad_case *c, int id, char *out, size_t len) {
    size_t o = 0;
    int k = 0;
    for (const char *s = c->args; *s && o + 1 < len;) {
        if (*s == '{') {
            const char *end = strchr(s, '}');
            ck_assert_msg(end != NULL, "line %d: unclosed {", c->line);
            char spec[512];
            snprintf(spec, sizeof spec, "%.*s", (int)(end - s - 1), s + 1);
            const char *rep = spec;
            char tmp[160];
            if (!strcmp(spec, "tmp")) snprintf(tmp, sizeof tmp, "%s/out%d", gen, id), rep = tmp;
            else rep = damaged(spec, id, k++);
            o += (size_t)snprintf(out + o, len - o, "%s", rep);
            s = end + 1;
        } else if (*s == '@') {
            o += (size_t)snprintf(out + o, len - o, CORPUS "/");
            s++;
        } else {
            out[o++] = *s++;
        }
    }
    out[o < len ? o : len - 1] = '\0';
}

/* Files below folder d (folders are fine: a failed write may leave an empty one). */
static int files_below(const char *d, char *first, size_t len) {
    DIR *dd = opendir(d);
    if (!dd) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dd))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", d, e->d_name);
        if (e->d_type == DT_DIR) n += files_below(p, first, len);
        else if (n++ == 0) snprintf(first, len, "%s", p);
    }
    closedir(dd);
    return n;
}

START_TEST(test_case) {
    const struct bad_case *c = &cases[_i];
    char folder[160], args[4096];
    snprintf(folder, sizeof folder, "%s/out%d", gen, _i);
    ck_assert_int_eq(mkdir(folder, 0777), 0);
    snprintf(folder, sizeof folder, "%s/in%d", gen, _i);
    ck_assert_int_eq(mkdir(folder, 0777), 0);
    expand(c, _i, args, sizeof args);
    int rc = run(BIN " %s", args);
    ck_assert_msg(rc == c->status, "cases.txt:%d: exit %d, expected %d\n  %s\n%.1500s", c->line, rc, c->status, args,
                  out);
    char frags[512];
    snprintf(frags, sizeof frags, "%s", c->fragments);
    for (char *f = frags, *next; f; f = next) {
        next = strstr(f, " && ");
        if (next) *next = '\0', next += 4;
        ck_assert_msg(strstr(out, f), "cases.txt:%d: the output lacks '%s'\n  %s\n%.1500s", c->line, f, args, out);
    }
    char first[512] = "";
    snprintf(folder, sizeof folder, "%s/out%d", gen, _i);
    int n = files_below(folder, first, sizeof first);
    ck_assert_msg(n == 0, "cases.txt:%d: %d files left behind, e.g. %s", c->line, n, first);
}
END_TEST

/* The good files the damaged copies start from. */
static int make_good_files(void) {
    snprintf(gen, sizeof gen, "/tmp/hippo_test_bad_XXXXXX");
    if (!mkdtemp(gen)) return -1;
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             BIN " train --config " CORPUS "/tiny.json --out %s/w.json --save %s/weights.safetensors --quiet && "
             BIN " train --config " CORPUS "/tiny.json --out %s/r.json --checkpoint %s/resume.safetensors "
             "--checkpoint-every 1 --quiet",
             gen, gen, gen, gen);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    if (access(BIN, X_OK) != 0) {
        fprintf(stderr, "test_bad: %s not built (run make)\n", BIN);
        return EXIT_FAILURE;
    }
    load_cases();
    if (make_good_files() != 0) {
        fprintf(stderr, "test_bad: cannot train the good files in %s\n", gen);
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("bad");
    TCase *tc = tcase_create("corpus");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_case, 0, n_cases);
    suite_add_tcase(s, tc);
    int rc = tu_run_suite(s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", gen);
    if (system(cmd) != 0) fprintf(stderr, "test_bad: could not remove %s\n", gen);
    printf("test_bad: %d cases from " CORPUS "/cases.txt\n", n_cases);
    return rc;
}
