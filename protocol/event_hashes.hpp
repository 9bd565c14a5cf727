// Event hashes and event ids: the content hash (server-server API "Calculating the content hash
// for an event"), the reference hash ("Calculating the reference hash for an event") and the
// event ids derived from it (rooms/v3 and rooms/v4 "Event IDs").
#pragma once
#include <boost/json/object.hpp>
#include <string>

namespace myelin::protocol {

// SHA-256 over the canonical JSON of `pdu` without `unsigned`, `signatures` and `hashes`, in
// unpadded base64 (the form stored in hashes.sha256). Throws M_BAD_JSON for floats.
std::string content_hash(const boost::json::object& pdu);
// Sets pdu["hashes"]["sha256"] to content_hash(pdu), keeping any other hashes.
void add_content_hash(boost::json::object& pdu);
// True when hashes.sha256 is present and matches the event's content hash. False (not an
// exception) for anything malformed: a failed check means "treat the event as redacted".
bool check_content_hash(const boost::json::object& pdu);

// SHA-256 (32 raw bytes) over the canonical JSON of the redacted event without `signatures`,
// `unsigned` and `age_ts`. Unknown room versions throw 400 M_UNSUPPORTED_ROOM_VERSION.
std::string reference_hash(const boost::json::object& pdu, const std::string& room_version);

// "$" + the reference hash in standard unpadded base64 (v3) or URL-safe unpadded base64 (v4+).
// `pdu` is the event as sent over federation: from v3 on it carries no `event_id` (one present
// would be hashed, since redaction keeps it). Versions 1 and 2 use server-made "$id:server" ids,
// so asking for one throws std::invalid_argument.
std::string event_id_for(const boost::json::object& pdu, const std::string& room_version);

} // namespace myelin::protocol
