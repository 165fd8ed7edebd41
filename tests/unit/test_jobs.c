/*
 * test_jobs.c - ingestion jobs: the state machine, the record codec (round
 * trip, damaged values refused, errors capped), the ETA from word pieces, and
 * the service over a real LMDB store and knowledge base: a job runs to
 * success, an unfinished job is resumed by a new service on the same store
 * (as after a crash) with every document indexed once, a group counted once,
 * cancel, per-document errors that do not fail the others, a lease kept
 * while a turn longer than the lease runs, owners (not jobs) taking turns and
 * their owner passed to the model scheduler as the tenant, and the counts
 * /metrics and /health show.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs/jobs_int.h"
#include "kb_fixture.h"
#include "testing.h"
#include "util/clock.h"
#include "util/json.h"

static char g_dir[] = "/tmp/ragd-test-jobs-XXXXXX";
static wordpiece *g_wp;
static store_t *g_store;
static kb_t *g_kb;

TEST(states_move_only_forward)
{
    for (int s = 0; s < JOBS_STATE_N; s++) {
        ASSERT_EQ_INT(jobs_state_parse(jobs_state_name(s)), s);
        for (int t = 0; t < JOBS_STATE_N; t++)
            if (jobs_state_terminal(s))
                ASSERT_TRUE(!jobs_state_allows(s, t));
    }
    ASSERT_EQ_INT(jobs_state_parse("done"), -1);
    ASSERT_EQ_INT(jobs_state_parse(NULL), -1);
    ASSERT_TRUE(jobs_state_name(JOBS_STATE_N) == NULL);
    ASSERT_TRUE(jobs_state_allows(JOBS_ENQUEUED, JOBS_PROCESSING));
    ASSERT_TRUE(jobs_state_allows(JOBS_ENQUEUED, JOBS_CANCELLED));
    ASSERT_TRUE(!jobs_state_allows(JOBS_ENQUEUED, JOBS_SUCCEEDED));
    ASSERT_TRUE(jobs_state_allows(JOBS_PROCESSING, JOBS_PROCESSING));
    ASSERT_TRUE(jobs_state_allows(JOBS_PROCESSING, JOBS_SUCCEEDED));
    ASSERT_TRUE(!jobs_state_allows(JOBS_PROCESSING, JOBS_ENQUEUED));
    ASSERT_TRUE(!jobs_state_allows(JOBS_CANCELLED, JOBS_PROCESSING));
}

static void sample(jobs_record *r)
{
    jobs_record_init(r);
    strcpy(r->id, "job_0123456789abcdef01234567");
    strcpy(r->ns, "docs");
    strcpy(r->user, "alice");
    strcpy(r->key_id, "key_00");
    r->state = JOBS_PROCESSING;
    r->created_ms = 1000;
    r->started_ms = 2000;
    r->updated_ms = 4000;
    r->docs_total = 10;
    r->docs_done = 4;
    r->tokens_total = 1000;
    r->tokens_done = 200;
    r->groups_total = 5;
    r->next_group = 2;
}

TEST(record_round_trips)
{
    jobs_record r, d;
    sample(&r);
    jobs_record_add_error(&r, 3, "d3", "invalid_request", "bad");
    buf_t b = BUF_INIT;
    jobs_record_encode(&r, &b);
    ASSERT_OK(jobs_record_decode(b.data, b.len, &d));
    buf_t b2 = BUF_INIT;
    jobs_record_encode(&d, &b2);
    ASSERT_EQ_STR(b.data, b2.data);
    ASSERT_EQ_STR(d.user, "alice");
    ASSERT_EQ_STR(jobs_record_owner_key(&d), "alice");
    d.user[0] = '\0';
    ASSERT_EQ_STR(jobs_record_owner_key(&d), "key_00"); /* no user, no tenant: the key */
    d.key_id[0] = '\0';
    ASSERT_EQ_STR(jobs_record_owner_key(&d), "docs");   /* no auth: the namespace */
    ASSERT_EQ_INT(d.next_group, 2);
    ASSERT_EQ_INT(d.errors_total, 1);
    buf_free(&b);
    buf_free(&b2);
    jobs_record_clear(&r);
    jobs_record_clear(&d);
}

