/*
 * user_content.c - per-user content items as owned knowledge-base documents
 * (user_content.h): ids, the lenient content-type match, TTL per content
 * type, and list/get/delete restricted to the owner.
 */
#include "kb/user_content.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "util/clock.h"
#include "util/hash.h"
#include "util/json.h"
#include "util/mem.h"

#define UC_OWNER_HEX 12

bool uc_type_ok(const char *t)
{
    size_t n = t ? strlen(t) : 0;
    if (n == 0 || n > UC_TYPE_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)t[i]) && t[i] != '_' && t[i] != '-' && t[i] != '.')
            return false;
    return true;
}

/* The singular, lower-case stem of a content type: "Activities" -> "activity",
 * "workouts" -> "workout", "progress" stays (a double s is not a plural). */
static void uc__stem(const char *t, char out[UC_TYPE_MAX + 2])
{
    size_t n = 0;
    for (; t[n] && n < UC_TYPE_MAX; n++)
        out[n] = (char)tolower((unsigned char)t[n]);
    out[n] = '\0';
    if (n > 3 && !strcmp(out + n - 3, "ies"))
        strcpy(out + n - 3, "y");
    else if (n > 1 && out[n - 1] == 's' && out[n - 2] != 's')
        out[n - 1] = '\0';
}

bool uc_type_same(const char *a, const char *b)
{
    char x[UC_TYPE_MAX + 2], y[UC_TYPE_MAX + 2];
    uc__stem(a, x);
    uc__stem(b, y);
    return !strcmp(x, y);
}

/* The spellings a stored item of the same kind may have (types are stored in
 * lower case): as given, singular, plural. */
static void uc__variants(const char *t, cJSON *arr)
{
    char low[UC_TYPE_MAX + 2], s[UC_TYPE_MAX + 2], plural[UC_TYPE_MAX + 8];
    size_t k = 0;
    for (; t[k] && k < UC_TYPE_MAX; k++)
        low[k] = (char)tolower((unsigned char)t[k]);
    low[k] = '\0';
    uc__stem(t, s);
    size_t n = strlen(s);
    if (n > 1 && s[n - 1] == 'y')
        snprintf(plural, sizeof plural, "%.*sies", (int)(n - 1), s);
    else
        snprintf(plural, sizeof plural, "%ss", s);
    const char *forms[3] = {low, s, plural};
    for (int i = 0; i < 3; i++)
        if (i == 0 || (strcmp(forms[i], low) && (i < 2 || strcmp(forms[i], s))))
            cJSON_AddItemToArray(arr, cJSON_CreateString(forms[i]));
}

cJSON *uc_type_filter(const char *const *types, size_t n, const cJSON *also)
{
    cJSON *f = cJSON_CreateObject();
    cJSON *in = cJSON_AddArrayToObject(cJSON_AddObjectToObject(f, "content_type"), "$in");
    for (size_t i = 0; i < n; i++)
        uc__variants(types[i], in);
    if (!also || cJSON_IsNull(also) || (cJSON_IsObject(also) && !also->child))
        return f;
    cJSON *both = cJSON_CreateObject(), *and = cJSON_AddArrayToObject(both, "$and");
    cJSON_AddItemToArray(and, cJSON_Duplicate(also, 1));
    cJSON_AddItemToArray(and, f);
    return both;
}

/* ---- TTL per content type ---- */

/* One "type=seconds" rule of n bytes at r into m. */
static int uc__ttl_rule(const char *r, size_t n, uc_ttl_map *m, ragd_error *err)
{
    const char *eq = memchr(r, '=', n);
    char type[UC_TYPE_MAX + 2] = {0}, num[24] = {0};
    size_t tl = eq ? (size_t)(eq - r) : 0, nl = eq ? n - tl - 1 : 0;
    if (eq && tl <= UC_TYPE_MAX)
        memcpy(type, r, tl);
    if (eq && nl < sizeof num)
        memcpy(num, eq + 1, nl);
    char *end = NULL;
    long long sec = num[0] >= '0' && num[0] <= '9' ? strtoll(num, &end, 10) : -1;
    if (!eq || (strcmp(type, "*") && !uc_type_ok(type)) || !end || *end || sec > UC_TTL_MAX)
        return ragd_error_set(err, RAGD_EINVAL, "user_content_ttl: '%.*s' is not "
                              "type=seconds (a content type or *, seconds 0-%d)", (int)n, r,
                              UC_TTL_MAX);
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->v[i].type, "*") ? !strcmp(type, "*")
                                       : strcmp(type, "*") && uc_type_same(m->v[i].type, type))
            return ragd_error_set(err, RAGD_EINVAL, "user_content_ttl: '%s' is given twice",
                                  type);
    m->v = xrealloc(m->v, (m->n + 1) * sizeof *m->v);
    memcpy(m->v[m->n].type, type, strlen(type) + 1); /* at most UC_TYPE_MAX: checked */
    m->v[m->n++].seconds = sec;
    return 0;
}

