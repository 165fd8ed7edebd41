/*
 * rerank_config.c - reads the config file's "reranker" section ({url,
 * api_key_env, model, format, timeout_ms}) into the remote re-ranker's
 * options. The API key is read from the named environment variable, so it
 * never sits in the config file.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rag/rerank.h"
#include "util/json.h"

static int rc__remote(const cJSON *sec, rerank_remote_opts *ro, ragd_error *err)
{
    const char *url = json_get_str(sec, "url");
    const char *key_env = json_get_str(sec, "api_key_env");
    const char *fmt = json_get_str(sec, "format");
    if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
        return ragd_error_set(err, RAGD_EINVAL,
                              "reranker.url: must be an http:// or https:// URL of a /rerank "
                              "endpoint");
    ro->url = url;
    ro->model = json_get_str(sec, "model");
    if (key_env && *key_env) {
        ro->api_key = getenv(key_env);
        if (!ro->api_key || !*ro->api_key)
            return ragd_error_set(err, RAGD_EINVAL,
                                  "reranker.api_key_env: environment variable %s is not set",
                                  key_env);
    }
    if (fmt && strcasecmp(fmt, "tei") == 0)
        ro->wire = RERANK_WIRE_TEI;
    else if (fmt && strcasecmp(fmt, "cohere") != 0 && strcasecmp(fmt, "jina") != 0)
        return ragd_error_set(err, RAGD_EINVAL,
                              "reranker.format: '%s' is not one of cohere|jina|tei", fmt);
    int64_t t;
    int trc = json_get_int(sec, "timeout_ms", 1, 600000, &t);
    if (trc == RAGD_EINVAL)
        return ragd_error_set(err, RAGD_EINVAL,
                              "reranker.timeout_ms: must be an integer in [1, 600000]");
    if (trc == 0)
        ro->timeout_ms = (int)t;
    return 0;
}

int rerank_remote_opts_parse(const cJSON *sec, rerank_remote_opts *ro, ragd_error *err)
{
    if (!sec)
        return 0;
    if (!cJSON_IsObject(sec))
        return ragd_error_set(err, RAGD_EINVAL, "reranker: must be an object");
    return rc__remote(sec, ro, err);
}