TEST(damaged_records_are_refused)
{
    jobs_record r, d;
    sample(&r);
    buf_t b = BUF_INIT;
    jobs_record_encode(&r, &b);
    for (size_t cut = 0; cut < b.len; cut += 7) /* every truncation */
        ASSERT_EQ_INT(jobs_record_decode(b.data, cut, &d), RAGD_EFORMAT);
    const char *const bad[] = {
        "[]", "{}", "\"job\"",
        "{\"id\":\"j\",\"namespace\":\"n\",\"state\":\"sleeping\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ASSERT_EQ_INT(jobs_record_decode(bad[i], strlen(bad[i]), &d), RAGD_EFORMAT);
    /* next_group beyond groups_total, a negative count */
    r.next_group = 9;
    buf_reset(&b);
    jobs_record_encode(&r, &b);
    ASSERT_EQ_INT(jobs_record_decode(b.data, b.len, &d), RAGD_EFORMAT);
    r.next_group = 2;
    r.work_ms = -5;
    buf_reset(&b);
    jobs_record_encode(&r, &b);
    ASSERT_EQ_INT(jobs_record_decode(b.data, b.len, &d), RAGD_EFORMAT);
    ASSERT_TRUE(d.errors == NULL);
    buf_free(&b);
    jobs_record_clear(&r);
}

TEST(errors_are_counted_and_capped)
{
    jobs_record r;
    sample(&r);
    for (int i = 0; i < JOBS_ERRORS_KEPT + 20; i++)
        jobs_record_add_error(&r, (uint64_t)i, "x", "invalid_request", "m");
    ASSERT_EQ_INT(r.errors_total, JOBS_ERRORS_KEPT + 20);
    ASSERT_EQ_INT(cJSON_GetArraySize(r.errors), JOBS_ERRORS_KEPT);
    jobs_record_clear(&r);
}

TEST(eta_comes_from_word_pieces)
{
    jobs_record r;
    sample(&r); /* 200 of 1000 pieces in 2 s: 100/s, 800 left */
    cJSON *v = jobs_record_view(&r);
    ASSERT_EQ_INT(cJSON_GetObjectItem(v, "eta_seconds")->valuedouble, 8);
    ASSERT_NEAR(cJSON_GetObjectItem(v, "progress")->valuedouble, 0.2, 1e-9);
    ASSERT_EQ_STR(json_get_str(v, "status"), "processing");
    ASSERT_EQ_STR(json_get_str(v, "location"), "/api/v1/jobs/job_0123456789abcdef01234567");
    cJSON_Delete(v);
    r.tokens_done = 0; /* no rate yet */
    v = jobs_record_view(&r);
    ASSERT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(v, "eta_seconds")));
    cJSON_Delete(v);
    r.state = JOBS_SUCCEEDED;
    v = jobs_record_view(&r);
    ASSERT_EQ_INT(cJSON_GetObjectItem(v, "eta_seconds")->valuedouble, 0);
    cJSON_Delete(v);
    jobs_record_clear(&r);
}

/* ---- the service ---- */

static jobs_t *open_jobs_lease(int64_t delay_ms, int64_t lease_ms)
{
    jobs_opts o;
    jobs_default_opts(&o);
    o.store = g_store;
    o.kb = g_kb;
    o.group_docs = 2;
    o.group_delay_ms = delay_ms;
    o.lease_ms = lease_ms;
    o.max_chunks = 3;
    jobs_t *j = NULL;
    ragd_error err;
    if (jobs_create(&o, &j, &err))
        fprintf(stderr, "jobs_create: %s\n", err.msg);
    return j;
}

static jobs_t *open_jobs(int64_t delay_ms)
{
    return open_jobs_lease(delay_ms, 30000);
}

static char g_texts[16][64];

static cJSON *submit(jobs_t *j, size_t n, const char *long_text)
{
    kb_doc_in docs[16];
    char ids[16][24];
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "d%zu", i);
        snprintf(g_texts[i], sizeof g_texts[i], "the quick brown fox %zu", i);
        const char *t = long_text && i == 1 ? long_text : g_texts[i];
        docs[i] = (kb_doc_in){ ids[i], t, strlen(t), NULL, NULL, 0 };
    }
    cJSON *job = NULL;
    ragd_error err;
    if (jobs_submit(j, "ns", docs, n, NULL, &job, &err))
        fprintf(stderr, "jobs_submit: %s\n", err.msg);
    return job;
}

