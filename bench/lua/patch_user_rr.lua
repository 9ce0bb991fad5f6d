-- PATCH the seeded users round-robin (each connection walks the list from its own
-- offset), replacing displayName: issue 14's "PATCH user" workload.
dofile(os.getenv("BENCH_DIR") .. "/lua/common.lua")
local ids = nil
local n = 0
function request()
  ids = ids or read_lines(os.getenv("IDS_FILE"))
  n = n + 1
  local id = ids[((tid * 97 + n) % #ids) + 1]
  local body = string.format([[{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"Renamed %d-%d"}]}]], tid, n)
  return wrk.format("PATCH", base .. "/Users/" .. id, headers, body)
end
