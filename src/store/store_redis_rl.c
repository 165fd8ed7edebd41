/*
 * store_redis_rl.c - rate-limit decisions on Redis: one Lua script reads the
 * limiter's state, decides with the server's clock (TIME), and writes the new
 * state with its TTL, so every ragd instance sharing the Redis counts against
 * the same limiter exactly. The arithmetic mirrors store__rl_decide (store_rl.c)
 * line for line; the state text is the same on both backends.
 */
#include <inttypes.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "store/redis_cluster.h"
#include "store/store_int.h"
#include "util/hash.h"

static const char rsrl__src[] =
    "local algo, limit, w = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]) * 1000\n"
    "local burst, cost, force = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6] == '1'\n"
    "if redis.replicate_commands then pcall(redis.replicate_commands) end\n"
    "local tm = redis.call('TIME')\n"
    "local now = tonumber(tm[1]) * 1000000 + tonumber(tm[2])\n"
    "local state = redis.call('GET', KEYS[1])\n"
    "local function cms(us) if us <= 0 then return 0 end return math.floor((us + 999) / 1000) end\n"
    "local allowed, lim, remaining, reset, retry, ns, ttl = 0, limit, 0, 0, 0, nil, 1\n"
    "if algo == 1 then\n"
    "  local start, count = now - now % w, 0\n"
    "  if state then\n"
    "    local s, c = string.match(state, '^F (%-?%d+) (%-?%d+)$')\n"
    "    if s and tonumber(s) == start then count = tonumber(c) end\n"
    "  end\n"
    "  if force then\n"
    "    count = count + cost; if count < 0 then count = 0 end\n"
    "    if count <= limit then allowed = 1 end\n"
    "  elseif count + cost <= limit then count = count + cost; allowed = 1\n"
    "  elseif cost > limit then retry = -1 else retry = cms(start + w - now) end\n"
    "  if count >= limit then remaining = 0 else remaining = limit - count end\n"
    "  reset = cms(start + w - now)\n"
    "  ns = string.format('F %d %d', start, count)\n"
    "  ttl = reset\n"
    "elseif algo == 2 then\n"
    "  local start, cur, prev = now - now % w, 0, 0\n"
    "  if state then\n"
    "    local s, c, p = string.match(state, '^S (%-?%d+) (%-?%d+) (%-?%d+)$')\n"
    "    if s then\n"
    "      s = tonumber(s)\n"
    "      if s == start then cur, prev = tonumber(c), tonumber(p)\n"
    "      elseif s == start - w then prev = tonumber(c) end\n"
    "    end\n"
    "  end\n"
    "  local elapsed = now - start\n"
    "  local weight = (w - elapsed) / w\n"
    "  local est = prev * weight + cur\n"
    "  if force then\n"
    "    cur = cur + cost; if cur < 0 then cur = 0 end\n"
    "    if prev * weight + cur <= limit then allowed = 1 end\n"
    "  elseif est + cost <= limit then cur = cur + cost; allowed = 1\n"
    "  elseif cost > limit then retry = -1\n"
    "  elseif cur + cost > limit then\n"
    "    local t = w * (1.0 - (limit - cost) / cur)\n"
    "    retry = cms(start + w - now + math.ceil(t))\n"
    "  else\n"
    "    local e = w * (1.0 - (limit - cost - cur) / prev)\n"
    "    local wait = math.ceil(e) - elapsed\n"
    "    if wait < 1 then wait = 1 end\n"
    "    retry = cms(wait)\n"
    "  end\n"
    "  local left = limit - (prev * weight + cur)\n"
    "  if left <= 0 then remaining = 0 else remaining = math.floor(left) end\n"
    "  reset = cms(start + w - now)\n"
    "  ns = string.format('S %d %d %d', start, cur, prev)\n"
    "  ttl = cms(start + 2 * w - now)\n"
    "else\n"
    "  if burst <= 0 then burst = limit end\n"
    "  local t = math.floor(w / limit)\n"
    "  if t < 1 then t = 1 end\n"
    "  local dvt, tat = t * burst, now\n"
    "  if state then\n"
    "    local s = string.match(state, '^G (%-?%d+)$')\n"
    "    if s and tonumber(s) > now then tat = tonumber(s) end\n"
    "  end\n"
    "  local inc = t * cost\n"
    "  local nt = tat + inc\n"
    "  if force then\n"
    "    if nt < now then tat = now else tat = nt end\n"
    "    if tat - now <= dvt then allowed = 1 end\n"
    "  elseif nt - dvt <= now then tat = nt; allowed = 1\n"
    "  elseif inc > dvt then retry = -1 else retry = cms(nt - dvt - now) end\n"
    "  local left = math.floor((dvt - (tat - now)) / t)\n"
    "  if left < 0 then remaining = 0 else remaining = left end\n"
    "  lim = burst\n"
    "  reset = cms(tat - now)\n"
    "  ns = string.format('G %d', tat)\n"
    "  ttl = reset\n"
    "end\n"
    "if ttl < 1 then ttl = 1 end\n"
    "if ns ~= state then redis.call('SET', KEYS[1], ns, 'PX', ttl) end\n"
    "return {allowed, lim, remaining, reset, retry}\n";

