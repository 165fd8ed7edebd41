/*
 * kb_filter_node.c - the nodes of a compiled filter tree (kb_filter_int.h),
 * built by both parsers: kb_filter.c (the Mongo-like form) and
 * kb_filter_qdrant.c (Qdrant's form). Kept apart so that the two parsers sit
 * on it and kb_filter.c may call kb_filter_qdrant.c without a loop.
 */
#include <stdlib.h>

#include "kb/kb_filter_int.h"
#include "util/mem.h"

kb_filter *kb_filter__node(int op)
{
    kb_filter *f = xcalloc(1, sizeof *f);
    f->op = op;
    return f;
}

void kb_filter__add(kb_filter *parent, kb_filter *kid)
{
    parent->kids = xrealloc(parent->kids, (parent->n + 1) * sizeof *parent->kids);
    parent->kids[parent->n++] = kid;
}

void kb_filter__add_cond(kb_filter *parent, int op, const char *key, const cJSON *val)
{
    kb_filter *c = kb_filter__node(op);
    c->key = xstrdup(key);
    c->val = val ? cJSON_Duplicate(val, 1) : NULL;
    kb_filter__add(parent, c);
}

bool kb_filter__scalar(const cJSON *v)
{
    return cJSON_IsString(v) || cJSON_IsNumber(v) || cJSON_IsBool(v) || cJSON_IsNull(v);
}
