-- wrk script: POST /epochs with {"tag":"TAG"} and Content-Type application/json
-- (or an empty body when TAG is "-"), with a summary line.
--
--   wrk -t2 -c64 -d10s --latency -s post.lua http://127.0.0.1:PORT/epochs -- TAG
--
-- The request is static (no request() function), so wrk builds it once per
-- thread. No response() function on purpose: with one, wrk copies every
-- response's headers and body into Lua, which cost the client about 3 us of
-- CPU per request (measured: 13 vs 16 us) — CPU the server needs on this
-- 2-CPU machine and that the GET and trivial-responder runs do not pay.
-- run.sh still gets exact counts: wrk counts every completed response and
-- every status over 399 (err_status in the TALLY line), and the daemon's
-- access log for the run must hold no status other than 2xx, so every
-- completed response wrk saw was a 2xx (an acknowledgement).

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

function done(summary, latency, requests)
   tally.report(summary, latency)
end
