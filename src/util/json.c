/*
 * json.c - parse with positions, canonical JSON, typed getters.
 */
#include "util/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

int json_parse(const char *s, size_t n, cJSON **out, ragd_error *err)
{
    if (n == 0)
        return ragd_error_set(err, RAGD_EFORMAT, "empty body: expected a JSON document");
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(s, n, &end, false);
    size_t off = end ? (size_t)(end - s) : 0;
    if (v) {
        while (off < n && (s[off] == ' ' || s[off] == '\n' || s[off] == '\r' ||
                           s[off] == '\t' || s[off] == '\0'))
            off++;
        if (off == n) {
            *out = v;
            return RAGD_OK;
        }
        cJSON_Delete(v);
    }
    if (off > n)
        off = n;
    size_t line = 1, col = 1;
    for (size_t i = 0; i < off; i++) {
        if (s[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    return ragd_error_set(err, RAGD_EFORMAT,
                          "malformed JSON at byte %zu (line %zu, column %zu)", off, line, col);
}

static int json__cmp_keys(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(x->string, y->string);
}

static void json__number(double d, buf_t *b)
{
    if (isfinite(d) && d == floor(d) && fabs(d) < 9007199254740992.0)
        buf_printf(b, "%lld", (long long)d);
    else if (isfinite(d))
        buf_printf(b, "%.17g", d);
    else
        buf_puts(b, "null");
}

void json_canonical(const cJSON *v, buf_t *b)
{
    if (cJSON_IsObject(v)) {
        size_t n = 0;
        for (const cJSON *c = v->child; c; c = c->next)
            n++;
        const cJSON **kids = xmalloc((n ? n : 1) * sizeof *kids);
        size_t i = 0;
        for (const cJSON *c = v->child; c; c = c->next)
            kids[i++] = c;
        qsort(kids, n, sizeof *kids, json__cmp_keys);
        buf_putc(b, '{');
        for (i = 0; i < n; i++) {
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

int json_get_int(const cJSON *obj, const char *name, int64_t min, int64_t max, int64_t *out)
{
    double d;
    int rc = json_get_num(obj, name, (double)min, (double)max, &d);
    if (rc)
        return rc;
    if (d != floor(d))
        return RAGD_EINVAL;
    *out = (int64_t)d;
    return RAGD_OK;
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
