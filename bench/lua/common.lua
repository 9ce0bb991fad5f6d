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
