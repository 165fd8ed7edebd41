/*
 * ingest.c - the ingest command. Files are walked first (so the totals are
 * known): a file is taken when its content is text (valid UTF-8 and no NUL in
 * its first 8 KiB; --ext narrows by extension), whatever its name. A text file
 * is one document whose id is its path relative to the folder given (or the
 * path as given); a .jsonl/.ndjson file gives one document per line ({id?,
 * text, metadata?, user_id?}). Documents are sent in batches, each accepted by
 * the server as a background job (ingest_jobs.c follows them), so no client
 * timeout bounds the run. The namespace is created only when there is
 * something to put in it, and removed again if this run created it and
 * nothing was indexed.
 */
#include "cli/ingest.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli/ingest_int.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/file.h"
#include "util/mem.h"
#include "util/utf8.h"

/* ---- walking ---- */

static bool ing__has_ext(const char *p, const char *const *exts)
{
    const char *dot = strrchr(p, '.');
    for (int i = 0; dot && exts[i]; i++)
        if (!strcasecmp(dot + 1, exts[i]))
            return true;
    return false;
}

static const char *const ing_jsonl_exts[] = { "jsonl", "ndjson", NULL };
static const char *const ing_md_exts[] = { "md", "markdown", NULL };

/* Is the file's start text: no NUL and valid UTF-8 in its first 8 KiB (a
 * sequence cut by the 8 KiB boundary is fine)? */
static bool ing__is_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (memchr(buf, 0, n))
        return false;
    size_t bad;
    if (utf8_valid(buf, n, &bad))
        return true;
    return n == sizeof buf && bad + 4 > n && utf8_valid(buf, bad, &bad);
}

/* Does the file's extension appear in the comma-separated list? */
static bool ing__ext_listed(const char *path, const char *list)
{
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    if (!dot || (slash && dot < slash))
        return false;
    size_t el = strlen(++dot);
    for (const char *p = list; *p;) {
        while (*p == '.' )
            p++;
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == el && !strncasecmp(p, dot, el))
            return true;
        p += len + (comma ? 1 : 0);
    }
    return false;
}

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

static void ing__add_file(ingest *g, const char *path, const char *id)
{
    if (g->exts && !ing__ext_listed(path, g->exts)) {
        g->skipped++;
        return;
    }
    if (!ing__is_text(path)) {
        g->skipped_binary++;
        return;
    }
    bool jsonl = ing__has_ext(path, ing_jsonl_exts);
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
                ing__add_file(g, path, path + root_len);
        }
        free(names[i]);
    }
    free(names);
}

/* ---- batches ---- */

/* Send the batch as a job; the namespace is created before the first one. */
static int ing__flush(ingest *g)
{
    if (!g->in_batch)
        return 0;
    buf_puts(&g->body, "],\"wait\":false}");
    int rc = g->n_jobs == 0 && !g->ns_created ? ing_ensure_ns(g) : 0;
    if (!rc)
        rc = ing_submit(g);
    if (!rc)
        g->sent_docs += g->in_batch;
    g->in_batch = 0;
    buf_reset(&g->body);
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

static size_t ing__write(char *p, size_t sz, size_t n, void *ud)
{
    buf_append(ud, p, sz * n);
    return sz * n;
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
                   ing__has_ext(f->path, ing_md_exts) ? "markdown" : "text");
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
            "usage: ragd ingest <namespace> <path...> [options]\n"
            "       ragd ingest --resume <job-id>[,<job-id>...] [--url URL] [--api-key KEY]\n"
            "  paths: files or folders. Every text file (valid UTF-8, no NUL bytes) is one\n"
            "  document whatever its name (id = path relative to the folder); .jsonl/.ndjson\n"
            "  files give one document per line ({\"id\", \"text\", \"metadata\", \"user_id\"}).\n"
            "  The documents go to the server as background jobs, followed to the end.\n"
            "  --url URL             server (default $RAGD_URL or http://127.0.0.1:8080)\n"
            "  --api-key KEY         API key (default $RAGD_API_KEY)\n"
            "  --ext md,txt          only files with these extensions\n"
            "  --batch N             documents per job (default 1000)\n"
            "  --user-id ID          owner of the documents (service keys)\n"
            "  --wait / --no-wait    follow the jobs to the end (default) or only submit them\n"
            "  --resume ID[,ID...]   follow jobs submitted earlier (by --no-wait or a run\n"
            "                        that was interrupted: they carry on in the server)\n"
            "  --request-timeout S   seconds for one HTTP call (default 300, 0 = none); the\n"
            "                        whole run has no time limit\n");
}

