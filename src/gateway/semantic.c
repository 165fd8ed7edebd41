/*
 * semantic.c - the semantic cache: which calls qualify, their partition and
 * embedding, the guard (cheap features embeddings blur: numbers, negations,
 * quoted strings), and the shared index: entries go into the bounded
 * in-memory index (sem_index.c) and, when a store is given, onto its change
 * log (sem_log.c), which every instance replays at start and follows after.
 */
#include "gateway/semantic.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/key.h"
#include "gateway/sem_index.h"
#include "gateway/sem_log.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/hash.h"
#include "util/json.h"
#include "util/mem.h"

/* The log keeps about twice max_entries records: the adds of every live
 * entry are among the newest max_entries adds, and forgets interleave. Trimmed
 * every SEM_LOG_TRIM_EVERY appends; never below SEM_LOG_KEEP_MIN. */
#define SEM_LOG_TRIM_EVERY 64
#define SEM_LOG_KEEP_MIN 1024

struct gw_semantic {
    embcache_t *emb;              /* NULL in tests that bring their own vectors */
    size_t dim;
    gw_semidx *ix;
    store_t *store;               /* NULL: the index lives in memory only */
    uint64_t log_keep;            /* records the log is trimmed to */
    uint64_t applied_seq;         /* last log record applied (atomic) */
    uint64_t applied, bad_records, announce_errors; /* counters (atomic) */
};

int gw_semantic_create(embcache_t *emb, const gw_semantic_opts *o, gw_semantic **out)
{
    gw_semidx_opts io = { .dim = emb ? embcache_dim(emb) : o->dim,
                          .max_entries = o->max_entries,
                          .hnsw_threshold = o->hnsw_threshold };
    gw_semidx *ix;
    int rc = gw_semidx_create(&io, &ix);
    if (rc)
        return rc;
    gw_semantic *s = xcalloc(1, sizeof *s);
    s->emb = emb;
    s->dim = io.dim;
    s->ix = ix;
    s->store = o->store;
    s->log_keep = 2 * (uint64_t)o->max_entries > SEM_LOG_KEEP_MIN ? 2 * (uint64_t)o->max_entries
                                                                  : SEM_LOG_KEEP_MIN;
    *out = s;
    return RAGD_OK;
}

void gw_semantic_destroy(gw_semantic *s)
{
    if (!s)
        return;
    gw_semidx_destroy(s->ix);
    free(s);
}

void gw_sem_query_free(gw_sem_query *q)
{
    free(q->prompt);
    free(q->vec);
    memset(q, 0, sizeof *q);
}

/* ---- qualifying and partitioning ------------------------------------------ */

/* The text of a message's content (a string or an array of text parts). */
static char *sem__content(const cJSON *m)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
    if (cJSON_IsString(c))
        return xstrdup(c->valuestring);
    if (!cJSON_IsArray(c))
        return NULL;
    buf_t b = BUF_INIT;
    for (const cJSON *p = c->child; p; p = p->next) {
        const char *type = json_get_str(p, "type"), *text = json_get_str(p, "text");
        if (!type || strcmp(type, "text") != 0 || !text) {
            buf_free(&b);
            return NULL;  /* images and other parts: not for the semantic cache */
        }
        if (b.len)
            buf_putc(&b, '\n');
        buf_puts(&b, text);
    }
    return b.data ? buf_detach(&b, NULL) : NULL;
}

bool gw_semantic_qualifies(const cJSON *body, int endpoint, double max_temperature)
{
    if (endpoint != GW_CHAT)
        return false;
    double t = 1.0;  /* the API's default temperature */
    if (json_get_num(body, "temperature", 0, 2, &t) == RAGD_EINVAL || t > max_temperature)
        return false;
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(body, "tools");
    const cJSON *fns = cJSON_GetObjectItemCaseSensitive(body, "functions");
    if ((tools && !cJSON_IsNull(tools) && cJSON_GetArraySize(tools) > 0) ||
        (fns && !cJSON_IsNull(fns) && cJSON_GetArraySize(fns) > 0))
        return false;
    int64_t n = 1;
    if (json_get_int(body, "n", 1, 128, &n) == RAGD_EINVAL || n != 1)
        return false;
    const cJSON *msgs = json_get_arr(body, "messages");
    int nm = msgs ? cJSON_GetArraySize(msgs) : 0;
    const cJSON *last = nm ? cJSON_GetArrayItem(msgs, nm - 1) : NULL;
    const char *role = last ? json_get_str(last, "role") : NULL;
    if (!role || strcmp(role, "user") != 0)
        return false;
    char *text = sem__content(last);
    bool ok = text && *text;
    free(text);
    return ok;
}

