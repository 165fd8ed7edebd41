/*
 * err.c - error codes to strings and the ragd_error filler.
 */
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const err_names[] = {
    "out of memory",
    "invalid argument",
    "not found",
    "already exists",
    "conflict",
    "I/O error",
    "backend unavailable",
    "too big",
    "bad format",
    "timed out",
    "full",
    "unsupported",
    "internal error",
    "not durable: fewer replicas confirmed the write than required; it may be lost on failover",
    "upstream provider failed",
};

const char *ragd_strerror(int code)
{
    if (code == RAGD_OK)
        return "ok";
    if (code >= RAGD_ENOMEM && code < RAGD_ELAST)
        return err_names[code - RAGD_ENOMEM];
    return "unknown error";
}

int ragd_error_set(ragd_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void ragd_error_clear(ragd_error *err)
{
    if (err) {
        err->code = RAGD_OK;
        err->msg[0] = '\0';
    }
}
