-- PATCH a seeded user the way Entra does: replace displayName and a work e-mail.
dofile(os.getenv("BENCH_DIR") .. "/lua/common.lua")
local ids = nil
local n = 0
function request()
  ids = ids or read_lines(os.getenv("IDS_FILE"))
  n = n + 1
  local id = ids[math.random(1, #ids)]
  local body = string.format([[{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"displayName","value":"Renamed %d-%d"},{"op":"Replace","path":"active","value":"True"}]}]], tid, n)
  return wrk.format("PATCH", base .. "/Users/" .. id, headers, body)
end
