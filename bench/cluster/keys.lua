-- wrk script: each request GETs (MODE=get) or PUTs (MODE=put) one of KEYS cache
-- keys chosen at random, so the load spreads over every slot of a cluster.
local n = tonumber(os.getenv("KEYS") or "1000")
local mode = os.getenv("MODE") or "get"
local body = '{"value": "Squats train the quadriceps, glutes and adductors."}'
local headers = { ["Content-Type"] = "application/json" }

request = function()
  local path = "/api/v1/cache/bench/k" .. math.random(n)
  if mode == "put" then
    return wrk.format("PUT", path, headers, body)
  end
  return wrk.format("GET", path)
end
