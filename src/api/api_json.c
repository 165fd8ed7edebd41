/*
 * api_json.c - the helpers every handler shares, so all areas parse bodies
 * and shape answers alike: which routes read JSON, the body as a JSON object
 * (400 invalid_json with the position otherwise), vectors, an error from a
 * RAGD_E* code, a JSON reply.
 */
#include "api/api.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/arena.h"
#include "util/json.h"

bool api_parse_json(const http_req *req, http_resp *resp, cJSON **out)
{
    ragd_error err;
    int rc = json_parse(req->body, req->body_len, out, &err);
    if (rc)
        http_error(req, resp, 400, rc == RAGD_ETOOBIG ? "json_too_deep" : "invalid_json", "%s",
                   err.msg);
    return rc == 0;
}

bool api_parse_object(const http_req *req, http_resp *resp, cJSON **out)
{
    cJSON *v = NULL;
    if (!api_parse_json(req, resp, &v))
        return false;
    if (!cJSON_IsObject(v)) {
        cJSON_Delete(v);
        http_error(req, resp, 400, "invalid_json", "the body must be a JSON object");
        return false;
    }
    *out = v;
    return true;
}

bool api_body_is_json(const http_req *req)
{
    return !(req->method == HTTP_PUT && strcmp(req->route, "/api/v1/cache/{prefix}/{key*}") == 0);
}

bool api_get_count(const http_req *req, http_resp *resp, const cJSON *obj, const char *name,
                   int64_t min, int64_t max, int64_t *out)
{
    ragd_error err;
    if (json_get_count(obj, name, min, max, out, &err) == RAGD_EINVAL) {
        http_error(req, resp, 400, "invalid_request", "%s", err.msg);
        return false;
    }
    return true;
}

bool api_get_vector(const http_req *req, http_resp *resp, const cJSON *v, const char *what,
                    float **out, size_t *n)
{
    size_t cnt = cJSON_IsArray(v) ? (size_t)cJSON_GetArraySize(v) : 0, i = 0;
    if (!cnt || cnt > 65536) {
        http_error(req, resp, 400, "invalid_request", "%s must be a non-empty array of at most "
                   "65536 numbers", what);
        return false;
    }
    float *f = arena_alloc(req->arena, cnt * sizeof *f);
    for (const cJSON *e = v->child; e; e = e->next) {
        if (!cJSON_IsNumber(e) || !(fabs(e->valuedouble) <= FLT_MAX)) {
            http_error(req, resp, 400, "invalid_request", "%s[%zu] must be a finite number "
                       "within the range of a float", what, i);
            return false;
        }
        f[i++] = (float)e->valuedouble;
    }
    *out = f;
    *n = cnt;
    return true;
}

bool api_query_count(const http_req *req, http_resp *resp, const char *name, int64_t min,
                     int64_t max, int64_t *out)
{
    ragd_error err;
    if (json_count_text(http_req_query(req, name), name, min, max, out, &err) == RAGD_EINVAL) {
        http_error(req, resp, 400, "invalid_request", "%s", err.msg);
        return false;
    }
    return true;
}

void api_error_rc(const http_req *req, http_resp *resp, int rc, const char *fmt, ...)
{
    int status;
    const char *code;
    http_status_for(rc, &status, &code);
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    http_error(req, resp, status, code, "%s", msg);
}

void api_reply_json(http_resp *resp, int status, const cJSON *v)
{
    buf_t b = BUF_INIT;
    json_write(v, &b);
    http_resp_json(resp, status, &b);
}

embed_work api_embed_work(const http_req *req)
{
    const auth_identity *id = auth_identity_of(req);
    const char *who = !id ? "" : id->user_id[0] ? id->user_id : id->tenant[0] ? id->tenant
                                                                            : id->key_id;
    return (embed_work){ EMBED_BY_SIZE, who };
}
