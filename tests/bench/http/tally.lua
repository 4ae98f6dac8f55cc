-- Shared by the wrk scripts of the HTTP benchmark (loaded with dofile).
--
-- report(summary, latency) prints one line of key=value pairs that run.sh
-- reads: wrk's own counts (summary.requests is every completed response,
-- errors.status every response with a status over 399), its socket error
-- counters, the rate and latency percentiles in microseconds. Neither script
-- has a response() function (see post.lua and get.lua for why); run.sh
-- checks the statuses the server sent in the daemon's access log.

local tally = {}

function tally.report(summary, latency)
   local e = summary.errors
   local secs = summary.duration / 1e6
   io.write(string.format(
      "TALLY requests=%d seconds=%.3f rps=%.1f bytes=%d"
         .. " err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d"
         .. " p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.1f\n",
      summary.requests, secs, summary.requests / secs, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean))
end

return tally
