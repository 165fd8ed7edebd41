/*
 * test_ratelimit.c - rate-limit rules: parsing and its errors, matching by
 * route/method/tier, the before-hook's headers and 429, refunds when a later
 * rule denies, and token reservations reconciled with real usage. Runs on the
 * LMDB store with hand-made requests (no HTTP server).
 */
#include <stdlib.h>
#include <unistd.h>

#include "auth/ratelimit_int.h"
#include "scratch_store.h"
#include "testing.h"
#include "util/json.h"

static int create(store_t *st, const char *json, ratelimit_t **rl)
{
    cJSON *file = NULL;
    if (json_parse(json, strlen(json), &file, NULL))
        abort();
    ratelimit_opts o = { .rules = cJSON_GetObjectItemCaseSensitive(file, "rate_limits") };
    ragd_error err;
    int rc = ratelimit_create(&o, st, rl, &err);
    cJSON_Delete(file);
    return rc;
}

static const char *header(const http_resp *r, const char *name)
{
    for (int i = 0; i < r->nheaders; i++)
        if (!strcmp(r->header_names[i], name))
            return r->header_values[i];
    return NULL;
}

/* A request as the server would hand it to the hook. */
typedef struct fake {
    http_req req;
    http_resp resp;
    auth_identity id;
} fake;

static void fake_init(fake *f, int method, const char *route, const char *user, const char *tier)
{
    memset(f, 0, sizeof *f);
    f->req.method = method;
    f->req.method_name = method == HTTP_GET ? "GET" : "POST";
    f->req.route = route;
    f->req.path = route;
    f->req.auth = &f->id;
    snprintf(f->id.user_id, sizeof f->id.user_id, "%s", user);
    snprintf(f->id.tier, sizeof f->id.tier, "%s", tier);
    snprintf(f->id.key_id, sizeof f->id.key_id, "k");
}

TEST(rule_errors)
{
    store_t *st = scratch_store_open("rlr");
    const char *bad[] = {
        "{\"rate_limits\": 5}",
        "{\"rate_limits\": [{\"window\": 60}]}",                                /* no limit */
        "{\"rate_limits\": [{\"limit\": 5}]}",                                  /* no window */
        "{\"rate_limits\": [{\"limit\": 5, \"window\": \"1y\"}]}",
        "{\"rate_limits\": [{\"limit\": 5, \"window\": 60, \"algorithm\": \"leaky\"}]}",
        "{\"rate_limits\": [{\"limit\": 5, \"window\": 60, \"key_on\": [\"moon\"]}]}",
        "{\"rate_limits\": [{\"limit\": 5, \"window\": 60, \"routes\": [\"no-slash\"]}]}",
        "{\"rate_limits\": [{\"limit\": 5, \"window\": 60, \"unit\": \"bytes\"}]}",
        "{\"rate_limits\": [{\"window\": 60, \"tiers\": {\"free\": 0}}]}",
        "{\"rate_limits\": [{\"name\": \"a\", \"limit\": 1, \"window\": 1},"
        " {\"name\": \"a\", \"limit\": 1, \"window\": 1}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ratelimit_t *rl = NULL;
        int rc = create(st, bad[i], &rl);
        if (rc == 0)
            ratelimit_destroy(rl);
        ASSERT_EQ_INT(rc, RAGD_EINVAL);
    }
    ratelimit_t *rl = NULL;
    ASSERT_OK(create(st, "{\"rate_limits\": {\"rules\": [{\"limit\": 5, \"window\": \"1m\"},"
                         " {\"tiers\": {\"free\": 2}, \"window\": 0.5}]}}", &rl));
    ASSERT_EQ_INT(ratelimit_rule_count(rl), 2);
    ASSERT_EQ_INT(rl->rules[0].p.window_ms, 60000);
    ASSERT_EQ_INT(rl->rules[0].p.algo, STORE_RL_GCRA);
    ASSERT_EQ_INT(rl->rules[1].p.window_ms, 500);
    ratelimit_destroy(rl);
    scratch_store_close(st);
}

