/* version.c — the build's git commit (see version.h). */
#include "version.h"

#ifndef HIPPO_COMMIT
#define HIPPO_COMMIT "unknown"
#endif

const char *hippo_commit(void) { return HIPPO_COMMIT[0] ? HIPPO_COMMIT : "unknown"; }
