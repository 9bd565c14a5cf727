// Invites across servers (server-server API "Inviting to a room", v2) and leaving a room this
// server is only invited to ("Leaving Rooms (Rejecting Invites)").
//   - Inbound: another server's user invites one of ours; we countersign the event and keep it
//     (with the inviting server's stripped room state) so the invitee's /sync shows the invite.
//   - Outbound: our user invites another server's user; that server countersigns before the
//     invite is stored and sent to the room.
//   - Rejecting a remote invite (or withdrawing a knock): make_leave / send_leave through the
//     inviting server (the room's server); when it cannot be reached the leave is stored here
//     only, so the invite goes away for our user.
#include "actors/federation/remote_membership.hpp"

#include <boost/json.hpp>

#include "actors/endpoint_helpers.hpp"
#include "actors/federation/federation.hpp"
#include "actors/federation/inbound_pdus.hpp"
#include "actors/federation/room_events.hpp"
#include "actors/runtime/writer_client.hpp"
#include "common/clock.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "protocol/errors.hpp"
#include "protocol/event_builder.hpp"
#include "protocol/event_hashes.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/json.hpp"
#include "protocol/pdu_checks.hpp"
#include "protocol/redaction.hpp"
#include "protocol/signing.hpp"
#include "protocol/signing_key.hpp"
#include "storage/tables/accounts.hpp"
#include "storage/tables/events.hpp"

