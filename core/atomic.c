/* atomic.c — temporary file, fsync, rename, fsync of the folder (see atomic.h). */
#include "atomic.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int hp_make_parents(const char *path, char *err, size_t errlen) {
    char buf[HP_PATH_MAX];
    if (strlen(path) >= sizeof buf) {
        snprintf(err, errlen, "path '%.200s...' is longer than %d characters", path, HP_PATH_MAX - 1);
        return -1;
    }
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        struct stat st;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create folder '%s': %s", buf, strerror(errno));
            return -1;
        }
        if (stat(buf, &st) == 0 && !S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "cannot create folder '%s': it is a file", buf);
            return -1;
        }
        *p = '/';
    }
    return 0;
}

/* Remove PATH.tmp.PID files whose writer is gone (killed mid-write). */
static void remove_stale(const char *path) {
    char dir[HP_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    const char *base = slash ? path + (slash - dir) + 1 : path;
    if (slash) *slash = '\0';
    DIR *d = opendir(slash ? (dir[0] ? dir : "/") : ".");
    if (!d) return;
    size_t blen = strlen(base);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, base, blen) != 0 || strncmp(e->d_name + blen, ".tmp.", 5) != 0) continue;
        char *end = NULL;
        long pid = strtol(e->d_name + blen + 5, &end, 10);
        if (!end || *end || pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char stale[HP_PATH_MAX + 300];
        snprintf(stale, sizeof stale, "%s/%s", slash ? (dir[0] ? dir : "") : ".", e->d_name);
        unlink(stale);
    }
    closedir(d);
}

int hp_atomic_open(struct hp_atomic *a, const char *path, char *err, size_t errlen) {
    memset(a, 0, sizeof *a);
    if (hp_make_parents(path, err, errlen)) return -1;
    remove_stale(path);
    snprintf(a->path, sizeof a->path, "%s", path);
    snprintf(a->tmp, sizeof a->tmp, "%s.tmp.%ld", path, (long)getpid());
    a->f = fopen(a->tmp, "wb");
    if (!a->f) {
        snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

bool hp_atomic_write(struct hp_atomic *a, const void *data, size_t size, size_t count) {
    if (a->saved_errno) return false;
    if (count && fwrite(data, size, count, a->f) != count) a->saved_errno = errno ? errno : EIO;
    return a->saved_errno == 0;
}

/* fsync the folder holding path, so the rename is on disk too. */
static int sync_parent(const char *path) {
    char dir[HP_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) dir[1] = '\0';
    else if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int hp_atomic_close(struct hp_atomic *a, bool ok, char *err, size_t errlen) {
    int e = a->saved_errno;
    if (ok && !e && (fflush(a->f) != 0 || fsync(fileno(a->f)) != 0)) e = errno;
    if (fclose(a->f) != 0 && !e) e = errno;
    a->f = NULL;
    if (ok && !e && rename(a->tmp, a->path) != 0) e = errno;
    if (!ok || e) {
        unlink(a->tmp);
        if (e) snprintf(err, errlen, "cannot write '%s': %s", a->path, strerror(e));
        else snprintf(err, errlen, "'%s' not written", a->path);
        return -1;
    }
    if (sync_parent(a->path) != 0) {
        snprintf(err, errlen, "'%s' written, but its folder could not be synced: %s", a->path, strerror(errno));
        return -1;
    }
    return 0;
}

int hp_atomic_probe(const char *path, char *err, size_t errlen) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "cannot write '%s': it is a folder", path);
        return -1;
    }
    struct hp_atomic a;
    if (hp_atomic_open(&a, path, err, errlen)) return -1;
    fclose(a.f);
    unlink(a.tmp);
    return 0;
}
