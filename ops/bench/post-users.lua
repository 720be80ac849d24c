-- wrk script: every request creates a new user (unique email) under its own Idempotency-Key, and
-- the answers are counted by status, so a benchmark can tell 201 (committed) from 202 (accepted
-- only) and from errors. Usage: wrk -s post-users.lua <url> -- <run-prefix>
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  prefix = args[1] or "run"
  sent, s201, s202, sother = 0, 0, 0, 0
  math.randomseed(os.time() * 1000 + tid)
end

local function hex(n)
  local t = {}
  for i = 1, n do t[i] = string.format("%x", math.random(0, 15)) end
  return table.concat(t)
end

local function uuid()
  return hex(8) .. "-" .. hex(4) .. "-4" .. hex(3) .. "-" .. string.format("%x", math.random(8, 11)) .. hex(3) .. "-" .. hex(12)
end

function request()
  sent = sent + 1
  local body = string.format('{"name":"Bench %d-%d","email":"%s.%d.%d@bench.example"}', tid, sent, prefix, tid, sent)
  return wrk.format("POST", "/api/users", {
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = uuid(),
  }, body)
end

function response(status, headers, body)
  if status == 201 then s201 = s201 + 1
  elseif status == 202 then s202 = s202 + 1
  else sother = sother + 1 end
end

function done(summary, latency, requests)
  local c201, c202, cother = 0, 0, 0
  for _, t in ipairs(threads) do
    c201 = c201 + t:get("s201")
    c202 = c202 + t:get("s202")
    cother = cother + t:get("sother")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"durationUs":%d,"p50Us":%d,"p90Us":%d,"p99Us":%d,"maxUs":%d,"s201":%d,"s202":%d,"other":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, c201, c202, cother, e.connect, e.read, e.write, e.status, e.timeout))
end