static int window(const char *json, int64_t *ms)
{
    cJSON *v = cJSON_Parse(json);
    int rc = ratelimit_window_parse(v, ms);
    cJSON_Delete(v);
    return rc;
}

TEST(window_parse)
{
    int64_t ms = 0;
    ASSERT_OK(window("60", &ms));
    ASSERT_EQ_INT(ms, 60000);
    ASSERT_OK(window("0.25", &ms));
    ASSERT_EQ_INT(ms, 250);
    ASSERT_OK(window("\"500ms\"", &ms));
    ASSERT_EQ_INT(ms, 500);
    ASSERT_OK(window("\"1min\"", &ms));
    ASSERT_EQ_INT(ms, 60000);
    ASSERT_OK(window("\"1d\"", &ms));
    ASSERT_EQ_INT(ms, 86400000);
    /* errors are RAGD_EINVAL like every public function's, and leave *ms alone */
    const char *bad[] = { "0", "-1", "4e8", "\"1y\"", "\"s\"", "\"0.1ms\"", "true", "null" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ms = 7;
        ASSERT_EQ_INT(window(bad[i], &ms), RAGD_EINVAL);
        ASSERT_EQ_INT(ms, 7);
    }
}

TEST(before_hook)
{
    store_t *st = scratch_store_open("rlr");
    ratelimit_t *rl = NULL;
    ASSERT_OK(create(st, "{\"rate_limits\": ["
        "{\"name\": \"chat\", \"algorithm\": \"fixed_window\", \"window\": 3600,"
        " \"tiers\": {\"free\": 2, \"premium\": 4}, \"routes\": [\"/v1/chat/completions\"],"
        " \"methods\": [\"POST\"]},"
        "{\"name\": \"all\", \"algorithm\": \"gcra\", \"window\": 3600, \"limit\": 5,"
        " \"routes\": [\"/v1/*\"], \"key_on\": [\"key\"]}]}", &rl));
    int ok = 0;
    for (int i = 0; i < 4; i++) {
        fake f;
        fake_init(&f, HTTP_POST, "/v1/chat/completions", "alice", "free");
        bool pass = ratelimit_before(rl, &f.req, &f.resp);
        ok += pass;
        if (i == 0) {
            ASSERT_EQ_STR(header(&f.resp, "RateLimit-Limit"), "2");
            ASSERT_EQ_STR(header(&f.resp, "RateLimit-Remaining"), "1");
        }
        if (!pass) {
            ASSERT_EQ_INT(f.resp.status, 429);
            ASSERT_TRUE(header(&f.resp, "Retry-After") != NULL);
            ASSERT_TRUE(strstr(f.resp.body, "rate_limited") != NULL);
        }
        http_resp_clear(&f.resp);
    }
    ASSERT_EQ_INT(ok, 2);
    /* The two denials gave back what the "all" rule took: 3 of its 5 are left. */
    fake f;
    fake_init(&f, HTTP_GET, "/v1/models", "alice", "free");
    ASSERT_TRUE(ratelimit_before(rl, &f.req, &f.resp));
    ASSERT_EQ_STR(header(&f.resp, "RateLimit-Remaining"), "2");
    http_resp_clear(&f.resp);
    /* Premium tier, GET not covered by the chat rule, unmatched routes untouched. */
    fake_init(&f, HTTP_POST, "/v1/chat/completions", "pat", "premium");
    ASSERT_TRUE(ratelimit_before(rl, &f.req, &f.resp));
    /* Headers describe the tightest rule: "all" (1 of 5 left), not "chat" (3 of 4). */
    ASSERT_EQ_STR(header(&f.resp, "RateLimit-Limit"), "5");
    ASSERT_EQ_STR(header(&f.resp, "RateLimit-Remaining"), "1");
    http_resp_clear(&f.resp);
    fake_init(&f, HTTP_GET, "/api/v1/cache/stats", "alice", "free");
    ASSERT_TRUE(ratelimit_before(rl, &f.req, &f.resp));
    ASSERT_TRUE(header(&f.resp, "RateLimit-Limit") == NULL);
    http_resp_clear(&f.resp);
    ratelimit_destroy(rl);
    scratch_store_close(st);
}

