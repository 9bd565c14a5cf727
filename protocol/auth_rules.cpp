// The authorization rules of room versions 1–11, written once and switched by the version's
// flags. Rule numbers in comments follow rooms/v11 (rooms/v1 and v3 number the same rules one
// higher from the m.room.aliases rule on). What each version changed:
//   v1–v2  rule 11: m.room.redaction needs the redact level or the same event id domain.
//   v1–v5  rule 4: m.room.aliases is allowed when the state_key is the sender's domain.
//   v6     power level checks cover `notifications`.
//   v7     knock membership and join rule.           v8  restricted join rule.
//   v10    knock_restricted; power levels must be integers.
//   v11    the creator is the create event's sender (no content.creator needed).
#include "protocol/auth_rules.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <set>

#include "protocol/crypto.hpp"
#include "protocol/power_levels.hpp"
#include "protocol/signing.hpp"

namespace myelin::protocol {

namespace json = boost::json;

namespace {

using reason = std::optional<std::string>;
const reason allow = std::nullopt;
reason reject(std::string why) { return why; }

std::string_view sv(const json::string& s) { return {s.data(), s.size()}; }

// The server part of a user, room or (v1–2) event id: everything after the first ':'.
std::optional<std::string_view> domain_of(std::string_view id) {
  auto colon = id.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  return id.substr(colon + 1);
}

bool same_domain(std::string_view a, std::string_view b) {
  auto da = domain_of(a), db = domain_of(b);
  return da && db && *da == *db;
}

std::optional<std::string_view> string_in(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || !v->is_string()) return std::nullopt;
  return sv(v->get_string());
}

const json::object* object_in(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_object() ? &v->get_object() : nullptr;
}

// A user id as the power level rules need it. Deliberately as lenient as Synapse (sigil and a
// server part): rooms created long ago hold ids outside today's grammar, and a stricter check
// than other servers' would make us reject power level events they accept.
bool looks_like_user_id(std::string_view s) { return s.size() >= 3 && s.front() == '@' && s.find(':') != s.npos; }

const pdu* lookup(const auth_state& state, std::string_view type, std::string_view state_key) {
  auto it = state.find(state_key_pair(type, state_key));
  return it == state.end() ? nullptr : it->second;
}

std::string_view membership_of(const auth_state& state, std::string_view user_id) {
  const pdu* member = lookup(state, "m.room.member", user_id);
  return member ? member->membership() : std::string_view{};
}

std::optional<std::string_view> room_creator(const room_version& version, const pdu& create) {
  if (version.implicit_room_creator) return create.sender();
  return string_in(create.content(), "creator");
}

// Rule 1.
reason check_create(const room_version& version, const pdu& event) {
  if (!event.prev_events().empty()) return reject("m.room.create has prev_events");
  auto room_domain = domain_of(event.room_id()), sender_domain = domain_of(event.sender());
  if (!room_domain || !sender_domain || *room_domain != *sender_domain)
    return reject("m.room.create room_id domain does not match the sender's");
  if (const json::value* v = event.content().if_contains("room_version")) {
    if (!v->is_string() || !find_room_version(sv(v->get_string())))
      return reject("m.room.create has an unknown room_version");
  }
  if (!version.implicit_room_creator && !event.content().contains("creator"))
    return reject("m.room.create has no creator");
  return allow;
}

// Rule 4.4.1: an invite on behalf of a third party identifier. The `signed` block must be signed
// by one of the public keys the m.room.third_party_invite event published.
reason check_third_party_invite(const pdu& event, const auth_state& state, std::string_view target) {
  if (membership_of(state, target) == "ban") return reject("invite target is banned");
  const json::object* tpi = object_in(event.content(), "third_party_invite");
  const json::object* signed_block = tpi ? object_in(*tpi, "signed") : nullptr;
  if (!signed_block) return reject("third_party_invite has no signed block");
  auto mxid = string_in(*signed_block, "mxid");
  auto token = string_in(*signed_block, "token");
  if (!mxid || !token) return reject("third_party_invite.signed lacks mxid or token");
  if (*mxid != target) return reject("third_party_invite mxid does not match state_key");
  const pdu* invite_event = lookup(state, "m.room.third_party_invite", *token);
  if (!invite_event) return reject("no m.room.third_party_invite for this token");
  if (invite_event->sender() != event.sender())
    return reject("sender did not send the m.room.third_party_invite");

  std::vector<std::string> public_keys;
  const json::object& invite_content = invite_event->content();
  if (auto k = string_in(invite_content, "public_key")) public_keys.emplace_back(*k);
  if (const json::value* list = invite_content.if_contains("public_keys"); list && list->is_array())
    for (const json::value& entry : list->get_array())
      if (entry.is_object())
        if (auto k = string_in(entry.get_object(), "public_key")) public_keys.emplace_back(*k);

  const json::object* signatures = object_in(*signed_block, "signatures");
  if (!signatures) return reject("third_party_invite.signed is not signed");
  for (const std::string& encoded : public_keys) {
    std::string raw;
    if (!base64_decode(encoded, raw)) continue;
    for (const auto& [server, keys] : *signatures) {
      if (!keys.is_object()) continue;
      for (const auto& key_entry : keys.get_object())
        if (verify_json_signature(*signed_block, std::string(server), std::string(key_entry.key()), raw))
          return allow;
    }
  }
  return reject("third_party_invite signature does not match the invite's public keys");
}

// Rule 4: m.room.member.
reason check_member(const room_version& version, const pdu& event, const auth_state& state, const pdu& create,
                    const power_levels& levels) {
  auto target_opt = event.state_key();
  const json::object& content = event.content();
  auto membership_opt = string_in(content, "membership");
  if (!target_opt || !membership_opt) return reject("m.room.member without state_key or membership");
  const std::string_view target = *target_opt, membership = *membership_opt, sender = event.sender();
  // 4.2: a join_authorised_via_users_server must be signed by that user's server. Signatures are
  // the caller's to verify (they need the server's keys), as for every other signature check.

  const std::string_view sender_membership = membership_of(state, sender);
  const std::string_view target_membership = membership_of(state, target);
  const int64_t sender_level = levels.user_level(sender);
  const int64_t target_level = levels.user_level(target);

  if (membership == "join") {
    // 4.3.1: the creator's own join, straight after the create event.
    auto prevs = event.prev_events();
    auto creator = room_creator(version, create);
    if (prevs.size() == 1 && prevs.front() == create.event_id && creator && *creator == target) return allow;
    if (sender != target) return reject("cannot join on behalf of another user");
    if (sender_membership == "ban") return reject("sender is banned");

    // No join rules event: Synapse treats the room as invite-only, the most restrictive reading.
    std::string_view join_rule = "invite";
    if (const pdu* rules = lookup(state, "m.room.join_rules", ""))
      join_rule = string_in(rules->content(), "join_rule").value_or("");
    const bool invited_or_joined = sender_membership == "invite" || sender_membership == "join";

    if (join_rule == "invite" || (version.knock && join_rule == "knock")) {
      if (invited_or_joined) return allow;
      return reject("not invited to this room");
    }
    if ((version.restricted_join && join_rule == "restricted") ||
        (version.knock_restricted && join_rule == "knock_restricted")) {
      if (invited_or_joined) return allow;
      auto via = string_in(content, "join_authorised_via_users_server");
      if (!via) return reject("restricted join without join_authorised_via_users_server");
      if (membership_of(state, *via) != "join") return reject("authorising user is not in the room");
      if (levels.user_level(*via) < levels.invite) return reject("authorising user cannot invite");
      return allow;
    }
    if (join_rule == "public") return allow;
    return reject("join rule does not allow joining");
  }

  if (membership == "invite") {
    if (content.contains("third_party_invite")) return check_third_party_invite(event, state, target);
    if (sender_membership != "join") return reject("sender not in room");
    if (target_membership == "join" || target_membership == "ban")
      return reject("invite target is already joined or banned");
    if (sender_level >= levels.invite) return allow;
    return reject("insufficient power level to invite");
  }

  if (membership == "leave") {
    if (sender == target) {
      if (sender_membership == "invite" || sender_membership == "join" ||
          (version.knock && sender_membership == "knock"))
        return allow;
      return reject("cannot leave a room one is not in");
    }
    if (sender_membership != "join") return reject("sender not in room");
    if (target_membership == "ban" && sender_level < levels.ban) return reject("insufficient power level to unban");
    if (sender_level >= levels.kick && target_level < sender_level) return allow;
    return reject("insufficient power level to kick");
  }

  if (membership == "ban") {
    if (sender_membership != "join") return reject("sender not in room");
    if (sender_level >= levels.ban && target_level < sender_level) return allow;
    return reject("insufficient power level to ban");
  }

  if (membership == "knock" && version.knock) {
    std::string_view join_rule;
    if (const pdu* rules = lookup(state, "m.room.join_rules", ""))
      join_rule = string_in(rules->content(), "join_rule").value_or("");
    if (join_rule != "knock" && !(version.knock_restricted && join_rule == "knock_restricted"))
      return reject("join rule does not allow knocking");
    if (sender != target) return reject("cannot knock on behalf of another user");
    if (sender_membership != "ban" && sender_membership != "invite" && sender_membership != "join") return allow;
    return reject("cannot knock while banned, invited or joined");
  }

  return reject("unknown membership");
}

// A power level value found in content: absent, a valid level, or present but unreadable.
struct level_field {
  bool present = false;
  std::optional<int64_t> value;
};

level_field field_of(const json::object& o, std::string_view key, const room_version& version) {
  const json::value* v = o.if_contains(key);
  if (!v) return {};
  return {true, parse_power_level_value(*v, version)};
}

const json::object& sub_object(const json::object& content, std::string_view key) {
  static const json::object empty;
  const json::object* o = object_in(content, key);
  return o ? *o : empty;
}

// Rule 9: m.room.power_levels (after the generic state checks).
reason check_power_levels(const room_version& version, const pdu& event, const pdu* current, int64_t sender_level) {
  static constexpr std::string_view named_levels[] = {"users_default", "events_default", "state_default", "ban",
                                                      "redact",        "kick",           "invite"};
  const json::object& content = event.content();

  // 9.1–9.3: shape. From v10 every value must be a JSON integer; before, a string of an integer
  // (or, v1–5, a float) also passes. Values the version cannot read are rejected in any version:
  // the checks below could not compare them.
  for (std::string_view key : named_levels) {
    level_field f = field_of(content, key, version);
    if (f.present && !f.value) return reject("power level '" + std::string(key) + "' is not an integer");
  }
  std::vector<std::string_view> maps = {"events"};
  if (version.limit_notifications_power_levels) maps.push_back("notifications");
  for (std::string_view key : maps) {
    const json::value* v = content.if_contains(key);
    if (!v) continue;
    if (!v->is_object()) {
      if (version.integer_power_levels) return reject("power levels '" + std::string(key) + "' is not an object");
      continue;  // before v10 only `users` is checked for shape; an unreadable map reads as empty
    }
    for (const auto& entry : v->get_object())
      if (!parse_power_level_value(entry.value(), version))
        return reject("power levels '" + std::string(key) + "' holds a non-integer value");
  }
  if (const json::value* users = content.if_contains("users")) {
    if (!users->is_object()) return reject("power levels 'users' is not an object");
    for (const auto& entry : users->get_object()) {
      if (!looks_like_user_id(std::string_view(entry.key())))
        return reject("power levels 'users' has an invalid user id");
      if (!parse_power_level_value(entry.value(), version))
        return reject("power levels 'users' holds a non-integer value");
    }
  }

  // 9.4: the room's first power levels event sets anything.
  if (!current) return allow;
  const json::object& old_content = current->content();

  // 9.5: added, changed or removed top-level levels. An old value this version cannot read
  // counts as absent, so one malformed event cannot freeze the room's power levels.
  for (std::string_view key : named_levels) {
    auto old_level = field_of(old_content, key, version).value;
    auto new_level = field_of(content, key, version).value;
    if (old_level == new_level) continue;
    if (old_level && *old_level > sender_level) return reject("cannot change a level above one's own");
    if (new_level && *new_level > sender_level) return reject("cannot set a level above one's own");
  }

  // 9.6–9.9: entries of `events` (and `notifications`, v6+) and `users`.
  auto check_map = [&](std::string_view map_key, bool is_users) -> reason {
    const json::object& old_map = sub_object(old_content, map_key);
    const json::object& new_map = sub_object(content, map_key);
    std::set<std::string_view> keys;
    for (const auto& e : old_map) keys.insert(std::string_view(e.key()));
    for (const auto& e : new_map) keys.insert(std::string_view(e.key()));
    for (std::string_view key : keys) {
      auto old_level = field_of(old_map, key, version).value;
      auto new_level = field_of(new_map, key, version).value;
      if (old_level == new_level) continue;
      if (old_level) {
        // Another user's level can only be changed by someone above it; one's own may be lowered.
        if (is_users && key != event.sender()) {
          if (*old_level >= sender_level) return reject("cannot change the level of a user at or above one's own");
        } else if (*old_level > sender_level) {
          return reject("cannot change a level above one's own");
        }
      }
      if (new_level && *new_level > sender_level) return reject("cannot set a level above one's own");
    }
    return allow;
  };
  for (std::string_view key : maps)
    if (auto r = check_map(key, false)) return r;
  if (auto r = check_map("users", true)) return r;
  return allow;
}

} // namespace

