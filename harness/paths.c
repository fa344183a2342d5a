/* paths.c — locate repository files relative to the binary (see paths.h). */
#include "paths.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* <repo> = dirname(dirname(/proc/self/exe)). */
static int exe_root(char *out, size_t len) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return -1;
    exe[n] = '\0';
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(exe, '/');
        if (!slash) return -1;
        *slash = '\0';
    }
    if ((size_t)snprintf(out, len, "%s", exe[0] ? exe : "/") >= len) return -1;
    return 0;
}

int repo_path(const char *rel, char *out, size_t len) {
    char root[PATH_MAX];
    if (rel[0] != '/' && exe_root(root, sizeof root) == 0) {
        if ((size_t)snprintf(out, len, "%s/%s", root, rel) < len && exists(out)) return 0;
    }
    if ((size_t)snprintf(out, len, "%s", rel) < len && exists(out)) return 0;
    return -1;
}
