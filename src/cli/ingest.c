/*
 * ingest.c - the ingest command. Files are walked first (so the progress bar
 * knows the total), then read one by one into batches of documents: a text
 * or Markdown file is one document whose id is its path relative to the
 * folder given (or the path as given), a JSONL file gives one document per
 * line ({id?, text, metadata?, user_id?}). Batches go to POST
 * /api/v1/namespaces/{ns}/documents over one keep-alive libcurl handle; the
 * namespace is created first when missing.
 */
#include "cli/ingest.h"

#include <curl/curl.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "util/buf.h"
#include "util/clock.h"
#include "util/file.h"
#include "util/mem.h"

typedef struct ing_file {
    char *path;   /* to open */
    char *id;     /* document id (relative path) */
    bool jsonl;
    size_t docs;  /* documents it holds (lines for JSONL) */
} ing_file;

typedef struct ingest {
    const char *url, *ns, *user_id;
    size_t batch_docs, batch_bytes;
    ing_file *files;
    size_t n_files, cap_files, total_docs, skipped;
    CURL *curl;
    buf_t body, resp;
    size_t in_batch, sent_docs, chunks, failed;
    int64_t t0_us, last_print_us;
    size_t last_printed;
    bool tty;
} ingest;

static size_t ing__write(char *p, size_t sz, size_t n, void *ud)
{
    buf_append(ud, p, sz * n);
    return sz * n;
}

/* One HTTP call; *status gets the code (0 when the server is unreachable). */
static int ing__http(ingest *g, const char *method, const char *path, const buf_t *body,
                     long *status)
{
    char url[2048];
    snprintf(url, sizeof url, "%s%s", g->url, path);
    buf_reset(&g->resp);
    curl_easy_setopt(g->curl, CURLOPT_URL, url);
    curl_easy_setopt(g->curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(g->curl, CURLOPT_POSTFIELDS, body ? body->data : NULL);
    curl_easy_setopt(g->curl, CURLOPT_POSTFIELDSIZE, body ? (long)body->len : 0L);
    if (!body)
        curl_easy_setopt(g->curl, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(g->curl, CURLOPT_CUSTOMREQUEST, method);
    CURLcode cc = curl_easy_perform(g->curl);
    *status = 0;
    if (cc != CURLE_OK) {
        fprintf(stderr, "\nragd ingest: %s: %s\n", url, curl_easy_strerror(cc));
        return -1;
    }
    curl_easy_getinfo(g->curl, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

static const char *ing__err_msg(ingest *g)
{
    static char msg[512];
    cJSON *j = cJSON_ParseWithLength(g->resp.data ? g->resp.data : "", g->resp.len);
    const cJSON *e = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "message");
    snprintf(msg, sizeof msg, "%s", cJSON_IsString(e) ? e->valuestring
                                    : g->resp.data ? g->resp.data : "(no body)");
    cJSON_Delete(j);
    return msg;
}

static int ing__ensure_ns(ingest *g)
{
    char path[256];
    long st;
    snprintf(path, sizeof path, "/api/v1/namespaces/%s", g->ns);
    if (ing__http(g, "GET", path, NULL, &st))
        return -1;
    if (st == 200)
        return 0;
    if (st != 404) {
        fprintf(stderr, "ragd ingest: %s: HTTP %ld: %s\n", path, st, ing__err_msg(g));
        return -1;
    }
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"name\":");
    buf_put_json_str(&b, g->ns, strlen(g->ns));
    buf_putc(&b, '}');
    int rc = ing__http(g, "POST", "/api/v1/namespaces", &b, &st);
    buf_free(&b);
    if (rc)
        return -1;
    if (st != 201 && st != 409) {
        fprintf(stderr, "ragd ingest: creating namespace %s: HTTP %ld: %s\n", g->ns, st,
                ing__err_msg(g));
        return -1;
    }
    if (st == 201)
        printf("created namespace %s\n", g->ns);
    return 0;
}

/* ---- walking ---- */

static bool ing__has_ext(const char *p, const char *const *exts)
{
    const char *dot = strrchr(p, '.');
    for (int i = 0; dot && exts[i]; i++)
        if (!strcasecmp(dot + 1, exts[i]))
            return true;
    return false;
}

static const char *const ing_text_exts[] = { "txt", "text", "md", "markdown", "rst", NULL };
static const char *const ing_jsonl_exts[] = { "jsonl", "ndjson", NULL };

static size_t ing__count_lines(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    char buf[65536];
    size_t n, lines = 0, last = '\n';
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        for (size_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
        last = (unsigned char)buf[n - 1];
    }
    fclose(f);
    return lines + (last != '\n');
}

static void ing__add_file(ingest *g, const char *path, const char *id, bool explicit_file)
{
    bool jsonl = ing__has_ext(path, ing_jsonl_exts);
    if (!jsonl && !explicit_file && !ing__has_ext(path, ing_text_exts)) {
        g->skipped++;
        return;
    }
    if (g->n_files == g->cap_files) {
        g->cap_files = g->cap_files ? g->cap_files * 2 : 64;
        g->files = xrealloc(g->files, g->cap_files * sizeof *g->files);
    }
    ing_file *f = &g->files[g->n_files++];
    f->path = xstrdup(path);
    f->id = xstrdup(id);
    f->jsonl = jsonl;
    f->docs = jsonl ? ing__count_lines(path) : 1;
    g->total_docs += f->docs;
}

static int ing__cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Walk dir (sorted, hidden entries skipped); ids relative to root_len. */
static void ing__walk(ingest *g, const char *dir, size_t root_len)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            names = xrealloc(names, cap * sizeof *names);
        }
        names[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, ing__cmp_name);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        if (stat(path, &st) == 0) {
            if (S_ISDIR(st.st_mode))
                ing__walk(g, path, root_len);
            else if (S_ISREG(st.st_mode))
                ing__add_file(g, path, path + root_len, false);
        }
        free(names[i]);
    }
    free(names);
}

