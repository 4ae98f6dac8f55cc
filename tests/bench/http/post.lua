-- wrk script: POST /epochs with {"tag":"TAG"} and Content-Type application/json
-- (or an empty body when TAG is "-"), counting every response's status.
--
--   wrk -t2 -c64 -d10s --latency -s post.lua http://127.0.0.1:PORT/epochs -- TAG
--
-- The request is static (no request() function), so wrk builds it once per
-- thread. done() prints a "TALLY ..." line (see tally.lua) with exact 2xx and
-- non-2xx counts: run.sh checks them against the rows in the store.

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local tally = dofile(dir .. "tally.lua")

wrk.method = "POST"

function init(args)
   local tag = args[1]
   if tag == nil or tag == "" then
      error("post.lua: give the tag after --, or - for an empty body")
   end
   if tag == "-" then
      wrk.body = nil
      wrk.headers["Content-Type"] = nil
   else
      if not tag:match("^[%w._:-]+$") then
         error("post.lua: the tag must be [A-Za-z0-9._:-]+")
      end
      wrk.body = '{"tag":"' .. tag .. '"}'
      wrk.headers["Content-Type"] = "application/json"
   end
end

setup = tally.setup

function response(status, headers, body)
   tally.response(status)
end

function done(summary, latency, requests)
   tally.report(summary, latency, true)
end
