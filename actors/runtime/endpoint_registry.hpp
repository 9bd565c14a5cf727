// Endpoints as data + handler. Each endpoint file registers one or a few of these; the gateway's
// catalog is built from the same specs, so path, method and handler are declared in one place.
#pragma once
#include <boost/json/value.hpp>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "actors/runtime/messages.hpp"
#include "protocol/endpoint_spec.hpp"

namespace myelin {
struct homeserver_config;
class logger;
namespace storage {
class database;
}
namespace gateway {
class rate_limiter;
}
namespace protocol {
class matrix_error;
struct signing_key;
}
namespace runtime {

class writer_client;
class blocking_pool;
struct node_views;

// What a handler may use. Handlers run on a blocking-pool thread: database calls and blocking
// writer requests are fine there (and only there).
struct handler_context {
  const homeserver_config& config;
  storage::database& db;
  writer_client& writers;
  const std::string& instance;   // "client_reader/1"
  const logger& log;
  // The node's rate limiter, for limits the gateway cannot apply itself (per account on login).
  // May be null (tests).
  gateway::rate_limiter* limiter = nullptr;
  // The node's in-memory stream views (positions seen, typing). May be null (tests).
  const node_views* views = nullptr;
  // The server's signing key (federation: key documents, request signatures). May be null (tests).
  const protocol::signing_key* signing_key = nullptr;
  // The node's blocking pool, for work that outlives the request (the admin API's background room
  // deletion). May be null (tests, sync instances).
  blocking_pool* pool = nullptr;
};

using handler_fn = std::function<api_response(handler_context&, const api_request&)>;

struct endpoint_entry {
  endpoint_spec spec;
  handler_fn handler;
};

class endpoint_registry {
public:
  void add(endpoint_spec spec, handler_fn handler);  // throws on a duplicate name
  const endpoint_entry* find(const std::string& name) const;
  const std::vector<endpoint_entry>& entries() const { return entries_; }

private:
  std::vector<endpoint_entry> entries_;
  std::unordered_map<std::string, size_t> by_name_;
};

// A JSON response.
api_response json_response(const boost::json::value& body, uint16_t status = 200);

// A Matrix error as a response: its status and body, plus Retry-After for 503 and for 429.
api_response error_response(const protocol::matrix_error& e);

// Registers every endpoint Myelin serves (actors/endpoints.cpp).
void register_all_endpoints(endpoint_registry& registry);

} // namespace runtime
} // namespace myelin
