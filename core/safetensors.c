/* safetensors.c — checked reader and atomic writer for the safetensors layout. */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic.h"
#include "base.h"
#include "hash.h"

static size_t dtype_size(enum st_dtype d) { return (d == ST_F64 || d == ST_I64) ? 8 : 4; }

const char *st_dtype_name(enum st_dtype d) {
    switch (d) {
    case ST_F64: return "F64";
    case ST_F32: return "F32";
    case ST_I64: return "I64";
    case ST_I32: return "I32";
    }
    return "?";
}

static int dtype_parse(const char *s, enum st_dtype *d) {
    if (!strcmp(s, "F64")) *d = ST_F64;
    else if (!strcmp(s, "F32")) *d = ST_F32;
    else if (!strcmp(s, "I64")) *d = ST_I64;
    else if (!strcmp(s, "I32")) *d = ST_I32;
    else return -1;
    return 0;
}

static int read_all(const char *path, unsigned char **buf, size_t *size, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    size_t n = (size_t)st.st_size, got = 0;
    *buf = xmalloc(n + 1);
    while (got < n) {
        ssize_t r = read(fd, *buf + got, n - got);
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (got != n) {
        free(*buf);
        *buf = NULL;
        snprintf(err, errlen, "%s: read %zu of %zu bytes", path, got, n);
        return -1;
    }
    *size = n;
    return 0;
}

/* Every size in the file is an integer in [0, 2^53] (exact in a JSON double). */
static bool count_value(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > 9007199254740992.0 ||
        v->valuedouble != (double)(uint64_t)v->valuedouble)
        return false;
    *out = (uint64_t)v->valuedouble;
    return true;
}

/* Shape: at most ST_MAXDIM counts whose size in bytes fits 64 bits (the
 * offsets then say whether the file holds them). */
static int parse_shape(const cJSON *sh, const char *path, struct st_tensor *t, char *err, size_t errlen) {
    if (!cJSON_IsArray(sh) || cJSON_GetArraySize(sh) > ST_MAXDIM) {
        snprintf(err, errlen, "%s: tensor '%s': shape must be an array of at most %d dimensions", path, t->name,
                 ST_MAXDIM);
        return -1;
    }
    t->ndim = cJSON_GetArraySize(sh);
    uint64_t numel = 1, bytes;
    bool big = false, zero = false;
    for (int i = 0; i < t->ndim; i++) {
        uint64_t d;
        if (!count_value(cJSON_GetArrayItem(sh, i), &d)) {
            snprintf(err, errlen, "%s: tensor '%s': dimension %d is not a non-negative integer", path, t->name, i);
            return -1;
        }
        t->shape[i] = (int64_t)d;
        zero = zero || d == 0;
        big = big || __builtin_mul_overflow(numel, d, &numel);
    }
    big = big || __builtin_mul_overflow(numel, (uint64_t)dtype_size(t->dtype), &bytes);
    if (big && !zero) {
        snprintf(err, errlen, "%s: tensor '%s': its shape is too large (over 2^64 bytes)", path, t->name);
        return -1;
    }
    t->numel = zero ? 0 : (size_t)numel;
    return 0;
}

static int parse_offsets(const cJSON *off, const char *path, size_t data_len, struct st_tensor *t, size_t *begin,
                         char *err, size_t errlen) {
    uint64_t b, e;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || !count_value(cJSON_GetArrayItem(off, 0), &b) ||
        !count_value(cJSON_GetArrayItem(off, 1), &e)) {
        snprintf(err, errlen, "%s: tensor '%s': data_offsets must be [begin, end], two non-negative integers", path,
                 t->name);
        return -1;
    }
    if (e < b) {
        snprintf(err, errlen, "%s: tensor '%s': bad data_offsets [%llu, %llu)", path, t->name,
                 (unsigned long long)b, (unsigned long long)e);
        return -1;
    }
    if (e > data_len) {
        snprintf(err, errlen, "%s: truncated: tensor '%s' ends at data byte %llu, the file holds %zu data bytes", path,
                 t->name, (unsigned long long)e, data_len);
        return -1;
    }
    if (e - b != (uint64_t)t->numel * dtype_size(t->dtype)) { /* no overflow: parse_shape bounded it */
        snprintf(err, errlen, "%s: tensor '%s': data_offsets [%llu, %llu) hold %llu bytes, its shape and dtype need %zu",
                 path, t->name, (unsigned long long)b, (unsigned long long)e, (unsigned long long)(e - b),
                 t->numel * dtype_size(t->dtype));
        return -1;
    }
    *begin = (size_t)b;
    return 0;
}

