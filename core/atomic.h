/* atomic.h — files written whole or not at all.
 *
 * hp_atomic_open creates the target's missing parent folders and opens a
 * temporary file beside it (PATH.tmp.PID: two processes never share one);
 * hp_atomic_close flushes, fsyncs, closes and renames it over the target,
 * then fsyncs the folder so the rename itself survives a crash. A reader
 * sees the old file or the new one, never a part of one. On any failure
 * (unwritable folder, full disk, a write that failed earlier) the temporary
 * file is removed, the target is left as it was, and err names the file and
 * the reason. A process killed mid-write leaves only its PATH.tmp.PID,
 * which the next write of PATH removes (its process being gone). */
#ifndef HIPPO_ATOMIC_H
#define HIPPO_ATOMIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define HP_PATH_MAX 4096

struct hp_atomic {
    FILE *f;                   /* write here */
    int saved_errno;           /* the first failure's errno (hp_atomic_write) */
    char path[HP_PATH_MAX];
    char tmp[HP_PATH_MAX + 32];
};

/* 0, or -1 with err (nothing is left behind). */
int hp_atomic_open(struct hp_atomic *a, const char *path, char *err, size_t errlen);
/* fwrite that remembers the first failure; false once anything failed. */
bool hp_atomic_write(struct hp_atomic *a, const void *data, size_t size, size_t count);
/* Commit when ok (and every write succeeded), else discard. 0, or -1 with err. */
int hp_atomic_close(struct hp_atomic *a, bool ok, char *err, size_t errlen);

/* Whether path could be written: its folders exist or can be made, a new
 * file can be created beside it (tried and removed), and path is not a
 * folder. Run before long work so an unwritable target fails at once.
 * 0, or -1 with err. */
int hp_atomic_probe(const char *path, char *err, size_t errlen);

/* Create every missing folder above path (mkdir -p of its dirname). 0 or -1 with err. */
int hp_make_parents(const char *path, char *err, size_t errlen);

#endif
