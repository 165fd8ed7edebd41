/*
 * json.h - JSON helpers over cJSON: parsing with the error position, canonical
 * serialisation (sorted keys, one number format) so that equal requests hash to
 * equal keys in every client language, and typed field getters.
 */
#ifndef RAGD_JSON_H
#define RAGD_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "util/buf.h"
#include "util/err.h"

/* Parse n bytes. On success *out is owned by the caller (cJSON_Delete). On a
 * syntax error returns RAGD_EFORMAT and err says where (byte offset, line,
 * column). Empty input is an error. Thread-safe. */
int json_parse(const char *s, size_t n, cJSON **out, ragd_error *err);

/* Append the canonical form of v to b: object keys sorted bytewise, no
 * whitespace, integers without exponent, other numbers as %.17g. */
void json_canonical(const cJSON *v, buf_t *b);

/* Typed getters: return the member or NULL if absent or of another type. */
const char *json_get_str(const cJSON *obj, const char *name);
const cJSON *json_get_obj(const cJSON *obj, const char *name);
const cJSON *json_get_arr(const cJSON *obj, const char *name);

/* Integer member into *out. 0 ok, RAGD_ENOTFOUND absent/null, RAGD_EINVAL when
 * present but not an integer in [min, max]. */
int json_get_int(const cJSON *obj, const char *name, int64_t min, int64_t max,
                 int64_t *out);
/* Number member. Same returns as json_get_int. */
int json_get_num(const cJSON *obj, const char *name, double min, double max, double *out);
/* Boolean member. RAGD_ENOTFOUND absent, RAGD_EINVAL not a bool. */
int json_get_bool(const cJSON *obj, const char *name, bool *out);

/* cJSON_PrintUnformatted into a buf (appends). */
void json_write(const cJSON *v, buf_t *b);

#endif