std::vector<state_key_pair> auth_types_for_event(const room_version& version, const pdu& event) {
  std::vector<state_key_pair> out;
  const std::string_view type = event.type();
  if (type == "m.room.create") return out;
  auto add = [&out](std::string_view t, std::string_view k) {
    state_key_pair key(t, k);
    if (std::find(out.begin(), out.end(), key) == out.end()) out.push_back(std::move(key));
  };
  add("m.room.create", "");
  add("m.room.power_levels", "");
  add("m.room.member", event.sender());
  if (type == "m.room.member") {
    const json::object& content = event.content();
    const std::string_view membership = string_in(content, "membership").value_or("");
    if (auto target = event.state_key()) add("m.room.member", *target);
    if (membership == "join" || membership == "invite" || membership == "knock") add("m.room.join_rules", "");
    if (membership == "invite")
      if (const json::object* tpi = object_in(content, "third_party_invite"))
        if (const json::object* signed_block = object_in(*tpi, "signed"))
          if (auto token = string_in(*signed_block, "token")) add("m.room.third_party_invite", *token);
    if (membership == "join" && version.restricted_join)
      if (auto via = string_in(content, "join_authorised_via_users_server")) add("m.room.member", *via);
  }
  return out;
}

std::optional<std::string> check_auth_events(const room_version& version, const pdu& event,
                                             const std::vector<const pdu*>& auth_events) {
  if (event.type() == "m.room.create") {
    if (!auth_events.empty()) return reject("m.room.create has auth_events");
    return allow;
  }
  const auto allowed = auth_types_for_event(version, event);
  std::set<state_key_pair> seen;
  bool has_create = false;
  for (const pdu* a : auth_events) {
    if (!a || !a->state_key()) return reject("auth event is not a state event");
    state_key_pair key(a->type(), *a->state_key());
    if (!seen.insert(key).second) return reject("duplicate auth event for " + key.first);
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      return reject("unexpected auth event " + key.first);
    if (a->room_id() != event.room_id()) return reject("auth event from another room");
    if (key.first == "m.room.create") has_create = true;
  }
  if (!has_create) return reject("no m.room.create among auth_events");
  return allow;
}

