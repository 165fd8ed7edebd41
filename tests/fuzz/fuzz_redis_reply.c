/*
 * fuzz_redis_reply.c - libFuzzer harness for the Redis reply reader as ragd
 * drives it (store/redis_conn.c feeds hiredis' redisReader whatever bytes the
 * socket gives): the input is fed in pieces whose sizes come from its first
 * byte, every complete reply is walked the way store_redis.c reads replies,
 * and a protocol error ends the connection without a crash. hiredis 0.14
 * allocates an array's element table as soon as it reads the count, so a reply
 * declaring a billion elements asks for gigabytes (the store is trusted,
 * docs/SECURITY.md); here such an allocation fails, and hiredis must turn that
 * into an error rather than a crash.
 */
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Allocations past 1 GiB fail (NULL) instead of ending the run: hiredis must
 * then report an error, which is what a real process sees under a memory limit. */
const char *__asan_default_options(void)
{
    return "max_allocation_size_mb=1024:allocator_may_return_null=1";
}

static size_t fuzz__walk(const redisReply *r, int depth)
{
    size_t n = 1;
    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        if (r->len && (!r->str || memchr(r->str, 0, r->len + 1) == NULL))
            abort();  /* str holds len bytes and a NUL */
        break;
    case REDIS_REPLY_ARRAY:
        for (size_t i = 0; i < r->elements; i++)
            n += fuzz__walk(r->element[i], depth + 1);
        break;
    default:
        break;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t chunk = 1 + data[0] % 32;
    data++, size--;
    redisReader *rd = redisReaderCreate();
    size_t off = 0;
    int ok = 1;
    while (ok && off < size) {
        size_t n = size - off < chunk ? size - off : chunk;
        char *piece = malloc(n);  /* exact size: ASan sees over-reads */
        memcpy(piece, data + off, n);
        ok = redisReaderFeed(rd, piece, n) == REDIS_OK;
        free(piece);
        off += n;
        for (;;) {
            void *r = NULL;
            if (!ok || redisReaderGetReply(rd, &r) != REDIS_OK) {
                ok = 0;
                break;
            }
            if (!r)
                break;
            fuzz__walk(r, 0);
            freeReplyObject(r);
        }
    }
    redisReaderFree(rd);
    return 0;
}
