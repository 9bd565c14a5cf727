// The role groups Myelin knows: Synapse's worker roles and stream writers, with how requests are
// balanced over a group's instances and whether the group may have more than one instance.
#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace myelin::runtime {

enum class balance_policy {
  round_robin,   // stateless: any instance
  user,          // one user's requests on one instance (sync: its notifier state is per user)
  room,          // one room on one instance (/messages, event creation)
  destination,   // federation senders: sha256(destination) mod N
  singleton,     // exactly one instance
};

enum class group_kind {
  api,           // serves api_request from the gateway
  writer,        // a stream writer: serves write_request, owns its stream's tables
  background,    // no endpoints (federation_sender, pusher, appservice, background)
};

struct group_info {
  std::string name;
  group_kind kind;
  balance_policy balance;
  bool singleton;            // more than one instance is a placement error
  std::string description;
  bool idle = false;         // no work yet: no node starts instances of it (listed, never available)
};

// The longest long-poll an instance may hold a request (the sync group's /sync and /events); the
// bridge adds it to the group request timeout for that group.
constexpr std::chrono::seconds long_poll_allowance{120};

// Every group, in a stable order.
const std::vector<group_info>& known_groups();
const group_info* find_group(std::string_view name);

// Instance labels are "group/index", e.g. "sync/2"; they appear in logs and X-Myelin-Instance.
std::string instance_label(std::string_view group, size_t index);

// Picks an instance index for a key with the group's policy. `rr_counter` feeds round robin.
size_t pick_instance(balance_policy policy, std::string_view key, size_t instances, uint64_t rr_counter);

// sha256(key) mod n, as Synapse shards event persisters by room.
size_t shard_for(std::string_view key, size_t n);

const char* to_string(balance_policy p);

} // namespace myelin::runtime
