-- wrk script: POST /api/v1/ratelimit/check against one hot key and count the
-- decisions (allowed / denied) over all threads; printed as "ALLOWED n DENIED n".
local threads = {}

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"key":"%s","limit":%s,"window":2592000,"algorithm":"%s"}',
                         os.getenv("RL_KEY"), os.getenv("RL_LIMIT"), os.getenv("RL_ALGO"))

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  allowed = 0
  denied = 0
end

function response(status, headers, body)
  if string.find(body, '"allowed":true', 1, true) then
    allowed = allowed + 1
  else
    denied = denied + 1
  end
end

function done(summary, latency, requests)
  local a, d = 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("allowed")
    d = d + t:get("denied")
  end
  io.write(string.format("ALLOWED %d DENIED %d\n", a, d))
end
