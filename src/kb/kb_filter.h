/*
 * kb_filter.h - metadata filters of knowledge-base searches and deletes, in
 * the Mongo-like shape vector stores use: {"category": "knee", "level":
 * {"$in": [1, 2]}, "year": {"$gte": 2000}}. Fields are top-level metadata
 * keys; a plain value means equality; operators $eq $ne $in $nin $gt $gte $lt
 * $lte $exists; "$and"/"$or" take arrays of filters. An array-valued field
 * matches $eq/$in when any element does. Ranges compare numbers with numbers
 * and strings with strings (bytewise, so ISO dates work).
 * Compiled once per request, then matched for every candidate during search.
 */
#ifndef RAGD_RAG_KB_FILTER_H
#define RAGD_RAG_KB_FILTER_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "util/err.h"

typedef struct kb_filter kb_filter;

/* Compile spec (a JSON object; NULL or {} gives a filter that accepts all).
 * Errors: RAGD_EINVAL with err naming the bad field or operator. The spec is
 * copied; *out is owned by the caller (kb_filter_destroy). */
int kb_filter_compile(const cJSON *spec, kb_filter **out, ragd_error *err);
void kb_filter_destroy(kb_filter *f);

/* Does a document's metadata object (NULL = {}) pass? Thread-safe (read-only). */
bool kb_filter_match(const kb_filter *f, const cJSON *metadata);

/* True when the filter accepts everything (no conditions). */
bool kb_filter_is_empty(const kb_filter *f);

#endif