/* Poll job id until it reaches a terminal state (or 60 s pass). */
static cJSON *wait_done(jobs_t *j, const char *id)
{
    for (int i = 0; i < 6000; i++) {
        cJSON *v = NULL;
        if (jobs_get(j, id, &v, NULL, NULL) == 0 &&
            jobs_state_terminal(jobs_state_parse(json_get_str(v, "status"))))
            return v;
        cJSON_Delete(v);
        clock_sleep_ms(10);
    }
    return NULL;
}

static double num(const cJSON *v, const char *obj, const char *name)
{
    const cJSON *o = obj ? cJSON_GetObjectItem(v, obj) : v;
    return cJSON_GetObjectItem(o, name)->valuedouble;
}

static void reset_ns(void)
{
    kb_ns_drop(g_kb, "ns", NULL);
    ragd_error err;
    kb_ns_create(g_kb, "ns", NULL, &err);
}

TEST(a_job_runs_to_success_and_bad_input_is_refused_up_front)
{
    reset_ns();
    jobs_t *j = open_jobs(0);
    ASSERT_TRUE(j);
    kb_doc_in bad = { "", "text", 4, NULL, NULL, 0 };
    cJSON *job = NULL;
    ragd_error err;
    ASSERT_EQ_INT(jobs_submit(j, "ns", &bad, 1, NULL, &job, &err), RAGD_EINVAL);
    kb_doc_in ok = { "x", "text", 4, NULL, NULL, 0 };
    ASSERT_EQ_INT(jobs_submit(j, "missing", &ok, 1, NULL, &job, &err), RAGD_ENOTFOUND);
    job = submit(j, 5, NULL);
    ASSERT_TRUE(job);
    ASSERT_EQ_STR(json_get_str(job, "status"), "enqueued");
    cJSON *done = wait_done(j, json_get_str(job, "id"));
    ASSERT_TRUE(done);
    ASSERT_EQ_STR(json_get_str(done, "status"), "succeeded");
    ASSERT_EQ_INT(num(done, "documents", "done"), 5);
    ASSERT_EQ_INT(num(done, "tokens", "done"), num(done, "tokens", "total"));
    kb_ns_info in;
    ASSERT_OK(kb_ns_get_info(g_kb, "ns", &in));
    ASSERT_EQ_INT(in.documents, 5);
    kb_ns_info_clear(&in);
    /* the documents of a finished job are gone from the store: the worker drops
     * them after it records the end, so stop it (joined) before looking */
    jobs_destroy(j);
    buf_t k = BUF_INIT;
    jobs__key_group(&k, json_get_str(job, "id"), 0);
    ASSERT_EQ_INT(store_exists(g_store, k.data, k.len), RAGD_ENOTFOUND);
    buf_free(&k);
    cJSON_Delete(job);
    cJSON_Delete(done);
}

TEST(an_unfinished_job_resumes_with_every_document_once)
{
    reset_ns();
    jobs_t *j = open_jobs(200);
    cJSON *job = submit(j, 9, NULL);
    ASSERT_TRUE(job);
    char id[JOBS_ID_MAX + 1];
    snprintf(id, sizeof id, "%s", json_get_str(job, "id"));
    cJSON_Delete(job);
    for (int i = 0; i < 3000; i++) { /* until one group is done */
        jobs_record r;
        ASSERT_OK(jobs__load(j, id, &r));
        uint32_t g = r.next_group;
        jobs_record_clear(&r);
        if (g >= 1)
            break;
        clock_sleep_ms(10);
    }
    jobs_destroy(j); /* stops between groups, as a crash would leave it */
    jobs_record r;
    ASSERT_OK(jobs__load_from(g_store, id, &r)); /* checked before a new service can run it */
    ASSERT_TRUE(!jobs_state_terminal(r.state) && r.next_group < r.groups_total);
    jobs_record_clear(&r);
    j = open_jobs(0);
    cJSON *done = wait_done(j, id);
    ASSERT_TRUE(done);
    ASSERT_EQ_STR(json_get_str(done, "status"), "succeeded");
    ASSERT_EQ_INT(num(done, "documents", "done"), 9);
    kb_ns_info in;
    ASSERT_OK(kb_ns_get_info(g_kb, "ns", &in));
    ASSERT_EQ_INT(in.documents, 9);
    ASSERT_EQ_INT(in.chunks, 9);
    kb_ns_info_clear(&in);
    cJSON_Delete(done);
    jobs_destroy(j);
}

static int g_seen_group;
static int redo_fn(jobs_record *r, void *ud, int64_t *ttl)
{
    (void)ud;
    (void)ttl;
    g_seen_group = (int)r->next_group;
    return RAGD_EEXISTS;
}