static const char *const ing_valued[] = { "--url", "--batch", "--user-id", "--api-key", "--ext",
                                          "--resume", "--request-timeout", NULL };

static bool ing__valued(const char *a)
{
    for (int i = 0; ing_valued[i]; i++)
        if (!strcmp(a, ing_valued[i]))
            return true;
    return false;
}

/* --resume a,b,c: add each id to the jobs to follow. */
static void ing__add_resume(ingest *g, const char *list)
{
    for (const char *p = list; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len) {
            if (g->n_jobs == g->cap_jobs) {
                g->cap_jobs = g->cap_jobs ? g->cap_jobs * 2 : 8;
                g->jobs = xrealloc(g->jobs, g->cap_jobs * sizeof *g->jobs);
            }
            g->jobs[g->n_jobs++] = xstrndup(p, len);
        }
        p += len + (comma ? 1 : 0);
    }
}

/* A number option in [lo, hi]; false with a message otherwise. */
static bool ing__num_opt(const char *name, const char *v, long lo, long hi, long *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < lo || n > hi) {
        fprintf(stderr, "ragd ingest: %s must be %ld..%ld\n", name, lo, hi);
        return false;
    }
    *out = n;
    return true;
}

static int ing__option(ingest *g, const char *a, const char *v)
{
    long n;
    if (!strcmp(a, "--url"))
        g->url = v;
    else if (!strcmp(a, "--user-id"))
        g->user_id = v;
    else if (!strcmp(a, "--api-key"))
        g->api_key = v;
    else if (!strcmp(a, "--ext"))
        g->exts = v;
    else if (!strcmp(a, "--resume"))
        ing__add_resume(g, v);
    else if (!strcmp(a, "--batch") && ing__num_opt(a, v, 1, 100000, &n))
        g->batch_docs = (size_t)n;
    else if (!strcmp(a, "--request-timeout") && ing__num_opt(a, v, 0, 86400, &n))
        g->request_timeout_s = n;
    else
        return 2;
    return 0;
}

static int ing__parse(ingest *g, int argc, char **argv, char ***paths, size_t *np)
{
    const char *env = getenv("RAGD_URL"), *key = getenv("RAGD_API_KEY");
    g->url = env && *env ? env : "http://127.0.0.1:8080";
    g->api_key = key && *key ? key : NULL;
    g->batch_docs = 1000;
    g->batch_bytes = 8u << 20;
    g->request_timeout_s = 300;
    g->wait = true;
    *paths = xmalloc((size_t)(argc ? argc : 1) * sizeof **paths);
    *np = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return 2;
        if (!strcmp(a, "--wait") || !strcmp(a, "--no-wait")) {
            g->wait = !strcmp(a, "--wait");
        } else if (ing__valued(a)) {
            if (i + 1 >= argc) {
                fprintf(stderr, "ragd ingest: %s needs a value\n", a);
                return 2;
            }
            if (ing__option(g, a, argv[++i]))
                return 2;
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "ragd ingest: unknown option %s\n", a);
            return 2;
        } else if (!g->ns) {
            g->ns = a;
        } else {
            (*paths)[(*np)++] = argv[i];
        }
    }
    if (g->n_jobs)
        return g->ns ? 2 : 0; /* --resume follows jobs only */
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
            ing__add_file(g, root, root);
        }
    }
}

