-- wrk script: each connection walks its own slice of the request paths in PATHS_FILE, in order,
-- and the summary is printed as one JSON line (requests, seconds, non-2xx, latency percentiles).
-- A line is a path, asked with API_KEY, or a key, a tab and a path (many accounts at once).
-- With ONCE set (one thread, one connection), the run stops after asking each path once; wrk
-- still counts its whole duration, so the rate of such a run is 1 / its mean latency.
local paths = {}
local keys = {}
for line in io.lines(os.getenv("PATHS_FILE")) do
  local own_key, path = line:match("^([^\t]+)\t(.+)$")
  paths[#paths + 1] = path or line
  keys[#paths] = own_key
end
local key = os.getenv("API_KEY")
local once = os.getenv("ONCE") ~= nil
local threads = {}

function setup(thread)
  thread:set("offset", #threads * 7919)
  threads[#threads + 1] = thread
end

function init(args)
  position = offset
  failures = 0
  answered = 0
  headers = key and {["Authorization"] = "Bearer " .. key} or {}
end

function request()
  position = position % #paths + 1
  local own_key = keys[position]
  if own_key then
    return wrk.format("GET", paths[position], {["Authorization"] = "Bearer " .. own_key})
  end
  return wrk.format("GET", paths[position], headers)
end

function response(status, headers, body)
  if status >= 300 then
    failures = failures + 1
  end
  answered = answered + 1
  if once and answered >= #paths then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do
    failed = failed + thread:get("failures")
  end
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "failed": %d, "socket_errors": %d, ' ..
    '"p50_ms": %.3f, "p99_ms": %.3f, "mean_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6, failed,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.mean / 1000))
end
