// Links between the nodes of a multi-node placement (CAF's io middleman over TCP). Each node
// publishes a *directory* actor on its link address and runs one *connector* per other node,
// which connects (retrying with back-off until the peer is up), proves the placement's shared
// secret in a challenge-response handshake (both sides prove it; nothing else of ours is reachable
// through the directory before that), and then learns the peer's instance handles and stream hub:
//   - the peer's instances fill their slots in this node's instance_registry, so the bridge and
//     the writer client reach a remote instance exactly as a local one (a slot stays empty, and
//     requests to it answer 503 with Retry-After, while its node is down);
//   - this node's hub forwards what its writers publish to the peer's hub, and the other way round.
// A lost link empties the peer's slots at once and the connector starts retrying.
// The handshake carries each side's layout (live_placement.hpp): when one side's file only adds to
// the other's, the older side adopts the newer layout (new slots, new nodes' connectors) and links;
// any other difference is refused. Of each pair of nodes, the one listed later in the file dials, so
// an appended node dials the nodes that do not know it yet.
#pragma once
#include <caf/fwd.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actors/runtime/interfaces.hpp"

namespace myelin::runtime {

struct placement;
class instance_registry;
class live_placement;

struct node_link_config {
  live_placement* layout = nullptr;  // grows when a peer brings a newer, compatible file
  std::string me;                    // this node's name
  instance_registry* registry = nullptr;
  stream_hub_actor hub;              // this node's hub
  // The placement grew (a peer linked with a newer file): the node starts its own new instances.
  // Called with the grown placement after the registry has the new slots, before the new nodes'
  // connectors start.
  std::function<void(const placement& grown_to)> grown;
};

// One peer's link as this node sees it, for the cluster status endpoint.
struct peer_link_status {
  std::string peer;
  std::string address;          // host:port from the placement
  bool linked = false;          // this node's connector holds an authenticated link to the peer
  bool inbound = false;         // the peer's connector holds one to this node
  int64_t changed_ms = 0;       // unix ms when `linked` last changed (0: never linked)
  uint64_t links = 0;           // links this node's connector formed since start (>1: it re-linked)
  uint64_t failed_attempts = 0; // connection attempts or handshakes that failed
  uint64_t refused = 0;         // inbound handshakes claiming to be this peer that failed the secret
  std::string last_error;
};

class node_links {
public:
  // Publishes the directory on this node's bind_address:port (throws std::runtime_error naming the
  // address when it cannot) and starts a connector for every other node.
  node_links(caf::actor_system& sys, node_link_config cfg);
  ~node_links();
  node_links(const node_links&) = delete;
  node_links& operator=(const node_links&) = delete;

  // A local instance slot changed (started, restarted, stopped): linked peers learn the new handle.
  void local_instance_changed(const std::string& group, size_t index, const caf::actor& handle);
  // Any slot of the registry changed (local or remote): logs "cluster complete" when every
  // instance of the cluster has become reachable from this node (again), so operators and scripts
  // know when the whole placement serves. Thread-safe.
  void registry_changed();
  // Every peer's link health, a consistent copy (thread-safe).
  std::vector<peer_link_status> status() const;
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// The handshake's proofs, exposed for the tests: what a server and a client must show.
std::string link_server_proof(const std::string& secret, const std::string& server, const std::string& client,
                              const std::string& client_nonce, const std::string& server_nonce);
std::string link_client_proof(const std::string& secret, const std::string& client, const std::string& server,
                              const std::string& server_nonce, const std::string& client_nonce);

} // namespace myelin::runtime
