-- wrk script for event sending: each request is PUT /rooms/{room}/send/m.room.message/{txn} as one
-- of the senders listed in $MYELIN_SENDERS (a file of "access_token room_id" lines), taken round
-- robin, with a transaction id unique per thread and request. Prints the JSON summary line of
-- wrk-summary.lua.
local senders = {}
for line in io.lines(os.getenv("MYELIN_SENDERS")) do
  local token, room = line:match("^(%S+)%s+(%S+)$")
  if token then senders[#senders + 1] = {token = token, room = room} end
end

local thread_count = 0
function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
end

local counter = 0
local body = '{"msgtype":"m.text","body":"benchmark message with a little text in it"}'

function request()
  counter = counter + 1
  local s = senders[(counter + tid * 7919) % #senders + 1]
  local room = s.room:gsub("!", "%%21"):gsub(":", "%%3A")
  local path = "/_matrix/client/v3/rooms/" .. room .. "/send/m.room.message/b" .. tid .. "-" .. counter
  return wrk.format("PUT", path, {["Authorization"] = "Bearer " .. s.token,
                                  ["Content-Type"] = "application/json"}, body)
end

-- The JSON summary line, from the file next to this one.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "wrk-summary.lua")
