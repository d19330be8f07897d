-- wrk script of benchmarks/bench_server.py --workers: each wrk thread posts the ms1 requests of
-- its file (ARG/requests-<thread>.txt, one "path<TAB>JSON body" per line, written by the
-- benchmark) in order, cycling, over its keep-alive connections. The bearer token and the
-- content type come as wrk -H headers. done() prints one JSON line of figures.

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

local lines = {}
local counter = 0

function init(args)
  local f = assert(io.open(args[1] .. "/requests-" .. tid .. ".txt", "r"))
  for line in f:lines() do
    local path, body = line:match("^(%S+)\t(.*)$")
    if path then
      table.insert(lines, { path, body })
    end
  end
  f:close()
end

function request()
  counter = counter + 1
  local r = lines[(counter - 1) % #lines + 1]
  return wrk.format("POST", r[1], nil, r[2])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
      .. '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
