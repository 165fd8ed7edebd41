/*
 * err.h - ragd's one error type.
 *
 * Every fallible function returns int: 0 on success or a negative RAGD_E* code,
 * far from errno values (as LMDB's MDB_* codes are). Where a caller needs more
 * than the code (a config key, a byte offset in a file), the callee fills an
 * optional ragd_error with a message; nothing deep in the code prints.
 */
#ifndef RAGD_ERR_H
#define RAGD_ERR_H

#include <stddef.h>

enum ragd_errcode {
    RAGD_OK = 0,
    RAGD_ENOMEM = -30000,   /* allocation failed */
    RAGD_EINVAL,            /* bad argument or input */
    RAGD_ENOTFOUND,         /* key, file or object does not exist */
    RAGD_EEXISTS,           /* already exists */
    RAGD_ECONFLICT,         /* compare-and-set saw another value */
    RAGD_EIO,               /* I/O or backend failure */
    RAGD_EUNAVAIL,          /* backend (e.g. Redis) unreachable */
    RAGD_ETOOBIG,           /* input or value above a limit */
    RAGD_EFORMAT,           /* malformed file or encoding */
    RAGD_ETIMEOUT,          /* deadline passed */
    RAGD_EFULL,             /* size budget reached and nothing evictable */
    RAGD_EUNSUPPORTED,      /* feature not available in this build/backend */
    RAGD_EINTERNAL,         /* a bug: an invariant did not hold */
    RAGD_ENOTDURABLE,       /* written, but fewer replicas confirmed it than required */
    RAGD_EUPSTREAM,         /* a remote provider failed or answered nonsense */
    RAGD_ELAST
};

/* Detail for an error: the code plus a human message. Fixed size: no ownership. */
typedef struct ragd_error {
    int code;
    char msg[256];
} ragd_error;

/* Static string for a code; never NULL. Thread-safe. */
const char *ragd_strerror(int code);

/* Fill err (if non-NULL) with code and a printf-style message; returns code,
 * so callers can write `return ragd_error_set(err, RAGD_EINVAL, "...")`. */
int ragd_error_set(ragd_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clear err to RAGD_OK and an empty message. */
void ragd_error_clear(ragd_error *err);

#endif