TEST(reserve_reconcile)
{
    store_t *st = scratch_store_open("rlr");
    ratelimit_t *rl = NULL;
    ASSERT_OK(create(st, "{\"rate_limits\": [{\"name\": \"tok\", \"unit\": \"tokens\","
                         " \"algorithm\": \"fixed_window\", \"window\": 3600, \"limit\": 1000,"
                         " \"routes\": [\"/v1/chat/completions\"]}]}", &rl));
    fake f;
    fake_init(&f, HTTP_POST, "/v1/chat/completions", "alice", "free");
    /* Token rules are not applied by the before-hook. */
    ASSERT_TRUE(ratelimit_before(rl, &f.req, &f.resp));
    ASSERT_TRUE(header(&f.resp, "RateLimit-Limit") == NULL);
    http_resp_clear(&f.resp);
    ratelimit_reservation res;
    ASSERT_TRUE(ratelimit_reserve(rl, &f.req, 600, &res, &f.resp));
    ASSERT_EQ_INT(res.n, 1);
    ASSERT_EQ_STR(header(&f.resp, "RateLimit-Remaining"), "400");
    http_resp_clear(&f.resp);
    /* Only 150 were used: 450 come back. */
    ASSERT_OK(ratelimit_reconcile(rl, &res, 150));
    ratelimit_reservation r2;
    ASSERT_TRUE(ratelimit_reserve(rl, &f.req, 850, &r2, &f.resp));
    ASSERT_EQ_STR(header(&f.resp, "RateLimit-Remaining"), "0");
    http_resp_clear(&f.resp);
    /* More than estimated is charged too (the limiter may go over, then denies). */
    ASSERT_OK(ratelimit_reconcile(rl, &r2, 900));
    ratelimit_reservation r3;
    ASSERT_TRUE(!ratelimit_reserve(rl, &f.req, 1, &r3, &f.resp));
    ASSERT_EQ_INT(f.resp.status, 429);
    ASSERT_EQ_INT(r3.n, 0);
    http_resp_clear(&f.resp);
    /* A route no token rule covers reserves nothing and passes. */
    fake_init(&f, HTTP_POST, "/v1/embeddings", "alice", "free");
    ASSERT_TRUE(ratelimit_reserve(rl, &f.req, 10, &r3, &f.resp));
    ASSERT_EQ_INT(r3.n, 0);
    http_resp_clear(&f.resp);
    ratelimit_destroy(rl);
    scratch_store_close(st);
}

TEST(check_keys)
{
    store_t *st = scratch_store_open("rlr");
    ratelimit_t *rl = NULL;
    ASSERT_OK(create(st, "{}", &rl));
    store_rl_params p = { STORE_RL_SLIDING, 3, 60000, 0, 1, false };
    store_rl_result r;
    int allowed = 0;
    for (int i = 0; i < 5; i++) {
        ASSERT_OK(ratelimit_check(rl, "login:42", &p, &r));
        allowed += r.allowed;
    }
    ASSERT_EQ_INT(allowed, 3);
    store_value v;
    ASSERT_OK(store_get(st, "rl:check:login:42", 17, &v));
    store_value_free(&v);
    ratelimit_destroy(rl);
    scratch_store_close(st);
}

int main(void)
{
    RUN(rule_errors);
    RUN(window_parse);
    RUN(before_hook);
    RUN(reserve_reconcile);
    RUN(check_keys);
    return TEST_REPORT();
}