/* ---- batches ---- */

static void ing__progress(ingest *g, bool final)
{
    int64_t now = clock_mono_us();
    if (!final && now - g->last_print_us < (g->tty ? 100000 : 2000000))
        return;
    if (final && !g->tty && g->last_printed == g->sent_docs && g->last_print_us)
        return;
    g->last_printed = g->sent_docs;
    g->last_print_us = now;
    double el = (double)(now - g->t0_us) / 1e6;
    double rate = el > 0 ? (double)g->sent_docs / el : 0;
    double eta = rate > 0 ? (double)(g->total_docs - g->sent_docs) / rate : 0;
    if (g->tty) {
        int w = 30, fill = g->total_docs ? (int)(w * g->sent_docs / g->total_docs) : w;
        char bar[64];
        for (int i = 0; i < w; i++)
            bar[i] = i < fill ? '#' : '-';
        bar[w] = '\0';
        fprintf(stderr, "\r[%s] %zu/%zu docs  %.1f docs/s  ETA %d:%02d   ", bar, g->sent_docs,
                g->total_docs, rate, (int)eta / 60, (int)eta % 60);
        if (final)
            fputc('\n', stderr);
    } else {
        fprintf(stderr, "ingest: %zu/%zu documents, %.1f docs/s, ETA %.0f s\n", g->sent_docs,
                g->total_docs, rate, eta);
    }
}

static int ing__flush(ingest *g)
{
    if (!g->in_batch)
        return 0;
    buf_puts(&g->body, "]}");
    char path[256];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/documents", g->ns);
    long st;
    int rc = ing__http(g, "POST", path, &g->body, &st);
    if (!rc && st != 200) {
        fprintf(stderr, "%sragd ingest: batch rejected: HTTP %ld: %s\n", g->tty ? "\n" : "", st,
                ing__err_msg(g));
        rc = -1;
    }
    if (!rc) {
        cJSON *j = cJSON_ParseWithLength(g->resp.data, g->resp.len);
        const cJSON *c = cJSON_GetObjectItem(j, "chunks");
        g->chunks += cJSON_IsNumber(c) ? (size_t)c->valuedouble : 0;
        cJSON_Delete(j);
        g->sent_docs += g->in_batch;
    }
    g->in_batch = 0;
    buf_reset(&g->body);
    ing__progress(g, false);
    return rc;
}

/* Add one document (text not necessarily valid UTF-8: the JSON writer
 * replaces bad bytes). extra: pre-rendered JSON members after the text. */
