-- wrk script: each connection waits `pace_ms` between requests, so 64
-- connections offer a fixed load (about 64 * 1000 / (pace_ms + latency) req/s)
-- instead of saturating the server; latency is then measured at that rate.
local pace_ms = tonumber(os.getenv("PACE_MS") or "3")
function delay()
  return pace_ms
end