/* Hash of everything but the last message: model, parameters, earlier turns
 * (system prompt included) and scope. */
static void sem__partition(const cJSON *body, const char *scope, char out[65])
{
    cJSON *rest = cJSON_CreateObject();
    for (const cJSON *f = body->child; f; f = f->next) {
        if (!f->string || gw_key_field_ignored(f->string))
            continue;
        if (strcmp(f->string, "messages") == 0) {
            cJSON *hist = cJSON_AddArrayToObject(rest, "history");
            for (const cJSON *m = f->child; m && m->next; m = m->next)
                cJSON_AddItemReferenceToArray(hist, (cJSON *)m);
        } else {
            cJSON_AddItemReferenceToObject(rest, f->string, (cJSON *)f);
        }
    }
    cJSON_AddStringToObject(rest, "scope", scope);
    buf_t b = BUF_INIT;
    json_canonical(rest, &b);
    cJSON_Delete(rest);
    hash_sha256_hex(b.data, b.len, out);
    buf_free(&b);
}

int gw_semantic_prepare(gw_semantic *s, const cJSON *body, int endpoint, const char *scope,
                        double max_temperature, const embed_work *w, gw_sem_query *q)
{
    memset(q, 0, sizeof *q);
    if (!s->emb || !gw_semantic_qualifies(body, endpoint, max_temperature))
        return RAGD_EINVAL;
    const cJSON *msgs = json_get_arr(body, "messages");
    q->prompt = sem__content(cJSON_GetArrayItem(msgs, cJSON_GetArraySize(msgs) - 1));
    sem__partition(body, scope, q->partition);
    q->vec = xmalloc(s->dim * sizeof *q->vec);
    const char *texts[1] = { q->prompt };
    size_t lens[1] = { strlen(q->prompt) };
    int rc = embcache_embed_as(s->emb, w, texts, lens, 1, q->vec, NULL);
    if (rc)
        gw_sem_query_free(q);
    return rc;
}

/* ---- the shared index ------------------------------------------------------ */

static bool sem__accept(void *ud, const char *prompt)
{
    return gw_semantic_guard(ud, prompt);
}

int gw_semantic_lookup(gw_semantic *s, const gw_sem_query *q, double threshold, char *skey,
                       size_t n, float *sim)
{
    return gw_semidx_lookup(s->ix, q->partition, q->vec, threshold, clock_wall_ms(),
                            sem__accept, q->prompt, skey, n, sim);
}

int gw_semantic_search(gw_semantic *s, const char *partition, const float *vec, double threshold,
                       size_t k, gw_semidx_hit *hits, size_t *n, bool *more)
{
    return gw_semidx_search(s->ix, partition, vec, threshold, k, clock_wall_ms(), hits, n, more);
}

size_t gw_semantic_dim(const gw_semantic *s)
{
    return s->dim;
}

embcache_t *gw_semantic_embedder(const gw_semantic *s)
{
    return s->emb;
}

/* Append r to the log (when persisted); a failure is counted, the local
 * index is right either way and the entry stays this instance's only. */
static void sem__announce(gw_semantic *s, const gw_semrec *r)
{
    if (!s->store)
        return;
    buf_t b = BUF_INIT;
    uint64_t seq = 0;
    int rc = gw_semrec_encode(r, &b);
    if (rc == 0)
        rc = store_log_append(s->store, GW_SEMLOG, b.data, b.len, &seq);
    buf_free(&b);
    if (rc == 0 && seq % SEM_LOG_TRIM_EVERY == 0)
        store_log_trim(s->store, GW_SEMLOG, s->log_keep);  /* a failure: the next one */
    if (rc)
        __atomic_fetch_add(&s->announce_errors, 1, __ATOMIC_RELAXED);
}

