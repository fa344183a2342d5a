/* safetensors.c — checked reader and atomic writer for the safetensors layout. */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base.h"

static size_t dtype_size(enum st_dtype d) { return (d == ST_F64 || d == ST_I64) ? 8 : 4; }

static const char *dtype_text(enum st_dtype d) {
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
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    if (n < 0) {
        fclose(fp);
        snprintf(err, errlen, "%s: cannot size file", path);
        return -1;
    }
    *buf = xmalloc((size_t)n + 1);
    size_t got = fread(*buf, 1, (size_t)n, fp);
    fclose(fp);
    if (got != (size_t)n) {
        free(*buf);
        snprintf(err, errlen, "%s: read %zu of %ld bytes", path, got, n);
        return -1;
    }
    *size = (size_t)n;
    return 0;
}

static int parse_tensor(const cJSON *item, const char *path, size_t data_len, const unsigned char *data,
                        struct st_tensor *t, char *err, size_t errlen) {
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (strlen(item->string) >= ST_NAME) {
        snprintf(err, errlen, "%s: tensor name longer than %d", path, ST_NAME - 1);
        return -1;
    }
    snprintf(t->name, ST_NAME, "%s", item->string);
    if (!cJSON_IsString(dt) || dtype_parse(dt->valuestring, &t->dtype) != 0) {
        snprintf(err, errlen, "%s: tensor '%s': missing or unsupported dtype", path, t->name);
        return -1;
    }
    if (!cJSON_IsArray(sh) || cJSON_GetArraySize(sh) > ST_MAXDIM) {
        snprintf(err, errlen, "%s: tensor '%s': bad shape", path, t->name);
        return -1;
    }
    t->ndim = cJSON_GetArraySize(sh);
    t->numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        const cJSON *d = cJSON_GetArrayItem(sh, i);
        if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 1e12) {
            snprintf(err, errlen, "%s: tensor '%s': bad dimension %d", path, t->name, i);
            return -1;
        }
        t->shape[i] = (int64_t)d->valuedouble;
        t->numel *= (size_t)t->shape[i];
    }
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2) {
        snprintf(err, errlen, "%s: tensor '%s': bad data_offsets", path, t->name);
        return -1;
    }
    double b = cJSON_GetArrayItem(off, 0)->valuedouble, e = cJSON_GetArrayItem(off, 1)->valuedouble;
    if (b < 0 || e < b) {
        snprintf(err, errlen, "%s: tensor '%s': bad data_offsets [%.0f, %.0f)", path, t->name, b, e);
        return -1;
    }
    if (e > (double)data_len) {
        snprintf(err, errlen, "%s: truncated: tensor '%s' ends at data byte %.0f, the file holds %zu data bytes",
                 path, t->name, e, data_len);
        return -1;
    }
    if ((size_t)(e - b) != t->numel * dtype_size(t->dtype)) {
        snprintf(err, errlen, "%s: tensor '%s': data_offsets [%.0f, %.0f) hold %.0f bytes, its shape and dtype need %zu",
                 path, t->name, b, e, e - b, t->numel * dtype_size(t->dtype));
        return -1;
    }
    t->data = data + (size_t)b;
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

int st_read(const char *path, struct st_file *f, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    if (read_all(path, &f->image, &f->size, err, errlen) != 0) return -1;
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
    f->t = xcalloc((size_t)cJSON_GetArraySize(root) + 1, sizeof *f->t);
    for (const cJSON *it = root->child; it; it = it->next) {
        if (!strcmp(it->string, "__metadata__")) {
            f->metadata_json = cJSON_PrintUnformatted(it);
            continue;
        }
        if (parse_tensor(it, path, data_len, data, &f->t[f->n], err, errlen) != 0) {
            cJSON_Delete(root);
            st_free(f);
            return -1;
        }
        f->n++;
    }
    cJSON_Delete(root);
    if (check_coverage(f, path, data, data_len, err, errlen) != 0) {
        st_free(f);
        return -1;
    }
    return 0;
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

static char *build_header(const struct st_out *t, int n, const char *metadata_json, size_t *len) {
    cJSON *root = cJSON_CreateObject();
    if (metadata_json) {
        cJSON *meta = cJSON_Parse(metadata_json);
        HP_CHECK(meta != NULL);
        cJSON_AddItemToObject(root, "__metadata__", meta);
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "dtype", dtype_text(t[i].dtype));
        cJSON *sh = cJSON_AddArrayToObject(o, "shape");
        size_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++) {
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t[i].shape[d]));
            numel *= (size_t)t[i].shape[d];
        }
        cJSON *offs = cJSON_AddArrayToObject(o, "data_offsets");
        size_t bytes = numel * dtype_size(t[i].dtype);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + bytes)));
        off += bytes;
        cJSON_AddItemToObject(root, t[i].name, o);
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    size_t raw = strlen(s), padded = (raw + 7) & ~(size_t)7;
    s = realloc(s, padded + 1);
    HP_CHECK(s != NULL);
    memset(s + raw, ' ', padded - raw);
    s[padded] = '\0';
    *len = padded;
    return s;
}

int st_write(const char *path, const struct st_out *t, int n, const char *metadata_json, char *err,
             size_t errlen) {
    size_t hlen;
    char *header = build_header(t, n, metadata_json, &hlen);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        snprintf(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
        free(header);
        return -1;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    int ok = fwrite(len8, 1, 8, fp) == 8 && fwrite(header, 1, hlen, fp) == hlen;
    for (int i = 0; ok && i < n; i++) {
        size_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++) numel *= (size_t)t[i].shape[d];
        ok = fwrite(t[i].data, dtype_size(t[i].dtype), numel, fp) == numel;
    }
    free(header);
    ok = ok && fflush(fp) == 0 && fsync(fileno(fp)) == 0;
    ok = (fclose(fp) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}
