/*
 * store_rl.c - rate-limit decisions: the store front (argument checks, the
 * global prefix) and the three algorithms in C over a small text state, run by
 * backends inside one write transaction (store_lmdb_rl.c). The Redis backend
 * runs the same arithmetic in Lua (store_redis_rl.c); both keep the same state
 * text so the unit tests can hold one against the other.
 *
 * States: "F <window_start_us> <count>", "S <window_start_us> <cur> <prev>",
 * "G <tat_us>". Times are wall-clock microseconds.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

#define RL_MAX_WINDOW_MS (10ll * 366 * 86400 * 1000)
#define RL_MAX_UNITS 1000000000000ll
#define RL_MAX_SPAN_US (1ll << 52)

static int64_t rl__ceil_ms(int64_t us)
{
    return us <= 0 ? 0 : (us + 999) / 1000;
}

/* Parse "<tag> n1 n2 ..." into v[]; returns how many numbers were read. */
static int rl__parse(const char *state, size_t slen, char tag, int64_t *v, int max)
{
    char buf[STORE_RL_STATE_MAX];
    if (!state || slen < 2 || slen >= sizeof buf || state[0] != tag || state[1] != ' ')
        return 0;
    memcpy(buf, state, slen);
    buf[slen] = '\0';
    int n = 0;
    char *p = buf + 2, *end;
    while (n < max && *p) {
        long long x = strtoll(p, &end, 10);
        if (end == p)
            return 0;
        v[n++] = x;
        p = end;
        while (*p == ' ')
            p++;
    }
    return n;
}

static void rl__fixed(const store_rl_params *p, const char *state, size_t slen, int64_t now,
                      char *out_state, int64_t *ttl_ms, store_rl_result *r)
{
    int64_t w = p->window_ms * 1000, start = now - now % w, v[2] = { 0, 0 }, count = 0;
    if (rl__parse(state, slen, 'F', v, 2) == 2 && v[0] == start)
        count = v[1];
    if (p->force) {
        count = count + p->cost < 0 ? 0 : count + p->cost;
        r->allowed = count <= p->limit;
    } else if (count + p->cost <= p->limit) {
        count += p->cost;
        r->allowed = true;
    } else {
        r->retry_after_ms = p->cost > p->limit ? -1 : rl__ceil_ms(start + w - now);
    }
    r->limit = p->limit;
    r->remaining = count >= p->limit ? 0 : p->limit - count;
    r->reset_after_ms = rl__ceil_ms(start + w - now);
    snprintf(out_state, STORE_RL_STATE_MAX, "F %" PRId64 " %" PRId64, start, count);
    *ttl_ms = r->reset_after_ms > 0 ? r->reset_after_ms : 1;
}

/* Sliding window: the previous window counts in proportion to how much of it
 * still overlaps the sliding window ending now (Cloudflare's approximation). */
static void rl__sliding(const store_rl_params *p, const char *state, size_t slen, int64_t now,
                        char *out_state, int64_t *ttl_ms, store_rl_result *r)
{
    int64_t w = p->window_ms * 1000, start = now - now % w, v[3], cur = 0, prev = 0;
    if (rl__parse(state, slen, 'S', v, 3) == 3) {
        if (v[0] == start) {
            cur = v[1];
            prev = v[2];
        } else if (v[0] == start - w) {
            prev = v[1];
        }
    }
    int64_t elapsed = now - start;
    double weight = (double)(w - elapsed) / (double)w;
    double est = (double)prev * weight + (double)cur;
    if (p->force) {
        cur = cur + p->cost < 0 ? 0 : cur + p->cost;
        r->allowed = (double)prev * weight + (double)cur <= (double)p->limit;
    } else if (est + (double)p->cost <= (double)p->limit) {
        cur += p->cost;
        r->allowed = true;
    } else if (p->cost > p->limit) {
        r->retry_after_ms = -1;
    } else if (cur + p->cost > p->limit) {
        /* Wait for the next window, then until cur's weight has fallen enough. */
        double t = (double)w * (1.0 - (double)(p->limit - p->cost) / (double)cur);
        r->retry_after_ms = rl__ceil_ms(start + w - now + (int64_t)ceil(t));
    } else {
        double e = (double)w * (1.0 - (double)(p->limit - p->cost - cur) / (double)prev);
        int64_t wait = (int64_t)ceil(e) - elapsed;
        r->retry_after_ms = rl__ceil_ms(wait > 0 ? wait : 1);
    }
    double left = (double)p->limit - ((double)prev * weight + (double)cur);
    r->limit = p->limit;
    r->remaining = left <= 0 ? 0 : (int64_t)floor(left);
    r->reset_after_ms = rl__ceil_ms(start + w - now);
    snprintf(out_state, STORE_RL_STATE_MAX, "S %" PRId64 " %" PRId64 " %" PRId64, start, cur,
             prev);
    *ttl_ms = rl__ceil_ms(start + 2 * w - now);
}