void gw_semantic_insert(gw_semantic *s, const gw_sem_query *q, const char *skey, int64_t ttl_ms)
{
    int64_t now = clock_wall_ms();
    gw_semidx_entry e = { q->partition, skey, q->prompt, q->vec, ttl_ms > 0 ? now + ttl_ms : 0 };
    if (gw_semidx_add(s->ix, &e, now))
        return;
    gw_semrec r = { .op = GW_SEMREC_ADD, .skey = (char *)skey, .prompt = q->prompt,
                    .vec = q->vec, .dim = (uint32_t)s->dim, .expire_at_ms = e.expire_at_ms };
    snprintf(r.partition, sizeof r.partition, "%s", q->partition);
    sem__announce(s, &r);
}

void gw_semantic_forget(gw_semantic *s, const char *partition, const char *skey)
{
    gw_semidx_remove(s->ix, partition, skey);
    gw_semrec r = { .op = GW_SEMREC_FORGET, .skey = (char *)skey };
    snprintf(r.partition, sizeof r.partition, "%s", partition);
    sem__announce(s, &r);
}

int gw_semantic_apply(void *ud, uint64_t seq, const void *rec, size_t len)
{
    gw_semantic *s = ud;
    gw_semrec r;
    if (gw_semrec_decode(rec, len, &r)) {
        __atomic_fetch_add(&s->bad_records, 1, __ATOMIC_RELAXED);
    } else {
        if (r.op == GW_SEMREC_FORGET) {
            gw_semidx_remove(s->ix, r.partition, r.skey);
        } else if (r.dim == s->dim) {  /* another model's vectors are not comparable */
            gw_semidx_entry e = { r.partition, r.skey, r.prompt, r.vec, r.expire_at_ms };
            gw_semidx_add(s->ix, &e, clock_wall_ms());  /* expired: not added */
        }
        gw_semrec_free(&r);
        __atomic_fetch_add(&s->applied, 1, __ATOMIC_RELAXED);
    }
    uint64_t cur = __atomic_load_n(&s->applied_seq, __ATOMIC_RELAXED);
    while (seq > cur &&
           !__atomic_compare_exchange_n(&s->applied_seq, &cur, seq, false, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED)) {
    }
    return 0;
}

int gw_semantic_catch_up(gw_semantic *s)
{
    if (!s->store)
        return RAGD_OK;
    return store_log_read(s->store, GW_SEMLOG, __atomic_load_n(&s->applied_seq, __ATOMIC_RELAXED),
                          gw_semantic_apply, s);
}

int gw_semantic_load(gw_semantic *s, uint64_t *last_seq)
{
    gw_semidx_clear(s->ix);
    __atomic_store_n(&s->applied_seq, 0, __ATOMIC_RELAXED);
    int rc = gw_semantic_catch_up(s);
    if (last_seq)
        *last_seq = __atomic_load_n(&s->applied_seq, __ATOMIC_RELAXED);
    return rc;
}

void gw_semantic_get_stats(gw_semantic *s, gw_semantic_stats *out)
{
    gw_semidx_stats st;
    gw_semidx_get_stats(s->ix, &st);
    out->entries = st.entries;
    out->partitions = st.partitions;
    out->hnsw_partitions = st.hnsw_partitions;
    out->evictions = st.evictions;
    out->expired = st.expired;
    out->max_entries = st.max_entries;
    out->applied_seq = __atomic_load_n(&s->applied_seq, __ATOMIC_RELAXED);
    out->applied = __atomic_load_n(&s->applied, __ATOMIC_RELAXED);
    out->bad_records = __atomic_load_n(&s->bad_records, __ATOMIC_RELAXED);
    out->announce_errors = __atomic_load_n(&s->announce_errors, __ATOMIC_RELAXED);
}

size_t gw_semantic_count(gw_semantic *s)
{
    gw_semidx_stats st;
    gw_semidx_get_stats(s->ix, &st);
    return (size_t)st.entries;
}

