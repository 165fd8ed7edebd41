/*
 * hash.h - cryptographic hashing for keys (SHA-256 via OpenSSL) and a fast
 * non-cryptographic hash for in-memory tables. Keys are never MD5.
 */
#ifndef RAGD_HASH_H
#define RAGD_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_SHA256_LEN 32
#define HASH_SHA256_HEX_LEN 64

/* SHA-256 of data into out[32]. Thread-safe. */
void hash_sha256(const void *data, size_t len, uint8_t out[HASH_SHA256_LEN]);

/* SHA-256 as 64 lowercase hex chars plus NUL into out[65]. Thread-safe. */
void hash_sha256_hex(const void *data, size_t len, char out[HASH_SHA256_HEX_LEN + 1]);

/* Lowercase hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void hash_hex(const uint8_t *bytes, size_t n, char *out);

/* The value of one hex digit (either case), or -1 when c is not one. */
int hash_hex_digit(char c);

/* 64-bit FNV-1a; for hash tables only, never for keys that must not collide. */
uint64_t hash_fnv1a64(const void *data, size_t len);

#endif
