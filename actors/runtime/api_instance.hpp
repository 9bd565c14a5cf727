// An instance of an API group. It owns no blocking work itself: each request's handler runs on the
// node's blocking pool, and the result comes back to the instance as a message, which answers the
// original requester. The instance bounds how many of its requests are in flight (overload → 503).
#pragma once
#include <caf/fwd.hpp>

#include <memory>

#include "actors/runtime/endpoint_registry.hpp"
#include "actors/runtime/interfaces.hpp"

namespace myelin::runtime {

class blocking_pool;
struct node_views;

struct api_instance_deps {
  const homeserver_config* config = nullptr;
  storage::database* db = nullptr;
  writer_client* writers = nullptr;
  blocking_pool* pool = nullptr;
  const endpoint_registry* endpoints = nullptr;
  size_t max_in_flight = 256;
  bool expose_instance_header = false;   // X-Myelin-Instance on responses (debugging, tests)
  gateway::rate_limiter* limiter = nullptr;
  const node_views* views = nullptr;
  const protocol::signing_key* signing_key = nullptr;
};

api_instance_actor spawn_api_instance(caf::actor_system& sys, std::string label, api_instance_deps deps);

// Runs one request through its handler, turning exceptions into Matrix error responses.
// (Exposed for tests; instances call it on the pool.)
api_response run_handler(handler_context& ctx, const endpoint_entry* entry, const api_request& req);

// Runs the request on the blocking pool and sends (done_atom, job_id, response) to `reply_to`.
// The job may outlive the instance (if it crashes); it then only sends to a dead address.
void post_answer(const api_instance_deps& deps, const std::string& label, const endpoint_entry* entry,
                 api_request req, const caf::actor& reply_to, uint64_t job_id);

} // namespace myelin::runtime
