/*
 * json.c - parse with positions and the limits for untrusted input (a lexical
 * pass for UTF-8, depth and NUL before cJSON, a tree pass for non-finite numbers and
 * duplicate member names after), canonical JSON, typed getters, and the one
 * checked reader of integers from input.
 */
#include "util/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"
#include "util/utf8.h"

/* Line and column of byte off, for error messages. */
static void json__where(const char *s, size_t off, size_t *line, size_t *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off; i++) {
        if (s[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

/* A lexical pass before cJSON sees the input: UTF-8 (JSON is UTF-8, RFC 8259
 * section 8.1: invalid bytes would become U+FFFD in canonical keys, so two
 * different bodies could share a cache key), nesting depth and NUL inside
 * strings (cJSON keeps a C string, so everything after a NUL would vanish). */
static int json__scan(const char *s, size_t n, ragd_error *err)
{
    int depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if ((unsigned char)ch >= 0x80) { /* never a quote, backslash or bracket */
            size_t k = utf8_valid_prefix(s + i, n - i);
            if (!k)
                return ragd_error_set(err, RAGD_EFORMAT, "invalid UTF-8 at byte %zu: JSON text "
                                      "must be UTF-8", i);
            i += k - 1;
            continue;
        }
        if (in_str) {
            bool nul = ch == '\0' ||
                       (ch == '\\' && i + 5 < n && s[i + 1] == 'u' && !memcmp(s + i + 2, "0000", 4));
            if (nul)
                return ragd_error_set(err, RAGD_EFORMAT,
                                      "a string holds a NUL character at byte %zu: NUL (\\u0000) "
                                      "is not accepted", i);
            if (ch == '\\' && i + 1 < n && (unsigned char)s[i + 1] < 0x80)
                i++; /* an escape; a multi-byte character after it is checked above */
            else if (ch == '"')
                in_str = false;
        } else if (ch == '"') {
            in_str = true;
        } else if (ch == '[' || ch == '{') {
            if (++depth > JSON_MAX_DEPTH)
                return ragd_error_set(err, RAGD_ETOOBIG,
                                      "JSON nested deeper than %d levels at byte %zu",
                                      JSON_MAX_DEPTH, i);
        } else if (ch == ']' || ch == '}') {
            depth--;
        }
    }
    return RAGD_OK;
}

static int json__cmp_keys(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(x->string, y->string);
}

/* The members of an object sorted by name (caller frees; NULL when none). */
static const cJSON **json__sorted_members(const cJSON *obj, size_t *n)
{
    *n = 0;
    for (const cJSON *c = obj->child; c; c = c->next)
        (*n)++;
    if (*n == 0)
        return NULL;
    const cJSON **kids = xmalloc(*n * sizeof *kids);
    size_t i = 0;
    for (const cJSON *c = obj->child; c; c = c->next)
        kids[i++] = c;
    qsort(kids, *n, sizeof *kids, json__cmp_keys);
    return kids;
}

/* No member name twice in one object: cJSON's lookups take the first, most
 * other parsers (and so an upstream the body is forwarded to) the last, so a
 * duplicate would let what is checked, keyed or embedded differ from what is
 * used. */
static int json__unique_members(const cJSON *obj, ragd_error *err)
{
    size_t n;
    int rc = RAGD_OK;
    const cJSON **kids = json__sorted_members(obj, &n);
    for (size_t i = 1; i < n && rc == RAGD_OK; i++)
        if (strcmp(kids[i - 1]->string, kids[i]->string) == 0)
            rc = ragd_error_set(err, RAGD_EFORMAT, "member '%s' appears twice in one object",
                                kids[i]->string);
    free(kids);
    return rc;
}

/* Every number finite (cJSON turns 1e400 into infinity, which would be
 * written back as null) and every object's member names unique. Depth is
 * bounded by json__scan. */
static int json__check_tree(const cJSON *v, ragd_error *err)
{
    if (cJSON_IsNumber(v) && !isfinite(v->valuedouble))
        return ragd_error_set(err, RAGD_EFORMAT,
                              "number out of range%s%s%s: JSON numbers must be finite doubles",
                              v->string ? " in '" : "", v->string ? v->string : "",
                              v->string ? "'" : "");
    int rc = cJSON_IsObject(v) ? json__unique_members(v, err) : RAGD_OK;
    for (const cJSON *c = v->child; c && rc == RAGD_OK; c = c->next)
        rc = json__check_tree(c, err);
    return rc;
}

/* cJSON over n bytes; trailing whitespace (and NULs) allowed. */
static cJSON *json__parse_all(const char *s, size_t n, size_t *stop)
{
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(s, n, &end, false);
    size_t off = end ? (size_t)(end - s) : 0;
    if (v) {
        while (off < n && (s[off] == ' ' || s[off] == '\n' || s[off] == '\r' ||
                           s[off] == '\t' || s[off] == '\0'))
            off++;
        if (off == n)
            return v;
        cJSON_Delete(v);
    }
    *stop = off > n ? n : off;
    return NULL;
}

int json_parse(const char *s, size_t n, cJSON **out, ragd_error *err)
{
    if (n == 0)
        return ragd_error_set(err, RAGD_EFORMAT, "empty body: expected a JSON document");
    int rc = json__scan(s, n, err);
    if (rc)
        return rc;
    size_t off = 0;
    cJSON *v = json__parse_all(s, n, &off);
    if (!v) {
        size_t line, col;
        json__where(s, off, &line, &col);
        return ragd_error_set(err, RAGD_EFORMAT, "malformed JSON at byte %zu (line %zu, column %zu)",
                              off, line, col);
    }
    if ((rc = json__check_tree(v, err))) {
        cJSON_Delete(v);
        return rc;
    }
    *out = v;
    return RAGD_OK;
}

int json_parse_stored(const char *s, size_t n, cJSON **out)
{
    size_t off;
    cJSON *v = n ? json__parse_all(s, n, &off) : NULL;
    if (!v)
        return RAGD_EFORMAT;
    *out = v;
    return RAGD_OK;
}

static void json__number(double d, buf_t *b)
{
    if (isfinite(d) && d == floor(d) && fabs(d) < 9007199254740992.0)
        buf_put_i64(b, (int64_t)d);
    else if (isfinite(d))
        buf_printf(b, "%.17g", d);
    else
        buf_puts(b, "null");
}

void json_canonical(const cJSON *v, buf_t *b)
{
    if (cJSON_IsObject(v)) {
        size_t n;
        const cJSON **kids = json__sorted_members(v, &n);
        buf_putc(b, '{');
        for (size_t i = 0; i < n; i++) {
            if (i)
                buf_putc(b, ',');
            buf_put_json_str(b, kids[i]->string, strlen(kids[i]->string));
            buf_putc(b, ':');
            json_canonical(kids[i], b);
        }
        buf_putc(b, '}');
        free(kids);
    } else if (cJSON_IsArray(v)) {
        buf_putc(b, '[');
        for (const cJSON *c = v->child; c; c = c->next) {
            if (c != v->child)
                buf_putc(b, ',');
            json_canonical(c, b);
        }
        buf_putc(b, ']');
    } else if (cJSON_IsString(v)) {
        buf_put_json_str(b, v->valuestring, strlen(v->valuestring));
    } else if (cJSON_IsNumber(v)) {
        json__number(v->valuedouble, b);
    } else if (cJSON_IsTrue(v)) {
        buf_puts(b, "true");
    } else if (cJSON_IsFalse(v)) {
        buf_puts(b, "false");
    } else {
        buf_puts(b, "null");
    }
}

const char *json_get_str(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

const cJSON *json_get_obj(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsObject(v) ? v : NULL;
}

const cJSON *json_get_arr(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsArray(v) ? v : NULL;
}

int json_get_num(const cJSON *obj, const char *name, double min, double max, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v || cJSON_IsNull(v))
        return RAGD_ENOTFOUND;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < min ||
        v->valuedouble > max)
        return RAGD_EINVAL;
    *out = v->valuedouble;
    return RAGD_OK;
}

static int64_t json__clamp(int64_t v)
{
    return v > JSON_INT_LIMIT ? JSON_INT_LIMIT : v < -JSON_INT_LIMIT ? -JSON_INT_LIMIT : v;
}

static int json__range_error(const char *name, int64_t min, int64_t max, ragd_error *err)
{
    return ragd_error_set(err, RAGD_EINVAL, "'%s' must be an integer from %lld to %lld",
                          name ? name : "value", (long long)min, (long long)max);
}

int json_get_count(const cJSON *obj, const char *name, int64_t min, int64_t max, int64_t *out,
                   ragd_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v || cJSON_IsNull(v))
        return RAGD_ENOTFOUND;
    min = json__clamp(min);
    max = json__clamp(max);
    /* Compare as doubles first: both bounds are exact in a double, and NaN fails. */
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(d >= (double)min && d <= (double)max) || d != floor(d))
        return json__range_error(name, min, max, err);
    *out = (int64_t)d;
    return RAGD_OK;
}

