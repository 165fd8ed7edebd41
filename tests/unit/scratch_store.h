/*
 * scratch_store.h - a throwaway LMDB store in a fresh temporary directory for
 * unit tests that need a real store: scratch_store_open() makes it (aborting
 * on failure, as a test cannot go on), scratch_store_close() closes it and
 * removes the directory. One scratch store at a time per test program.
 */
#ifndef RAGD_SCRATCH_STORE_H
#define RAGD_SCRATCH_STORE_H

#include <stdio.h>
#include <stdlib.h>

#include "store/store.h"

static char scratch__dir[64];

static store_t *scratch_store_open(const char *tag)
{
    snprintf(scratch__dir, sizeof scratch__dir, "/tmp/ragd_test_%s_XXXXXX", tag);
    if (!mkdtemp(scratch__dir))
        abort();
    store_config cfg;
    store_config_default(&cfg);
    cfg.data_dir = scratch__dir;
    cfg.map_size = 16ull << 20;
    cfg.fsync_policy = STORE_FSYNC_NO;
    store_t *s = NULL;
    if (store_open(&cfg, &s, NULL))
        abort();
    return s;
}

static void scratch_store_close(store_t *s)
{
    store_close(s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch__dir);
    if (system(cmd) != 0)
        abort();
}

#endif