static int parse_tensor(const cJSON *item, const char *path, size_t data_len, const unsigned char *data,
                        struct st_tensor *t, char *err, size_t errlen) {
    if (strlen(item->string) >= ST_NAME) {
        snprintf(err, errlen, "%s: tensor name longer than %d", path, ST_NAME - 1);
        return -1;
    }
    snprintf(t->name, ST_NAME, "%s", item->string);
    if (!cJSON_IsObject(item)) {
        snprintf(err, errlen, "%s: tensor '%s' must be an object {dtype, shape, data_offsets}", path, t->name);
        return -1;
    }
    for (const cJSON *k = item->child; k; k = k->next)
        if (strcmp(k->string, "dtype") && strcmp(k->string, "shape") && strcmp(k->string, "data_offsets")) {
            snprintf(err, errlen, "%s: tensor '%s': unknown key '%.64s'; valid keys are: dtype, shape, data_offsets",
                     path, t->name, k->string);
            return -1;
        }
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    if (!cJSON_IsString(dt) || dtype_parse(dt->valuestring, &t->dtype) != 0) {
        snprintf(err, errlen, "%s: tensor '%s': missing or unsupported dtype%s%.16s%s (supported: F64, F32, I64, I32)",
                 path, t->name, cJSON_IsString(dt) ? " '" : "", cJSON_IsString(dt) ? dt->valuestring : "",
                 cJSON_IsString(dt) ? "'" : "");
        return -1;
    }
    size_t begin;
    if (parse_shape(cJSON_GetObjectItemCaseSensitive(item, "shape"), path, t, err, errlen) ||
        parse_offsets(cJSON_GetObjectItemCaseSensitive(item, "data_offsets"), path, data_len, t, &begin, err,
                      errlen))
        return -1;
    t->data = data + begin;
    return 0;
}

static int by_offset(const void *a, const void *b) {
    const unsigned char *x = ((const struct st_tensor *)a)->data, *y = ((const struct st_tensor *)b)->data;
    return (x > y) - (x < y);
}

/* The layout's rule: the tensors cover the data section exactly, no gaps,
 * overlaps or trailing bytes, so stray or missing bytes are caught. */
static int check_coverage(const struct st_file *f, const char *path, const unsigned char *data, size_t data_len,
                          char *err, size_t errlen) {
    struct st_tensor *v = xmalloc(((size_t)f->n + 1) * sizeof *v);
    memcpy(v, f->t, (size_t)f->n * sizeof *v);
    qsort(v, (size_t)f->n, sizeof *v, by_offset);
    size_t at = 0;
    int rc = 0;
    for (int i = 0; i < f->n && rc == 0; i++) {
        size_t b = (size_t)((const unsigned char *)v[i].data - data);
        if (b != at) {
            snprintf(err, errlen, "%s: tensor '%s' starts at data byte %zu, the one before it ends at %zu (%s)", path,
                     v[i].name, b, at, b < at ? "overlap" : "gap");
            rc = -1;
        }
        at = b + v[i].numel * dtype_size(v[i].dtype);
    }
    if (rc == 0 && at != data_len) {
        snprintf(err, errlen, "%s: %zu bytes after the last tensor (data section %zu bytes)", path, data_len - at,
                 data_len);
        rc = -1;
    }
    free(v);
    return rc;
}

/* "__metadata__": an object of strings (the layout's rule); kept re-serialised. */
static int parse_metadata(const cJSON *it, struct st_file *f, const char *path, char *err, size_t errlen) {
    bool ok = cJSON_IsObject(it) && !f->metadata_json;
    for (const cJSON *k = ok ? it->child : NULL; k && ok; k = k->next) ok = cJSON_IsString(k);
    if (!ok) {
        snprintf(err, errlen, "%s: __metadata__ must be one object of string values", path);
        return -1;
    }
    f->metadata_json = cJSON_PrintUnformatted(it);
    HP_CHECK(f->metadata_json != NULL);
    return 0;
}