namespace myelin::federation {

namespace json = boost::json;

namespace {

std::string server_of(const std::string& user_id) {
  auto parts = protocol::split_user_id(user_id);
  return parts ? parts->server_name : std::string();
}

// Adds our signature to an event another server made (over its redacted form, as events are signed).
void countersign(runtime::handler_context& ctx, const protocol::room_version& version, json::object& ev) {
  json::object redacted = protocol::redact(ev, std::string(version.id));
  protocol::sign_json(redacted, ctx.config.server_name, *ctx.signing_key);
  ev["signatures"] = redacted["signatures"];
}

api_response inbound_invite(runtime::handler_context& ctx, const api_request& req) {
  auto origin = authenticate_origin(ctx, req);
  const auto& room_id = req.path_params.at(0);
  const auto& event_id = req.path_params.at(1);
  auto body = protocol::parse_object(req.body);
  auto version_id = protocol::opt_string(body, "room_version").value_or("1");
  const auto* version = protocol::find_room_version(version_id);
  if (!version || version->event_ids == protocol::event_id_format::server_made)
    throw protocol::matrix_error(400, "M_INCOMPATIBLE_ROOM_VERSION", "Room version " + version_id + " is not supported",
                                 json::object{{"room_version", version_id}});
  auto* event = protocol::opt_object(body, "event");
  if (!event) throw protocol::errors::bad_json("Missing event");
  auto checked = check_received_pdu(ctx, *version, *event);
  if (auto* why = std::get_if<std::string>(&checked)) throw protocol::errors::bad_json("Bad event: " + *why);
  auto& ev = std::get<checked_pdu>(checked);
  if (ev.event_id != event_id || ev.room_id() != room_id) throw protocol::errors::bad_json("The event does not match the path");
  if (ev.type() != "m.room.member" || ev.membership() != "invite" || !ev.state_key())
    throw protocol::errors::bad_json("Not an invite");
  std::string invitee(*ev.state_key());
  if (server_of(invitee) != ctx.config.server_name) throw protocol::errors::bad_json("The invitee is not a user of this server");
  if (server_of(std::string(ev.sender())) != origin) throw protocol::errors::forbidden("The sender does not belong to your server");
  {
    auto c = ctx.db.acquire();
    if (storage::events::get_room(*c, room_id)) require_acl_allows(*c, room_id, origin);
    auto user = storage::accounts::get_user(*c, invitee);
    if (!user || user->deactivated) throw protocol::errors::not_found("Unknown user " + invitee);
  }
  json::object signed_event = *event;  // as sent (with its hash intact), plus our signature
  countersign(ctx, *version, signed_event);
  // In the room already: the invite reaches us again through /send/ like any event. Otherwise it
  // is kept for the invitee with the room's stripped state.
  bool in_room = false;
  {
    auto c = ctx.db.acquire();
    for (const auto& s : servers_in_room(*c, room_id)) in_room = in_room || s == ctx.config.server_name;
  }
  if (!in_room) {
    json::object unsigned_extra;
    if (auto* state = protocol::opt_array(body, "invite_room_state")) unsigned_extra["invite_room_state"] = *state;
    ctx.writers.write("events", room_id, "store_out_of_room_membership",
                      json::object{{"room_id", room_id},
                                   {"room_version", version_id},
                                   {"event_id", ev.event_id},
                                   {"event", signed_event},
                                   {"unsigned", std::move(unsigned_extra)}});
  }
  return runtime::json_response(json::object{{"event", std::move(signed_event)}});
}

} // namespace

stream_position invite_remote_user(runtime::handler_context& ctx, const std::string& room_id,
                                   const boost::json::object& event_template) {
  if (!ctx.signing_key) throw protocol::errors::unknown("No signing key loaded");
  auto invitee = protocol::req_string(event_template, "state_key");
  auto destination = server_of(invitee);
  auto built = protocol::parse_object(
      ctx.writers.write("events", room_id, "build_event", json::object{{"room_id", room_id}, {"event", event_template}})
          .result);
  auto event_id = protocol::req_string(built, "event_id");
  std::string version_id;
  json::array stripped;
  {
    auto c = ctx.db.acquire();
    version_id = std::string(room_version_of(*c, room_id).id);
    stripped = stripped_room_state(*c, room_id);
  }
  const auto& version = *protocol::find_room_version(version_id);
  json::value body = json::object{
      {"event", built.at("event")}, {"room_version", version_id}, {"invite_room_state", std::move(stripped)}};
  auto answer = request(ctx, destination, "PUT",
                        "/_matrix/federation/v2/invite/" + protocol::percent_encode(room_id) + "/" +
                            protocol::percent_encode(event_id),
                        &body, std::chrono::seconds(30));
  auto* returned = answer.is_object() ? answer.as_object().if_contains("event") : nullptr;
  if (!returned || !returned->is_object()) throw protocol::errors::unknown("Bad invite answer from " + destination);
  auto signed_event = returned->as_object();
  // The invitee's server must have signed exactly our event.
  if (protocol::event_id_for(signed_event, version_id) != event_id)
    throw protocol::errors::unknown(destination + " returned another event");
  bool countersigned = false;
  for (const auto& key_id : protocol::signing_key_ids(signed_event, destination))
    if (auto key = current_verify_key(ctx, destination, key_id))
      countersigned = countersigned || protocol::pdu_signature_valid(version, signed_event, destination, key_id, *key);
  if (!countersigned) throw protocol::errors::unknown(destination + " did not sign the invite");
  auto w = ctx.writers.write("events", room_id, "persist_remote",
                             json::object{{"room_id", room_id}, {"event_id", event_id}, {"event", signed_event}});
  auto r = protocol::parse_object(w.result);
  auto outcome = protocol::opt_string(r, "outcome").value_or("");
  if (outcome != "accepted" && outcome != "known")
    throw protocol::errors::forbidden("The invite was not accepted: " + protocol::opt_string(r, "reason").value_or(outcome));
  return w.position;
}

stream_position leave_remote_room(runtime::handler_context& ctx, const std::string& user_id, const std::string& room_id,
                                  const boost::json::object& content) {
  if (!ctx.signing_key) throw protocol::errors::unknown("No signing key loaded");
  std::string via, version_id;
  {
    auto c = ctx.db.acquire();
    auto id = storage::events::current_state_event_id(*c, room_id, "m.room.member", user_id);
    auto e = id ? storage::events::get_event(*c, *id) : std::nullopt;
    if (!e || (e->membership != std::optional<std::string>("invite") && e->membership != std::optional<std::string>("knock")))
      throw protocol::errors::forbidden("You are not invited to this room");
    // An invite: through the inviting server. A knock (our user's own event): through the room's
    // creating server, named in its id.
    via = e->membership == std::optional<std::string>("invite") ? server_of(e->sender)
                                                                 : room_id.substr(room_id.find(':') + 1);
    version_id = storage::events::get_room(*c, room_id)->room_version;
  }
  const auto* version = protocol::find_room_version(version_id);
  std::optional<protocol::pdu> leave;
  try {
    auto made = make_membership_event(ctx, via, room_id, user_id, "leave", content);
    leave = std::move(made.event);
    json::value body = leave->json;
    request(ctx, via, "PUT",
            "/_matrix/federation/v2/send_leave/" + protocol::percent_encode(room_id) + "/" +
                protocol::percent_encode(leave->event_id),
            &body, std::chrono::seconds(30));
  } catch (const protocol::matrix_error& e) {
    // The inviting server is gone or refuses: the invite still goes away here, with a leave only
    // this server knows (as Synapse's "out of band" rejection).
    ctx.log.info("remote leave failed; rejecting locally", {{"room_id", room_id}, {"error", e.what()}});
    json::object ev{{"type", "m.room.member"},       {"state_key", user_id},        {"sender", user_id},
                    {"room_id", room_id},            {"content", json::object{{"membership", "leave"}}},
                    {"auth_events", json::array{}},  {"prev_events", json::array{}}, {"depth", 1},
                    {"origin", ctx.config.server_name}, {"origin_server_ts", now_ms()}};
    leave = protocol::seal_event(*version, std::move(ev), ctx.config.server_name, *ctx.signing_key);
  }
  auto w = ctx.writers.write("events", room_id, "store_out_of_room_membership",
                             json::object{{"room_id", room_id},
                                          {"room_version", version_id},
                                          {"event_id", leave->event_id},
                                          {"event", leave->json}});
  return w.position;
}

} // namespace myelin::federation

namespace myelin::endpoints {

void register_federation_invite(runtime::endpoint_registry& r) {
  r.add({.name = "federation.invite", .method = "PUT", .path = "/_matrix/federation/v2/invite/{roomId}/{eventId}",
         .auth = auth_mode::none},
        federation::inbound_invite);
}

} // namespace myelin::endpoints
