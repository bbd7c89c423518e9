-- wrk script for benches/soak.sh: requests taken in turn from the file `soak.requests` (one per
-- line: METHOD<TAB>PATH<TAB>BODY), each with the token in SOAK_TOKEN, and every answer that
-- is not 2xx counted and the first few printed; at the end one line `SOAK not_2xx=N` (all
-- threads). A body's `%d` becomes a running count, so every write changes something.
local requests = {}
local writes = {}
local i = 0
local n = 0
bad = 0 -- global: read by done() from each thread
local token = os.getenv("SOAK_TOKEN")
local threads = {}

setup = function(thread)
  table.insert(threads, thread)
end

init = function(args)
  for line in io.lines(os.getenv("SOAK_REQUESTS")) do
    local method, path, body = line:match("^(%u+)\t([^\t]+)\t?(.*)$")
    local headers = { ["Authorization"] = "Bearer " .. token }
    if body ~= nil and body ~= "" then
      headers["Content-Type"] = "application/json"
    else
      body = nil
    end
    if body ~= nil and body:find("%%d") then
      requests[#requests + 1] = false
      writes[#requests] = { method, path, headers, body }
    else
      requests[#requests + 1] = wrk.format(method, path, headers, body)
    end
  end
  i = math.random(#requests)
end

request = function()
  i = i % #requests + 1
  local w = writes[i]
  if w then
    n = n + 1
    return wrk.format(w[1], w[2], w[3], string.format(w[4], n))
  end
  return requests[i]
end

response = function(status, headers, body)
  if status < 200 or status >= 300 then
    bad = bad + 1
    if bad <= 5 then
      io.stderr:write("answer " .. status .. ": " .. body:sub(1, 200) .. "\n")
    end
  end
end

done = function(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do
    total = total + (t:get("bad") or 0)
  end
  io.write(string.format("SOAK not_2xx=%d\n", total))
end