static char rsrl__sha[41];
static pthread_once_t rsrl__once = PTHREAD_ONCE_INIT;

static void rsrl__init(void)
{
    unsigned char d[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)rsrl__src, sizeof rsrl__src - 1, d);
    hash_hex(d, SHA_DIGEST_LENGTH, rsrl__sha);
}

static int rsrl__reply(const redisReply *r, store_rl_result *out)
{
    if (r->type == REDIS_REPLY_ERROR)
        return strncmp(r->str, "BUSY", 4) == 0 || strncmp(r->str, "LOADING", 7) == 0
                   ? RAGD_EUNAVAIL
                   : RAGD_EIO;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 5)
        return RAGD_EIO;
    int64_t v[5];
    for (int i = 0; i < 5; i++) {
        if (r->element[i]->type != REDIS_REPLY_INTEGER)
            return RAGD_EIO;
        v[i] = r->element[i]->integer;
    }
    memset(out, 0, sizeof *out);
    out->allowed = v[0] == 1;
    out->limit = v[1];
    out->remaining = v[2];
    out->reset_after_ms = v[3];
    out->retry_after_ms = v[4];
    return 0;
}

int rs__ratelimit(rroute *route, const char *key, size_t klen, const store_rl_params *p,
                  store_rl_result *out)
{
    pthread_once(&rsrl__once, rsrl__init);
    char a[6][24];
    snprintf(a[0], sizeof a[0], "%d", p->algo);
    snprintf(a[1], sizeof a[1], "%" PRId64, p->limit);
    snprintf(a[2], sizeof a[2], "%" PRId64, p->window_ms);
    snprintf(a[3], sizeof a[3], "%" PRId64, p->burst);
    snprintf(a[4], sizeof a[4], "%" PRId64, p->cost);
    snprintf(a[5], sizeof a[5], "%d", p->force ? 1 : 0);
    const char *argv[10] = { "EVALSHA", rsrl__sha, "1", key };
    size_t lens[10] = { 7, 40, 1, klen };
    for (int i = 0; i < 6; i++) {
        argv[4 + i] = a[i];
        lens[4 + i] = strlen(a[i]);
    }
    rpool_cmd cmd = { 10, argv, lens };
    redisReply *r;
    int rc = rroute_exec(route, key, klen, 1, &cmd, &r);
    if (rc == 0 && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(r);
        argv[0] = "EVAL";
        lens[0] = 4;
        argv[1] = rsrl__src;
        lens[1] = sizeof rsrl__src - 1;
        rc = rroute_exec(route, key, klen, 1, &cmd, &r);
    }
    if (rc)
        return rc;
    rc = rsrl__reply(r, out);
    freeReplyObject(r);
    return rc;
}