int json_count_text(const char *text, const char *name, int64_t min, int64_t max, int64_t *out,
                    ragd_error *err)
{
    if (!text)
        return RAGD_ENOTFOUND;
    min = json__clamp(min);
    max = json__clamp(max);
    const char *p = text + (text[0] == '-');
    size_t nd = strspn(p, "0123456789");
    if (nd == 0 || nd > 16 || p[nd] != '\0')
        return json__range_error(name, min, max, err);
    int64_t v = 0;
    for (size_t i = 0; i < nd; i++)
        v = v * 10 + (p[i] - '0');  /* at most 16 digits: no overflow */
    if (text[0] == '-')
        v = -v;
    if (v < min || v > max)
        return json__range_error(name, min, max, err);
    *out = v;
    return RAGD_OK;
}

int json_get_int(const cJSON *obj, const char *name, int64_t min, int64_t max, int64_t *out)
{
    return json_get_count(obj, name, min, max, out, NULL);
}

int json_get_bool(const cJSON *obj, const char *name, bool *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v || cJSON_IsNull(v))
        return RAGD_ENOTFOUND;
    if (!cJSON_IsBool(v))
        return RAGD_EINVAL;
    *out = cJSON_IsTrue(v);
    return RAGD_OK;
}

void json_write(const cJSON *v, buf_t *b)
{
    char *s = cJSON_PrintUnformatted(v);
    if (!s)
        return;
    buf_puts(b, s);
    cJSON_free(s);
}
