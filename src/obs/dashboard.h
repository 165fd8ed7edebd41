/*
 * dashboard.h - the small web dashboard served at GET /: one static page that
 * polls /health and /api/v1/cache/stats and shows hit rates, keys and memory.
 */
#ifndef RAGD_DASHBOARD_H
#define RAGD_DASHBOARD_H

#include <stddef.h>

/* The page; static storage, never freed. */
const char *dashboard_html(size_t *len);

#endif
