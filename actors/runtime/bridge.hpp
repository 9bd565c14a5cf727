// The bridge between the gateway's Asio threads and the actors: gateway threads hand it jobs
// (local-only messages carrying callbacks, never sent to another node); it requests the chosen
// group instance with a timeout, monitors it, and answers every request in flight to an instance
// that dies with a 503 at once instead of letting it hang until the timeout.
#pragma once
#include <caf/fwd.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "actors/runtime/interfaces.hpp"

namespace myelin::runtime {

class instance_registry;

// ---- local-only messages between the gateway threads and the bridge (never cross a node) ----
struct dispatch_job {
  std::string group;
  std::string key;
  api_request request;
  std::function<void(api_response, std::string)> done;
};
struct wait_job {
  std::vector<stream_position> positions;
  std::chrono::milliseconds timeout;
  std::function<void()> done;
};

caf::actor spawn_bridge(caf::actor_system& sys, const instance_registry* registry, stream_hub_actor hub,
                        std::chrono::seconds request_timeout);

} // namespace myelin::runtime

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(myelin::runtime::dispatch_job)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(myelin::runtime::wait_job)
