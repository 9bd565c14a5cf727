// Blocking access to stream writers for handlers running on the blocking pool. Resolves the writer
// instance (sharded streams by key), sends a write_request and waits for the write_result.
#pragma once
#include <boost/json/object.hpp>
#include <chrono>
#include <string>
#include <string_view>

#include "actors/runtime/messages.hpp"

namespace caf {
class actor_system;
}

namespace myelin::runtime {

class instance_registry;

class writer_client {
public:
  writer_client(caf::actor_system& sys, const instance_registry& registry, std::chrono::milliseconds timeout);
  // Writes through the writer of `stream` (group "writer.<stream>") chosen by `shard_key`.
  // Returns the result; a refused write is thrown as protocol::matrix_error (status/errcode from
  // the writer), an unreachable writer as a 503 matrix_error.
  write_result write(const std::string& stream, std::string_view shard_key, const std::string& op,
                     const boost::json::object& args);
  // Fire and forget, for writes whose caller must not wait (presence bumps from /sync): no
  // result, no error; an unavailable writer drops the write.
  void send(const std::string& stream, std::string_view shard_key, const std::string& op,
            const boost::json::object& args);

private:
  caf::actor_system& sys_;
  const instance_registry& registry_;
  std::chrono::milliseconds timeout_;
};

} // namespace myelin::runtime