/* ---- the guard ----------------------------------------------------------------- */

typedef struct sem_features {
    buf_t numbers;   /* sorted, '\x1f'-separated */
    buf_t quoted;
    int negations;
} sem_features;

static int sem__cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort a list of strings and write it '\x1f'-separated. Frees the items. */
static void sem__sorted(char **items, size_t n, buf_t *out)
{
    if (n > 1)
        qsort(items, n, sizeof *items, sem__cmp_str);
    for (size_t i = 0; i < n; i++) {
        buf_puts(out, items[i]);
        buf_putc(out, '\x1f');
        free(items[i]);
    }
}

static bool sem__is_negation(const char *w, size_t n)
{
    static const char *const words[] = { "no", "not", "never", "none", "nobody", "nothing",
                                         "neither", "nor", "nowhere", "cannot", "without",
                                         "nay", NULL };
    if (n > 3 && (memcmp(w + n - 3, "n't", 3) == 0 || memcmp(w + n - 3, "nt'", 3) == 0))
        return true;
    for (int i = 0; words[i]; i++)
        if (strlen(words[i]) == n && memcmp(words[i], w, n) == 0)
            return true;
    return false;
}

/* Length of a quote mark at s (", “, ”, «, ») or 0. */
static size_t sem__quote_mark(const unsigned char *s)
{
    if (*s == '"')
        return 1;
    if (s[0] == 0xE2 && s[1] == 0x80 && (s[2] == 0x9C || s[2] == 0x9D))
        return 3;
    if (s[0] == 0xC2 && (s[1] == 0xAB || s[1] == 0xBB))
        return 2;
    return 0;
}

static void sem__features(const char *text, sem_features *f)
{
    const unsigned char *s = (const unsigned char *)text;
    char **nums = NULL, **quotes = NULL;
    size_t nn = 0, nq = 0;
    memset(f, 0, sizeof *f);
    for (size_t i = 0; s[i];) {
        size_t q = sem__quote_mark(s + i);
        if (q) {
            size_t j = i + q, e = j;
            while (s[e] && !sem__quote_mark(s + e))
                e++;
            if (s[e]) {
                char *t = xmalloc(e - j + 1);
                for (size_t k = 0; k < e - j; k++)
                    t[k] = (char)tolower(s[j + k]);
                t[e - j] = '\0';
                quotes = xrealloc(quotes, (nq + 1) * sizeof *quotes);
                quotes[nq++] = t;
                i = e + sem__quote_mark(s + e);
                continue;
            }
            i += q;
            continue;
        }
        if (isdigit(s[i])) {
            buf_t b = BUF_INIT;
            while (isdigit(s[i]) || ((s[i] == '.' || s[i] == ',') && isdigit(s[i + 1]))) {
                if (s[i] != ',')
                    buf_putc(&b, (char)s[i]);
                i++;
            }
            nums = xrealloc(nums, (nn + 1) * sizeof *nums);
            nums[nn++] = buf_detach(&b, NULL);
            continue;
        }
        if (isalpha(s[i])) {
            char w[32];
            size_t n = 0;
            while (isalpha(s[i]) || s[i] == '\'') {
                if (n < sizeof w)
                    w[n++] = (char)tolower(s[i]);
                i++;
            }
            if (n < sizeof w && sem__is_negation(w, n))
                f->negations++;
            continue;
        }
        i++;
    }
    sem__sorted(nums, nn, &f->numbers);
    sem__sorted(quotes, nq, &f->quoted);
    free(nums);
    free(quotes);
}

static bool sem__same(const buf_t *a, const buf_t *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

bool gw_semantic_guard(const char *a, const char *b)
{
    sem_features fa, fb;
    sem__features(a, &fa);
    sem__features(b, &fb);
    bool ok = fa.negations == fb.negations && sem__same(&fa.numbers, &fb.numbers) &&
              sem__same(&fa.quoted, &fb.quoted);
    buf_free(&fa.numbers);
    buf_free(&fa.quoted);
    buf_free(&fb.numbers);
    buf_free(&fb.quoted);
    return ok;
}
