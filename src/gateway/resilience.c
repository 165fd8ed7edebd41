/*
 * resilience.c - backoff arithmetic and the circuit breaker state machine
 * (Nygard, "Release It!": closed, open, half-open).
 */
#include "gateway/resilience.h"

void gw_breaker_init(gw_breaker *b, int threshold, int64_t cooldown_ms)
{
    pthread_mutex_init(&b->mu, NULL);
    b->state = GW_BREAKER_CLOSED;
    b->failures = 0;
    b->threshold = threshold > 0 ? threshold : 1;
    b->cooldown_us = cooldown_ms * 1000;
    b->open_until_us = 0;
    b->probing = false;
    b->opened_total = 0;
}

void gw_breaker_deinit(gw_breaker *b)
{
    pthread_mutex_destroy(&b->mu);
}

/* Move open -> half-open once the cool-down has passed. Caller holds mu. */
static void breaker__tick(gw_breaker *b, int64_t now_us)
{
    if (b->state == GW_BREAKER_OPEN && now_us >= b->open_until_us) {
        b->state = GW_BREAKER_HALF_OPEN;
        b->probing = false;
    }
}

bool gw_breaker_allow(gw_breaker *b, int64_t now_us)
{
    pthread_mutex_lock(&b->mu);
    breaker__tick(b, now_us);
    bool ok = b->state == GW_BREAKER_CLOSED;
    if (b->state == GW_BREAKER_HALF_OPEN && !b->probing) {
        b->probing = true;
        ok = true;
    }
    pthread_mutex_unlock(&b->mu);
    return ok;
}

void gw_breaker_record(gw_breaker *b, bool ok, int64_t now_us)
{
    pthread_mutex_lock(&b->mu);
    if (ok) {
        b->failures = 0;
        b->state = GW_BREAKER_CLOSED;
        b->probing = false;
    } else {
        b->failures++;
        if (b->state == GW_BREAKER_HALF_OPEN ||
            (b->state == GW_BREAKER_CLOSED && b->failures >= b->threshold)) {
            b->state = GW_BREAKER_OPEN;
            b->open_until_us = now_us + b->cooldown_us;
            b->probing = false;
            b->opened_total++;
        }
    }
    pthread_mutex_unlock(&b->mu);
}

const char *gw_breaker_state_name(gw_breaker *b, int64_t now_us)
{
    pthread_mutex_lock(&b->mu);
    breaker__tick(b, now_us);
    int s = b->state;
    pthread_mutex_unlock(&b->mu);
    return s == GW_BREAKER_OPEN ? "open" : s == GW_BREAKER_HALF_OPEN ? "half_open" : "closed";
}

int64_t gw_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms, int64_t retry_after_ms,
                      uint64_t *rng)
{
    int shift = attempt > 1 ? attempt - 1 : 0;
    if (shift > 20)
        shift = 20;
    int64_t cap = base_ms << shift;
    if (cap > max_ms)
        cap = max_ms;
    uint64_t x = *rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *rng = x;
    int64_t d = cap > 0 ? (int64_t)(x % (uint64_t)(cap + 1)) : 0;
    if (retry_after_ms >= 0 && d < retry_after_ms)
        d = retry_after_ms;
    return d > max_ms ? max_ms : d;
}

bool gw_status_retryable(int status)
{
    return status == 429 || (status >= 500 && status <= 599 && status != 501);
}
