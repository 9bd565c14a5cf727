#include "actors/federation/room_events.hpp"

#include <boost/json.hpp>
#include <set>

#include "actors/federation/federation.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "protocol/errors.hpp"
#include "protocol/event_hashes.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/pdu_checks.hpp"
#include "protocol/redaction.hpp"
#include "protocol/server_acl.hpp"
#include "protocol/signing_key.hpp"

namespace myelin::federation {

namespace json = boost::json;

std::variant<checked_pdu, std::string> check_received_pdu(runtime::handler_context& ctx,
                                                          const protocol::room_version& version,
                                                          const json::object& pdu) {
  if (auto why = protocol::check_pdu_format(version, pdu)) return *why;
  checked_pdu out;
  try {
    out.event_id = protocol::event_id_for(pdu, std::string(version.id));
  } catch (const std::exception& e) {
    return std::string("cannot compute the event id: ") + e.what();
  }
  // Room versions 5+: a key checks only events sent while it was valid (check_pdu_format has
  // checked that origin_server_ts is an integer).
  int64_t key_valid_at = version.enforce_key_validity ? pdu.at("origin_server_ts").to_number<int64_t>() : 0;
  for (const auto& server : protocol::required_signers(version, pdu)) {
    bool signed_ok = false;
    for (const auto& key_id : protocol::signing_key_ids(pdu, server)) {
      auto key = event_verify_key(ctx, server, key_id, key_valid_at);
      if (key && protocol::pdu_signature_valid(version, pdu, server, key_id, *key)) {
        signed_ok = true;
        break;
      }
    }
    if (!signed_ok) return "no valid signature of " + server;
  }
  out.json = protocol::check_content_hash(pdu) ? pdu : protocol::redact(pdu, std::string(version.id));
  return out;
}

json::array checked_entries(runtime::handler_context& ctx, const protocol::room_version& version,
                            const json::array& pdus) {
  json::array out;
  for (const auto& p : pdus) {
    if (!p.is_object()) continue;
    auto checked = check_received_pdu(ctx, version, p.as_object());
    if (auto* why = std::get_if<std::string>(&checked)) {
      ctx.log.info("dropping a received event", {{"reason", *why}});
      continue;
    }
    auto& ev = std::get<checked_pdu>(checked);
    out.push_back(json::object{{"event_id", ev.event_id}, {"event", std::move(ev.json)}});
  }
  return out;
}

const protocol::room_version& room_version_of(storage::connection& c, const std::string& room_id) {
  auto room = storage::events::get_room(c, room_id);
  if (!room) throw protocol::errors::not_found("Unknown room " + room_id);
  const auto* v = protocol::find_room_version(room->room_version);
  if (!v) throw protocol::matrix_error(400, "M_UNSUPPORTED_ROOM_VERSION", "Unsupported room version");
  return *v;
}

void require_server_in_room(storage::connection& c, const std::string& room_id, const std::string& server) {
  // One of the server's users has (or had) a member event in the room.
  if (storage::events::server_has_member(c, room_id, server, {"join", "invite", "leave", "knock"})) return;
  if (auto id = storage::events::current_state_event_id(c, room_id, "m.room.history_visibility", ""))
    if (auto e = storage::events::get_event(c, *id))
      if (e->json.find("\"world_readable\"") != std::string::npos) return;
  throw protocol::errors::forbidden("Your server is not in this room");
}

bool acl_allows(storage::connection& c, const std::string& room_id, const std::string& server) {
  auto id = storage::events::current_state_event_id(c, room_id, "m.room.server_acl", "");
  if (!id) return true;
  auto e = storage::events::get_event(c, *id);
  if (!e) return true;
  auto pdu = json::parse(e->json).as_object();
  auto* content = pdu.if_contains("content");
  // A redacted ACL has no allow list left: it denies everyone, as its content now says.
  return protocol::server_allowed_by_acl(content && content->is_object() && !e->redacted_by ? content->as_object()
                                                                                            : json::object{},
                                         server);
}

void require_acl_allows(storage::connection& c, const std::string& room_id, const std::string& server) {
  if (!acl_allows(c, room_id, server)) throw protocol::errors::forbidden("Server is banned from this room");
}

storage::events::state_ids state_before(storage::connection& c, const storage::events::event_row& event) {
  storage::events::state_ids out;
  if (event.state_group) out = storage::events::state_at_group(c, *event.state_group);
  if (event.state_key) {
    // The group is the state after the event: put back what it replaced.
    std::pair<std::string, std::string> key{event.type, *event.state_key};
    auto pdu = json::parse(event.json).as_object();
    std::optional<std::string> replaced;
    if (auto* u = pdu.if_contains("unsigned"); u && u->is_object())
      if (auto* r = u->as_object().if_contains("replaces_state"); r && r->is_string()) replaced = std::string(r->as_string());
    if (replaced) out[key] = *replaced;
    else out.erase(key);
  }
  return out;
}

std::vector<storage::events::event_row> auth_chain(storage::connection& c, const std::vector<std::string>& event_ids) {
  std::set<std::string> seen;
  std::vector<std::string> frontier;
  auto enqueue_auth_of = [&](const storage::events::event_row& e) {
    auto pdu = json::parse(e.json).as_object();
    if (auto* a = pdu.if_contains("auth_events"); a && a->is_array())
      for (const auto& id : a->as_array())
        if (id.is_string() && seen.insert(std::string(id.as_string())).second) frontier.emplace_back(id.as_string());
  };
  for (const auto& e : storage::events::get_events(c, event_ids)) enqueue_auth_of(e);
  std::vector<storage::events::event_row> out;
  while (!frontier.empty()) {
    auto batch = std::move(frontier);
    frontier.clear();
    for (auto& e : storage::events::get_events(c, batch)) {
      enqueue_auth_of(e);
      out.push_back(std::move(e));
    }
  }
  return out;
}

json::object federation_format(const storage::events::event_row& e, const std::string& room_version) {
  auto pdu = json::parse(e.json).as_object();
  pdu.erase("unsigned");
  if (e.redacted_by) pdu = protocol::redact(pdu, room_version);
  return pdu;
}

std::vector<std::string> servers_in_room(storage::connection& c, const std::string& room_id) {
  auto r = c.exec("SELECT state_key FROM current_state_events WHERE room_id = $1 AND type = 'm.room.member' "
                  "AND membership = 'join'",
                  {room_id});
  std::set<std::string> servers;
  for (size_t i = 0; i < r.size(); ++i)
    if (auto parts = protocol::split_user_id(r[i].as_text(0))) servers.insert(parts->server_name);
  return {servers.begin(), servers.end()};
}

json::array stripped_room_state(storage::connection& c, const std::string& room_id) {
  json::array out;
  static const std::vector<std::string> types = {"m.room.create",     "m.room.join_rules", "m.room.name",
                                                 "m.room.avatar",     "m.room.topic",      "m.room.canonical_alias",
                                                 "m.room.encryption"};
  for (const auto& e : storage::events::current_state_of_types(c, room_id, types)) {
    auto pdu = json::parse(e.json).as_object();
    json::object s{{"type", e.type}, {"state_key", e.state_key.value_or("")}, {"sender", e.sender}};
    if (auto* content = pdu.if_contains("content")) s["content"] = *content;
    out.push_back(std::move(s));
  }
  return out;
}

} // namespace myelin::federation
