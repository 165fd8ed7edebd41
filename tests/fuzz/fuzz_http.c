/*
 * fuzz_http.c - libFuzzer harness for the whole HTTP request path: a real
 * ragd app (embedded LMDB store in a scratch directory, auth on with an admin
 * key, an upstream that refuses connections) serves in-process requests
 * (http/inproc.h) through the router, auth, rate limits and every handler.
 * The input is up to FUZZ_MAX_REQUESTS requests separated by a line "%%",
 * each written like HTTP/1.1 without the version (so state can build up:
 * create, write, then read):
 *     METHOD URL\n  Name: value\n ... \n  \n  body
 * The admin key is added unless a request brings X-API-Key or Authorization,
 * and "Content-Type: application/json" unless it brings a Content-Type (so
 * JSON routes get past the 415 check; inputs can still name another type).
 * Every answer must have a status in [100, 599]; an error status must carry
 * the JSON error shape. The embedding model is loaded only with
 * RAGD_FUZZ_MODEL=1 (slower; embedding routes answer 503 without it).
 * RAGD_FUZZ_VERBOSE=1 prints each answer's status and start (for writing seeds).
 */
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "app/app.h"
#include "fuzz_util.h"
#include "http/inproc.h"

#define FUZZ_ADMIN_KEY "fuzz-admin-key-0123456789abcdef"
#define FUZZ_MAX_HEADERS 24
#define FUZZ_MAX_REQUESTS 4
#define FUZZ_SEP "\n%%\n"

static app_t app;
static http_server_opts opts;
static bool verbose;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static char dir[] = "/tmp/ragd-fuzz-http-XXXXXX";
    if (!mkdtemp(dir))
        exit(1);
    char model[4096];
    fuzz_model_dir(model, sizeof model);
    const char *want_model = getenv("RAGD_FUZZ_MODEL");
    setenv("RAGD_DATA_DIR", dir, 1);
    setenv("RAGD_MODEL_DIR", want_model && !strcmp(want_model, "1") ? model : "/nonexistent", 1);
    setenv("RAGD_ADMIN_KEY", FUZZ_ADMIN_KEY, 1);
    setenv("RAGD_LOG_LEVEL", "off", 1);
    setenv("RAGD_UPSTREAM_URL", "http://127.0.0.1:9/v1", 1);
    setenv("RAGD_UPSTREAM_TIMEOUT_MS", "500", 1);
    setenv("RAGD_GATEWAY_RETRIES", "0", 1);
    setenv("RAGD_STORE_MAP_SIZE", "268435456", 1);
    setenv("RAGD_MAX_BODY_BYTES", "1048576", 1);
    /* libFuzzer ends the process with exit() and the app is never closed, so
     * background threads (a warm-up's pump, the snapshot writer) may still be
     * hashing (SHA-256 through OpenSSL) while exit runs: OpenSSL must not tear
     * itself down at exit (it crashed them, and the sanitizer's report then
     * hung). No periodic snapshots either: nothing here needs them. */
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
    setenv("RAGD_KB_SNAPSHOT_INTERVAL", "0", 1);
    unsetenv("RAGD_CONFIG");
    verbose = getenv("RAGD_FUZZ_VERBOSE") != NULL;
    config_init(&app.cfg);
    ragd_error err;
    if (config_load(&app.cfg, 0, NULL, &err) != 0 || app_open(&app, &err) != 0 ||
        app_server_opts(&app, &opts, &err) != 0) {
        fprintf(stderr, "fuzz_http: %s\n", err.msg);
        exit(1);
    }
    return 0;
}

/* Split "Name: value" lines (in place) into hs; returns the count. */
static int fuzz__headers(char *lines, http_kv *hs, bool *has_cred, bool *has_ctype)
{
    int n = 0;
    char *save = NULL;
    for (char *l = strtok_r(lines, "\n", &save); l && n < FUZZ_MAX_HEADERS - 2;
         l = strtok_r(NULL, "\n", &save)) {
        char *colon = strchr(l, ':');
        if (!colon)
            continue;
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ')
            v++;
        if (!strcasecmp(l, "X-API-Key") || !strcasecmp(l, "Authorization"))
            *has_cred = true;
        if (!strcasecmp(l, "Content-Type"))
            *has_ctype = true;
        hs[n++] = (http_kv){ l, v };
    }
    return n;
}

static void fuzz__check(const http_inproc_resp *r)
{
    if (r->deferred)
        return;
    if (r->status < 100 || r->status > 599)
        abort();
    if (r->status < 400)
        return;
    bool ragd_shape = strncmp(r->body, "{\"error\":{\"code\":", 17) == 0 &&
                      strstr(r->body, "\"request_id\":");
    /* The TEI-compatible routes (/embed, /rerank, /tokenize, POST /) answer in
     * TEI's documented shape {"error": "...", "error_type": "..."}. */
    bool tei_shape = strncmp(r->body, "{\"error\":\"", 10) == 0 && strstr(r->body, "\"error_type\":");
    if (!ragd_shape && !tei_shape)
        abort();
}

/* Serve one request of the input: in[0..size) (NUL-terminated copy, modified). */
static void fuzz__one(char *in, size_t size)
{
    char *hdr_end = strstr(in, "\n\n");
    const char *body = hdr_end ? hdr_end + 2 : NULL;
    size_t body_len = body ? size - (size_t)(body - in) : 0;
    if (hdr_end)
        *hdr_end = '\0';
    char *nl = strchr(in, '\n');
    if (nl)
        *nl = '\0';
    char *url = strchr(in, ' ');
    if (!url || url[1] != '/')
        return;
    *url++ = '\0';
    http_kv hs[FUZZ_MAX_HEADERS];
    bool has_cred = false, has_ctype = false;
    int nh = nl ? fuzz__headers(nl + 1, hs, &has_cred, &has_ctype) : 0;
    if (!has_cred)
        hs[nh++] = (http_kv){ "X-API-Key", FUZZ_ADMIN_KEY };
    if (!has_ctype)
        hs[nh++] = (http_kv){ "Content-Type", "application/json" };
    http_inproc_req req = { .method = in, .url = url, .headers = hs, .nheaders = nh,
                            .body = body, .body_len = body_len };
    http_inproc_resp resp;
    http_inproc_call(app.router, &opts, &req, &resp);
    if (verbose)
        fprintf(stderr, "%s %s -> %d %.200s\n", in, url, resp.status, resp.body);
    fuzz__check(&resp);
    http_inproc_resp_free(&resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    for (int i = 0; i < FUZZ_MAX_REQUESTS && off <= size; i++) {
        const uint8_t *sep = memmem(data + off, size - off, FUZZ_SEP, strlen(FUZZ_SEP));
        size_t n = sep ? (size_t)(sep - data) - off : size - off;
        char *one = fuzz_strndup(data + off, n);  /* bodies may hold NUL: lengths rule */
        fuzz__one(one, n);
        free(one);
        if (!sep)
            break;
        off += n + strlen(FUZZ_SEP);
    }
    return 0;
}
