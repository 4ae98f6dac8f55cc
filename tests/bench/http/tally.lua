-- Shared by the wrk scripts of the HTTP benchmark (loaded with dofile).
--
-- report(summary, latency) prints one line of key=value pairs that run.sh
-- reads: wrk's own counts (summary.requests is every completed response),
-- its error counters, the rate and latency percentiles in microseconds.
-- With counting on (post.lua), each thread tallies the status of every
-- response in response(); done() adds the threads' tallies up, so 2xx and
-- non-2xx are exact counts, not wrk's "status > 399" estimate.

local tally = {}

-- Per thread (running phase): globals read back by done() via thread:get().
n_total, n_1xx, n_2xx, n_3xx, n_4xx, n_5xx, n_other = 0, 0, 0, 0, 0, 0, 0

function tally.response(status)
   n_total = n_total + 1
   if status >= 200 and status < 300 then
      n_2xx = n_2xx + 1
   elseif status >= 500 and status < 600 then
      n_5xx = n_5xx + 1
   elseif status >= 400 and status < 500 then
      n_4xx = n_4xx + 1
   elseif status >= 300 and status < 400 then
      n_3xx = n_3xx + 1
   elseif status >= 100 and status < 200 then
      n_1xx = n_1xx + 1
   else
      n_other = n_other + 1
   end
end

-- Setup phase: remember every thread so done() can read its tallies.
local threads = {}
function tally.setup(thread)
   table.insert(threads, thread)
end

function tally.report(summary, latency, counted)
   local e = summary.errors
   local secs = summary.duration / 1e6
   local line = string.format(
      "requests=%d seconds=%.3f rps=%.1f bytes=%d"
         .. " err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d"
         .. " p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.1f",
      summary.requests, secs, summary.requests / secs, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean)
   if counted then
      local t = { total = 0, s1xx = 0, s2xx = 0, s3xx = 0, s4xx = 0, s5xx = 0, other = 0 }
      for _, thread in ipairs(threads) do
         t.total = t.total + thread:get("n_total")
         t.s1xx = t.s1xx + thread:get("n_1xx")
         t.s2xx = t.s2xx + thread:get("n_2xx")
         t.s3xx = t.s3xx + thread:get("n_3xx")
         t.s4xx = t.s4xx + thread:get("n_4xx")
         t.s5xx = t.s5xx + thread:get("n_5xx")
         t.other = t.other + thread:get("n_other")
      end
      line = line .. string.format(
         " counted=%d s2xx=%d non2xx=%d s1xx=%d s3xx=%d s4xx=%d s5xx=%d sother=%d",
         t.total, t.s2xx, t.total - t.s2xx, t.s1xx, t.s3xx, t.s4xx, t.s5xx, t.other)
   end
   io.write("TALLY " .. line .. "\n")
end

return tally
