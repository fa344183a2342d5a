/* safetensors.h — read and write the safetensors layout:
 *   8-byte little-endian header length n, n bytes of JSON header (padded with
 *   spaces so data starts 8-aligned), then raw little-endian row-major data.
 * The header maps names to {dtype, shape, data_offsets [begin, end)} relative
 * to the data section, plus an optional "__metadata__" string map.
 * The reader checks every length, offset, dtype and shape against the file:
 * sizes are integers, shapes fit the data section, the tensors tile it
 * exactly (no gap, overlap or trailing byte), names are unique and
 * "__metadata__" is an object of strings.
 *
 * Content hash: every file st_write writes carries "__metadata__"
 * {"hippodrome_fnv1a64": 16 hex digits}, FNV-1a 64 of the whole file with
 * those 16 digits read as '0'. st_read verifies it when present (any
 * changed, lost or added byte is refused), and says so in `hashed`; files
 * from other tools have none and are read on the layout checks alone. */
#ifndef HIPPO_SAFETENSORS_H
#define HIPPO_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum st_dtype { ST_F64, ST_F32, ST_I64, ST_I32 };

#define ST_MAXDIM 8
#define ST_NAME 160
#define ST_HASH_KEY "hippodrome_fnv1a64"

struct st_tensor {
    char name[ST_NAME];
    enum st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAXDIM];
    size_t numel;
    const void *data; /* points into the file image */
};

struct st_file {
    unsigned char *image; /* whole file */
    size_t size;
    struct st_tensor *t;
    int n;
    char *metadata_json; /* "__metadata__" object re-serialised, or NULL */
    bool hashed;         /* it carried the content hash, and the hash matched */
};

/* 0, or -1 with a message naming the file and the problem. */
int st_read(const char *path, struct st_file *f, char *err, size_t errlen);
/* The same for a file's bytes (malloc'd; f owns them, also on failure);
 * `path` names the file in messages. */
int st_parse(unsigned char *image, size_t size, const char *path, struct st_file *f, char *err, size_t errlen);
void st_free(struct st_file *f);
const struct st_tensor *st_get(const struct st_file *f, const char *name);
/* Copy a tensor into doubles (any numeric dtype). */
void st_to_f64(const struct st_tensor *t, double *out);
/* "F32", "I64", ... */
const char *st_dtype_name(enum st_dtype d);
/* "[2, 3]" (messages). */
void st_shape_text(const int64_t *shape, int ndim, char *out, size_t len);

/* Writing: tensors are given as arrays of their dtype; metadata_json (an
 * object of strings, or NULL) gets the content hash added. The file is
 * written atomically (core/atomic.h: parents created, temporary file, fsync,
 * rename), so a reader never sees half a file. */
struct st_out {
    const char *name;
    enum st_dtype dtype; /* ST_F32 or ST_F64 or ST_I64 */
    int ndim;
    const int64_t *shape;
    const void *data;
};
int st_write(const char *path, const struct st_out *t, int n, const char *metadata_json, char *err,
             size_t errlen);

#endif