TEST(cancel_keeps_what_was_indexed_and_drops_the_rest)
{
    reset_ns();
    jobs_t *j = open_jobs(300);
    cJSON *job = submit(j, 10, NULL);
    ASSERT_TRUE(job);
    const char *id = json_get_str(job, "id");
    cJSON *c = NULL;
    ASSERT_OK(jobs_cancel(j, id, &c));
    ASSERT_EQ_STR(json_get_str(c, "status"), "cancelled");
    cJSON_Delete(c);
    ASSERT_EQ_INT(jobs_cancel(j, id, &c), RAGD_ECONFLICT); /* finished already */
    cJSON_Delete(c);
    ASSERT_EQ_INT(jobs_cancel(j, "job_nope", &c), RAGD_ENOTFOUND);
    ASSERT_EQ_INT(jobs__update(j, id, redo_fn, NULL, NULL), RAGD_EEXISTS);
    jobs_destroy(j);
    kb_ns_info in;
    ASSERT_OK(kb_ns_get_info(g_kb, "ns", &in));
    ASSERT_TRUE(in.documents < 10); /* at most the group under way when cancelled */
    kb_ns_info_clear(&in);
    cJSON_Delete(job);
}

TEST(one_bad_document_does_not_fail_the_others)
{
    reset_ns();
    jobs_t *j = open_jobs(0);
    static char big[8192];
    for (int i = 0; i < 120; i++) /* more chunks than max_chunks (3) */
        strcat(big, "squat bench press chest leg knee pain ");
    cJSON *job = submit(j, 4, big);
    ASSERT_TRUE(job);
    cJSON *done = wait_done(j, json_get_str(job, "id"));
    ASSERT_TRUE(done);
    ASSERT_EQ_STR(json_get_str(done, "status"), "succeeded");
    ASSERT_EQ_INT(num(done, "documents", "done"), 3);
    ASSERT_EQ_INT(num(done, "documents", "failed"), 1);
    const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(done, "errors"), 0);
    ASSERT_EQ_STR(json_get_str(e, "id"), "d1");
    ASSERT_EQ_STR(json_get_str(e, "code"), "payload_too_large");
    ASSERT_EQ_INT(num(e, NULL, "index"), 1);
    cJSON_Delete(done);
    cJSON_Delete(job);
    jobs_destroy(j);
}

/* ---- leases, fairness, what the service shows ---- */

/* The tenants the model was asked to embed for, in order (the worker thread
 * writes, the test reads). */
static pthread_mutex_t g_rec_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_rec[64][32];
static int g_nrec;

static int rec_embed(void *ud, kb_embed_class cls, const char *tenant, const char *const *texts,
                     const size_t *lens, size_t n, float *out)
{
    pthread_mutex_lock(&g_rec_mu);
    if (g_nrec < 64)
        snprintf(g_rec[g_nrec++], sizeof g_rec[0], "%s", tenant ? tenant : "(null)");
    pthread_mutex_unlock(&g_rec_mu);
    return kbfx_embed(ud, cls, tenant, texts, lens, n, out);
}

static bool lease_is(jobs_t *j, const char *id, const char *who)
{
    buf_t k = BUF_INIT;
    jobs__key_lease(&k, id);
    store_value v;
    bool same = false;
    if (store_get(g_store, k.data, k.len, &v) == 0) {
        same = v.len == strlen(who) && !memcmp(v.data, who, v.len);
        store_value_free(&v);
    }
    buf_free(&k);
    (void)j;
    return same;
}

static uint32_t groups_done(jobs_t *j, const char *id)
{
    jobs_record r;
    if (jobs__load(j, id, &r))
        return 0;
    uint32_t g = r.next_group;
    jobs_record_clear(&r);
    return g;
}

