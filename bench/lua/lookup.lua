-- Entra's matching query: GET /Users?filter=userName eq "<seeded user>".
dofile(os.getenv("BENCH_DIR") .. "/lua/common.lua")
local seeded = tonumber(os.getenv("SEEDED_USERS"))
function request()
  local i = math.random(0, seeded - 1)
  local path = base .. "/Users?filter=userName%20eq%20%22seed-" .. i .. "%40bench.example%22"
  return wrk.format("GET", path, headers)
end
