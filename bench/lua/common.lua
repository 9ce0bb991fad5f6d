-- Shared by the workloads: the SCIM base path and token come from the environment.
base = os.getenv("SCIM_BASE_PATH")
token = os.getenv("SCIM_TOKEN")
headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/scim+json" }

local thread_count = 0
function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
end

function read_lines(path)
  local lines = {}
  for line in io.lines(path) do
    if #line > 0 then lines[#lines + 1] = line end
  end
  return lines
end

-- Non-2xx answers are counted by wrk; print them once so a broken run is obvious.
local reported = false
function response(status, hdrs, body)
  if status >= 300 and not reported then
    reported = true
    io.stderr:write("unexpected status " .. status .. ": " .. string.sub(body, 1, 200) .. "\n")
  end
end

-- wrk's --latency table stops at p99: the tails line adds p99.9 (milliseconds).
function done(summary, latency, requests)
  io.write(string.format("tails p50 %.2f p99 %.2f p99.9 %.2f max %.2f\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.max / 1000))
end
