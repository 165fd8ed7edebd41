/*
 * safetensors.c - mmap reader for the safetensors format: 8-byte little-endian
 * header length, a JSON object {name: {dtype, shape, data_offsets}} and the raw
 * data. Every offset and size is checked against the file before use, so a
 * truncated or hand-edited file fails at open with a message, never later.
 */
#include "embed/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/mem.h"

#define ST_MAX_HEADER (100u << 20)

struct safetensors_file {
    void *map;
    size_t map_len;
    safetensors_tensor *tensors;
    char **names;
    size_t n;
};

static const struct {
    const char *name;
    safetensors_dtype dt;
    size_t size;
} st_dtypes[] = {
    {"F32", SAFETENSORS_F32, 4}, {"F16", SAFETENSORS_F16, 2},  {"BF16", SAFETENSORS_BF16, 2},
    {"F64", SAFETENSORS_F64, 8}, {"I64", SAFETENSORS_I64, 8},  {"I32", SAFETENSORS_I32, 4},
    {"I16", SAFETENSORS_I16, 2}, {"I8", SAFETENSORS_I8, 1},    {"U8", SAFETENSORS_U8, 1},
    {"BOOL", SAFETENSORS_BOOL, 1},
};
#define ST_NDTYPES (sizeof st_dtypes / sizeof st_dtypes[0])

size_t safetensors_dtype_size(safetensors_dtype dt)
{
    for (size_t i = 0; i < ST_NDTYPES; i++)
        if (st_dtypes[i].dt == dt)
            return st_dtypes[i].size;
    return 0;
}

const char *safetensors_dtype_name(safetensors_dtype dt)
{
    for (size_t i = 0; i < ST_NDTYPES; i++)
        if (st_dtypes[i].dt == dt)
            return st_dtypes[i].name;
    return "?";
}

static int st__parse_dtype(const char *s, safetensors_dtype *dt)
{
    for (size_t i = 0; i < ST_NDTYPES; i++)
        if (strcmp(s, st_dtypes[i].name) == 0) {
            *dt = st_dtypes[i].dt;
            return 0;
        }
    return -1;
}

/* Validate one header entry and fill t; data_len is the size of the data area. */
static int st__parse_entry(const char *path, const cJSON *e, const uint8_t *data, size_t data_len,
                           safetensors_tensor *t, ragd_error *err)
{
    const char *name = e->string;
    const cJSON *jdt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *jsh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *jof = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsObject(e) || !cJSON_IsString(jdt) || !cJSON_IsArray(jsh) || !cJSON_IsArray(jof) ||
        cJSON_GetArraySize(jof) != 2)
        return ragd_error_set(err, RAGD_EFORMAT,
                              "%s: tensor '%s': header entry needs dtype, shape, data_offsets[2]",
                              path, name);
    if (st__parse_dtype(jdt->valuestring, &t->dtype) != 0)
        return ragd_error_set(err, RAGD_EFORMAT, "%s: tensor '%s': unknown dtype '%s'", path, name,
                              jdt->valuestring);
    int nd = cJSON_GetArraySize(jsh);
    if (nd > SAFETENSORS_MAX_DIMS)
        return ragd_error_set(err, RAGD_EFORMAT, "%s: tensor '%s': %d dimensions (max %d)", path,
                              name, nd, SAFETENSORS_MAX_DIMS);
    t->ndim = nd;
    uint64_t numel = 1;
    for (int i = 0; i < nd; i++) {
        const cJSON *d = cJSON_GetArrayItem(jsh, i);
        if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > (double)(1ull << 40) ||
            d->valuedouble != (double)(int64_t)d->valuedouble)
            return ragd_error_set(err, RAGD_EFORMAT, "%s: tensor '%s': bad shape[%d]", path, name, i);
        t->shape[i] = (int64_t)d->valuedouble;
        if (t->shape[i] && numel > (1ull << 50) / (uint64_t)t->shape[i])
            return ragd_error_set(err, RAGD_EFORMAT, "%s: tensor '%s': shape too large", path, name);
        numel *= (uint64_t)t->shape[i];
    }
    double b = cJSON_GetArrayItem(jof, 0)->valuedouble, en = cJSON_GetArrayItem(jof, 1)->valuedouble;
    if (!(b >= 0 && en >= b && en <= (double)data_len))
        return ragd_error_set(err, RAGD_EFORMAT,
                              "%s: tensor '%s': data_offsets [%.0f, %.0f] outside the %zu data "
                              "bytes (file truncated?)",
                              path, name, b, en, data_len);
    size_t nbytes = (size_t)(en - b);
    if (nbytes != numel * safetensors_dtype_size(t->dtype))
        return ragd_error_set(err, RAGD_EFORMAT,
                              "%s: tensor '%s': %zu data bytes for %llu elements of %s", path, name,
                              nbytes, (unsigned long long)numel, jdt->valuestring);
    t->numel = (int64_t)numel;
    t->data = data + (size_t)b;
    t->nbytes = nbytes;
    return 0;
}

