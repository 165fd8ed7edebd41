/*
 * kb_filter.c - compile a JSON filter into a small tree of conditions and
 * evaluate it against a document's metadata. Evaluation allocates nothing,
 * since it runs inside the index searches once per candidate. The Mongo-like
 * form is parsed here, Qdrant's must/should/must_not form in kb_filter_qdrant.c.
 */
#include "kb/kb_filter.h"

#include <stdlib.h>
#include <string.h>

#include "kb/kb_filter_int.h"
#include "util/mem.h"

static const struct { const char *name; int op; } kb_filter__ops[] = {
    { "$eq", F_EQ }, { "$ne", F_NE }, { "$in", F_IN }, { "$nin", F_NIN }, { "$gt", F_GT },
    { "$gte", F_GTE }, { "$lt", F_LT }, { "$lte", F_LTE }, { "$exists", F_EXISTS },
};

static int kb_filter__object(const cJSON *spec, kb_filter *into, ragd_error *err, int depth);

/* One field's condition(s): a scalar, or an object of operators. */
static int kb_filter__field(const cJSON *it, kb_filter *into, ragd_error *err)
{
    if (kb_filter__scalar(it)) {
        kb_filter__add_cond(into, F_EQ, it->string, it);
        return RAGD_OK;
    }
    if (!cJSON_IsObject(it) || !it->child)
        return ragd_error_set(err, RAGD_EINVAL,
                              "filter.%s must be a value or an object of operators", it->string);
    for (const cJSON *o = it->child; o; o = o->next) {
        int op = -1;
        for (size_t i = 0; i < sizeof kb_filter__ops / sizeof kb_filter__ops[0]; i++)
            if (!strcmp(o->string, kb_filter__ops[i].name))
                op = kb_filter__ops[i].op;
        if (op < 0)
            return ragd_error_set(err, RAGD_EINVAL,
                                  "filter.%s: unknown operator '%s' (use $eq $ne $in $nin $gt $gte $lt $lte $exists)",
                                  it->string, o->string);
        bool ok = op == F_IN || op == F_NIN ? cJSON_IsArray(o)
                  : op == F_EXISTS          ? cJSON_IsBool(o)
                  : op == F_EQ || op == F_NE ? kb_filter__scalar(o)
                                            : cJSON_IsNumber(o) || cJSON_IsString(o);
        if (ok && (op == F_IN || op == F_NIN))
            for (const cJSON *e = o->child; e; e = e->next)
                ok = ok && kb_filter__scalar(e);
        if (!ok)
            return ragd_error_set(err, RAGD_EINVAL, "filter.%s.%s has an operand of the wrong type",
                                  it->string, o->string);
        kb_filter__add_cond(into, op, it->string, o);
    }
    return RAGD_OK;
}

/* $and / $or: an array of filter objects. */
static int kb_filter__logic(const cJSON *it, int op, kb_filter *into, ragd_error *err, int depth)
{
    if (!cJSON_IsArray(it) || !it->child)
        return ragd_error_set(err, RAGD_EINVAL, "filter.%s must be a non-empty array of filters",
                              it->string);
    kb_filter *g = kb_filter__node(op);
    kb_filter__add(into, g);
    for (const cJSON *e = it->child; e; e = e->next) {
        kb_filter *a = kb_filter__node(F_AND);
        kb_filter__add(g, a);
        if (!cJSON_IsObject(e))
            return ragd_error_set(err, RAGD_EINVAL, "filter.%s holds a non-object", it->string);
        int rc = kb_filter__object(e, a, err, depth + 1);
        if (rc)
            return rc;
    }
    return RAGD_OK;
}

static int kb_filter__object(const cJSON *spec, kb_filter *into, ragd_error *err, int depth)
{
    if (depth > 8)
        return ragd_error_set(err, RAGD_EINVAL, "filter is nested too deeply");
    for (const cJSON *it = spec->child; it; it = it->next) {
        int rc;
        if (!strcmp(it->string, "$and"))
            rc = kb_filter__logic(it, F_AND, into, err, depth);
        else if (!strcmp(it->string, "$or"))
            rc = kb_filter__logic(it, F_OR, into, err, depth);
        else if (it->string[0] == '$')
            rc = ragd_error_set(err, RAGD_EINVAL, "filter: unknown operator '%s' at the top level",
                                it->string);
        else
            rc = kb_filter__field(it, into, err);
        if (rc)
            return rc;
    }
    return RAGD_OK;
}