static int parse_header(const cJSON *root, struct st_file *f, const char *path, size_t data_len,
                        const unsigned char *data, char *err, size_t errlen) {
    for (const cJSON *a = root->child; a; a = a->next)
        for (const cJSON *b = a->next; b; b = b->next)
            if (!strcmp(a->string, b->string)) {
                snprintf(err, errlen, "%s: header names '%.*s' twice", path, ST_NAME, a->string);
                return -1;
            }
    f->t = xcalloc((size_t)cJSON_GetArraySize(root) + 1, sizeof *f->t);
    for (const cJSON *it = root->child; it; it = it->next) {
        if (!strcmp(it->string, "__metadata__")) {
            if (parse_metadata(it, f, path, err, errlen)) return -1;
        } else if (parse_tensor(it, path, data_len, data, &f->t[f->n++], err, errlen)) {
            return -1;
        }
    }
    return 0;
}

static bool hex16(const char *s) {
    for (int i = 0; i < 16; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return s[16] == '\0';
}

/* Offset of the digits of `"ST_HASH_KEY":"<digits>"` in the header, or 0
 * when that text is not there exactly once. */
static size_t hash_digits_at(const struct st_file *f, size_t hlen, const char *digits) {
    char key[64];
    int klen = snprintf(key, sizeof key, "\"%s\":\"%s\"", ST_HASH_KEY, digits);
    size_t at = 0;
    int found = 0;
    for (size_t i = 8; i + (size_t)klen <= 8 + hlen; i++)
        if (memcmp(f->image + i, key, (size_t)klen) == 0) at = i + (size_t)klen - 17, found++;
    return found == 1 ? at : 0;
}

/* The writer's content hash, when the file carries one: FNV-1a 64 of the
 * whole file with its own 16 digits read as '0'. */
static int verify_hash(struct st_file *f, const char *path, size_t hlen, char *err, size_t errlen) {
    cJSON *meta = f->metadata_json ? cJSON_Parse(f->metadata_json) : NULL;
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(meta, ST_HASH_KEY);
    char want[17] = "";
    bool present = h != NULL, ok = cJSON_IsString(h) && hex16(h->valuestring);
    if (ok) memcpy(want, h->valuestring, 17);
    cJSON_Delete(meta);
    if (!present) return 0;
    size_t at = ok ? hash_digits_at(f, hlen, want) : 0;
    if (!at) {
        snprintf(err, errlen, "%s: corrupt: its content hash (%s) is not 16 hex digits written once", path,
                 ST_HASH_KEY);
        return -1;
    }
    uint64_t got = fnv1a64_update(FNV1A64_INIT, f->image, at);
    got = fnv1a64_update(got, "0000000000000000", 16);
    got = fnv1a64_update(got, f->image + at + 16, f->size - at - 16);
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)got);
    if (strcmp(hex, want) != 0) {
        snprintf(err, errlen, "%s: corrupt: content hash %s, the file says %s (changed after it was written)", path,
                 hex, want);
        return -1;
    }
    f->hashed = true;
    return 0;
}

int st_read(const char *path, struct st_file *f, char *err, size_t errlen) {
    unsigned char *image;
    size_t size;
    if (read_all(path, &image, &size, err, errlen) != 0) {
        memset(f, 0, sizeof *f);
        return -1;
    }
    return st_parse(image, size, path, f, err, errlen);
}

int st_parse(unsigned char *image, size_t size, const char *path, struct st_file *f, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    f->image = image;
    f->size = size;
    uint64_t hlen = 0;
    if (f->size < 8) goto truncated;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | f->image[i];
    if (hlen > f->size - 8) goto truncated;
    cJSON *root = cJSON_ParseWithLength((const char *)f->image + 8, (size_t)hlen);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        snprintf(err, errlen, "%s: header is not a JSON object", path);
        st_free(f);
        return -1;
    }
    const unsigned char *data = f->image + 8 + hlen;
    size_t data_len = f->size - 8 - (size_t)hlen;
    int rc = parse_header(root, f, path, data_len, data, err, errlen);
    cJSON_Delete(root);
    /* Layout first (its messages say what is wrong), then the hash (that something is). */
    if (rc == 0) rc = check_coverage(f, path, data, data_len, err, errlen);
    if (rc == 0) rc = verify_hash(f, path, (size_t)hlen, err, errlen);
    if (rc) st_free(f);
    return rc;
truncated:
    if (f->size < 8) snprintf(err, errlen, "%s: truncated or not safetensors (%zu bytes, no 8-byte header length)", path, f->size);
    else snprintf(err, errlen, "%s: truncated or not safetensors (%zu bytes; the header length %llu runs past the end)",
                  path, f->size, (unsigned long long)hlen);
    st_free(f);
    return -1;
}

