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

#include <cjson/cJSON.h>

#include "embed/safetensors.h"
#include "fuzz_util.h"

/* Every tensor the header names (read from the input with cJSON: the loader
 * hands tensors out by name only), found and read as float32 with its shape. */
static void fuzz__read_all(const safetensors_file *f, const uint8_t *data, size_t size)
{
    uint64_t hlen = 0;
    if (size < 8)
        return;
    memcpy(&hlen, data, 8);
    if (hlen > size - 8)
        return;
    cJSON *h = cJSON_ParseWithLength((const char *)data + 8, (size_t)hlen);
    size_t seen = 0;
    for (const cJSON *e = h ? h->child : NULL; e; e = e->next) {
        const safetensors_tensor *t = e->string ? safetensors_find(f, e->string) : NULL;
        if (!t)
            continue;
        seen++;
        if (t->nbytes != (size_t)t->numel * safetensors_dtype_size(t->dtype))
            abort();
        if (t->numel > (1 << 16))
            continue;
        float *dst = malloc(((size_t)t->numel ? (size_t)t->numel : 1) * sizeof *dst);
        ragd_error err;
        (void)safetensors_read_f32(f, t->name, t->ndim, t->shape, dst, &err);
        free(dst);
    }
    if (seen > safetensors_count(f))
        abort();
    cJSON_Delete(h);
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
        fuzz__read_all(f, data, size);
        safetensors_close(f);
    }
    close(fd);
    return 0;
}
