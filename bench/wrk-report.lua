-- wrk script: sends the Authorization header given in $MYELIN_TOKEN (if any) and prints one JSON
-- line with throughput and latency percentiles (microseconds) when the run ends (wrk-summary.lua).
local token = os.getenv("MYELIN_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

-- The JSON summary line, from the file next to this one.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "wrk-summary.lua")
