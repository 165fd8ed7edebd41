/*
 * api_docs.h - the API's contract as shipped in the binary: docs/openapi.json
 * (the one source of truth, checked in and compared with the route table by
 * tests/unit/test_api_docs.c) and the /docs page that renders it
 * (src/api/assets/apidocs.html). Both are embedded at build time by
 * cmake/embed_asset.cmake; nothing is read from disk at run time.
 */
#ifndef RAGD_API_DOCS_H
#define RAGD_API_DOCS_H

#include <stddef.h>

/* The bytes of docs/openapi.json, NUL-terminated; static, never freed,
 * thread-safe to read. The length excludes the NUL. */
extern const char api_asset_openapi_json[];
extern const size_t api_asset_openapi_json_len;

/* The bytes of src/api/assets/apidocs.html, NUL-terminated; as above. */
extern const char api_asset_apidocs_html[];
extern const size_t api_asset_apidocs_html_len;

#endif
