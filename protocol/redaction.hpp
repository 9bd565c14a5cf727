// The redaction algorithm for room versions 1–11 (rooms/v1 "Redactions", v6, v8, v9 and v11
// changes): what survives when an event is redacted, and what event hashes and signatures cover.
#pragma once
#include <boost/json/object.hpp>
#include <string>

namespace myelin::protocol {

// Returns `event` stripped to the keys the room version protects: top-level keys from the
// version's keep-list, and `content` keys the event type protects. Key order is preserved.
// Unknown room versions throw matrix_error 400 M_UNSUPPORTED_ROOM_VERSION.
boost::json::object redact(const boost::json::object& event, const std::string& room_version);

} // namespace myelin::protocol