static int ing__add_doc(ingest *g, const char *id, const char *text, size_t len,
                        const char *extra)
{
    if (g->in_batch == 0)
        buf_puts(&g->body, "{\"documents\":[");
    else
        buf_putc(&g->body, ',');
    buf_puts(&g->body, "{\"id\":");
    buf_put_json_str(&g->body, id, strlen(id));
    buf_puts(&g->body, ",\"text\":");
    buf_put_json_str(&g->body, text, len);
    if (extra)
        buf_puts(&g->body, extra);
    buf_putc(&g->body, '}');
    g->in_batch++;
    if (g->in_batch >= g->batch_docs || g->body.len >= g->batch_bytes)
        return ing__flush(g);
    return 0;
}

static bool ing__blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

static int ing__text_file(ingest *g, const ing_file *f)
{
    size_t len;
    char *text = NULL;
    if (file_read_all(f->path, &text, &len)) {
        fprintf(stderr, "ragd ingest: cannot read %s\n", f->path);
        g->failed++;
        return 0;
    }
    int rc = 0;
    if (ing__blank(text, len)) {
        g->skipped++;
        g->total_docs--;
    } else {
        buf_t extra = BUF_INIT;
        buf_puts(&extra, ",\"metadata\":{\"source\":");
        buf_put_json_str(&extra, f->id, strlen(f->id));
        buf_printf(&extra, ",\"format\":\"%s\"}",
                   ing__has_ext(f->path, (const char *const[]){ "md", "markdown", NULL })
                       ? "markdown" : "text");
        if (g->user_id) {
            buf_puts(&extra, ",\"user_id\":");
            buf_put_json_str(&extra, g->user_id, strlen(g->user_id));
        }
        rc = ing__add_doc(g, f->id, text, len, extra.data);
        buf_free(&extra);
    }
    free(text);
    return rc;
}

/* One JSONL line: {id?, text, metadata?, user_id?}. */
static int ing__jsonl_line(ingest *g, const ing_file *f, const char *line, size_t n, size_t lineno)
{
    if (ing__blank(line, n)) {
        g->total_docs--;
        return 0;
    }
    cJSON *j = cJSON_ParseWithLength(line, n);
    const cJSON *text = cJSON_GetObjectItem(j, "text"), *id = cJSON_GetObjectItem(j, "id");
    if (!cJSON_IsObject(j) || !cJSON_IsString(text)) {
        fprintf(stderr, "%sragd ingest: %s:%zu: not a JSON object with a \"text\" string\n",
                g->tty ? "\n" : "", f->path, lineno);
        cJSON_Delete(j);
        g->failed++;
        g->total_docs--;
        return 0;
    }
    char idbuf[4200];
    if (cJSON_IsString(id))
        snprintf(idbuf, sizeof idbuf, "%s", id->valuestring);
    else if (cJSON_IsNumber(id))
        snprintf(idbuf, sizeof idbuf, "%.17g", id->valuedouble);
    else
        snprintf(idbuf, sizeof idbuf, "%s:%zu", f->id, lineno);
    buf_t extra = BUF_INIT;
    const cJSON *md = cJSON_GetObjectItem(j, "metadata"), *user = cJSON_GetObjectItem(j, "user_id");
    if (cJSON_IsObject(md)) {
        char *s = cJSON_PrintUnformatted(md);
        buf_printf(&extra, ",\"metadata\":%s", s);
        free(s);
    }
    const char *owner = cJSON_IsString(user) ? user->valuestring : g->user_id;
    if (owner) {
        buf_puts(&extra, ",\"user_id\":");
        buf_put_json_str(&extra, owner, strlen(owner));
    }
    int rc = ing__add_doc(g, idbuf, text->valuestring, strlen(text->valuestring), extra.data);
    buf_free(&extra);
    cJSON_Delete(j);
    return rc;
}

