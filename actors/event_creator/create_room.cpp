// POST /createRoom (spec: client-server "Creation"): the initial events in the spec's order —
// create, the creator's join, power levels, canonical alias, the preset's join rules / history
// visibility / guest access, initial_state, name, topic, invites — persisted by the room's
// persister in one operation, so a room is never seen half made.
#include <boost/json.hpp>

#include "actors/appservice/namespaces.hpp"
#include "actors/endpoint_helpers.hpp"
#include "actors/event_creator/append.hpp"
#include "actors/runtime/writer_client.hpp"
#include "common/config.hpp"
#include "protocol/crypto.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/json.hpp"
#include "protocol/room_versions.hpp"
#include "storage/tables/accounts.hpp"
#include "storage/tables/events.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

namespace {

json::object default_power_levels(const std::string& creator, const std::string& preset,
                                  const std::vector<std::string>& invites) {
  json::object users{{creator, 100}};
  // trusted_private_chat: invitees get the creator's power.
  if (preset == "trusted_private_chat")
    for (const auto& u : invites) users[u] = 100;
  return {{"users", std::move(users)},
          {"users_default", 0},
          {"events",
           {{"m.room.name", 50},
            {"m.room.power_levels", 100},
            {"m.room.history_visibility", 100},
            {"m.room.canonical_alias", 50},
            {"m.room.avatar", 50},
            {"m.room.tombstone", 100},
            {"m.room.server_acl", 100},
            {"m.room.encryption", 100}}},
          {"events_default", 0},
          {"state_default", 50},
          {"ban", 50},
          {"kick", 50},
          {"redact", 50},
          {"invite", 0},
          {"historical", 100},
          {"notifications", {{"room", 50}}}};
}

// Shallow merge like Synapse: the override's top-level keys replace the defaults'.
void merge_into(json::object& base, const json::object& over) {
  for (const auto& kv : over) base[kv.key()] = kv.value();
}

} // namespace