int uc_ttl_parse(const char *spec, uc_ttl_map *out, ragd_error *err)
{
    uc_ttl_map m = {0};
    for (const char *p = spec ? spec : ""; *p;) {
        size_t n = strcspn(p, ",");
        while (n && (*p == ' ' || *p == '\t'))
            p++, n--;
        size_t k = n;
        while (k && (p[k - 1] == ' ' || p[k - 1] == '\t'))
            k--;
        int rc = k ? uc__ttl_rule(p, k, &m, err) : 0;
        if (rc) {
            uc_ttl_free(&m);
            return rc;
        }
        p += n + (p[n] == ',');
    }
    *out = m;
    return 0;
}

void uc_ttl_free(uc_ttl_map *m)
{
    free(m->v);
    m->v = NULL;
    m->n = 0;
}

int64_t uc_ttl_of(const uc_ttl_map *m, const char *content_type)
{
    int64_t any = 0;
    for (size_t i = 0; m && i < m->n; i++) {
        if (!strcmp(m->v[i].type, "*"))
            any = m->v[i].seconds;
        else if (uc_type_same(m->v[i].type, content_type))
            return m->v[i].seconds;
    }
    return any;
}

int64_t uc_ttl_expiry(int64_t ttl)
{
    return ttl > 0 ? (clock_wall_ms() + 999) / 1000 + ttl : 0;
}

int uc_ns_ensure(kb_t *kb, const char *ns, ragd_error *err)
{
    if (kb_ns_exists(kb, ns))
        return 0;
    kb_ns_settings s;
    kb_ns_settings_default(kb, &s);
    int rc = kb_ns_create(kb, ns, &s, err);
    kb_ns_settings_clear(&s);
    return rc == RAGD_EEXISTS ? 0 : rc;
}

static void uc__owner_hex(const char *user, char out[UC_OWNER_HEX + 1])
{
    char full[HASH_SHA256_HEX_LEN + 1];
    hash_sha256_hex(user, strlen(user), full);
    memcpy(out, full, UC_OWNER_HEX);
    out[UC_OWNER_HEX] = '\0';
}

static void uc__new_id(const char *user, char id[UC_ID_LEN + 1])
{
    uint8_t rnd[10];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        uint64_t t = (uint64_t)clock_mono_ns() ^ (uint64_t)clock_wall_ms() << 20;
        memcpy(rnd, &t, 8);
        rnd[8] = (uint8_t)(t >> 7);
        rnd[9] = (uint8_t)(t >> 29);
    }
    char owner[UC_OWNER_HEX + 1], r[2 * sizeof rnd + 1];
    uc__owner_hex(user, owner);
    hash_hex(rnd, sizeof rnd, r);
    snprintf(id, UC_ID_LEN + 1, "%s-%s", owner, r);
}

