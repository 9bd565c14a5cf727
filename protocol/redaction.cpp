// Redaction per room version. The rules differ only in a handful of switches, so each version is
// one row of a table rather than version checks spread through the algorithm:
//   v1–v5  (rooms/v1 "Redactions"): the original algorithm, including m.room.aliases.
//   v6, v7 (rooms/v6): m.room.aliases no longer protects `aliases`.
//   v8     (rooms/v8): m.room.join_rules also keeps `allow`.
//   v9, v10 (rooms/v9): m.room.member also keeps `join_authorised_via_users_server`.
//   v11    (rooms/v11): top-level `origin`, `membership`, `prev_state` are no longer kept;
//          m.room.create keeps all content; m.room.power_levels keeps `invite`; m.room.redaction
//          keeps `redacts`; m.room.member keeps `third_party_invite.signed`.
#include "protocol/redaction.hpp"

#include <algorithm>
#include <array>
#include <string_view>
#include <vector>

#include "protocol/errors.hpp"

namespace myelin::protocol {

namespace json = boost::json;

namespace {

struct redaction_rules {
  bool keeps_origin_membership_prev_state;  // dropped in v11
  bool aliases_keeps_aliases;               // v1–v5
  bool join_rules_keeps_allow;              // v8+
  bool member_keeps_join_authorised;        // v9+
  bool member_keeps_third_party_signed;     // v11
  bool create_keeps_all_content;            // v11 (before: only `creator`)
  bool power_levels_keeps_invite;           // v11
  bool redaction_keeps_redacts;             // v11
};

constexpr redaction_rules v1_rules{true, true, false, false, false, false, false, false};
constexpr redaction_rules v6_rules{true, false, false, false, false, false, false, false};
constexpr redaction_rules v8_rules{true, false, true, false, false, false, false, false};
constexpr redaction_rules v9_rules{true, false, true, true, false, false, false, false};
constexpr redaction_rules v11_rules{false, false, true, true, true, true, true, true};

const redaction_rules& rules_for(const std::string& room_version) {
  struct row {
    std::string_view version;
    const redaction_rules* rules;
  };
  static constexpr std::array<row, 11> table{{{"1", &v1_rules},
                                              {"2", &v1_rules},
                                              {"3", &v1_rules},
                                              {"4", &v1_rules},
                                              {"5", &v1_rules},
                                              {"6", &v6_rules},
                                              {"7", &v6_rules},
                                              {"8", &v8_rules},
                                              {"9", &v9_rules},
                                              {"10", &v9_rules},
                                              {"11", &v11_rules}}};
  for (const auto& r : table)
    if (r.version == room_version) return *r.rules;
  throw matrix_error(400, "M_UNSUPPORTED_ROOM_VERSION", "Unsupported room version '" + room_version + "'");
}

bool keeps_top_level(std::string_view key, const redaction_rules& r) {
  static constexpr std::array<std::string_view, 12> always{
      "event_id", "type",        "room_id",     "sender",      "state_key",   "content",
      "hashes",   "signatures",  "depth",       "prev_events", "auth_events", "origin_server_ts"};
  static constexpr std::array<std::string_view, 3> before_v11{"origin", "membership", "prev_state"};
  auto in = [key](const auto& list) { return std::find(list.begin(), list.end(), key) != list.end(); };
  return in(always) || (r.keeps_origin_membership_prev_state && in(before_v11));
}

// The plain content keys an event type protects (m.room.create's "everything" and
// third_party_invite.signed are handled by the caller, as they are not plain keys).
std::vector<std::string_view> protected_content_keys(std::string_view type, const redaction_rules& r) {
  std::vector<std::string_view> keys;
  if (type == "m.room.member") {
    keys = {"membership"};
    if (r.member_keeps_join_authorised) keys.push_back("join_authorised_via_users_server");
  } else if (type == "m.room.create") {
    keys = {"creator"};
  } else if (type == "m.room.join_rules") {
    keys = {"join_rule"};
    if (r.join_rules_keeps_allow) keys.push_back("allow");
  } else if (type == "m.room.power_levels") {
    keys = {"ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default"};
    if (r.power_levels_keeps_invite) keys.push_back("invite");
  } else if (type == "m.room.history_visibility") {
    keys = {"history_visibility"};
  } else if (type == "m.room.aliases" && r.aliases_keeps_aliases) {
    keys = {"aliases"};
  } else if (type == "m.room.redaction" && r.redaction_keeps_redacts) {
    keys = {"redacts"};
  }
  return keys;
}

json::object redact_content(std::string_view type, const json::object& content, const redaction_rules& r) {
  if (type == "m.room.create" && r.create_keeps_all_content) return content;
  const auto keys = protected_content_keys(type, r);
  json::object out;
  for (const auto& kv : content)
    if (std::find(keys.begin(), keys.end(), kv.key()) != keys.end()) out.emplace(kv.key(), kv.value());
  if (type == "m.room.member" && r.member_keeps_third_party_signed) {
    // Like Synapse (whose hashes ours must match), an object-valued third_party_invite survives
    // as an object holding only `signed`, if it had one.
    if (const auto* tpi = content.if_contains("third_party_invite"); tpi && tpi->is_object()) {
      json::object kept;
      if (const auto* s = tpi->as_object().if_contains("signed")) kept.emplace("signed", *s);
      out.emplace("third_party_invite", std::move(kept));
    }
  }
  return out;
}

} // namespace

json::object redact(const json::object& event, const std::string& room_version) {
  const redaction_rules& r = rules_for(room_version);
  const auto* type_value = event.if_contains("type");
  const std::string_view type = type_value && type_value->is_string() ? std::string_view(type_value->as_string())
                                                                      : std::string_view();
  json::object out;
  for (const auto& kv : event) {
    if (!keeps_top_level(kv.key(), r)) continue;
    if (kv.key() == "content") {
      // A non-object content protects nothing; it becomes an empty object.
      static const json::object empty;
      out.emplace("content", redact_content(type, kv.value().is_object() ? kv.value().as_object() : empty, r));
    } else {
      out.emplace(kv.key(), kv.value());
    }
  }
  return out;
}

} // namespace myelin::protocol
