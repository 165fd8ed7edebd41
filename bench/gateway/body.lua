-- wrk script: POST a chat completion; MODE=miss makes every body unique
-- (a fresh prefix per run and a counter), MODE=hit repeats one body.
local mode = os.getenv("MODE") or "hit"
local prefix = os.getenv("PREFIX") or tostring(os.time())
local model = os.getenv("MODEL") or "fake-model"
local counter = 0
request = function()
  counter = counter + 1
  local q = mode == "miss" and string.format("q %s %d", prefix, counter) or "the same question"
  local body = string.format('{"model":"%s","messages":[{"role":"user","content":"%s"}]}', model, q)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json",
                                  ["Authorization"] = "Bearer sk-bench"}, body)
end