static void ing__curl_open(ingest *g)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    g->curl = curl_easy_init();
    g->hdr = curl_slist_append(NULL, "Content-Type: application/json");
    if (g->api_key) {
        buf_t h = BUF_INIT;
        buf_printf(&h, "X-API-Key: %s", g->api_key);
        g->hdr = curl_slist_append(g->hdr, h.data);
        buf_free(&h);
    }
    curl_easy_setopt(g->curl, CURLOPT_HTTPHEADER, g->hdr);
    curl_easy_setopt(g->curl, CURLOPT_WRITEFUNCTION, ing__write);
    curl_easy_setopt(g->curl, CURLOPT_WRITEDATA, &g->resp);
    curl_easy_setopt(g->curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(g->curl, CURLOPT_TIMEOUT, g->request_timeout_s);
}

static void ing__free(ingest *g)
{
    for (size_t i = 0; i < g->n_files; i++) {
        free(g->files[i].path);
        free(g->files[i].id);
    }
    free(g->files);
    for (size_t i = 0; i < g->n_jobs; i++)
        free(g->jobs[i]);
    free(g->jobs);
    buf_free(&g->body);
    buf_free(&g->resp);
    curl_slist_free_all(g->hdr);
    curl_easy_cleanup(g->curl);
    curl_global_cleanup();
}

/* Read every file into batches and submit them as jobs. */
static int ing__submit_all(ingest *g)
{
    printf("ingesting %zu documents from %zu files into %s (%zu files skipped: %zu not text, "
           "%zu by --ext)\n", g->total_docs, g->n_files, g->ns, g->skipped + g->skipped_binary,
           g->skipped_binary, g->skipped);
    int rc = 0;
    for (size_t i = 0; i < g->n_files && !rc; i++)
        rc = g->files[i].jsonl ? ing__jsonl_file(g, &g->files[i]) : ing__text_file(g, &g->files[i]);
    if (!rc)
        rc = ing__flush(g);
    if (g->n_jobs) {
        printf("submitted %zu documents as %zu job%s; to follow them later: ragd ingest --resume ",
               g->sent_docs, g->n_jobs, g->n_jobs > 1 ? "s" : "");
        for (size_t i = 0; i < g->n_jobs; i++)
            printf("%s%s", i ? "," : "", g->jobs[i]);
        printf("\n");
        fflush(stdout);
    }
    return rc;
}

/* Nothing indexed: say so, and drop the namespace if this run created it. */
static void ing__nothing(ingest *g)
{
    fprintf(stderr, "ragd ingest: nothing was ingested%s\n",
            g->total_docs ? "" : ": no text files found (use --ext to choose by extension, or "
                                 "give the files themselves)");
    if (!g->ns_created)
        return;
    char path[256];
    long st;
    snprintf(path, sizeof path, "/api/v1/namespaces/%s", g->ns);
    if (ing_http(g, "DELETE", path, NULL, &st) == 0 && st == 200)
        fprintf(stderr, "ragd ingest: removed the empty namespace %s it had created\n", g->ns);
}

int ingest_main(int argc, char **argv)
{
    ingest g = { 0 };
    char **paths;
    size_t np;
    if (ing__parse(&g, argc, argv, &paths, &np)) {
        ing__usage();
        free(paths);
        ing__free(&g);
        return 2;
    }
    bool resume = g.n_jobs > 0;
    ing__collect(&g, paths, np);
    free(paths);
    g.tty = isatty(STDERR_FILENO);
    ing__curl_open(&g);
    int rc = 0;
    uint64_t done = 0;
    if (!resume && g.total_docs == 0) {
        printf("ingesting 0 documents (%zu files skipped: %zu not text, %zu by --ext)\n",
               g.skipped + g.skipped_binary, g.skipped_binary, g.skipped);
        rc = -1;
    } else if (!resume) {
        rc = ing__submit_all(&g);
    }
    if (g.n_jobs && g.wait)
        rc = ing_follow(&g, &done) ? -1 : rc;
    else if (g.n_jobs)
        done = 1; /* --no-wait: submitted is success */
    if (!resume && (!g.n_jobs || done == 0))
        ing__nothing(&g);
    ing__free(&g);
    return rc || g.failed || done == 0 ? 1 : 0;
}
