/*
 * safetensors.h - read-only access to a .safetensors file: the file is mmap'ed,
 * its JSON header parsed and checked (dtype, shape, offsets inside the file), and
 * tensors are handed out as borrowed pointers into the mapping. Used to load
 * model weights; a truncated or malformed file gives an error naming the problem.
 */
#ifndef RAGD_SAFETENSORS_H
#define RAGD_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define SAFETENSORS_MAX_DIMS 8

typedef enum safetensors_dtype {
    SAFETENSORS_F32,
    SAFETENSORS_F16,
    SAFETENSORS_BF16,
    SAFETENSORS_F64,
    SAFETENSORS_I64,
    SAFETENSORS_I32,
    SAFETENSORS_I16,
    SAFETENSORS_I8,
    SAFETENSORS_U8,
    SAFETENSORS_BOOL
} safetensors_dtype;

/* One tensor's description. name and data are borrowed from the file handle
 * and valid until safetensors_close(). data may be unaligned for its dtype. */
typedef struct safetensors_tensor {
    const char *name;
    safetensors_dtype dtype;
    int ndim;
    int64_t shape[SAFETENSORS_MAX_DIMS];
    int64_t numel;
    const void *data;
    size_t nbytes;
} safetensors_tensor;

typedef struct safetensors_file safetensors_file;

/* Map and validate path. On success *out owns the mapping (close with
 * safetensors_close). Errors: RAGD_ENOTFOUND/RAGD_EIO (open, mmap),
 * RAGD_EFORMAT (truncated file, bad header JSON, bad dtype/shape/offsets). */
int safetensors_open(const char *path, safetensors_file **out, ragd_error *err);

/* Unmap and free. NULL is a no-op. */
void safetensors_close(safetensors_file *f);

/* Number of tensors. Thread-safe. */
size_t safetensors_count(const safetensors_file *f);

/* Tensor by name, or NULL. Borrowed. Thread-safe. */
const safetensors_tensor *safetensors_find(const safetensors_file *f, const char *name);

/* Bytes per element of a dtype. */
size_t safetensors_dtype_size(safetensors_dtype dt);
const char *safetensors_dtype_name(safetensors_dtype dt);

/* Copy tensor `name` into dst as float32, converting from F32, F16 or BF16.
 * The tensor must have exactly ndim dimensions equal to shape[]. Errors:
 * RAGD_ENOTFOUND (no such tensor), RAGD_EFORMAT (dtype or shape mismatch, with
 * expected and actual in err). dst must hold the product of shape[] floats. */
int safetensors_read_f32(const safetensors_file *f, const char *name, int ndim,
                         const int64_t *shape, float *dst, ragd_error *err);

#endif
