/* version.h — the git commit this binary was built from (-DHIPPO_COMMIT, set by
 * the Makefile for harness/version.c only, so a new commit rebuilds one file). */
#ifndef HIPPO_VERSION_H
#define HIPPO_VERSION_H

const char *hippo_commit(void); /* short hash, or "unknown" */

#endif