/* GCRA: one request costs an emission interval T = window/limit; the bucket
 * tolerates burst*T of arrivals ahead of schedule. The state is the theoretical
 * arrival time (TAT) of the next request. */
static void rl__gcra(const store_rl_params *p, const char *state, size_t slen, int64_t now,
                     char *out_state, int64_t *ttl_ms, store_rl_result *r)
{
    int64_t burst = p->burst > 0 ? p->burst : p->limit;
    int64_t t = p->window_ms * 1000 / p->limit;
    if (t < 1)
        t = 1;
    int64_t dvt = t * burst, v[1], tat = now;
    if (rl__parse(state, slen, 'G', v, 1) == 1 && v[0] > now)
        tat = v[0];
    int64_t inc = t * p->cost, new_tat = tat + inc;
    if (p->force) {
        tat = new_tat < now ? now : new_tat;
        r->allowed = tat - now <= dvt;
    } else if (new_tat - dvt <= now) {
        tat = new_tat;
        r->allowed = true;
    } else {
        r->retry_after_ms = inc > dvt ? -1 : rl__ceil_ms(new_tat - dvt - now);
    }
    int64_t left = (dvt - (tat - now)) / t;
    r->limit = burst;
    r->remaining = left < 0 ? 0 : left;
    r->reset_after_ms = rl__ceil_ms(tat - now);
    snprintf(out_state, STORE_RL_STATE_MAX, "G %" PRId64, tat);
    *ttl_ms = r->reset_after_ms > 0 ? r->reset_after_ms : 1;
}

void store__rl_decide(const store_rl_params *p, const char *state, size_t slen,
                      int64_t now_us, char *out_state, int64_t *ttl_ms, bool *write,
                      store_rl_result *out)
{
    memset(out, 0, sizeof *out);
    switch (p->algo) {
    case STORE_RL_FIXED:
        rl__fixed(p, state, slen, now_us, out_state, ttl_ms, out);
        break;
    case STORE_RL_SLIDING:
        rl__sliding(p, state, slen, now_us, out_state, ttl_ms, out);
        break;
    default:
        rl__gcra(p, state, slen, now_us, out_state, ttl_ms, out);
        break;
    }
    size_t n = strlen(out_state);
    *write = !state || n != slen || memcmp(state, out_state, n) != 0;
}

int store_ratelimit(store_t *s, const char *key, size_t klen, const store_rl_params *p,
                    store_rl_result *out)
{
    if (!key || !klen || !p || !out)
        return RAGD_EINVAL;
    if (klen > STORE_KEY_MAX)
        return RAGD_ETOOBIG;
    if (p->algo < STORE_RL_FIXED || p->algo > STORE_RL_GCRA || p->limit < 1 ||
        p->limit > RL_MAX_UNITS || p->window_ms < 1 || p->window_ms > RL_MAX_WINDOW_MS ||
        p->burst < 0 || p->burst > RL_MAX_UNITS || p->cost > RL_MAX_UNITS ||
        p->cost < (p->force ? -RL_MAX_UNITS : 0))
        return RAGD_EINVAL;
    if (p->algo == STORE_RL_GCRA) {
        /* Keep T*burst and T*cost within 2^52 us so Lua's doubles stay exact. */
        int64_t t = p->window_ms * 1000 / p->limit, b = p->burst ? p->burst : p->limit;
        int64_t c = p->cost < 0 ? -p->cost : p->cost;
        if (t > 0 && (b > RL_MAX_SPAN_US / t || c > RL_MAX_SPAN_US / t))
            return RAGD_EINVAL;
    }
    if (!s->ops->ratelimit)
        return RAGD_EUNSUPPORTED;
    char full[STORE_FULL_KEY_BUF];
    memcpy(full, s->prefix, s->prefix_len);
    memcpy(full + s->prefix_len, key, klen);
    return store__note(&s->errs, s->ops->ratelimit(s->impl, full, s->prefix_len + klen, p, out),
                       true);
}
