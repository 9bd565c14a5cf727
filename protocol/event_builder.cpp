#include "protocol/event_builder.hpp"

#include <boost/json.hpp>

#include "protocol/errors.hpp"
#include "protocol/event_hashes.hpp"
#include "protocol/redaction.hpp"
#include "protocol/signing.hpp"

namespace myelin::protocol {

namespace json = boost::json;

namespace {
json::array id_list(const std::vector<std::string>& ids) {
  json::array a;
  a.reserve(ids.size());
  for (const auto& id : ids) a.emplace_back(id);
  return a;
}
} // namespace

pdu build_event(const room_version& version, const std::string& room_id, const event_template& t,
                const event_position_in_dag& dag, int64_t origin_server_ts, const std::string& origin,
                const signing_key& key) {
  if (version.event_ids == event_id_format::server_made)
    throw matrix_error(400, "M_UNSUPPORTED_ROOM_VERSION",
                       "Room version " + std::string(version.id) + " is readable but not created by this server");
  json::object ev;
  ev["auth_events"] = id_list(dag.auth_events);
  json::object content = t.content;
  if (t.redacts && version.implicit_room_creator) content["redacts"] = *t.redacts;  // v11 moved it into content
  ev["content"] = std::move(content);
  ev["depth"] = dag.depth;
  // `origin` is gone from v11's redaction keep-list but still part of every PDU on the wire.
  ev["origin"] = origin;
  ev["origin_server_ts"] = origin_server_ts;
  ev["prev_events"] = id_list(dag.prev_events);
  if (t.redacts) ev["redacts"] = *t.redacts;  // kept top-level in v11 too, for older clients
  ev["room_id"] = room_id;
  ev["sender"] = t.sender;
  if (t.state_key) ev["state_key"] = *t.state_key;
  ev["type"] = t.type;
  return seal_event(version, std::move(ev), origin, key);
}

pdu seal_event(const room_version& version, json::object ev, const std::string& origin, const signing_key& key) {
  if (version.event_ids == event_id_format::server_made)
    throw matrix_error(400, "M_UNSUPPORTED_ROOM_VERSION",
                       "Room version " + std::string(version.id) + " is readable but not created by this server");
  ev.erase("event_id");
  ev.erase("unsigned");
  ev.erase("hashes");
  add_content_hash(ev);
  // Events are signed in their redacted form, so the signature survives a redaction
  // (server-server API "Signing Events"). Other servers' signatures already there are kept.
  json::object redacted = redact(ev, std::string(version.id));
  sign_json(redacted, origin, key);
  ev["signatures"] = redacted["signatures"];
  pdu out;
  out.event_id = event_id_for(ev, std::string(version.id));
  out.json = std::move(ev);
  return out;
}

} // namespace myelin::protocol
