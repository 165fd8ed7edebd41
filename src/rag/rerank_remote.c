/*
 * rerank_remote.c - the client of remote re-rankers: one libcurl call per
 * request in the Cohere/Jina shape ({model, query, documents, top_n} ->
 * {results: [{index, relevance_score}]}) or Hugging Face TEI's ({query,
 * texts} -> [{index, score}]). Any failure - connection, timeout, status,
 * malformed answer - degrades the call to "not re-ranked" with a reason the
 * caller can show; it is never turned into invented scores.
 */
#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "http/trace.h"
#include "rag/rerank_int.h"
#include "util/buf.h"
#include "util/json.h"

#define RR_MAX_ANSWER (64u << 20)

void rerank__remote_global(bool up)
{
    if (up)
        curl_global_init(CURL_GLOBAL_DEFAULT);
    else
        curl_global_cleanup();
}

static size_t rr__write(char *p, size_t sz, size_t nm, void *ud)
{
    buf_t *b = ud;
    size_t n = sz * nm;
    if (b->len + n > RR_MAX_ANSWER)
        return 0; /* aborts the transfer */
    buf_append(b, p, n);
    return n;
}

static void rr__body(const rerank_t *r, const char *q, size_t qlen, const char *const *docs,
                     const size_t *lens, size_t n, buf_t *b)
{
    buf_puts(b, "{\"query\":");
    buf_put_json_str(b, q, qlen);
    buf_puts(b, r->wire == RERANK_WIRE_TEI ? ",\"texts\":[" : ",\"documents\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_putc(b, ',');
        buf_put_json_str(b, docs[i], lens[i]);
    }
    buf_putc(b, ']');
    if (r->wire == RERANK_WIRE_TEI) {
        buf_puts(b, ",\"raw_scores\":false,\"return_text\":false}");
        return;
    }
    if (r->model) {
        buf_puts(b, ",\"model\":");
        buf_put_json_str(b, r->model, strlen(r->model));
    }
    buf_printf(b, ",\"top_n\":%zu,\"return_documents\":false}", n);
}

int rerank__remote_parse(const char *body, size_t len, size_t n, float *scores, char *reason,
                         size_t cap)
{
    cJSON *root = NULL;
    ragd_error jerr;
    if (json_parse(body, len, &root, &jerr)) {
        snprintf(reason, cap, "remote re-ranker answered with invalid JSON");
        return RAGD_EFORMAT;
    }
    const cJSON *arr = cJSON_IsArray(root) ? root : json_get_arr(root, "results");
    int rc = 0;
    if (!arr) {
        snprintf(reason, cap, "remote re-ranker answer has no results array");
        rc = RAGD_EFORMAT;
    }
    for (size_t i = 0; i < n; i++)
        scores[i] = NAN;
    for (const cJSON *e = arr ? arr->child : NULL; e && !rc; e = e->next) {
        int64_t idx;
        double s;
        if (json_get_int(e, "index", 0, (int64_t)n - 1, &idx) ||
            (json_get_num(e, "relevance_score", -1e30, 1e30, &s) &&
             json_get_num(e, "score", -1e30, 1e30, &s))) {
            snprintf(reason, cap, "remote re-ranker result without a valid index and score");
            rc = RAGD_EFORMAT;
        } else {
            scores[idx] = (float)s;
        }
    }
    for (size_t i = 0; i < n && !rc; i++) {
        if (isnan(scores[i])) {
            snprintf(reason, cap, "remote re-ranker left candidate %zu unscored", i);
            rc = RAGD_EFORMAT;
        }
    }
    cJSON_Delete(root);
    return rc;
}

int rerank__remote_score(rerank_t *r, const char *query, size_t qlen, const char *const *docs,
                         const size_t *lens, size_t n, int timeout_ms, float *scores,
                         rerank_outcome *out)
{
    CURL *c = curl_easy_init();
    if (!c) {
        out->degraded = true;
        snprintf(out->reason, sizeof out->reason, "remote re-ranker: cannot start a transfer");
        return 0;
    }
    buf_t req = BUF_INIT, ans = BUF_INIT, auth = BUF_INIT;
    rr__body(r, query, qlen, docs, lens, n, &req);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: application/json");
    if (r->api_key && *r->api_key) {
        buf_printf(&auth, "Authorization: Bearer %s", r->api_key);
        h = curl_slist_append(h, auth.data);
    }
    char tl[2][HTTP_TRACE_LINE_MAX];  /* the request's trace, on this (its) thread */
    for (int i = 0, k = http_trace_headers(http_trace_current(), tl); i < k; i++)
        h = curl_slist_append(h, tl[i]);
    curl_easy_setopt(c, CURLOPT_URL, r->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.data);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req.len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, rr__write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &ans);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_ms < 2000 ? timeout_ms : 2000));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK) {
        out->degraded = true;
        snprintf(out->reason, sizeof out->reason, "remote re-ranker unreachable: %s",
                 curl_easy_strerror(cc));
    } else if (status != 200) {
        out->degraded = true;
        snprintf(out->reason, sizeof out->reason, "remote re-ranker answered HTTP %ld", status);
    } else if (rerank__remote_parse(ans.data ? ans.data : "", ans.len, n, scores, out->reason,
                                    sizeof out->reason)) {
        out->degraded = true;
    }
    if (out->degraded)
        for (size_t i = 0; i < n; i++)
            scores[i] = NAN;
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    buf_free(&req);
    buf_free(&ans);
    if (auth.data)
        memset(auth.data, 0, auth.len);
    buf_free(&auth);
    return 0;
}
