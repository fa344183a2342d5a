/* hash.h — FNV-1a 64, the content hash of configs and files.
 * Offset basis 0xcbf29ce484222325, prime 0x100000001b3, one byte at a time;
 * fnv1a64_update continues a hash over more bytes (start from FNV1A64_INIT). */
#ifndef HIPPO_HASH_H
#define HIPPO_HASH_H

#include <stddef.h>
#include <stdint.h>

#define FNV1A64_INIT 0xcbf29ce484222325ULL

uint64_t fnv1a64_update(uint64_t h, const void *data, size_t n);
uint64_t fnv1a64(const void *data, size_t n);

#endif
