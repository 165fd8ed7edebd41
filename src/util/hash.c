/*
 * hash.c - SHA-256 through OpenSSL's one-shot API, hex encoding, FNV-1a.
 */
#include "util/hash.h"

#include <openssl/sha.h>

void hash_sha256(const void *data, size_t len, uint8_t out[HASH_SHA256_LEN])
{
    SHA256((const unsigned char *)data, len, out);
}

void hash_hex(const uint8_t *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

void hash_sha256_hex(const void *data, size_t len, char out[HASH_SHA256_HEX_LEN + 1])
{
    uint8_t d[HASH_SHA256_LEN];
    hash_sha256(data, len, d);
    hash_hex(d, sizeof d, out);
}

uint64_t hash_fnv1a64(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

int hash_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
