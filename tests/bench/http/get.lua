-- wrk script: GET of the URL given to wrk (e.g. /epochs?limit=100), with a
-- summary line.
--
--   wrk -t2 -c64 -d10s --latency -s get.lua 'http://127.0.0.1:PORT/epochs?limit=100'
--
-- No response() function on purpose: with one, wrk copies every response's
-- headers and body into Lua (25 kB per page of 100 records), which would cost
-- the client CPU the server needs on this 2-CPU machine. Non-2xx answers are
-- still caught: wrk counts status > 399 (err_status in the TALLY line), and
-- run.sh rejects a run with any; these URLs never answer 1xx or 3xx.

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local tally = dofile(dir .. "tally.lua")

function done(summary, latency, requests)
   tally.report(summary, latency)
end