TEST(a_turn_longer_than_the_lease_keeps_it)
{
    reset_ns();
    /* a 1.5 s pause inside the turn, a 450 ms lease: kept only by renewal */
    jobs_t *j = open_jobs_lease(1500, 450);
    ASSERT_TRUE(j);
    cJSON *job = submit(j, 2, NULL);
    ASSERT_TRUE(job);
    const char *id = json_get_str(job, "id");
    while (!lease_is(j, id, jobs_instance(j)) && groups_done(j, id) == 0)
        clock_sleep_ms(5);
    buf_t k = BUF_INIT;
    jobs__key_lease(&k, id);
    const char *other = "0123456789abcdef0123456789abcdef"; /* another instance */
    int tries = 0;
    while (groups_done(j, id) == 0) {
        int rc = store_set(g_store, k.data, k.len, other, 32, 200, STORE_NX);
        if (rc == 0 && groups_done(j, id) == 0) { /* taken while the turn still ran */
            ASSERT_EQ_INT(rc, RAGD_EEXISTS);
            break;
        }
        tries++;
        clock_sleep_ms(20);
    }
    ASSERT_TRUE(tries > 0);
    buf_free(&k);
    cJSON *done = wait_done(j, id);
    ASSERT_TRUE(done);
    ASSERT_EQ_STR(json_get_str(done, "status"), "succeeded");
    cJSON_Delete(done);
    cJSON_Delete(job);
    jobs_destroy(j);
}

static cJSON *submit_as(jobs_t *j, const char *ns, const char *user, int n)
{
    kb_doc_in docs[16];
    static char ids[16][32], texts[16][64];
    for (int i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "%s-%d", ns, i);
        snprintf(texts[i], sizeof texts[i], "the lazy dog %s %d", ns, i);
        docs[i] = (kb_doc_in){ ids[i], texts[i], strlen(texts[i]), NULL, NULL, 0 };
    }
    jobs_owner who = { user, NULL, "key", "" };
    cJSON *job = NULL;
    ragd_error err;
    if (jobs_submit(j, ns, docs, (size_t)n, &who, &job, &err))
        fprintf(stderr, "jobs_submit: %s\n", err.msg);
    return job;
}

TEST(owners_take_turns_whatever_their_number_of_jobs)
{
    ragd_error err;
    const char *nss[] = { "a1", "a2", "b1" };
    for (int i = 0; i < 3; i++) {
        kb_ns_drop(g_kb, nss[i], NULL);
        ASSERT_OK(kb_ns_create(g_kb, nss[i], NULL, &err));
    }
    jobs_t *j = open_jobs(100); /* every submit is in before the second turn */
    pthread_mutex_lock(&g_rec_mu);
    g_nrec = 0;
    pthread_mutex_unlock(&g_rec_mu);
    cJSON *ja = submit_as(j, "a1", "alice", 8), *jb = submit_as(j, "a2", "alice", 8);
    cJSON *jc = submit_as(j, "b1", "bob", 8); /* 4 groups each */
    ASSERT_TRUE(ja && jb && jc);
    cJSON *d[3] = { wait_done(j, json_get_str(ja, "id")), wait_done(j, json_get_str(jb, "id")),
                    wait_done(j, json_get_str(jc, "id")) };
    ASSERT_TRUE(d[0] && d[1] && d[2]);
    pthread_mutex_lock(&g_rec_mu);
    int n = g_nrec;
    pthread_mutex_unlock(&g_rec_mu);
    ASSERT_EQ_INT(n, 12);
    int bob = 0;
    for (int i = 0; i < n; i++) {
        ASSERT_TRUE(!strcmp(g_rec[i], "alice") || !strcmp(g_rec[i], "bob"));
        bob += !strcmp(g_rec[i], "bob");
        if (i > 0 && bob < 4) /* while bob has work, nobody runs twice in a row */
            ASSERT_TRUE(strcmp(g_rec[i], g_rec[i - 1]) != 0);
    }
    ASSERT_EQ_INT(bob, 4);
    for (int i = 0; i < 3; i++)
        cJSON_Delete(d[i]);
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    cJSON_Delete(jc);
    jobs_destroy(j);
}

/* The value of the sample line starting with line_start (-1 if none). */
static double sample_of(const buf_t *b, const char *line_start)
{
    for (const char *p = b->data; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, line_start, strlen(line_start)))
            return strtod(p + strlen(line_start), NULL);
    return -1;
}

