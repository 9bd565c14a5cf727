#include "actors/runtime/writer_client.hpp"

#include <caf/all.hpp>
#include <boost/json/serialize.hpp>

#include "actors/runtime/instance_registry.hpp"
#include "protocol/errors.hpp"

namespace myelin::runtime {

writer_client::writer_client(caf::actor_system& sys, const instance_registry& registry,
                             std::chrono::milliseconds timeout)
    : sys_(sys), registry_(registry), timeout_(timeout) {}

write_result writer_client::write(const std::string& stream, std::string_view shard_key, const std::string& op,
                                  const boost::json::object& args) {
  auto ref = registry_.pick("writer." + stream, shard_key);
  if (!ref.handle) throw protocol::errors::unavailable("The " + stream + " stream writer is unavailable");
  write_result out;
  bool ok = false;
  std::string failure;
  // A scoped actor blocks this (pool) thread only; never call this from an actor or Asio thread.
  caf::scoped_actor self{sys_};
  self->request(ref.handle, caf::duration{timeout_}, write_request{op, boost::json::serialize(args)})
      .receive([&](write_result& r) { out = std::move(r); ok = true; },
               [&](caf::error& e) { failure = sys_.render(e); });
  if (!ok) throw protocol::errors::unavailable("Stream writer " + ref.label + " did not answer: " + failure);
  if (out.status != 200) throw protocol::matrix_error(out.status, out.errcode, out.error);
  return out;
}

void writer_client::send(const std::string& stream, std::string_view shard_key, const std::string& op,
                         const boost::json::object& args) {
  auto ref = registry_.pick("writer." + stream, shard_key);
  if (ref.handle) caf::anon_send(ref.handle, write_request{op, boost::json::serialize(args)});
}

} // namespace myelin::runtime
