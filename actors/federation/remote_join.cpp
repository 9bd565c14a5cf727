// A local user joining or knocking on a room through another server (server-server API "Joining
// Rooms", "Knocking upon a room", the joining server's side): make_join / make_knock for a
// template, our signature on it, send_join / send_knock; a join's state and auth chain are checked
// and stored by the room's persister (join_remote), a knock is kept with the room's stripped state
// like an invite from another server.
#include "actors/federation/remote_membership.hpp"

#include <boost/json.hpp>

#include "actors/federation/federation.hpp"
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
#include "storage/tables/events.hpp"

namespace myelin::federation {

namespace json = boost::json;

namespace {

// make_join asks with every room version this server can take part in.
std::string versions_query() {
  std::string q;
  for (const auto& v : protocol::known_room_versions()) q += (q.empty() ? "?ver=" : "&ver=") + std::string(v.id);
  return q;
}

struct join_attempt {
  std::string server;
  json::object answer;          // send_join's
  const protocol::room_version* version = nullptr;
  protocol::pdu join;
};

join_attempt try_join(runtime::handler_context& ctx, const std::string& server, const std::string& room_id,
                      const std::string& user_id, const json::object& content) {
  auto made = make_membership_event(ctx, server, room_id, user_id, "join", content);
  json::value body = made.event.json;
  auto sent = request(ctx, server, "PUT",
                      "/_matrix/federation/v2/send_join/" + protocol::percent_encode(room_id) + "/" +
                          protocol::percent_encode(made.event.event_id),
                      &body, std::chrono::seconds(120), max_room_state_answer_bytes);
  if (!sent.is_object()) throw protocol::errors::unknown("Bad send_join answer from " + server);
  // A restricted join comes back with the authorising server's signature too.
  if (auto* signed_again = sent.as_object().if_contains("event"); signed_again && signed_again->is_object()) {
    auto& e = signed_again->as_object();
    if (protocol::event_id_for(e, std::string(made.version->id)) == made.event.event_id) made.event.json = e;
  }
  return {server, std::move(sent.as_object()), made.version, std::move(made.event)};
}

} // namespace

signed_membership make_membership_event(runtime::handler_context& ctx, const std::string& server,
                                        const std::string& room_id, const std::string& user_id,
                                        const std::string& membership, const json::object& content) {
  if (!ctx.signing_key) throw protocol::errors::unknown("No signing key loaded");
  auto made = request(ctx, server, "GET",
                      "/_matrix/federation/v1/make_" + membership + "/" + protocol::percent_encode(room_id) + "/" +
                          protocol::percent_encode(user_id) + (membership == "leave" ? "" : versions_query()),
                      nullptr);
  if (!made.is_object()) throw protocol::errors::unknown("Bad make_" + membership + " answer from " + server);
  auto version_id = protocol::opt_string(made.as_object(), "room_version").value_or("1");
  const auto* version = protocol::find_room_version(version_id);
  if (!version || version->event_ids == protocol::event_id_format::server_made)
    throw protocol::matrix_error(400, "M_UNSUPPORTED_ROOM_VERSION", "Cannot take part in a room of version " + version_id);
  auto* tmpl = protocol::opt_object(made.as_object(), "event");
  if (!tmpl) throw protocol::errors::unknown("Bad make_" + membership + " answer from " + server);
  json::object ev = *tmpl;
  // The template must be the event we asked for; our content (profile, reason) goes in, keeping
  // fields the resident server added (join_authorised_via_users_server for restricted rooms).
  auto field = [&](const char* key) { return protocol::opt_string(ev, key).value_or(""); };
  if (field("type") != "m.room.member" || field("state_key") != user_id || field("sender") != user_id ||
      field("room_id") != room_id)
    throw protocol::errors::unknown("make_" + membership + " from " + server + " returned another event");
  json::object merged = content;
  if (auto* c = ev.if_contains("content"); c && c->is_object())
    if (auto* via = c->as_object().if_contains("join_authorised_via_users_server")) merged["join_authorised_via_users_server"] = *via;
  merged["membership"] = membership;
  ev["content"] = std::move(merged);
  ev["origin"] = ctx.config.server_name;
  ev["origin_server_ts"] = now_ms();
  ev.erase("signatures");
  return {version, protocol::seal_event(*version, std::move(ev), ctx.config.server_name, *ctx.signing_key)};
}

stream_position knock_remote_room(runtime::handler_context& ctx, const std::string& user_id,
                                  const std::string& room_id, const std::vector<std::string>& servers,
                                  const json::object& content) {
  std::optional<protocol::matrix_error> last_error;
  for (const auto& server : servers) {
    if (server == ctx.config.server_name) continue;
    try {
      auto made = make_membership_event(ctx, server, room_id, user_id, "knock", content);
      if (!made.version->knock)
        throw protocol::errors::forbidden("Rooms of version " + std::string(made.version->id) + " take no knocks");
      json::value body = made.event.json;
      auto sent = request(ctx, server, "PUT",
                          "/_matrix/federation/v1/send_knock/" + protocol::percent_encode(room_id) + "/" +
                              protocol::percent_encode(made.event.event_id),
                          &body, std::chrono::seconds(30));
      // The room's stripped state, for the user's client to show with the knock (as an invite's).
      json::object extra;
      if (auto* st = sent.is_object() ? sent.as_object().if_contains("knock_room_state") : nullptr; st && st->is_array())
        extra["knock_room_state"] = *st;
      auto w = ctx.writers.write("events", room_id, "store_out_of_room_membership",
                                 json::object{{"room_id", room_id},
                                              {"room_version", std::string(made.version->id)},
                                              {"event_id", made.event.event_id},
                                              {"event", made.event.json},
                                              {"unsigned", std::move(extra)}});
      return w.position;
    } catch (const protocol::matrix_error& e) {
      ctx.log.info("remote knock failed", {{"server", server}, {"room_id", room_id}, {"error", e.what()}});
      last_error = e;
    }
  }
  if (last_error) throw *last_error;
  throw protocol::errors::not_found("No server to knock through");
}

stream_position join_remote_room(runtime::handler_context& ctx, const std::string& user_id, const std::string& room_id,
                                 const std::vector<std::string>& servers, const json::object& content) {
  if (!ctx.signing_key) throw protocol::errors::unknown("No signing key loaded");
  std::optional<protocol::matrix_error> last_error;
  for (const auto& server : servers) {
    if (server == ctx.config.server_name) continue;
    join_attempt a;
    try {
      a = try_join(ctx, server, room_id, user_id, content);
    } catch (const protocol::matrix_error& e) {
      ctx.log.info("remote join failed", {{"server", server}, {"room_id", room_id}, {"error", e.what()}});
      last_error = e;
      // A refusal (403) or unknown room (404) from one server may be another's success, but a
      // refusal is usually the room's rule: keep trying the rest, report the last answer.
      continue;
    }
    json::object args{{"room_id", room_id},
                      {"room_version", std::string(a.version->id)},
                      {"origin", server},
                      {"join", json::object{{"event_id", a.join.event_id}, {"event", a.join.json}}}};
    for (const char* key : {"state", "auth_chain"})
      if (auto* list = a.answer.if_contains(key); list && list->is_array())
        args[key] = checked_entries(ctx, *a.version, list->as_array());
    auto w = ctx.writers.write("events", room_id, "join_remote", args);
    return w.position;
  }
  if (last_error) throw *last_error;
  throw protocol::errors::not_found("No server to join the room through");
}

} // namespace myelin::federation
