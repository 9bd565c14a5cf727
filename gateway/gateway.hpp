// The HTTP gateway: Boost.Beast listeners on Asio C++20 coroutines. It parses requests (with size,
// header and time limits), matches the endpoint catalog on the raw request target, authenticates,
// rate-limits, and hands the request to the runtime (`dispatcher`) without blocking an Asio thread.
// This header is deliberately free of Beast/Asio so that only gateway/*.cpp pays their compile cost.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/runtime/messages.hpp"
#include "common/config.hpp"
#include "protocol/endpoint_spec.hpp"

namespace myelin::gateway {

// ---- endpoint catalog: which endpoint a request is ----
struct endpoint_match {
  const endpoint_spec* spec = nullptr;    // null: no endpoint at this path for this method
  std::vector<std::string> params;        // decoded path parameters, template order
  std::string affinity_value;             // value of spec->affinity_param, if any
  bool path_known = false;                // the path exists for another method (→ 405)
  std::vector<std::string> allowed_methods;
};

class endpoint_catalog {
public:
  // Throws std::invalid_argument on a malformed template or a duplicate (method, path).
  void add(endpoint_spec spec);
  // `raw_path` is the request target's path, still percent-encoded, without the query.
  endpoint_match match(std::string_view method, std::string_view raw_path) const;
  const std::vector<endpoint_spec>& specs() const;
  // Which group serves an endpoint (filled in from the route table at startup).
  void set_group(const std::string& endpoint_name, std::string group);
  const std::string& group_of(const std::string& endpoint_name) const;

  endpoint_catalog();
  ~endpoint_catalog();
  endpoint_catalog(endpoint_catalog&&) noexcept;
  endpoint_catalog& operator=(endpoint_catalog&&) noexcept;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// ---- route table: the Synapse worker regexes, as data, each naming a group ----
struct route_rule {
  std::string regex;               // ECMAScript, matched against the raw path
  std::string group;
  std::vector<std::string> methods;  // empty = any method
};

class route_table {
public:
  // YAML: a list of {match: REGEX, group: NAME, methods: [GET]}; the first matching rule wins;
  // `default_group` (top-level key `default`) gets the rest. Throws config_error naming the line.
  static route_table parse(const std::string& yaml_text, const std::string& origin);
  // The routes compiled into the binary (configs/routes.yaml at build time).
  static route_table builtin();
  std::string group_for(std::string_view method, std::string_view raw_path) const;
  const std::vector<route_rule>& rules() const;
  const std::string& default_group() const;

  route_table();
  ~route_table();
  route_table(route_table&&) noexcept;
  route_table& operator=(route_table&&) noexcept;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Resolves every endpoint's group by matching a sample path made from its template against the
// routes (the route regexes are evaluated once here, never per request). Returns warnings for
// endpoints whose version alternatives route to different groups.
std::vector<std::string> assign_groups(endpoint_catalog& catalog, const route_table& routes);

// ---- what the gateway needs from the rest of the server ----
struct auth_result {
  // forbidden: an application service's token with a ?user_id= it may not act as (`message` says why).
  enum class outcome { ok, unknown, expired, unavailable, forbidden } result = outcome::unknown;
  std::string user_id;
  std::string device_id;
  int64_t token_id = 0;
  bool is_guest = false;
  std::string appservice_id;  // set when the token is an application service's as_token
  bool rate_limited = true;   // false for a service registered with rate_limited: false
  std::string message;
};

class authenticator {
public:
  virtual ~authenticator() = default;
  // Looks up an access token; calls `done` exactly once, from any thread. `as_user_id` is the
  // request's ?user_id= ("" when absent): an application service acts as that user (masquerading).
  virtual void authenticate(std::string access_token, std::string as_user_id,
                            std::function<void(auth_result)> done) = 0;
};

class dispatcher {
public:
  virtual ~dispatcher() = default;
  // Sends `req` to an instance of `group` chosen by the group's balancing policy (affinity_key is
  // the user for user affinity, the room for room affinity, "" otherwise). Calls `done` exactly
  // once, from any thread, with the response and the instance label ("client_reader/1"). Failures
  // (instance down, timeout) arrive as a Matrix error response (503), never as silence.
  virtual void dispatch(const std::string& group, const std::string& affinity_key, api_request req,
                        std::function<void(api_response, std::string instance)> done) = 0;
  // Calls `done` once this node has seen every position (or after `timeout`).
  virtual void wait_for_positions(std::vector<stream_position> positions, std::chrono::milliseconds timeout,
                                  std::function<void()> done) = 0;
};

// ---- rate limiting: token buckets keyed by (class, key) ----
class rate_limiter {
public:
  explicit rate_limiter(const rate_limits_config& cfg);
  ~rate_limiter();
  // Takes one token from the bucket of `cls` for `key`. Returns 0 when allowed, otherwise the
  // milliseconds until a token is available (for retry_after_ms). Unknown or disabled classes allow.
  int64_t take(std::string_view cls, std::string_view key);
  // Like take() but consumes nothing: would an action be allowed now? (Synapse checks the failed
  // login bucket this way before trying a password, and takes from it only on failure.)
  int64_t check(std::string_view cls, std::string_view key);
  void reconfigure(const rate_limits_config& cfg);

private:
  int64_t use(std::string_view cls, std::string_view key, bool consume);
  struct impl;
  std::unique_ptr<impl> impl_;
};

// ---- the server ----
struct gateway_stats {
  uint64_t requests = 0;
  uint64_t open_connections = 0;
  uint64_t in_flight = 0;
};

class server {
public:
  server(const homeserver_config& cfg, const endpoint_catalog& catalog, dispatcher& d, authenticator& a,
         rate_limiter& limiter);
  ~server();
  // Binds every listener (throws std::runtime_error naming the address on failure) and starts
  // cfg.runtime.gateway_threads Asio threads.
  void start();
  // Stops accepting, lets in-flight requests finish for up to `drain`, then closes connections
  // and joins the threads.
  void stop(std::chrono::milliseconds drain = std::chrono::seconds(10));
  // The TCP ports actually bound, in listener order (port 0 in the config = ephemeral).
  std::vector<uint16_t> bound_ports() const;
  gateway_stats stats() const;
  // Bench only: answer GET /_myelin/direct/versions and /_myelin/direct/whoami inside the gateway,
  // without the actor hop, so the hop's cost can be measured in the same binary.
  void enable_direct_endpoints(std::string versions_body);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace myelin::gateway
