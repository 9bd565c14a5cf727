// Building a new local event: the PDU fields a homeserver fills in (prev_events, auth_events,
// depth, origin, origin_server_ts), the content hash, the server's signature and the event id.
// Pure: the caller (the room's persister) supplies the room's head and the auth events.
#pragma once
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <vector>

#include "protocol/pdu.hpp"
#include "protocol/room_versions.hpp"
#include "protocol/signing_key.hpp"

namespace myelin::protocol {

// What a client (or the server on a client's behalf) asks to send.
struct event_template {
  std::string type;
  std::optional<std::string> state_key;
  boost::json::object content;
  std::string sender;
  std::optional<std::string> redacts;  // m.room.redaction: top-level before v11, in content from v11
};

struct event_position_in_dag {
  std::vector<std::string> prev_events;
  std::vector<std::string> auth_events;
  int64_t depth = 1;
};

// Builds, hashes and signs the event. Room versions 1 and 2 (server-made event ids, hashed
// references) are readable but not created here: they throw M_UNSUPPORTED_ROOM_VERSION.
pdu build_event(const room_version& version, const std::string& room_id, const event_template& t,
                const event_position_in_dag& dag, int64_t origin_server_ts, const std::string& origin,
                const signing_key& key);

// Hashes and signs a whole event (all PDU fields present), e.g. a membership template another
// server made for us (make_join / make_leave / make_knock) once `origin` and `origin_server_ts`
// are ours: drops any event_id, unsigned and hashes, adds the content hash and our signature
// (keeping other servers' signatures) and derives the event id.
pdu seal_event(const room_version& version, boost::json::object ev, const std::string& origin,
               const signing_key& key);

} // namespace myelin::protocol
