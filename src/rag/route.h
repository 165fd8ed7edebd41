/*
 * route.h - namespace routing: which knowledge-base namespaces a query is
 * about. Each namespace is described by the centroid of its chunk vectors and,
 * when given at creation, a description and example utterances (settings
 * "description" / "examples"); a namespace's score is the best cosine of the
 * query to any of them. Below a threshold the answer is "none", so a chat
 * message about nothing in the knowledge bases is not given random context.
 */
#ifndef RAGD_ROUTE_H
#define RAGD_ROUTE_H

#include <stddef.h>

#include "cache/embcache.h"
#include "kb/kb.h"
#include "util/err.h"

typedef enum route_via {
    ROUTE_VIA_CENTROID = 0,
    ROUTE_VIA_EXAMPLE = 1,
    ROUTE_VIA_DESCRIPTION = 2,
} route_via;

typedef struct route_match {
    char ns[KB_NS_NAME_MAX + 1];
    float score;        /* cosine of the query to the best description of ns */
    route_via via;
    int example;        /* index of the matching example (ROUTE_VIA_EXAMPLE) */
} route_match;

typedef struct route_result {
    route_match *m;     /* best first, only scores >= threshold; owned */
    size_t n;
    size_t considered;  /* namespaces that had something to compare with */
    float best;         /* best score of all, also below the threshold (-2 if none) */
} route_result;

const char *route_via_name(route_via v); /* "centroid", "example", "description" */

/* Route query over every namespace of kb: at most k matches scoring at least
 * threshold. Embeddings (the query, descriptions, examples) go through emb,
 * so repeated texts cost a cache lookup. out is owned by the caller
 * (route_result_free). Errors: RAGD_EINVAL (empty query, k == 0), embedding
 * and store errors. Thread-safe. */
int route_query(kb_t *kb, embcache_t *emb, const char *query, size_t k, float threshold,
                route_result *out, ragd_error *err);
void route_result_free(route_result *r);

#endif