void st_free(struct st_file *f) {
    free(f->image);
    free(f->t);
    free(f->metadata_json);
    memset(f, 0, sizeof *f);
}

const struct st_tensor *st_get(const struct st_file *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

void st_to_f64(const struct st_tensor *t, double *out) {
    /* memcpy per element: data in the file image is not guaranteed aligned. */
    const unsigned char *p = t->data;
    for (size_t i = 0; i < t->numel; i++) {
        switch (t->dtype) {
        case ST_F64: { double v; memcpy(&v, p + 8 * i, 8); out[i] = v; break; }
        case ST_F32: { float v; memcpy(&v, p + 4 * i, 4); out[i] = v; break; }
        case ST_I64: { int64_t v; memcpy(&v, p + 8 * i, 8); out[i] = (double)v; break; }
        case ST_I32: { int32_t v; memcpy(&v, p + 4 * i, 4); out[i] = v; break; }
        }
    }
}

/* The metadata to write: the caller's strings, any old hash dropped, and a
 * placeholder hash (16 '0's) that st_write fills in. */
static cJSON *write_metadata(const char *metadata_json) {
    cJSON *meta = metadata_json ? cJSON_Parse(metadata_json) : cJSON_CreateObject();
    HP_CHECK(cJSON_IsObject(meta));
    cJSON_DeleteItemFromObjectCaseSensitive(meta, ST_HASH_KEY);
    cJSON_AddStringToObject(meta, ST_HASH_KEY, "0000000000000000");
    return meta;
}

void st_shape_text(const int64_t *shape, int ndim, char *out, size_t len) {
    size_t n = (size_t)snprintf(out, len, "[");
    for (int d = 0; d < ndim && n < len; d++) n += (size_t)snprintf(out + n, len - n, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (n < len) snprintf(out + n, len - n, "]");
}

static size_t numel_of(const struct st_out *t) {
    size_t numel = 1;
    for (int d = 0; d < t->ndim; d++) numel *= (size_t)t->shape[d];
    return numel;
}

static char *build_header(const struct st_out *t, int n, const char *metadata_json, size_t *len) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "__metadata__", write_metadata(metadata_json));
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "dtype", st_dtype_name(t[i].dtype));
        cJSON *sh = cJSON_AddArrayToObject(o, "shape");
        for (int d = 0; d < t[i].ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t[i].shape[d]));
        cJSON *offs = cJSON_AddArrayToObject(o, "data_offsets");
        size_t bytes = numel_of(&t[i]) * dtype_size(t[i].dtype);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + bytes)));
        off += bytes;
        cJSON_AddItemToObject(root, t[i].name, o);
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    HP_CHECK(s != NULL);
    size_t raw = strlen(s), padded = (raw + 7) & ~(size_t)7;
    s = realloc(s, padded + 1);
    HP_CHECK(s != NULL);
    memset(s + raw, ' ', padded - raw);
    s[padded] = '\0';
    *len = padded;
    return s;
}

/* Fill the header's placeholder with the hash of the whole file as it will be written. */
static void seal(unsigned char len8[8], char *header, size_t hlen, const struct st_out *t, int n) {
    static const char key[] = "\"" ST_HASH_KEY "\":\"";
    char *digits = strstr(header, key);
    HP_CHECK(digits != NULL);
    digits += sizeof key - 1;
    uint64_t h = fnv1a64_update(FNV1A64_INIT, len8, 8);
    h = fnv1a64_update(h, header, hlen);
    for (int i = 0; i < n; i++) h = fnv1a64_update(h, t[i].data, numel_of(&t[i]) * dtype_size(t[i].dtype));
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
    memcpy(digits, hex, 16);
}

int st_write(const char *path, const struct st_out *t, int n, const char *metadata_json, char *err,
             size_t errlen) {
    size_t hlen;
    char *header = build_header(t, n, metadata_json, &hlen);
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    seal(len8, header, hlen, t, n);
    struct hp_atomic a;
    int rc = hp_atomic_open(&a, path, err, errlen);
    if (rc == 0) {
        bool ok = hp_atomic_write(&a, len8, 1, 8) && hp_atomic_write(&a, header, 1, hlen);
        for (int i = 0; ok && i < n; i++) ok = hp_atomic_write(&a, t[i].data, dtype_size(t[i].dtype), numel_of(&t[i]));
        rc = hp_atomic_close(&a, ok, err, errlen);
    }
    free(header);
    return rc;
}
