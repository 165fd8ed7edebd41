-- wrk script for bench/soak: every connection sends a mix of ragd's request
-- kinds over bounded key sets (so the server can reach a steady state):
--   30% cache get, 15% cache put, 20% hybrid search, 15% gateway chat (1 in
--   20 of them with Cache-Control: no-cache, no-store: the fake upstream answers),
--   10% session message append, 10% session history read.
-- Each wrk thread has its own Lua state; `seed` keeps their sequences apart.
local counter = 0
local seed = 0
local queries = {"knee pain after running", "how to boil pasta", "gluon colour charge",
                 "bread needs yeast", "tax deadline for freelancers", "tide tables",
                 "a short poem about rain", "python asyncio tutorial"}
local json_hdr = {["Content-Type"] = "application/json"}

function setup(thread)
  seed = seed + 7919
  thread:set("seed", seed)
end

local function pick(i)
  local r = i % 20
  if r < 6 then
    return wrk.format("GET", "/api/v1/cache/soak/k" .. (i % 1000))
  elseif r < 9 then
    return wrk.format("PUT", "/api/v1/cache/soak/k" .. (i % 1000) .. "?ttl=3600", nil,
                      "value " .. i .. string.rep("x", 200))
  elseif r < 13 then
    local q = queries[(i % #queries) + 1]
    return wrk.format("POST", "/api/v1/search/hybrid", json_hdr,
                      '{"namespace":"soak","query":"' .. q .. '","limit":5}')
  elseif r < 16 then
    local h = {["Content-Type"] = "application/json"}
    if i % 20 == 13 and math.floor(i / 20) % 20 == 0 then h["Cache-Control"] = "no-cache, no-store" end
    return wrk.format("POST", "/v1/chat/completions", h,
                      '{"model":"fake-model","temperature":0,"messages":[{"role":"user",' ..
                      '"content":"soak prompt ' .. (i % 200) .. '"}]}')
  elseif r < 18 then
    return wrk.format("POST", "/api/v1/sessions/soak" .. (i % 100) .. "/messages", json_hdr,
                      '{"role":"user","content":"message ' .. i .. '"}')
  else
    return wrk.format("GET", "/api/v1/sessions/soak" .. (i % 100) .. "/messages?last=5")
  end
end

function request()
  counter = counter + 1
  return pick(counter * 31 + seed)
end
