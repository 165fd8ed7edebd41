/*
 * kb_filter_int.h - the compiled filter tree (its nodes: kb_filter_node.c) shared by the two parsers,
 * kb_filter.c (the Mongo-like form, matching) and kb_filter_qdrant.c
 * (Qdrant's must/should/must_not form). Not for other files.
 */
#ifndef RAGD_KB_FILTER_INT_H
#define RAGD_KB_FILTER_INT_H

#include "kb/kb_filter.h"

/* F_AND/F_OR/F_NOR have kids (F_NOR: none may match); the rest test one key. */
enum kb_fop {
    F_AND, F_OR, F_NOR, F_EQ, F_NE, F_IN, F_NIN, F_GT, F_GTE, F_LT, F_LTE, F_EXISTS,
    F_EMPTY,  /* missing, null or [] (Qdrant's is_empty) */
    F_ISNULL, /* present and null (Qdrant's is_null) */
};

struct kb_filter {
    int op;
    char *key;          /* field (conditions only) */
    cJSON *val;         /* owned copy of the operand (NULL for F_EMPTY/F_ISNULL) */
    kb_filter **kids;   /* F_AND / F_OR / F_NOR */
    size_t n;
};

kb_filter *kb_filter__node(int op);
void kb_filter__add(kb_filter *parent, kb_filter *kid);
/* Add a condition op on key with a copy of val (may be NULL) under parent. */
void kb_filter__add_cond(kb_filter *parent, int op, const char *key, const cJSON *val);
bool kb_filter__scalar(const cJSON *v);

/* Is spec in Qdrant's form: every member must/should/must_not, each an array or
 * a condition object (no '$' operators)? */
bool kb_filter__is_qdrant(const cJSON *spec);
/* Compile a Qdrant filter's clauses under into (an F_AND node). */
int kb_filter__qdrant(const cJSON *spec, kb_filter *into, ragd_error *err, int depth);

#endif