int kb_filter_compile(const cJSON *spec, kb_filter **out, ragd_error *err)
{
    if (spec && !cJSON_IsNull(spec) && !cJSON_IsObject(spec))
        return ragd_error_set(err, RAGD_EINVAL, "filter must be a JSON object");
    kb_filter *root = kb_filter__node(F_AND);
    int rc = !spec || !cJSON_IsObject(spec)  ? RAGD_OK
             : kb_filter__is_qdrant(spec)    ? kb_filter__qdrant(spec, root, err, 0)
                                             : kb_filter__object(spec, root, err, 0);
    if (rc) {
        kb_filter_destroy(root);
        return rc;
    }
    *out = root;
    return RAGD_OK;
}

void kb_filter_destroy(kb_filter *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        kb_filter_destroy(f->kids[i]);
    free(f->kids);
    free(f->key);
    cJSON_Delete(f->val);
    free(f);
}

bool kb_filter_is_empty(const kb_filter *f)
{
    return !f || (f->op == F_AND && f->n == 0);
}

static bool kb_filter__eq(const cJSON *a, const cJSON *b)
{
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
        return a->valuedouble == b->valuedouble;
    if (cJSON_IsString(a) && cJSON_IsString(b))
        return strcmp(a->valuestring, b->valuestring) == 0;
    if (cJSON_IsBool(a) && cJSON_IsBool(b))
        return cJSON_IsTrue(a) == cJSON_IsTrue(b);
    return cJSON_IsNull(a) && cJSON_IsNull(b);
}

/* Field value v (an element of an array field or the field itself) against
 * operand x. */
static bool kb_filter__eq_any(const cJSON *v, const cJSON *x)
{
    if (cJSON_IsArray(v)) {
        for (const cJSON *e = v->child; e; e = e->next)
            if (kb_filter__eq(e, x))
                return true;
        return false;
    }
    return kb_filter__eq(v, x);
}

static bool kb_filter__in(const cJSON *v, const cJSON *set)
{
    for (const cJSON *x = set->child; x; x = x->next)
        if (kb_filter__eq_any(v, x))
            return true;
    return false;
}

/* -1/0/1, or 2 when v and x are not comparable. */
static int kb_filter__cmp(const cJSON *v, const cJSON *x)
{
    if (cJSON_IsNumber(v) && cJSON_IsNumber(x))
        return (v->valuedouble > x->valuedouble) - (v->valuedouble < x->valuedouble);
    if (cJSON_IsString(v) && cJSON_IsString(x)) {
        int c = strcmp(v->valuestring, x->valuestring);
        return (c > 0) - (c < 0);
    }
    return 2;
}

static bool kb_filter__range(int op, const cJSON *v, const cJSON *x)
{
    if (cJSON_IsArray(v)) {
        for (const cJSON *e = v->child; e; e = e->next)
            if (kb_filter__range(op, e, x))
                return true;
        return false;
    }
    int c = kb_filter__cmp(v, x);
    if (c == 2)
        return false;
    switch (op) {
    case F_GT: return c > 0;
    case F_GTE: return c >= 0;
    case F_LT: return c < 0;
    default: return c <= 0;
    }
}

bool kb_filter_match(const kb_filter *f, const cJSON *md)
{
    if (!f)
        return true;
    if (f->op == F_AND || f->op == F_OR || f->op == F_NOR) {
        for (size_t i = 0; i < f->n; i++) {
            bool m = kb_filter_match(f->kids[i], md);
            if (f->op == F_AND && !m)
                return false;
            if (f->op != F_AND && m)
                return f->op == F_OR;
        }
        return f->op != F_OR;
    }
    const cJSON *v = md ? cJSON_GetObjectItemCaseSensitive(md, f->key) : NULL;
    switch (f->op) {
    case F_EXISTS: return (v != NULL) == cJSON_IsTrue(f->val);
    case F_EMPTY: return !v || cJSON_IsNull(v) || (cJSON_IsArray(v) && !v->child);
    case F_ISNULL: return v && cJSON_IsNull(v);
    case F_EQ: return v && kb_filter__eq_any(v, f->val);
    case F_NE: return !v || !kb_filter__eq_any(v, f->val);
    case F_IN: return v && kb_filter__in(v, f->val);
    case F_NIN: return !v || !kb_filter__in(v, f->val);
    default: return v && kb_filter__range(f->op, v, f->val);
    }
}
