-- POST /Users with the body Entra sends, a fresh userName every request.
dofile(os.getenv("BENCH_DIR") .. "/lua/common.lua")
local n = 0
local run = tostring(os.time())
local template = [[{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],"externalId":"%s","userName":"%s","active":true,"displayName":"Bench User","emails":[{"primary":true,"type":"work","value":"%s"}],"name":{"formatted":"Bench User","familyName":"User","givenName":"Bench"},"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Sales","employeeNumber":"1"}}]]
function request()
  n = n + 1
  local name = string.format("bench-%s-%d-%d@bench.example", run, tid, n)
  local body = string.format(template, name, name, name)
  return wrk.format("POST", base .. "/Users", headers, body)
end
