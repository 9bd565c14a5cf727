// Redis pub/sub as a fan-out bus for stream updates between nodes (placement key `redis:`).
//
// Two dedicated threads with blocking hiredis connections, so no actor scheduler thread ever waits
// on Redis:
//   - the publisher drains a queue the hub fills (`publish`), pipelines one PUBLISH per update and
//     checks every reply; what was queued but not confirmed when the connection fails goes back to
//     the hub as (redis_atom, vector<stream_update>), which forwards it over the node links;
//   - the subscriber SUBSCRIBEs to the channel and hands every other node's update to the hub as
//     (forward_atom, update); when quiet it PINGs, so a dead server or a half-open connection is
//     noticed within a few seconds. It tells the hub (redis_atom, bool) when it becomes (un)subscribed.
// Both reconnect with back-off (250 ms doubling to 5 s) and log one line per state change
// ("redis fan-out lost" with the error, "redis fan-out restored"), never one per attempt. The hub
// runs the protocol that keeps updates flowing through an outage (stream_hub.cpp).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "actors/runtime/interfaces.hpp"
#include "actors/runtime/placement.hpp"

namespace myelin::runtime {

// What GET /_myelin/admin/v1/cluster shows of the bus.
struct redis_bus_status {
  std::string address;            // "unix:/path" or "host:port"
  std::string channel;
  bool publisher_up = false;      // connected: updates go to Redis
  bool subscriber_up = false;     // subscribed: this node receives the others' updates from Redis
  uint64_t published = 0;         // PUBLISHes Redis confirmed
  uint64_t received = 0;          // other nodes' updates taken from Redis
  uint64_t returned = 0;          // queued updates handed back unconfirmed (sent over the links instead)
  uint64_t failures = 0;          // connections lost or refused (either thread)
  uint64_t catch_ups = 0;         // position catch-ups the hub ran after the subscriber changed state
  std::string last_error;
  int64_t changed_ms = 0;         // unix ms of the last state change
  std::map<std::string, bool> peers;  // linked peers → whether each reports its subscriber subscribed
};

class redis_bus {
public:
  redis_bus(redis_settings settings, std::string node);
  ~redis_bus();  // stops
  redis_bus(const redis_bus&) = delete;
  redis_bus& operator=(const redis_bus&) = delete;

  // Starts both threads; they report to `hub`.
  void start(stream_hub_actor hub);
  // Stops and joins both threads (each notices within ~200 ms); `publish` refuses from then on.
  void stop();

  // Called by the hub: queues `u` for one PUBLISH. False, with nothing queued, while the publisher
  // is not connected (the caller forwards over the links instead). Never blocks on Redis.
  bool publish(const stream_update& u);
  // Called by the hub, for the status: what a linked peer reports (nullopt: the peer left).
  void peer_reports(const std::string& peer, std::optional<bool> subscribed);
  void count_catch_up();

  const std::string& node() const;
  redis_bus_status status() const;

  // The message on the channel: {"node","stream","writer","position","rows":[JSON text,…]}.
  static std::string encode(const std::string& node, const stream_update& u);
  // nullopt for anything that is not such a message.
  static std::optional<std::pair<std::string, stream_update>> decode(std::string_view text);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace myelin::runtime
