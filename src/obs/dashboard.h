/*
 * dashboard.h - the web dashboard served at GET /: one static page (no data in
 * it, so it is served without a credential) that polls /health,
 * /api/v1/stats/history, /api/v1/cache/stats, /api/v1/namespaces and
 * /api/v1/jobs and draws traffic, cache, gateway, knowledge-base, model-queue
 * and store panels over time (docs/OPERATIONS.md).
 */
#ifndef RAGD_DASHBOARD_H
#define RAGD_DASHBOARD_H

#include <stddef.h>

/* The page; static storage, never freed. */
const char *dashboard_html(size_t *len);

#endif
