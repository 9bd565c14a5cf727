// libFuzzer target: events from other servers (and filters from clients) are untrusted JSON. The
// PDU accessors, auth event selection, the authorization rules, redaction, hashing and the event
// filter parser must never crash or hang on any input; they may only refuse it.
//
// Input: a JSON array of events; the last one is checked against the others as its auth state,
// in every room version. A JSON object is also tried as a RoomEventFilter.
#include <boost/json.hpp>

#include "protocol/auth_rules.hpp"
#include "protocol/errors.hpp"
#include "protocol/event_filter.hpp"
#include "protocol/event_hashes.hpp"
#include "protocol/json.hpp"
#include "protocol/redaction.hpp"
#include "protocol/room_versions.hpp"

using namespace myelin::protocol;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  boost::json::value v;
  try {
    v = parse_value(in, 32);
  } catch (const matrix_error&) {
    return 0;
  }
  if (v.is_object()) {
    try {
      auto f = parse_room_event_filter(v.as_object());
      (void)f.matches("m.room.message", "@a:b", "!r:b", v.as_object());
    } catch (const matrix_error&) {
    }
  }
  if (!v.is_array() || v.as_array().empty() || v.as_array().size() > 16) return 0;
  std::vector<pdu> events;
  for (const auto& e : v.as_array()) {
    if (!e.is_object()) return 0;
    pdu p;
    p.json = e.as_object();
    if (auto* id = p.json.if_contains("event_id"); id && id->is_string()) p.event_id = std::string(id->as_string());
    events.push_back(std::move(p));
  }
  const pdu& subject = events.back();
  for (const auto& version : known_room_versions()) {
    auth_state state;
    for (size_t i = 0; i + 1 < events.size(); ++i)
      if (auto sk = events[i].state_key()) state[{std::string(events[i].type()), std::string(*sk)}] = &events[i];
    (void)auth_types_for_event(version, subject);
    (void)check_auth(version, subject, state);
    (void)subject.prev_events();
    (void)subject.auth_events();
    (void)subject.redacts();
    try {
      (void)redact(subject.json, std::string(version.id));
      (void)content_hash(subject.json);
      if (version.event_ids != event_id_format::server_made) (void)event_id_for(subject.json, std::string(version.id));
    } catch (const matrix_error&) {
    }
  }
  return 0;
}
