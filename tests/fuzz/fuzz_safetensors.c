/*
 * fuzz_safetensors.c - libFuzzer harness for the safetensors loader
 * (embed/safetensors.c): any file either opens with every tensor inside the
 * mapping or fails with an error; reading each tensor as float32 with its own
 * shape succeeds or fails cleanly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "embed/safetensors.h"
#include "fuzz_util.h"

static void fuzz__read_all(const safetensors_file *f)
{
    for (size_t i = 0; i < safetensors_count(f); i++) {
        const safetensors_tensor *t = safetensors_at(f, i);
        if (safetensors_find(f, t->name) == NULL)
            abort();
        if (t->nbytes != (size_t)t->numel * safetensors_dtype_size(t->dtype))
            abort();
        if (t->numel > (1 << 16))
            continue;
        float *dst = malloc(((size_t)t->numel ? (size_t)t->numel : 1) * sizeof *dst);
        ragd_error err;
        (void)safetensors_read_f32(f, t->name, t->ndim, t->shape, dst, &err);
        free(dst);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_memfile(data, size, path, sizeof path);
    if (fd < 0)
        return 0;
    safetensors_file *f = NULL;
    ragd_error err;
    if (safetensors_open(path, &f, &err) == 0) {
        fuzz__read_all(f);
        safetensors_close(f);
    }
    close(fd);
    return 0;
}
