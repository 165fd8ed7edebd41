/*
 * fuzz_json.c - libFuzzer harness for JSON parsing and canonical keys
 * (util/json.c, gateway/key.c): any bytes either parse or give a positioned
 * error (invalid UTF-8 is refused); canonical output is valid JSON and a
 * fixed point; the completion cache key of a body is the
 * same for a body and its canonical re-parse; the typed getters never misread
 * a member.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "gateway/key.h"
#include "util/json.h"

static void fuzz__getters(const cJSON *v)
{
    static const char *const names[] = { "limit", "top_k", "ttl", "model", "messages",
                                         "temperature", "stream", "metadata" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int64_t n;
        double d;
        bool b;
        if (json_get_int(v, names[i], 0, INT64_MAX, &n) == 0 && n < 0)
            abort();
        if (json_get_int(v, names[i], -5, 5, &n) == 0 && (n < -5 || n > 5))
            abort();
        if (json_get_num(v, names[i], 0.0, 2.0, &d) == 0 && !(d >= 0.0 && d <= 2.0))
            abort();
        (void)json_get_bool(v, names[i], &b);
        (void)json_get_str(v, names[i]);
        (void)json_get_obj(v, names[i]);
        (void)json_get_arr(v, names[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = fuzz_strndup(data, size);
    cJSON *v = NULL;
    ragd_error err;
    if (json_parse(in, size, &v, &err) != 0) {
        free(in);
        return 0;
    }
    buf_t c1 = BUF_INIT, c2 = BUF_INIT, c3 = BUF_INIT;
    json_canonical(v, &c1);
    cJSON *w = NULL, *x = NULL;
    if (json_parse(c1.data, c1.len, &w, &err) != 0)
        abort();  /* canonical output is valid JSON */
    json_canonical(w, &c2);
    if (json_parse(c2.data, c2.len, &x, &err) != 0)
        abort();
    json_canonical(x, &c3);
    if (c2.len != c3.len || memcmp(c2.data, c3.data, c2.len) != 0)
        abort();  /* canonical form is a fixed point */
    fuzz__getters(v);
    if (cJSON_IsObject(v)) {
        buf_t k1 = BUF_INIT, k2 = BUF_INIT;
        char h1[HASH_SHA256_HEX_LEN + 1], h2[HASH_SHA256_HEX_LEN + 1];
        gw_key_build(w, GW_CHAT, "user:alice", &k1, h1);
        gw_key_build(x, GW_CHAT, "user:alice", &k2, h2);
        if (strcmp(h1, h2) != 0)
            abort();  /* equal requests share a key */
        buf_free(&k1);
        buf_free(&k2);
    }
    buf_free(&c1);
    buf_free(&c2);
    buf_free(&c3);
    cJSON_Delete(v);
    cJSON_Delete(w);
    cJSON_Delete(x);
    free(in);
    return 0;
}
