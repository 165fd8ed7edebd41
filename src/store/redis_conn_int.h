/*
 * redis_conn_int.h - the inside of one Redis connection, shared by the
 * transport (redis_conn.c) and the pool built on it (redis_pool.c) and by
 * nothing else: the public contract is redis_conn.h.
 */
#ifndef RAGD_REDIS_CONN_INT_H
#define RAGD_REDIS_CONN_INT_H

#include <openssl/ssl.h>
#include <stdint.h>

#include "store/redis_conn.h"

struct rconn {
    int fd;
    SSL *ssl;
    redisReader *rd;
    uint64_t gen; /* the pool's target generation when it was opened */
};

/* The monotonic clock in ms, the base of every deadline below. */
int64_t rconn__now_ms(void);

/* rconn_exec with an absolute deadline: pipeline n commands and read n replies
 * (caller frees each). On failure frees what it read; c is then unusable. */
int rconn__exec(rconn *c, size_t n, const rpool_cmd *cmds, redisReply **replies,
                int64_t deadline);

/* An idle connection is healthy if it has nothing to read (the server closed
 * it: readable with EOF). Never blocks. */
bool rconn__alive(rconn *c);

#endif
