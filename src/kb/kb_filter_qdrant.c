/*
 * kb_filter_qdrant.c - Qdrant's filter form beside the Mongo-like one, so a
 * filter written for Qdrant works unchanged: {"must": [...], "should": [...],
 * "must_not": [...]} over conditions {"key", "match": {"value" | "any" |
 * "except"}}, {"key", "range": {gt, gte, lt, lte}}, {"is_empty": {"key"}},
 * {"is_null": {"key"}} and nested filters. It compiles to the same tree as
 * kb_filter.c (must = all, should = at least one, must_not = none).
 */
#include <string.h>

#include "kb/kb_filter_int.h"

#define KQ_MAX_DEPTH 8

static bool kq__clause_name(const char *s)
{
    return !strcmp(s, "must") || !strcmp(s, "should") || !strcmp(s, "must_not");
}

bool kb_filter__is_qdrant(const cJSON *spec)
{
    if (!spec->child)
        return false;
    for (const cJSON *m = spec->child; m; m = m->next) {
        if (!kq__clause_name(m->string) || (!cJSON_IsArray(m) && !cJSON_IsObject(m)))
            return false;
        for (const cJSON *o = cJSON_IsObject(m) ? m->child : NULL; o; o = o->next)
            if (o->string[0] == '$')
                return false;  /* {"must": {"$eq": ...}}: a field named must */
    }
    return true;
}

/* match: {"value": v} equality, {"any": [...]} in, {"except": [...]} not in. */
static int kq__match(const char *key, const cJSON *m, kb_filter *into, ragd_error *err)
{
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(m, "value")) && kb_filter__scalar(v)) {
        kb_filter__add_cond(into, F_EQ, key, v);
        return RAGD_OK;
    }
    int op = (v = cJSON_GetObjectItemCaseSensitive(m, "any")) ? F_IN
             : (v = cJSON_GetObjectItemCaseSensitive(m, "except")) ? F_NIN : -1;
    bool ok = op >= 0 && cJSON_IsArray(v);
    for (const cJSON *e = ok ? v->child : NULL; e; e = e->next)
        ok = ok && kb_filter__scalar(e);
    if (!ok)
        return ragd_error_set(err, RAGD_EINVAL, "filter: match on '%s' must be {\"value\": v}, "
                              "{\"any\": [...]} or {\"except\": [...]} (full-text match is not "
                              "supported)", key);
    kb_filter__add_cond(into, op, key, v);
    return RAGD_OK;
}

/* range: {gt, gte, lt, lte}, numbers or strings (compared bytewise). */
static int kq__range(const char *key, const cJSON *r, kb_filter *into, ragd_error *err)
{
    static const struct { const char *name; int op; } ops[] = {
        { "gt", F_GT }, { "gte", F_GTE }, { "lt", F_LT }, { "lte", F_LTE },
    };
    size_t used = 0;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, ops[i].name);
        if (!v || cJSON_IsNull(v))
            continue;
        if (!cJSON_IsNumber(v) && !cJSON_IsString(v))
            return ragd_error_set(err, RAGD_EINVAL, "filter: range.%s on '%s' must be a number "
                                  "or a string", ops[i].name, key);
        kb_filter__add_cond(into, ops[i].op, key, v);
        used++;
    }
    if (!used)
        return ragd_error_set(err, RAGD_EINVAL, "filter: range on '%s' needs gt, gte, lt or "
                              "lte", key);
    return RAGD_OK;
}

/* {"is_empty": {"key": k}} / {"is_null": {"key": k}} */
static int kq__key_test(const cJSON *c, const char *name, int op, kb_filter *into,
                        ragd_error *err)
{
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, name),
                                                      "key");
    if (!cJSON_IsString(k) || !*k->valuestring)
        return ragd_error_set(err, RAGD_EINVAL, "filter: %s needs {\"key\": \"field\"}", name);
    kb_filter__add_cond(into, op, k->valuestring, NULL);
    return RAGD_OK;
}

/* One condition (or a nested filter), ANDed into into. */
static int kq__condition(const cJSON *c, kb_filter *into, ragd_error *err, int depth)
{
    if (!cJSON_IsObject(c))
        return ragd_error_set(err, RAGD_EINVAL, "filter: a condition must be an object");
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(c, "key");
    if (cJSON_IsString(key) && *key->valuestring) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(c, "match");
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(c, "range");
        if (cJSON_IsObject(m))
            return kq__match(key->valuestring, m, into, err);
        if (cJSON_IsObject(r))
            return kq__range(key->valuestring, r, into, err);
        return ragd_error_set(err, RAGD_EINVAL, "filter: the condition on '%s' needs an object "
                              "'match' or 'range'", key->valuestring);
    }
    if (cJSON_GetObjectItemCaseSensitive(c, "is_empty"))
        return kq__key_test(c, "is_empty", F_EMPTY, into, err);
    if (cJSON_GetObjectItemCaseSensitive(c, "is_null"))
        return kq__key_test(c, "is_null", F_ISNULL, into, err);
    if (kb_filter__is_qdrant(c))
        return kb_filter__qdrant(c, into, err, depth + 1);
    return ragd_error_set(err, RAGD_EINVAL, "filter: a condition needs 'key' with 'match' or "
                          "'range', 'is_empty', 'is_null', or must/should/must_not (has_id "
                          "and geo conditions are not supported)");
}

/* A clause's conditions (an array, or one object) under group: each in its
 * own AND node when the group is OR/NOR, directly when it is AND. */
static int kq__clause(const cJSON *list, kb_filter *group, ragd_error *err, int depth)
{
    const cJSON *first = cJSON_IsArray(list) ? list->child : list;
    for (const cJSON *c = first; c; c = cJSON_IsArray(list) ? c->next : NULL) {
        kb_filter *into = group;
        if (group->op != F_AND) {
            into = kb_filter__node(F_AND);
            kb_filter__add(group, into);
        }
        int rc = kq__condition(c, into, err, depth);
        if (rc)
            return rc;
    }
    return RAGD_OK;
}

int kb_filter__qdrant(const cJSON *spec, kb_filter *into, ragd_error *err, int depth)
{
    if (depth > KQ_MAX_DEPTH)
        return ragd_error_set(err, RAGD_EINVAL, "filter is nested too deeply");
    for (const cJSON *m = spec->child; m; m = m->next) {
        kb_filter *group = into;
        if (!strcmp(m->string, "should") || !strcmp(m->string, "must_not")) {
            if (cJSON_IsArray(m) && !m->child)
                continue;  /* Qdrant: an empty should/must_not adds no condition */
            group = kb_filter__node(!strcmp(m->string, "should") ? F_OR : F_NOR);
            kb_filter__add(into, group);
        }
        int rc = kq__clause(m, group, err, depth);
        if (rc)
            return rc;
    }
    return RAGD_OK;
}