static void uc__iso_now(char out[32])
{
    int64_t ms = clock_wall_ms();
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

int uc_item_put(kb_t *kb, const char *ns, const uc_item_in *in, char id[UC_ID_LEN + 1],
                ragd_error *err)
{
    if (!in->user_id || !*in->user_id)
        return ragd_error_set(err, RAGD_EINVAL, "an item needs a user_id");
    if (!uc_type_ok(in->content_type))
        return ragd_error_set(err, RAGD_EINVAL, "content_type must be 1-%d characters of "
                              "[A-Za-z0-9_.-]", UC_TYPE_MAX);
    if (in->metadata && !cJSON_IsObject(in->metadata))
        return ragd_error_set(err, RAGD_EINVAL, "metadata must be an object");
    cJSON *md = in->metadata ? cJSON_Duplicate(in->metadata, 1) : cJSON_CreateObject();
    char now[32];
    uc__iso_now(now);
    cJSON_DeleteItemFromObjectCaseSensitive(md, "content_type");
    cJSON_DeleteItemFromObjectCaseSensitive(md, "created_at");
    char type[UC_TYPE_MAX + 1];
    size_t k = 0;
    for (; in->content_type[k]; k++)
        type[k] = (char)tolower((unsigned char)in->content_type[k]);
    type[k] = '\0';
    cJSON_AddStringToObject(md, "content_type", type);
    cJSON_AddStringToObject(md, "created_at", now);
    char newid[UC_ID_LEN + 1];
    uc__new_id(in->user_id, newid);
    kb_doc_in d = {.id = newid, .text = in->text, .len = in->len, .metadata = md,
                   .user_id = in->user_id, .expires_at = in->expires_at};
    kb_upsert_stats st;
    int rc = kb_docs_upsert(kb, ns, &d, 1, &st, err);
    cJSON_Delete(md);
    if (rc == 0)
        memcpy(id, newid, sizeof newid);
    return rc;
}

/* The stored document of user's item id, or RAGD_ENOTFOUND. */
static int uc__doc(kb_t *kb, const char *ns, const char *user, const char *id, cJSON **doc)
{
    char owner[UC_OWNER_HEX + 1];
    uc__owner_hex(user, owner);
    if (strlen(id) != UC_ID_LEN || strncmp(id, owner, UC_OWNER_HEX) || id[UC_OWNER_HEX] != '-')
        return RAGD_ENOTFOUND;
    int rc = kb_doc_get(kb, ns, id, false, doc);
    if (rc)
        return rc;
    const char *u = json_get_str(*doc, "user_id");
    if (!u || strcmp(u, user)) {
        cJSON_Delete(*doc);
        *doc = NULL;
        return RAGD_ENOTFOUND;
    }
    return 0;
}

/* A stored document in the item shape (takes doc). */
static cJSON *uc__item(cJSON *doc)
{
    cJSON *o = cJSON_CreateObject();
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
    const char *ct = json_get_str(md, "content_type"), *at = json_get_str(md, "created_at");
    cJSON_AddStringToObject(o, "id", json_get_str(doc, "id"));
    cJSON_AddStringToObject(o, "user_id", json_get_str(doc, "user_id"));
    cJSON_AddStringToObject(o, "content", json_get_str(doc, "text"));
    cJSON_AddStringToObject(o, "content_type", ct ? ct : "");
    cJSON *m = md ? cJSON_Duplicate(md, 1) : cJSON_CreateObject();
    cJSON_DeleteItemFromObjectCaseSensitive(m, "content_type");
    cJSON_DeleteItemFromObjectCaseSensitive(m, "created_at");
    cJSON_AddItemToObject(o, "metadata", m);
    cJSON_AddStringToObject(o, "created_at", at ? at : "");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(doc, "expires_at");
    if (cJSON_IsNumber(exp))
        cJSON_AddNumberToObject(o, "expires_at", exp->valuedouble);
    cJSON_Delete(doc);
    return o;
}

int uc_item_get(kb_t *kb, const char *ns, const char *user_id, const char *id, cJSON **out)
{
    cJSON *doc = NULL;
    int rc = uc__doc(kb, ns, user_id, id, &doc);
    if (rc == 0)
        *out = uc__item(doc);
    return rc;
}

int uc_item_delete(kb_t *kb, const char *ns, const char *user_id, const char *id)
{
    cJSON *doc = NULL;
    int rc = uc__doc(kb, ns, user_id, id, &doc);
    cJSON_Delete(doc);
    return rc ? rc : kb_doc_delete_as(kb, ns, id, kb_owner_is, user_id);
}

static int uc__newest_first(const void *a, const void *b)
{
    const cJSON *x = *(cJSON *const *)a, *y = *(cJSON *const *)b;
    int c = strcmp(json_get_str(y, "created_at"), json_get_str(x, "created_at"));
    return c ? c : strcmp(json_get_str(x, "id"), json_get_str(y, "id"));
}

/* Every item of user (of content_type when given) into *v (malloc'd). */
static int uc__collect(kb_t *kb, const char *ns, const char *user, const char *content_type,
                       cJSON ***v, size_t *nv)
{
    char **ids = NULL, owner[UC_OWNER_HEX + 1];
    size_t n = 0, cap = 0;
    uint64_t total = 0;
    uc__owner_hex(user, owner);
    int rc = kb_doc_list(kb, ns, 0, SIZE_MAX, &ids, &n, &total);
    if (rc)
        return rc;
    *v = NULL;
    *nv = 0;
    for (size_t i = 0; i < n; i++) {
        cJSON *doc = NULL;
        if (strncmp(ids[i], owner, UC_OWNER_HEX) || uc__doc(kb, ns, user, ids[i], &doc))
            continue;
        cJSON *it = uc__item(doc);
        if (content_type && !uc_type_same(content_type, json_get_str(it, "content_type"))) {
            cJSON_Delete(it);
            continue;
        }
        if (*nv == cap) {
            cap = cap ? 2 * cap : 16;
            *v = xrealloc(*v, cap * sizeof **v);
        }
        (*v)[(*nv)++] = it;
    }
    kb_names_free(ids, n);
    return 0;
}

int uc_item_list(kb_t *kb, const char *ns, const char *user_id, const char *content_type,
                 size_t offset, size_t limit, cJSON **items, uint64_t *total)
{
    cJSON **v;
    size_t n;
    int rc = uc__collect(kb, ns, user_id, content_type, &v, &n);
    if (rc)
        return rc;
    if (n)
        qsort(v, n, sizeof *v, uc__newest_first);
    *items = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        if (i >= offset && i - offset < limit)
            cJSON_AddItemToArray(*items, v[i]);
        else
            cJSON_Delete(v[i]);
    }
    *total = n;
    free(v);
    return 0;
}
