/* cli_testutil.h — what suites that drive the binary or write files share: a
 * fresh temporary folder per test, and one command line's exit status and
 * merged output (static: each suite is one translation unit). */
#ifndef HIPPO_CLI_TESTUTIL_H
#define HIPPO_CLI_TESTUTIL_H

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char out[1 << 16] __attribute__((unused)); /* stdout and stderr of the last run() */
static char dir[64]; /* this test's temporary folder (tmpdir_open in the fixture's setup) */

static void tmpdir_open(const char *suite) __attribute__((unused));
static void tmpdir_open(const char *suite) {
    snprintf(dir, sizeof dir, "/tmp/hippo_test_%s_XXXXXX", suite);
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void tmpdir_close(void) __attribute__((unused));
static void tmpdir_close(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* dir/name, in one of a few rotating buffers (several may be live at once). */
static const char *at(const char *name) __attribute__((unused));
static const char *at(const char *name) {
    static char path[8][256];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

/* Run a command line (stderr merged); its exit status, output in `out`. */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static int run(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd - 8, fmt, ap);
    va_end(ap);
    strcat(cmd, " 2>&1");
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void check_output(int rc, int status, const char *needle) __attribute__((unused));
static void check_output(int rc, int status, const char *needle) {
    ck_assert_msg(rc == status, "exit %d, expected %d; output:\n%.1500s", rc, status, out);
    if (needle) ck_assert_msg(strstr(out, needle), "output lacks '%s':\n%.1500s", needle, out);
}

/* expect(status, needle or NULL, fmt, ...): run and check the exit status and output. */
#define expect(status, needle, ...) check_output(run(__VA_ARGS__), (status), (needle))

#endif