api_response create_room(runtime::handler_context& ctx, const api_request& req) {
  auto body = body_object(ctx, req, true);
  const std::string& me = req.user_id;
  const std::string& server = ctx.config.server_name;

  auto visibility = protocol::opt_string(body, "visibility").value_or("private");
  if (visibility != "public" && visibility != "private")
    throw protocol::errors::invalid_param("visibility must be 'public' or 'private'");
  auto preset = protocol::opt_string(body, "preset").value_or(visibility == "public" ? "public_chat"
                                                                                      : "private_chat");
  if (preset != "public_chat" && preset != "private_chat" && preset != "trusted_private_chat")
    throw protocol::errors::invalid_param("Unknown preset " + preset);
  auto version_id = protocol::opt_string(body, "room_version").value_or(std::string(protocol::default_room_version));
  auto* version = protocol::find_room_version(version_id);
  if (!version || version->event_ids == protocol::event_id_format::server_made)
    throw protocol::matrix_error(400, "M_UNSUPPORTED_ROOM_VERSION", "Unsupported room version " + version_id);
  bool is_direct = protocol::opt_bool(body, "is_direct").value_or(false);

  std::vector<std::string> invites;
  if (auto* list = protocol::opt_array(body, "invite")) {
    for (const auto& v : *list) {
      if (!v.is_string() || !protocol::is_valid_user_id(v.as_string()))
        throw protocol::errors::invalid_param("invite must be a list of user ids");
      invites.emplace_back(v.as_string());
    }
  }
  if (auto* list = protocol::opt_array(body, "invite_3pid"); list && !list->empty())
    throw protocol::matrix_error(400, "M_UNRECOGNIZED", "Third-party invites are not supported");

  std::optional<std::string> alias;
  if (auto name = protocol::opt_string(body, "room_alias_name")) {
    if (name->empty() || name->find(':') != std::string::npos ||
        name->find_first_of(" \t\n#") != std::string::npos)
      throw protocol::errors::invalid_param("Invalid room_alias_name");
    alias = "#" + *name + ":" + server;
    if (!protocol::is_valid_room_alias(*alias)) throw protocol::errors::invalid_param("Invalid room_alias_name");
    appservice::check_alias_creation(ctx.config, req.appservice_id, *alias);
  }
  {
    auto c = ctx.db.acquire();
    if (alias && storage::events::room_for_alias(*c, *alias))
      throw protocol::matrix_error(400, "M_ROOM_IN_USE", "Room alias already taken");
    for (const auto& u : invites) {
      auto parts = protocol::split_user_id(u);
      if (parts->server_name != server)
        throw protocol::errors::forbidden("Cannot invite users on other servers: federation is not enabled");
      if (!storage::accounts::get_user(*c, u)) throw protocol::errors::not_found("Unknown user " + u);
    }
  }

  std::string room_id = "!" + protocol::random_alnum(18) + ":" + server;
  json::array events;

  json::object create_content;
  if (auto* cc = protocol::opt_object(body, "creation_content")) create_content = *cc;
  create_content["room_version"] = version_id;
  if (!version->implicit_room_creator) create_content["creator"] = me;
  else create_content.erase("creator");
  events.push_back(state_template("m.room.create", "", std::move(create_content), me));

  auto join = member_content(ctx, me, "join");
  if (is_direct) join["is_direct"] = true;
  events.push_back(state_template("m.room.member", me, std::move(join), me));

  auto power = default_power_levels(me, preset, invites);
  if (auto* over = protocol::opt_object(body, "power_level_content_override")) merge_into(power, *over);
  events.push_back(state_template("m.room.power_levels", "", std::move(power), me));

  if (alias) events.push_back(state_template("m.room.canonical_alias", "", {{"alias", *alias}}, me));

  events.push_back(state_template("m.room.join_rules", "",
                               {{"join_rule", preset == "public_chat" ? "public" : "invite"}}, me));
  events.push_back(state_template("m.room.history_visibility", "", {{"history_visibility", "shared"}}, me));
  if (preset != "public_chat")
    events.push_back(state_template("m.room.guest_access", "", {{"guest_access", "can_join"}}, me));

  if (auto* initial = protocol::opt_array(body, "initial_state")) {
    for (const auto& v : *initial) {
      if (!v.is_object()) throw protocol::errors::bad_json("initial_state entries must be objects");
      const auto& o = v.as_object();
      auto type = protocol::req_string(o, "type");
      auto key = protocol::opt_string(o, "state_key").value_or("");
      auto* content = protocol::opt_object(o, "content");
      if (!content) throw protocol::errors::bad_json("initial_state entries need content");
      check_event_content(*content);
      if (type == "m.room.create" || type == "m.room.member" || type == "m.room.power_levels")
        throw protocol::errors::bad_json("initial_state cannot set " + type);
      events.push_back(state_template(type, key, *content, me));
    }
  }
  if (auto name = protocol::opt_string(body, "name"))
    events.push_back(state_template("m.room.name", "", {{"name", *name}}, me));
  if (auto topic = protocol::opt_string(body, "topic"))
    events.push_back(state_template("m.room.topic", "", {{"topic", *topic}}, me));
  for (const auto& u : invites) {
    auto content = member_content(ctx, u, "invite");
    if (is_direct) content["is_direct"] = true;
    events.push_back(state_template("m.room.member", u, std::move(content), me));
  }

  json::object args{{"room_id", room_id}, {"room_version", version_id}, {"creator", me},
                    {"is_public", visibility == "public"}, {"events", std::move(events)}};
  if (alias) args["aliases"] = json::array{json::value(*alias)};
  write_result w;
  try {
    w = ctx.writers.write("events", room_id, "create_room", args);
  } catch (const protocol::matrix_error& e) {
    if (e.status() == 409) throw protocol::matrix_error(400, "M_ROOM_IN_USE", e.what());
    throw;
  }
  return json_response_after(json::object{{"room_id", room_id}}, w.position);
}

void register_create_room(runtime::endpoint_registry& r) {
  r.add({.name = "createRoom", .method = "POST", .path = "/_matrix/client/{:r0|v3}/createRoom",
         .rate_limit = "message"},
        create_room);
}

} // namespace myelin::endpoints
