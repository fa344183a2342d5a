/* paths.h — finding the repository's own files (paper numbers, configs) from
 * the binary, wherever it is run from.
 *
 * The binary lives at <repo>/build/hippodrome, so <repo> is the directory
 * above the one holding /proc/self/exe; a relative path is tried there first
 * and then against the working directory. This needs no install step and no
 * rebuild when the reference numbers are corrected. */
#ifndef HIPPO_PATHS_H
#define HIPPO_PATHS_H

#include <stddef.h>

/* Existing file or directory `rel` under the repo root; 0 and out filled, or -1. */
int repo_path(const char *rel, char *out, size_t len);

#endif
