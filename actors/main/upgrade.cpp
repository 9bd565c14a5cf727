// POST /rooms/{roomId}/upgrade (spec: client-server "Room Upgrades"): a new room of the requested
// version whose create event names its predecessor, with the old room's important state copied,
// its local aliases moved, an m.room.tombstone in the old room pointing at it, and the old room's
// power levels raised so that only moderators can keep talking there. Routed to main, as in Synapse.
#include <boost/json.hpp>

#include "actors/endpoint_helpers.hpp"
#include "actors/event_creator/append.hpp"
#include "actors/rooms/rooms.hpp"
#include "actors/runtime/writer_client.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "protocol/crypto.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "protocol/power_levels.hpp"
#include "protocol/room_versions.hpp"
#include "storage/tables/events.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

namespace {

// State carried over to the new room (Synapse's list, minus what the server rebuilds itself).
constexpr const char* copied_types[] = {"m.room.join_rules", "m.room.history_visibility", "m.room.guest_access",
                                        "m.room.name",       "m.room.topic",              "m.room.avatar",
                                        "m.room.encryption", "m.room.server_acl",         "m.room.related_groups",
                                        "m.room.canonical_alias"};

} // namespace

void register_upgrade(runtime::endpoint_registry& r) {
  r.add({.name = "rooms.upgrade", .method = "POST", .path = "/_matrix/client/{:r0|v3}/rooms/{roomId}/upgrade"},
        [](runtime::handler_context& ctx, const api_request& req) {
          const auto& old_room = req.path_params.at(0);
          auto body = body_object(ctx, req);
          auto new_version = protocol::req_string(body, "new_version");
          auto* version = protocol::find_room_version(new_version);
          if (!version || version->event_ids == protocol::event_id_format::server_made)
            throw protocol::matrix_error(400, "M_UNSUPPORTED_ROOM_VERSION", "Unsupported room version " + new_version);
          const std::string& me = req.user_id;

          std::map<std::string, storage::events::event_row> old_state;  // type → event (state_key "")
          std::vector<std::string> aliases;
          std::string old_version_id;
          {
            auto c = ctx.db.acquire();
            rooms::require_joined(*c, old_room, me);
            old_version_id = rooms::require_room(*c, old_room).room_version;
            auto ids = storage::events::current_state(*c, old_room);
            std::vector<std::string> wanted;
            for (const auto& [k, id] : ids)
              if (k.second.empty()) wanted.push_back(id);
            for (auto& e : storage::events::get_events(*c, wanted)) old_state.emplace(e.type, std::move(e));
            aliases = storage::events::aliases_for_room(*c, old_room);
          }
          const auto* old_version = protocol::find_room_version(old_version_id);
          // The caller must be able to send the tombstone; checked up front so nothing is created
          // for a user who cannot finish the upgrade.
          std::optional<protocol::pdu> pl_pdu, create_pdu;
          if (auto it = old_state.find("m.room.power_levels"); it != old_state.end())
            pl_pdu = protocol::pdu{it->second.event_id, json::parse(it->second.json).as_object()};
          if (auto it = old_state.find("m.room.create"); it != old_state.end())
            create_pdu = protocol::pdu{it->second.event_id, json::parse(it->second.json).as_object()};
          auto levels = protocol::effective_power_levels(pl_pdu ? &*pl_pdu : nullptr, create_pdu ? &*create_pdu : nullptr,
                                                         old_version ? *old_version : *protocol::find_room_version("10"));
          if (levels.user_level(me) < levels.event_level("m.room.tombstone", true))
            throw protocol::errors::forbidden("You don't have permission to upgrade this room");

          std::string new_room = "!" + protocol::random_alnum(18) + ":" + ctx.config.server_name;
          json::array events;
          json::object create_content;
          if (create_pdu)
            for (const auto& kv : create_pdu->content())
              if (kv.key() == "m.federate" || kv.key() == "type") create_content[kv.key()] = kv.value();
          create_content["room_version"] = new_version;
          if (!version->implicit_room_creator) create_content["creator"] = me;
          create_content["predecessor"] = json::object{{"room_id", old_room},
                                                       {"event_id", create_pdu ? create_pdu->event_id : ""}};
          events.push_back(state_template("m.room.create", "", std::move(create_content), me));
          events.push_back(state_template("m.room.member", me, member_content(ctx, me, "join"), me));
          // Power levels as they were, with the upgrader able to send everything while the room is
          // set up (they already had the power to tombstone the old room).
          json::object power = pl_pdu ? pl_pdu->content() : json::object{};
          json::object users = power.contains("users") && power["users"].is_object() ? power["users"].as_object()
                                                                                     : json::object{};
          users[me] = std::max<int64_t>(levels.user_level(me), 100);
          power["users"] = users;
          events.push_back(state_template("m.room.power_levels", "", power, me));
          for (const char* type : copied_types) {
            auto it = old_state.find(type);
            if (it == old_state.end()) continue;
            auto content = rooms::content_of(it->second);
            if (std::string_view(type) == "m.room.canonical_alias") continue;  // added after the aliases move
            events.push_back(state_template(type, "", std::move(content), me));
          }
          auto w = ctx.writers.write("events", new_room, "create_room",
                                     {{"room_id", new_room}, {"room_version", new_version}, {"creator", me},
                                      {"is_public", false}, {"events", std::move(events)}});
          std::vector<stream_position> positions{w.position};

          // Local aliases follow the room; so does the canonical alias event.
          for (const auto& alias : aliases) {
            positions.push_back(ctx.writers.write("events", old_room, "delete_alias", {{"room_alias", alias}}).position);
            positions.push_back(
                ctx.writers.write("events", new_room, "set_alias", {{"room_alias", alias}, {"room_id", new_room}, {"creator", me}})
                    .position);
          }
          if (auto it = old_state.find("m.room.canonical_alias"); it != old_state.end()) {
            positions.push_back(append_event(ctx, req, new_room,
                                             state_template("m.room.canonical_alias", "", rooms::content_of(it->second), me))
                                    .position);
            positions.push_back(
                append_event(ctx, req, old_room, state_template("m.room.canonical_alias", "", json::object{}, me)).position);
          }
          // Restore the new room's power levels exactly as in the old room.
          if (pl_pdu)
            positions.push_back(
                append_event(ctx, req, new_room, state_template("m.room.power_levels", "", pl_pdu->content(), me)).position);

          auto tomb = append_event(ctx, req, old_room,
                                   state_template("m.room.tombstone", "",
                                               {{"body", "This room has been replaced"}, {"replacement_room", new_room}},
                                               me));
          positions.push_back(tomb.position);
          // Only moderators keep talking in the old room.
          json::object restricted = pl_pdu ? pl_pdu->content() : json::object{};
          int64_t floor = std::max<int64_t>(50, levels.users_default + 1);
          restricted["events_default"] = std::max<int64_t>(levels.events_default, floor);
          restricted["invite"] = std::max<int64_t>(levels.invite, floor);
          try {
            positions.push_back(
                append_event(ctx, req, old_room, state_template("m.room.power_levels", "", restricted, me)).position);
          } catch (const protocol::matrix_error& e) {
            ctx.log.warn("could not restrict the upgraded room", {{"room_id", old_room}, {"error", e.what()}});
          }
          auto resp = json_response_after(json::object{{"replacement_room", new_room}}, positions.back());
          for (auto& p : positions) resp.wait_for.push_back(p);
          return resp;
        });
}

} // namespace myelin::endpoints
