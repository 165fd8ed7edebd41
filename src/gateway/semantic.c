/*
 * semantic.c - partitions of prompts, each an exact (flat) cosine index over
 * the prompts' embeddings, kept in memory and filled as answers are stored;
 * one rwlock guards the partition table and the entry arrays (searches share
 * it). The guard compares cheap features that embeddings blur: numbers,
 * negations and quoted strings.
 */
#include "gateway/semantic.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/key.h"
#include "index/flat.h"
#include "util/buf.h"
#include "util/hash.h"
#include "util/json.h"
#include "util/mem.h"

#define SEM_BUCKETS 256
#define SEM_CANDIDATES 4

typedef struct sem_part {
    char name[65];
    flat *idx;
    char **prompts;
    char **skeys;
    bool *dead;
    size_t n, cap;
    struct sem_part *next;
} sem_part;

struct gw_semantic {
    embcache_t *emb;
    size_t dim, max_entries, total;
    pthread_rwlock_t lock;
    sem_part *buckets[SEM_BUCKETS];
};

int gw_semantic_create(embcache_t *emb, size_t max_entries, gw_semantic **out)
{
    gw_semantic *s = xcalloc(1, sizeof *s);
    s->emb = emb;
    s->dim = embcache_dim(emb);
    s->max_entries = max_entries;
    pthread_rwlock_init(&s->lock, NULL);
    *out = s;
    return RAGD_OK;
}

void gw_semantic_destroy(gw_semantic *s)
{
    if (!s)
        return;
    for (int b = 0; b < SEM_BUCKETS; b++) {
        for (sem_part *p = s->buckets[b]; p;) {
            sem_part *next = p->next;
            for (size_t i = 0; i < p->n; i++) {
                free(p->prompts[i]);
                free(p->skeys[i]);
            }
            free(p->prompts);
            free(p->skeys);
            free(p->dead);
            flat_destroy(p->idx);
            free(p);
            p = next;
        }
    }
    pthread_rwlock_destroy(&s->lock);
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
    if (!gw_semantic_qualifies(body, endpoint, max_temperature))
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

/* ---- the index ---------------------------------------------------------------- */

static sem_part **sem__bucket(gw_semantic *s, const char *name)
{
    return &s->buckets[hash_fnv1a64(name, strlen(name)) % SEM_BUCKETS];
}

static sem_part *sem__find(gw_semantic *s, const char *name)
{
    for (sem_part *p = *sem__bucket(s, name); p; p = p->next)
        if (strcmp(p->name, name) == 0)
            return p;
    return NULL;
}

int gw_semantic_lookup(gw_semantic *s, const gw_sem_query *q, double threshold, char *skey,
                       size_t n, float *sim)
{
    int rc = RAGD_ENOTFOUND;
    pthread_rwlock_rdlock(&s->lock);
    sem_part *p = sem__find(s, q->partition);
    vec_hit hits[SEM_CANDIDATES];
    size_t nh = 0;
    if (p && flat_search(p->idx, q->vec, SEM_CANDIDATES, NULL, NULL, hits, &nh) == 0) {
        for (size_t i = 0; i < nh && hits[i].score >= threshold; i++) {
            uint32_t id = hits[i].id;
            if (p->dead[id] || !gw_semantic_guard(q->prompt, p->prompts[id]))
                continue;
            snprintf(skey, n, "%s", p->skeys[id]);
            *sim = hits[i].score;
            rc = RAGD_OK;
            break;
        }
    }
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

void gw_semantic_insert(gw_semantic *s, const gw_sem_query *q, const char *skey)
{
    pthread_rwlock_wrlock(&s->lock);
    sem_part *p = sem__find(s, q->partition);
    if (!p && s->total < s->max_entries) {
        p = xcalloc(1, sizeof *p);
        snprintf(p->name, sizeof p->name, "%s", q->partition);
        if (flat_create(s->dim, VEC_COSINE, &p->idx)) {
            free(p);
            p = NULL;
        } else {
            sem_part **b = sem__bucket(s, q->partition);
            p->next = *b;
            *b = p;
        }
    }
    bool known = false;
    for (size_t i = 0; p && i < p->n && !known; i++) {
        if (strcmp(p->skeys[i], skey) == 0 && strcmp(p->prompts[i], q->prompt) == 0) {
            known = true;
            if (p->dead[i] && flat_add(p->idx, (uint32_t)i, q->vec) == 0)
                p->dead[i] = false;
        }
    }
    if (p && !known && s->total < s->max_entries) {
        if (p->n == p->cap) {
            p->cap = p->cap ? p->cap * 2 : 8;
            p->prompts = xrealloc(p->prompts, p->cap * sizeof *p->prompts);
            p->skeys = xrealloc(p->skeys, p->cap * sizeof *p->skeys);
            p->dead = xrealloc(p->dead, p->cap * sizeof *p->dead);
        }
        if (flat_add(p->idx, (uint32_t)p->n, q->vec) == 0) {
            p->prompts[p->n] = xstrdup(q->prompt);
            p->skeys[p->n] = xstrdup(skey);
            p->dead[p->n] = false;
            p->n++;
            s->total++;
        }
    }
    pthread_rwlock_unlock(&s->lock);
}

void gw_semantic_forget(gw_semantic *s, const char *partition, const char *skey)
{
    pthread_rwlock_wrlock(&s->lock);
    sem_part *p = sem__find(s, partition);
    for (size_t i = 0; p && i < p->n; i++) {
        if (!p->dead[i] && strcmp(p->skeys[i], skey) == 0) {
            p->dead[i] = true;
            flat_delete(p->idx, (uint32_t)i);
        }
    }
    pthread_rwlock_unlock(&s->lock);
}

size_t gw_semantic_count(gw_semantic *s)
{
    pthread_rwlock_rdlock(&s->lock);
    size_t n = s->total;
    pthread_rwlock_unlock(&s->lock);
    return n;
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
