/*
 * json.h - JSON helpers over cJSON: parsing with the error position and the
 * limits for untrusted input (nesting depth, no NUL in strings, finite
 * numbers, unique member names), canonical serialisation (sorted keys, one number format) so that
 * equal requests hash to equal keys in every client language, and typed field
 * getters, among them the one checked reader of counts and sizes from input.
 */
#ifndef RAGD_JSON_H
#define RAGD_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "util/buf.h"
#include "util/err.h"

/* Deepest nesting of arrays and objects json_parse accepts (the top-level
 * value is depth 1). Values the server stores wrap what it accepted in a few
 * more levels; json_parse_stored reads those. */
#define JSON_MAX_DEPTH 64

/* Parse n bytes of untrusted input (request bodies, tokens, files, upstream
 * answers). On success *out is owned by the caller (cJSON_Delete); on failure
 * *out is untouched and err says what and where:
 *   RAGD_EFORMAT  a syntax error (byte offset, line, column); bytes that are
 *                 not valid UTF-8 (offset of the first); a string holding
 *                 NUL (a \u0000 escape or a raw 0 byte: cJSON would cut the
 *                 string there, so the bytes used would not be the bytes sent);
 *                 a number that is not a finite double (1e400); a member name
 *                 twice in one object (cJSON reads the first, other parsers
 *                 the last)
 *   RAGD_ETOOBIG  arrays/objects nested deeper than JSON_MAX_DEPTH
 * Empty input is RAGD_EFORMAT. Thread-safe. */
int json_parse(const char *s, size_t n, cJSON **out, ragd_error *err);

/* Parse a value this server stored earlier (sessions, history, documents,
 * keys): no depth limit beyond cJSON's own. 0 and *out owned by the caller,
 * or RAGD_EFORMAT with *out untouched: callers must treat that as a damaged
 * value (report it, never overwrite it as if empty). Thread-safe. */
int json_parse_stored(const char *s, size_t n, cJSON **out);

/* Append the canonical form of v to b: object keys sorted bytewise, no
 * whitespace, integers without exponent, other numbers as %.17g. */
void json_canonical(const cJSON *v, buf_t *b);

/* Typed getters: return the member or NULL if absent or of another type. */
const char *json_get_str(const cJSON *obj, const char *name);
const cJSON *json_get_obj(const cJSON *obj, const char *name);
const cJSON *json_get_arr(const cJSON *obj, const char *name);

/* Integers beyond +-2^53 are not exact in a double: json_get_count and
 * json_count_text clamp their bounds to this. */
#define JSON_INT_LIMIT ((int64_t)1 << 53)

/* The one checked reader of a count, size, limit, TTL or other integer taken
 * from input: member `name` of obj must be a JSON number with no fraction in
 * [min, max] (bounds clamped to +-JSON_INT_LIMIT). The range is checked on the
 * parsed number before any conversion or arithmetic, so 9223372036854775807,
 * 1e300, -1 (when min is 0), 2.5, NaN and "10" (a string) are refused, never
 * wrapped. Returns 0 with *out set; RAGD_ENOTFOUND when absent or null (*out
 * untouched); RAGD_EINVAL otherwise, with err (optional) saying
 * "'<name>' must be an integer from <min> to <max>". Thread-safe. */
int json_get_count(const cJSON *obj, const char *name, int64_t min, int64_t max, int64_t *out,
                   ragd_error *err);

/* The same rule for a decimal text (a query-string or header value): an
 * optional '-' then 1-16 digits, nothing else (no spaces, no '+', no
 * fraction). NULL text is RAGD_ENOTFOUND. */
int json_count_text(const char *text, const char *name, int64_t min, int64_t max, int64_t *out,
                    ragd_error *err);

/* json_get_count without the message (for internal and configuration data). */
int json_get_int(const cJSON *obj, const char *name, int64_t min, int64_t max,
                 int64_t *out);
/* Number member. Same returns as json_get_int. */
int json_get_num(const cJSON *obj, const char *name, double min, double max, double *out);
/* Boolean member. RAGD_ENOTFOUND absent, RAGD_EINVAL not a bool. */
int json_get_bool(const cJSON *obj, const char *name, bool *out);

/* cJSON_PrintUnformatted into a buf (appends). */
void json_write(const cJSON *v, buf_t *b);

#endif
