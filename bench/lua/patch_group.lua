-- PATCH add 10 members (seeded users) to one group, as Entra batches member adds.
dofile(os.getenv("BENCH_DIR") .. "/lua/common.lua")
local ids = nil
local group = nil
function request()
  ids = ids or read_lines(os.getenv("IDS_FILE"))
  group = group or read_lines(os.getenv("GROUP_FILE"))[1]
  local members = {}
  for k = 1, 10 do
    members[k] = string.format([[{"value":"%s"}]], ids[math.random(1, #ids)])
  end
  local body = [[{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[]] .. table.concat(members, ",") .. "]}]}"
  return wrk.format("PATCH", base .. "/Groups/" .. group, headers, body)
end
