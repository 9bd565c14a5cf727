// One Myelin node: the actor system, the database pool, the blocking pool, the stream hub, the
// stream writers and the group instances the placement assigns to this node, with a supervisor
// that restarts instances that die. It is what the gateway talks to (dispatcher, authenticator).
#pragma once
#include <memory>
#include <string>

#include "actors/runtime/endpoint_registry.hpp"
#include "actors/runtime/instance_registry.hpp"
#include "actors/runtime/placement.hpp"
#include "common/config.hpp"
#include "gateway/gateway.hpp"
#include "protocol/signing_key.hpp"

namespace caf {
class actor_system;
class actor_system_config;
} // namespace caf

namespace myelin::storage {
class database;
}

namespace myelin::runtime {

struct node_options {
  std::string node_name = "main";
  bool expose_instance_header = false;
  gateway::rate_limiter* limiter = nullptr;  // shared with the gateway; handlers use it per account
  // The server's event signing key (event persisters sign with it). Empty: an ephemeral key (tests).
  protocol::signing_key signing_key;
};

class node_runtime final : public gateway::dispatcher, public gateway::authenticator {
public:
  node_runtime(const homeserver_config& cfg, placement p, node_options opts);
  ~node_runtime() override;

  // Opens the database, applies migrations, spawns hub, writers and instances. Throws with a clear
  // message when the database cannot be reached.
  void start();
  // Stops instances and writers (after in-flight work), the pools and the actor system.
  void stop();
  // First step of a graceful shutdown: long-polls (/sync, /events) are answered now instead of
  // holding the gateway's drain until their timeout, and no new one is parked.
  void release_long_polls();

  void dispatch(const std::string& group, const std::string& affinity_key, api_request req,
                std::function<void(api_response, std::string)> done) override;
  void wait_for_positions(std::vector<stream_position> positions, std::chrono::milliseconds timeout,
                          std::function<void()> done) override;
  void authenticate(std::string access_token, std::string as_user_id,
                    std::function<void(gateway::auth_result)> done) override;

  const endpoint_registry& endpoints() const;
  instance_registry& registry();
  storage::database& db();
  caf::actor_system& system();

  // Test hook: make one instance die abnormally (the supervisor restarts it).
  void crash_instance(const std::string& group, size_t index);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Fills a CAF config the way every Myelin process wants it (scheduler policy and threads, the
// middleman for node links, the message types).
// `links`: a multi-node placement whose `tls` block switches the node links to CAF's OpenSSL
// module (throws std::runtime_error naming an unreadable certificate, key or CA file).
void configure_actor_system(caf::actor_system_config& cfg, size_t scheduler_threads,
                            const placement* links = nullptr);

} // namespace myelin::runtime
