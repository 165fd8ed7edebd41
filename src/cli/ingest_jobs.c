/*
 * ingest_jobs.c - the HTTP side of `ragd ingest`: one keep-alive libcurl
 * handle (an API key when given, a timeout per call but none for the run),
 * the namespace created when missing, each batch submitted as a background
 * job, and the jobs followed by polling until they end, with progress and an
 * ETA computed from word pieces (the model's work), not documents.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/ingest_int.h"
#include "util/clock.h"
#include "util/mem.h"

int ing_http(ingest *g, const char *method, const char *path, const buf_t *body, long *status)
{
    char url[2048];
    snprintf(url, sizeof url, "%s%s", g->url, path);
    buf_reset(&g->resp);
    curl_easy_setopt(g->curl, CURLOPT_URL, url);
    if (body) {
        curl_easy_setopt(g->curl, CURLOPT_POSTFIELDS, body->data);
        curl_easy_setopt(g->curl, CURLOPT_POSTFIELDSIZE, (long)body->len);
    } else {
        curl_easy_setopt(g->curl, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(g->curl, CURLOPT_CUSTOMREQUEST, method);
    CURLcode cc = curl_easy_perform(g->curl);
    *status = 0;
    if (cc != CURLE_OK) {
        fprintf(stderr, "%sragd ingest: %s: %s\n", g->tty ? "\n" : "", url,
                curl_easy_strerror(cc));
        return -1;
    }
    curl_easy_getinfo(g->curl, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

const char *ing_err_msg(ingest *g)
{
    static char msg[512];
    cJSON *j = cJSON_ParseWithLength(g->resp.data ? g->resp.data : "", g->resp.len);
    const cJSON *e = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "message");
    snprintf(msg, sizeof msg, "%s", cJSON_IsString(e) ? e->valuestring
                                    : g->resp.data ? g->resp.data : "(no body)");
    cJSON_Delete(j);
    return msg;
}

int ing_ensure_ns(ingest *g)
{
    char path[256];
    long st;
    snprintf(path, sizeof path, "/api/v1/namespaces/%s", g->ns);
    if (ing_http(g, "GET", path, NULL, &st))
        return -1;
    if (st == 200)
        return 0;
    if (st != 404) {
        fprintf(stderr, "ragd ingest: %s: HTTP %ld: %s\n", path, st, ing_err_msg(g));
        return -1;
    }
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"name\":");
    buf_put_json_str(&b, g->ns, strlen(g->ns));
    buf_putc(&b, '}');
    int rc = ing_http(g, "POST", "/api/v1/namespaces", &b, &st);
    buf_free(&b);
    if (rc)
        return -1;
    if (st != 201 && st != 409) {
        fprintf(stderr, "ragd ingest: creating namespace %s: HTTP %ld: %s%s\n", g->ns, st,
                ing_err_msg(g), st == 403 ? " (creating a namespace needs an admin key; ask "
                "an operator to create it)" : "");
        return -1;
    }
    g->ns_created = st == 201;
    if (st == 201)
        printf("created namespace %s\n", g->ns);
    return 0;
}

int ing_submit(ingest *g)
{
    char path[256];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/documents", g->ns);
    long st;
    int rc = ing_http(g, "POST", path, &g->body, &st);
    if (!rc && st != 202) {
        fprintf(stderr, "%sragd ingest: batch rejected: HTTP %ld: %s\n", g->tty ? "\n" : "", st,
                ing_err_msg(g));
        rc = -1;
    }
    cJSON *j = rc ? NULL : cJSON_ParseWithLength(g->resp.data, g->resp.len);
    const cJSON *id = cJSON_GetObjectItem(j, "id");
    if (!rc && !cJSON_IsString(id)) {
        fprintf(stderr, "ragd ingest: the server answered 202 without a job id\n");
        rc = -1;
    }
    if (!rc) {
        if (g->n_jobs == g->cap_jobs) {
            g->cap_jobs = g->cap_jobs ? g->cap_jobs * 2 : 8;
            g->jobs = xrealloc(g->jobs, g->cap_jobs * sizeof *g->jobs);
        }
        g->jobs[g->n_jobs++] = xstrdup(id->valuestring);
    }
    cJSON_Delete(j);
    return rc;
}

/* ---- following the jobs ---- */

typedef struct ing_sum {
    uint64_t docs_total, docs_done, docs_failed, tok_total, tok_done;
    size_t finished, succeeded;
} ing_sum;

/* Progress; the rate counts the word pieces indexed since base (the first poll). */
static void ing__progress(const ingest *g, const ing_sum *s, uint64_t base, double el,
                          bool final)
{
    double rate = el > 0 && s->tok_done > base ? (double)(s->tok_done - base) / el : 0;
    double eta = rate > 0 ? (double)(s->tok_total - s->tok_done) / rate : -1;
    char etas[32];
    if (eta < 0)
        snprintf(etas, sizeof etas, "--:--");
    else
        snprintf(etas, sizeof etas, "%d:%02d", (int)eta / 60, (int)eta % 60);
    uint64_t seen = s->docs_done + s->docs_failed;
    if (g->tty) {
        int w = 30, fill = s->tok_total ? (int)(w * s->tok_done / s->tok_total) : 0;
        char bar[64];
        for (int i = 0; i < w; i++)
            bar[i] = i < fill ? '#' : '-';
        bar[w] = '\0';
        fprintf(stderr, "\r[%s] %llu/%llu docs  %llu/%llu tokens  %.0f tokens/s  ETA %s   ", bar,
                (unsigned long long)seen, (unsigned long long)s->docs_total,
                (unsigned long long)s->tok_done, (unsigned long long)s->tok_total, rate, etas);
        if (final)
            fputc('\n', stderr);
    } else {
        fprintf(stderr, "ingest: %llu/%llu documents, %llu/%llu tokens, %.0f tokens/s, ETA %s\n",
                (unsigned long long)seen, (unsigned long long)s->docs_total,
                (unsigned long long)s->tok_done, (unsigned long long)s->tok_total, rate, etas);
    }
}