static int st__parse_header(safetensors_file *f, const char *path, const char *json, size_t json_len,
                            const uint8_t *data, size_t data_len, ragd_error *err)
{
    cJSON *root = cJSON_ParseWithLength(json, json_len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return ragd_error_set(err, RAGD_EFORMAT, "%s: header is not a JSON object", path);
    }
    size_t n = 0;
    for (cJSON *e = root->child; e; e = e->next)
        if (strcmp(e->string, "__metadata__") != 0)
            n++;
    f->tensors = xcalloc(n ? n : 1, sizeof *f->tensors);
    f->names = xcalloc(n ? n : 1, sizeof *f->names);
    int rc = 0;
    for (cJSON *e = root->child; e && rc == 0; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0)
            continue;
        safetensors_tensor *t = &f->tensors[f->n];
        rc = st__parse_entry(path, e, data, data_len, t, err);
        if (rc == 0) {
            f->names[f->n] = xstrdup(e->string);
            t->name = f->names[f->n];
            f->n++;
        }
    }
    cJSON_Delete(root);
    return rc;
}

int safetensors_open(const char *path, safetensors_file **out, ragd_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ragd_error_set(err, errno == ENOENT ? RAGD_ENOTFOUND : RAGD_EIO, "%s: %s", path,
                              strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ragd_error_set(err, RAGD_EIO, "%s: %s", path, strerror(e));
    }
    size_t len = (size_t)st.st_size;
    if (len < 8) {
        close(fd);
        return ragd_error_set(err, RAGD_EFORMAT, "%s: %zu bytes, too short for a safetensors file",
                              path, len);
    }
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED)
        return ragd_error_set(err, RAGD_EIO, "%s: mmap: %s", path, strerror(e));
    const uint8_t *p = map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | p[i];
    safetensors_file *f = xcalloc(1, sizeof *f);
    f->map = map;
    f->map_len = len;
    int rc;
    if (hlen < 2 || hlen > ST_MAX_HEADER || hlen > len - 8)
        rc = ragd_error_set(err, RAGD_EFORMAT,
                            "%s: header length %llu does not fit the %zu-byte file (truncated or "
                            "not safetensors)",
                            path, (unsigned long long)hlen, len);
    else
        rc = st__parse_header(f, path, (const char *)p + 8, (size_t)hlen, p + 8 + hlen,
                              len - 8 - (size_t)hlen, err);
    if (rc != 0) {
        safetensors_close(f);
        return rc;
    }
    madvise(map, len, MADV_WILLNEED);
    *out = f;
    return 0;
}

void safetensors_close(safetensors_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        free(f->names[i]);
    free(f->names);
    free(f->tensors);
    if (f->map)
        munmap(f->map, f->map_len);
    free(f);
}

size_t safetensors_count(const safetensors_file *f)
{
    return f->n;
}

const safetensors_tensor *safetensors_find(const safetensors_file *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}

static float st__half_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float v;
    memcpy(&v, &bits, 4);
    return v;
}

int safetensors_read_f32(const safetensors_file *f, const char *name, int ndim,
                         const int64_t *shape, float *dst, ragd_error *err)
{
    const safetensors_tensor *t = safetensors_find(f, name);
    if (!t)
        return ragd_error_set(err, RAGD_ENOTFOUND, "weights: no tensor '%s'", name);
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == shape[i];
    if (!same) {
        char want[96] = "", got[96] = "";
        for (int i = 0; i < ndim; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", i ? "," : "",
                     (long long)shape[i]);
        for (int i = 0; i < t->ndim; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? "," : "",
                     (long long)t->shape[i]);
        return ragd_error_set(err, RAGD_EFORMAT, "weights: tensor '%s' has shape [%s], expected [%s]",
                              name, got, want);
    }
    const uint8_t *src = t->data;
    switch (t->dtype) {
    case SAFETENSORS_F32:
        memcpy(dst, src, t->nbytes);
        return 0;
    case SAFETENSORS_F16:
    case SAFETENSORS_BF16:
        for (int64_t i = 0; i < t->numel; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            if (t->dtype == SAFETENSORS_F16) {
                dst[i] = st__half_to_f32(h);
            } else {
                uint32_t bits = (uint32_t)h << 16;
                memcpy(&dst[i], &bits, 4);
            }
        }
        return 0;
    default:
        return ragd_error_set(err, RAGD_EFORMAT, "weights: tensor '%s' is %s, expected F32/F16/BF16",
                              name, safetensors_dtype_name(t->dtype));
    }
}