TEST(metrics_and_health_show_the_jobs)
{
    reset_ns();
    jobs_t *j = open_jobs(400);
    cJSON *first = submit(j, 4, NULL), *second = submit(j, 2, NULL);
    ASSERT_TRUE(first && second);
    const char *id1 = json_get_str(first, "id");
    while (!lease_is(j, id1, jobs_instance(j)) && groups_done(j, id1) == 0)
        clock_sleep_ms(5);
    cJSON *h = jobs_health(j); /* the first job runs, the second waits */
    ASSERT_EQ_STR(json_get_str(h, "instance"), jobs_instance(j));
    ASSERT_TRUE(num(h, NULL, "enqueued") + num(h, NULL, "processing") >= 2);
    ASSERT_TRUE(num(h, NULL, "leases_held") >= 1);
    bool seen = false;
    for (const cJSON *e = cJSON_GetObjectItem(h, "running")->child; e; e = e->next)
        if (!strcmp(json_get_str(e, "id"), id1)) {
            seen = true;
            ASSERT_EQ_STR(json_get_str(e, "lease_holder"), jobs_instance(j));
            ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(e, "this_instance")));
        }
    ASSERT_TRUE(seen);
    cJSON_Delete(h);
    cJSON *d1 = wait_done(j, id1), *d2 = wait_done(j, json_get_str(second, "id"));
    ASSERT_TRUE(d1 && d2);
    cJSON *c = NULL;
    ASSERT_EQ_INT(jobs_cancel(j, id1, &c), RAGD_ECONFLICT); /* not counted twice */
    cJSON_Delete(c);
    clock_sleep_ms(JOBS_OVERVIEW_MAX_AGE_MS + 50); /* the next overview is counted again */
    buf_t b = BUF_INIT;
    jobs_metrics_render(j, &b);
    ASSERT_TRUE(sample_of(&b, "ragd_jobs{state=\"succeeded\"} ") >= 2);
    ASSERT_EQ_INT(sample_of(&b, "ragd_jobs{state=\"processing\"} "), 0);
    ASSERT_EQ_INT(sample_of(&b, "ragd_jobs_total{outcome=\"succeeded\"} "), 2);
    ASSERT_EQ_INT(sample_of(&b, "ragd_jobs_total{outcome=\"cancelled\"} "), 0);
    ASSERT_EQ_INT(sample_of(&b, "ragd_jobs_documents_total{result=\"indexed\"} "), 6);
    ASSERT_EQ_INT(sample_of(&b, "ragd_jobs_groups_total "), 3);
    ASSERT_EQ_INT(sample_of(&b, "ragd_jobs_tokens_total "),
                  num(d1, "tokens", "total") + num(d2, "tokens", "total"));
    ASSERT_EQ_INT(sample_of(&b, "ragd_job_duration_seconds_count "), 2);
    ASSERT_EQ_INT(sample_of(&b, "ragd_job_duration_seconds_bucket{le=\"+Inf\"} "), 2);
    ASSERT_EQ_INT(sample_of(&b, "ragd_jobs_leases_held "), 0);
    buf_free(&b);
    cJSON *third = submit(j, 2, NULL);
    ASSERT_OK(jobs_cancel(j, json_get_str(third, "id"), &c));
    cJSON_Delete(c);
    jobs_metrics_render(j, &b);
    ASSERT_EQ_INT(sample_of(&b, "ragd_jobs_total{outcome=\"cancelled\"} "), 1);
    buf_free(&b);
    cJSON_Delete(third);
    cJSON_Delete(d1);
    cJSON_Delete(d2);
    cJSON_Delete(first);
    cJSON_Delete(second);
    jobs_destroy(j);
}

int main(void)
{
    if (!mkdtemp(g_dir) || !(g_wp = kbfx_tokenizer(g_dir)) || !(g_store = kbfx_store(g_dir)))
        return 1;
    kb_opts o = { .store = g_store, .tokenizer = g_wp, .embed = rec_embed, .dim = KBFX_DIM,
                  .model = "bow", .max_chunk_tokens = 254, .load_threads = 1 };
    ragd_error err;
    if (kb_open(&o, &g_kb, &err))
        return 1;
    RUN(states_move_only_forward);
    RUN(record_round_trips);
    RUN(damaged_records_are_refused);
    RUN(errors_are_counted_and_capped);
    RUN(eta_comes_from_word_pieces);
    RUN(a_job_runs_to_success_and_bad_input_is_refused_up_front);
    RUN(an_unfinished_job_resumes_with_every_document_once);
    RUN(cancel_keeps_what_was_indexed_and_drops_the_rest);
    RUN(one_bad_document_does_not_fail_the_others);
    RUN(a_turn_longer_than_the_lease_keeps_it);
    RUN(owners_take_turns_whatever_their_number_of_jobs);
    RUN(metrics_and_health_show_the_jobs);
    kb_close(g_kb);
    store_close(g_store);
    wordpiece_close(g_wp);
    kbfx_rmdir(g_dir);
    return TEST_REPORT();
}
