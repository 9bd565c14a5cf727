#include "actors/runtime/groups.hpp"

#include <cstring>

#include "protocol/crypto.hpp"

namespace myelin::runtime {

const std::vector<group_info>& known_groups() {
  using bp = balance_policy;
  using gk = group_kind;
  static const std::vector<group_info> groups = {
      {"main", gk::api, bp::singleton, true, "everything not routed elsewhere: logout, password, admin"},
      {"sync", gk::api, bp::user, false, "/sync, /events, /initialSync (user affinity)"},
      {"client_reader", gk::api, bp::round_robin, false, "read-mostly client API, login and registration"},
      {"event_creator", gk::api, bp::room, false, "event sending, membership, createRoom, profile"},
      {"federation_reader", gk::api, bp::round_robin, false, "inbound federation API"},
      {"federation_inbound", gk::api, bp::round_robin, false, "inbound federation transactions (/send)"},
      {"media", gk::api, bp::round_robin, false, "media repository"},
      {"user_dir", gk::api, bp::singleton, true, "user directory search"},
      {"keys", gk::api, bp::user, false, "devices and end-to-end encryption keys"},
      {"federation_sender", gk::background, bp::destination, false, "outbound federation (actors/federation_sender)"},
      {"pusher", gk::background, bp::user, false, "push notifications"},
      {"appservice", gk::background, bp::singleton, true, "application service transactions"},
      {"background", gk::background, bp::singleton, true, "periodic jobs", true},
      {"writer.accounts", gk::writer, bp::singleton, true, "users, devices and access tokens"},
      {"writer.account_data", gk::writer, bp::singleton, true, "account data (global and per room) and room tags"},
      {"writer.events", gk::writer, bp::room, false, "room events: persisters sharded by sha256(room_id) mod N"},
      {"writer.push_rules", gk::writer, bp::singleton, true, "push rules (user rules and changes to the defaults)"},
      {"writer.typing", gk::writer, bp::singleton, true, "typing notifications (in memory)"},
      {"writer.receipts", gk::writer, bp::singleton, true, "read receipts"},
      {"writer.to_device", gk::writer, bp::singleton, true, "send-to-device messages"},
      {"writer.presence", gk::writer, bp::singleton, true, "presence of local users"},
      {"writer.device_lists", gk::writer, bp::singleton, true, "end-to-end encryption keys and device list changes"},
  };
  return groups;
}

const group_info* find_group(std::string_view name) {
  for (const auto& g : known_groups())
    if (g.name == name) return &g;
  return nullptr;
}

std::string instance_label(std::string_view group, size_t index) {
  return std::string(group) + "/" + std::to_string(index);
}

size_t shard_for(std::string_view key, size_t n) {
  if (n <= 1) return 0;
  auto digest = protocol::sha256_raw(key);
  uint64_t v = 0;
  std::memcpy(&v, digest.data(), sizeof v);
  return static_cast<size_t>(v % n);
}

size_t pick_instance(balance_policy policy, std::string_view key, size_t instances, uint64_t rr_counter) {
  if (instances <= 1) return 0;
  switch (policy) {
    case balance_policy::singleton:
      return 0;
    case balance_policy::round_robin:
      return rr_counter % instances;
    case balance_policy::user:
    case balance_policy::room:
    case balance_policy::destination:
      // Without a key (e.g. an unauthenticated request) spread the load instead.
      return key.empty() ? rr_counter % instances : shard_for(key, instances);
  }
  return 0;
}

const char* to_string(balance_policy p) {
  switch (p) {
    case balance_policy::round_robin: return "round_robin";
    case balance_policy::user: return "user";
    case balance_policy::room: return "room";
    case balance_policy::destination: return "destination";
    case balance_policy::singleton: return "singleton";
  }
  return "?";
}

} // namespace myelin::runtime
