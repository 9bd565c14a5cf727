-- Shared by the wrk scripts: when a run ends, print one JSON line with throughput and latency
-- percentiles (microseconds), which bench/summarize.py and bench/send.py read.
done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
                 + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    '{"requests":%d,"seconds":%.2f,"rps":%.0f,"errors":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, secs, summary.requests / secs, errors,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