std::optional<std::string> check_auth(const room_version& version, const pdu& event, const auth_state& state) {
  const std::string_view type = event.type();
  const std::string_view sender = event.sender();

  // 1. The create event stands alone.
  if (type == "m.room.create") return check_create(version, event);

  // 2.4, 2.5 applied to the state the event is checked against: it must hold the create event,
  // and what the rules read must come from this room.
  const pdu* create = lookup(state, "m.room.create", "");
  if (!create) return reject("no m.room.create event");
  for (const auto& key : auth_types_for_event(version, event)) {
    auto it = state.find(key);
    if (it != state.end() && it->second && it->second->room_id() != event.room_id())
      return reject("auth event from another room");
  }

  // 3. m.federate: false keeps other servers out.
  if (const json::value* federate = create->content().if_contains("m.federate");
      federate && federate->is_bool() && !federate->get_bool() && !same_domain(sender, create->sender()))
    return reject("room is not federated");

  // v1–5 rule 4: aliases belong to the server named in the state_key, member or not.
  if (version.special_case_aliases_auth && type == "m.room.aliases") {
    auto key = event.state_key();
    if (!key) return reject("m.room.aliases without state_key");
    auto domain = domain_of(sender);
    if (!domain || *domain != *key) return reject("m.room.aliases state_key is not the sender's domain");
    return allow;
  }

  const power_levels levels = effective_power_levels(lookup(state, "m.room.power_levels", ""), create, version);

  // 4. Membership changes have their own rules.
  if (type == "m.room.member") return check_member(version, event, state, *create, levels);

  // 5. Everything else needs a joined sender.
  if (membership_of(state, sender) != "join") return reject("sender not in room");
  const int64_t sender_level = levels.user_level(sender);

  // 6.
  if (type == "m.room.third_party_invite") {
    if (sender_level >= levels.invite) return allow;
    return reject("insufficient power level to invite");
  }

  // 7.
  if (levels.event_level(type, event.is_state()) > sender_level)
    return reject("insufficient power level to send " + std::string(type));

  // 8. A state_key naming a user is that user's alone.
  if (auto key = event.state_key(); key && !key->empty() && key->front() == '@' && *key != sender)
    return reject("state_key names another user");

  // 9.
  if (type == "m.room.power_levels")
    return check_power_levels(version, event, lookup(state, "m.room.power_levels", ""), sender_level);

  // v1–2 rule 11: redactions need the redact level, or come from the server of the event they
  // redact (as told by the event ids, which carry a domain only in these versions). From v3 the
  // auth rules accept redactions; whether one is applied is decided when both events are known.
  if (version.event_ids == event_id_format::server_made && type == "m.room.redaction") {
    if (sender_level >= levels.redact) return allow;
    auto redacts = event.redacts();
    if (redacts && same_domain(*redacts, event.event_id)) return allow;
    return reject("insufficient power level to redact");
  }

  return allow;
}

} // namespace myelin::protocol
