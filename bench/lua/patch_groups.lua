-- PATCH add 10 members (seeded users) to one of the seeded groups, a different one each
-- request: issue 14's "PATCH group" workload, spread over the groups.
dofile(os.getenv("BENCH_DIR") .. "/lua/common.lua")
local ids = nil
local groups = nil
function request()
  ids = ids or read_lines(os.getenv("IDS_FILE"))
  groups = groups or read_lines(os.getenv("GROUP_FILE"))
  local members = {}
  for k = 1, 10 do
    members[k] = string.format([[{"value":"%s"}]], ids[math.random(1, #ids)])
  end
  local group = groups[math.random(1, #groups)]
  local body = [[{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[]] .. table.concat(members, ",") .. "]}]}"
  return wrk.format("PATCH", base .. "/Groups/" .. group, headers, body)
end
