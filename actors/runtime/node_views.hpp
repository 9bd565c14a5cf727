// What a node knows in memory about its streams, shared read-only with handlers: the positions its
// hub has published (the upper bound of every sync token this node hands out) and the typing
// notifications (which live only in memory, as in Synapse). Both are fed by hub listeners, so they
// are updated before any waiter on the same position is released.
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "actors/runtime/messages.hpp"

namespace myelin::runtime {

// The highest position the hub has published, per (stream, writer). Every row at or below it is
// committed, because writers publish only after their commit.
class position_board {
public:
  void seed(const std::vector<stream_position>& initial);
  void advance(const std::string& stream, const std::string& writer, int64_t position);
  // stream → writer → position, a consistent copy.
  std::map<std::string, std::map<std::string, int64_t>> snapshot() const;
  int64_t get(const std::string& stream, const std::string& writer) const;

private:
  mutable std::shared_mutex mutex_;
  std::map<std::string, std::map<std::string, int64_t>> positions_;
};

// Who is typing in each room, as last published by the typing writer (rows {"type":"typing",
// "room_id", "user_ids", "position"}). Empty after a restart: typing is ephemeral.
class typing_cache {
public:
  struct room_typing {
    std::vector<std::string> user_ids;
    int64_t position = 0;   // typing stream position of the last change in this room
  };
  void apply(const stream_update& update);
  // The room's typing users if they changed after `after` (0 = whatever is current).
  bool changed_since(const std::string& room_id, int64_t after, room_typing& out) const;

private:
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, room_typing> rooms_;
};

class live_placement;
class instance_registry;
class node_links;
class redis_bus;

// Where this node stands in its cluster, for GET /_myelin/admin/v1/cluster. Set before the first
// instance starts and constant after; the pointees are the node's own and outlive its instances.
struct cluster_view {
  const live_placement* layout = nullptr;   // grows when a peer brings a newer, compatible file
  std::string node;                         // this node's name
  const instance_registry* registry = nullptr;
  const node_links* links = nullptr;        // null on a single node
  int64_t started_ms = 0;                   // unix ms
  const redis_bus* redis = nullptr;         // null without Redis fan-out
};

struct node_views {
  position_board positions;
  typing_cache typing;
  cluster_view cluster;
};

} // namespace myelin::runtime
