// A load scenario: who the virtual users are, which rooms they share, and what each kind of traffic
// costs per second. Loaded from YAML (docs/experiments.md has the format) and checked once here, so
// the driver can trust every field. No I/O beyond reading the file.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

namespace loadgen {

struct scenario_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A size in bytes drawn uniformly from [min, max] (min == max: fixed).
struct size_range {
  uint64_t min = 0, max = 0;
};

struct room_size_dist {
  enum class kind { fixed, uniform, zipf } type = kind::fixed;
  uint32_t size = 10;            // fixed
  uint32_t min = 2, max = 10;    // uniform; zipf: the largest room has `max`, none fewer than `min`
  double exponent = 1.0;         // zipf: room k (1-based) has max / k^exponent members
};

struct join_pattern {
  // setup: every membership exists before the measured run; storm: `fraction` of the non-creator
  // memberships are joined all at once `at` seconds into the measured window; steady: that fraction
  // is joined evenly over the measured window.
  enum class kind { setup, storm, steady } type = kind::setup;
  double fraction = 0.0;
  double at = 0.0;
};

// A rate-driven kind of traffic: `rate` requests per second over all users at full load.
struct traffic {
  double rate = 0.0;
  size_range size;               // message body text / to-device ciphertext / upload bytes
  uint32_t recipients = 1;       // to_device: devices addressed per request
};

struct sync_config {
  double fraction = 1.0;             // of the users, long-polling /sync for the whole run
  uint32_t timeout_ms = 30000;       // the long-poll's `timeout`
  uint32_t timeline_limit = 50;
  uint32_t initial_concurrency = 32; // initial syncs in flight at once while users come online
};

struct scenario {
  std::string source;                // file path, for messages
  // Where the users go: user i talks to base_urls[i % n] (several gateways of one cluster, as a
  // load balancer would spread them). YAML: one URL or a list.
  std::vector<std::string> base_urls{"http://127.0.0.1:8008"};
  uint64_t seed = 1;
  uint32_t users = 10;
  std::string user_prefix = "lg";
  std::string password = "loadgen password";
  uint32_t rooms = 1;
  room_size_dist room_size;
  join_pattern join;
  traffic messages, typing, receipts, presence, to_device, media;
  sync_config sync;
  bool poisson = true;               // arrivals: poisson (default) or uniform spacing
  double ramp_up = 0, warm_up = 0, duration = 10, delivery_grace = 5;  // seconds
  uint64_t max_requests = 1'000'000; // requests of the run phase (setup excluded)
  uint32_t setup_concurrency = 16;
  double request_timeout = 30;       // seconds, every request but the long-poll
  uint32_t max_queue_per_user = 16;  // actions waiting for a user's connection; beyond → dropped
  std::string population;            // reuse a saved population (tokens + rooms) instead of setup

  const std::string& base_url() const { return base_urls.front(); }
  double run_seconds() const { return ramp_up + warm_up + duration; }
  double measure_start() const { return ramp_up + warm_up; }
  // Multiplies every rate (experiment runners scale a workload ×10, ×100 with it).
  void scale_rates(double factor);
};

scenario load_scenario(const std::string& path);
scenario parse_scenario(const std::string& yaml_text, const std::string& source);
// The effective scenario, every default filled in (echoed in the report).
boost::json::object to_json(const scenario& s);

// "5", "5s", "250ms", "2m", "1h" → seconds. Throws scenario_error.
double parse_duration(const std::string& text);
// "512", "64K", "1M" → bytes. Throws scenario_error.
uint64_t parse_bytes(const std::string& text);

}  // namespace loadgen