static uint64_t ing__num(const cJSON *o, const char *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(o, obj), name);
    return cJSON_IsNumber(v) && v->valuedouble > 0 ? (uint64_t)v->valuedouble : 0;
}

static void ing__print_errors(const cJSON *j, const char *id, size_t *shown)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "errors")) {
        if ((*shown)++ >= 20)
            return;
        const cJSON *did = cJSON_GetObjectItem(e, "id"), *msg = cJSON_GetObjectItem(e, "message");
        fprintf(stderr, "ragd ingest: job %s: document %s: %s\n", id,
                cJSON_IsString(did) ? did->valuestring : "?",
                cJSON_IsString(msg) ? msg->valuestring : "?");
    }
    const cJSON *m = cJSON_GetObjectItem(j, "message");
    if (cJSON_IsString(m))
        fprintf(stderr, "ragd ingest: job %s: %s\n", id, m->valuestring);
}

/* One pass over the jobs: the sums, and the views of finished ones (kept in
 * done[]). -2 when the server is unreachable, -1 on an error answer. */
static int ing__poll(ingest *g, cJSON **done, ing_sum *s)
{
    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < g->n_jobs; i++) {
        cJSON *j = done[i];
        if (!j) {
            char path[128];
            long st;
            snprintf(path, sizeof path, "/api/v1/jobs/%s", g->jobs[i]);
            if (ing_http(g, "GET", path, NULL, &st))
                return -2; /* unreachable: maybe restarting */
            if (st != 200) {
                fprintf(stderr, "%sragd ingest: job %s: HTTP %ld: %s\n", g->tty ? "\n" : "",
                        g->jobs[i], st, ing_err_msg(g));
                return -1;
            }
            j = cJSON_ParseWithLength(g->resp.data, g->resp.len);
            const cJSON *status = cJSON_GetObjectItem(j, "status");
            const char *sv = cJSON_IsString(status) ? status->valuestring : "";
            if (!strcmp(sv, "succeeded") || !strcmp(sv, "failed") || !strcmp(sv, "cancelled"))
                done[i] = j;
        }
        s->docs_total += ing__num(j, "documents", "total");
        s->docs_done += ing__num(j, "documents", "done");
        s->docs_failed += ing__num(j, "documents", "failed");
        s->tok_total += ing__num(j, "tokens", "total");
        s->tok_done += ing__num(j, "tokens", "done");
        if (done[i]) {
            s->finished++;
            const cJSON *st = cJSON_GetObjectItem(j, "status");
            s->succeeded += cJSON_IsString(st) && !strcmp(st->valuestring, "succeeded");
        } else {
            cJSON_Delete(j);
        }
    }
    return 0;
}

int ing_follow(ingest *g, uint64_t *done_docs)
{
    cJSON **done = xcalloc(g->n_jobs ? g->n_jobs : 1, sizeof *done);
    int64_t t0 = clock_mono_us(), last = 0;
    ing_sum s = { 0 };
    uint64_t base = 0;
    int rc = 0, polls = 0, down = 0;
    for (;;) {
        rc = ing__poll(g, done, &s);
        if (rc == -2 && ++down <= 120) { /* the server may be restarting: jobs resume there */
            fprintf(stderr, "ragd ingest: server unreachable, retrying (%d)\n", down);
            clock_sleep_ms(1000);
            continue;
        }
        if (rc || s.finished == g->n_jobs)
            break;
        down = 0;
        if (polls++ == 0)
            base = s.tok_done;
        int64_t now = clock_mono_us();
        if (now - last >= (g->tty ? 200000 : 2000000)) {
            ing__progress(g, &s, base, (double)(now - t0) / 1e6, false);
            last = now;
        }
        clock_sleep_ms(g->tty ? 200 : 500);
    }
    double el = (double)(clock_mono_us() - t0) / 1e6;
    if (!rc)
        ing__progress(g, &s, base, el, true);
    size_t shown = 0;
    for (size_t i = 0; i < g->n_jobs; i++) {
        if (done[i])
            ing__print_errors(done[i], g->jobs[i], &shown);
        cJSON_Delete(done[i]);
    }
    free(done);
    if (shown > 20)
        fprintf(stderr, "ragd ingest: ... and %zu more document errors\n", shown - 20);
    *done_docs = s.docs_done;
    if (rc)
        return rc;
    printf("done: %llu documents, %llu tokens in %.1f s (%.0f tokens/s)%s\n",
           (unsigned long long)s.docs_done, (unsigned long long)s.tok_done, el,
           el > 0 ? (double)(s.tok_done - base) / el : 0.0,
           s.docs_failed ? ", some documents failed (see above)" : "");
    return s.succeeded == g->n_jobs && s.docs_failed == 0 ? 0 : -1;
}