static int ing__jsonl_file(ingest *g, const ing_file *f)
{
    FILE *fp = fopen(f->path, "rb");
    if (!fp) {
        fprintf(stderr, "ragd ingest: cannot read %s\n", f->path);
        g->failed++;
        return 0;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    int rc = 0;
    while (!rc && (n = getline(&line, &cap, fp)) >= 0)
        rc = ing__jsonl_line(g, f, line, (size_t)n, ++lineno);
    free(line);
    fclose(fp);
    return rc;
}

static void ing__usage(void)
{
    fprintf(stderr,
            "usage: ragd ingest <namespace> <path...> [--url URL] [--batch N] [--user-id ID]\n"
            "  paths: files or folders; .txt/.md/.markdown/.rst files are one document each\n"
            "  (id = path relative to the folder), .jsonl files one document per line\n"
            "  ({\"id\", \"text\", \"metadata\", \"user_id\"}). --url defaults to $RAGD_URL or\n"
            "  http://127.0.0.1:8080; --batch is documents per request (default 64).\n");
}

static int ing__parse(ingest *g, int argc, char **argv, char ***paths, size_t *np)
{
    const char *env = getenv("RAGD_URL");
    g->url = env && *env ? env : "http://127.0.0.1:8080";
    g->batch_docs = 64;
    g->batch_bytes = 8u << 20;
    *paths = xmalloc((size_t)(argc ? argc : 1) * sizeof **paths);
    *np = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return 2;
        if ((!strcmp(a, "--url") || !strcmp(a, "--batch") || !strcmp(a, "--user-id")) &&
            i + 1 >= argc) {
            fprintf(stderr, "ragd ingest: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--url"))
            g->url = argv[++i];
        else if (!strcmp(a, "--user-id"))
            g->user_id = argv[++i];
        else if (!strcmp(a, "--batch")) {
            long b = strtol(argv[++i], NULL, 10);
            if (b < 1 || b > 10000) {
                fprintf(stderr, "ragd ingest: --batch must be 1..10000\n");
                return 2;
            }
            g->batch_docs = (size_t)b;
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "ragd ingest: unknown option %s\n", a);
            return 2;
        } else if (!g->ns) {
            g->ns = a;
        } else {
            (*paths)[(*np)++] = argv[i];
        }
    }
    return g->ns && *np ? 0 : 2;
}

static void ing__collect(ingest *g, char **paths, size_t np)
{
    for (size_t i = 0; i < np; i++) {
        struct stat st;
        char root[4096];
        snprintf(root, sizeof root, "%s", paths[i]);
        size_t rl = strlen(root);
        while (rl > 1 && root[rl - 1] == '/')
            root[--rl] = '\0';
        if (stat(root, &st) != 0) {
            fprintf(stderr, "ragd ingest: %s: no such file or folder\n", root);
            g->failed++;
        } else if (S_ISDIR(st.st_mode)) {
            ing__walk(g, root, rl + 1);
        } else {
            ing__add_file(g, root, root, true);
        }
    }
}

int ingest_main(int argc, char **argv)
{
    ingest g = { 0 };
    char **paths;
    size_t np;
    if (ing__parse(&g, argc, argv, &paths, &np)) {
        ing__usage();
        free(paths);
        return 2;
    }
    ing__collect(&g, paths, np);
    free(paths);
    g.tty = isatty(STDERR_FILENO);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    g.curl = curl_easy_init();
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(g.curl, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(g.curl, CURLOPT_WRITEFUNCTION, ing__write);
    curl_easy_setopt(g.curl, CURLOPT_WRITEDATA, &g.resp);
    curl_easy_setopt(g.curl, CURLOPT_TIMEOUT, 600L);
    int rc = ing__ensure_ns(&g);
    g.t0_us = clock_mono_us();
    if (!rc)
        printf("ingesting %zu documents from %zu files into %s (%zu files skipped)\n",
               g.total_docs, g.n_files, g.ns, g.skipped);
    for (size_t i = 0; i < g.n_files && !rc; i++)
        rc = g.files[i].jsonl ? ing__jsonl_file(&g, &g.files[i]) : ing__text_file(&g, &g.files[i]);
    if (!rc)
        rc = ing__flush(&g);
    if (!rc) {
        ing__progress(&g, true);
        double el = (double)(clock_mono_us() - g.t0_us) / 1e6;
        printf("done: %zu documents, %zu chunks in %.1f s (%.1f docs/s)%s\n", g.sent_docs,
               g.chunks, el, el > 0 ? (double)g.sent_docs / el : 0.0,
               g.failed ? ", some inputs failed (see above)" : "");
    }
    for (size_t i = 0; i < g.n_files; i++) {
        free(g.files[i].path);
        free(g.files[i].id);
    }
    free(g.files);
    buf_free(&g.body);
    buf_free(&g.resp);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(g.curl);
    curl_global_cleanup();
    return rc ? 1 : g.failed ? 1 : 0;
}
