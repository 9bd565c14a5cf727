// common/metrics: the exposition text Prometheus scrapes — escaping, cumulative buckets,
// collectors that come and go with their owners.
#include <boost/test/unit_test.hpp>

#include "common/metrics.hpp"

using namespace myelin::metrics;

BOOST_AUTO_TEST_SUITE(metrics_tests)

BOOST_AUTO_TEST_CASE(exposition_text) {
  registry r;
  r.counters("t_requests_total", "Requests.", {"path"}).with({"a\"b\\c\nd"}).inc(3);
  auto& h = r.histograms("t_latency_seconds", "Latency.", {}).with({});
  h.observe(0.0005);  // first bucket
  h.observe(0.2);     // 0.25 bucket
  h.observe(100);     // above every bound: only +Inf
  std::string text = r.render();
  BOOST_TEST(text.find("# TYPE t_requests_total counter\n") != std::string::npos);
  BOOST_TEST(text.find("t_requests_total{path=\"a\\\"b\\\\c\\nd\"} 3\n") != std::string::npos);
  BOOST_TEST(text.find("t_latency_seconds_bucket{le=\"0.001\"} 1\n") != std::string::npos);
  BOOST_TEST(text.find("t_latency_seconds_bucket{le=\"0.1\"} 1\n") != std::string::npos);
  BOOST_TEST(text.find("t_latency_seconds_bucket{le=\"0.25\"} 2\n") != std::string::npos);
  BOOST_TEST(text.find("t_latency_seconds_bucket{le=\"60\"} 2\n") != std::string::npos);
  BOOST_TEST(text.find("t_latency_seconds_bucket{le=\"+Inf\"} 3\n") != std::string::npos);
  BOOST_TEST(text.find("t_latency_seconds_count 3\n") != std::string::npos);
  BOOST_TEST(text.find("t_latency_seconds_sum 100.2005") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(series_are_found_again_and_collectors_leave) {
  registry r;
  auto& f = r.gauges("t_depth", "Depth.", {"instance", "kind"});
  f.with({"sync/0", "x"}).add(2);
  f.with({"sync/0", "x"}).add(-1);
  BOOST_TEST(&f.with({"sync/0", "x"}) == &f.with({"sync/0", "x"}));
  BOOST_TEST(f.with({"sync/0", "x"}).value() == 1);
  auto handle = r.add_collector([](writer& w) { w.sample("t_collected", {{"k", "v"}}, 7); });
  BOOST_TEST(r.render().find("t_collected{k=\"v\"} 7\n") != std::string::npos);
  handle.reset();
  BOOST_TEST(r.render().find("t_collected") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(process_metrics_read_proc) {
  std::string out;
  writer w(out);
  write_process_metrics(w);
  BOOST_TEST(out.find("process_resident_memory_bytes ") != std::string::npos);
  BOOST_TEST(out.find("process_cpu_seconds_total ") != std::string::npos);
  BOOST_TEST(out.find("process_open_fds ") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
