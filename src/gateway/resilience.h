/*
 * resilience.h - what keeps a flaky upstream from hurting clients: retry
 * delays (exponential backoff with full jitter, honouring Retry-After, bounded)
 * and a circuit breaker per provider (closed -> open after N consecutive
 * failures -> half-open after a cool-down, where one probe decides).
 */
#ifndef RAGD_GW_RESILIENCE_H
#define RAGD_GW_RESILIENCE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

enum gw_breaker_state { GW_BREAKER_CLOSED, GW_BREAKER_OPEN, GW_BREAKER_HALF_OPEN };

/* One provider's breaker; init with gw_breaker_init. Thread-safe. */
typedef struct gw_breaker {
    pthread_mutex_t mu;
    int state;
    int failures;             /* consecutive */
    int threshold;            /* failures that open it */
    int64_t cooldown_us;
    int64_t open_until_us;
    bool probing;             /* half-open: a probe is out */
    uint64_t opened_total;
} gw_breaker;

void gw_breaker_init(gw_breaker *b, int threshold, int64_t cooldown_ms);
void gw_breaker_deinit(gw_breaker *b);

/* May a call go out at now_us? In half-open state only one probe at a time. */
bool gw_breaker_allow(gw_breaker *b, int64_t now_us);

/* Report how a call ended (ok = the upstream answered without a 5xx or a
 * connection failure). */
void gw_breaker_record(gw_breaker *b, bool ok, int64_t now_us);

/* Current state name: "closed", "open", "half_open". */
const char *gw_breaker_state_name(gw_breaker *b, int64_t now_us);

/* Delay before retry number attempt (1 = first retry): full jitter over
 * base_ms * 2^(attempt-1), at least retry_after_ms when that is >= 0, never
 * above max_ms. rng is the caller's xorshift state (non-zero). */
int64_t gw_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms, int64_t retry_after_ms,
                      uint64_t *rng);

/* Statuses worth retrying: 429, 500, 502, 503, 504 (and other 5xx). */
bool gw_status_retryable(int status);

#endif
