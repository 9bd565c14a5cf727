// Checks on a PDU received from another server that need no I/O (server-server API "Checks
// performed on receipt of a PDU", steps 1–3, and the room version's "Event format"): its shape,
// who must have signed it, and whether a server's signature is good.
#pragma once
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <vector>

#include "protocol/room_versions.hpp"

namespace myelin::protocol {

// The largest PDU the spec allows (canonical JSON bytes).
inline constexpr size_t max_pdu_bytes = 65536;

// nullopt when `pdu` is a well-formed event of `version` (v3+ format): string type, room_id,
// sender (a user id); integer depth and origin_server_ts in range; object content, hashes
// (with sha256) and signatures; prev_events (≤ 20) and auth_events (≤ 10) lists of event ids;
// state_key a string when present; at most 65536 bytes. Otherwise why not.
std::optional<std::string> check_pdu_format(const room_version& version, const boost::json::object& pdu);

// The servers whose signatures the event must carry: the sender's, and for a restricted join
// (v8+) the server of join_authorised_via_users_server.
std::vector<std::string> required_signers(const room_version& version, const boost::json::object& pdu);

// The `ed25519:` key ids `server` signed the event with.
std::vector<std::string> signing_key_ids(const boost::json::object& pdu, const std::string& server);

// Whether `server`'s signature `key_id` over the (redacted) event verifies with `public_key_raw`.
bool pdu_signature_valid(const room_version& version, const boost::json::object& pdu, const std::string& server,
                         const std::string& key_id, const std::string& public_key_raw);

} // namespace myelin::protocol
