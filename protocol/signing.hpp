// Signing and verifying JSON objects with a server's ed25519 key, as the appendix "Signing JSON"
// (Signing Details, Checking for a Signature) describes. Used for events, key responses and
// federation request authentication alike.
#pragma once
#include <boost/json/object.hpp>
#include <string>

#include "protocol/signing_key.hpp"

namespace myelin::protocol {

// Signs `obj` without its `signatures` and `unsigned` members (canonical JSON), then adds the
// unpadded-base64 signature under obj["signatures"][server_name][key.key_id()]. Signatures
// already present (other servers, other keys) are kept; `unsigned` is left untouched. Returns the
// signature. Throws M_BAD_JSON when `signatures` is not an object or the object holds floats.
std::string sign_json(boost::json::object& obj, const std::string& server_name, const signing_key& key);

// True when obj["signatures"][server_name][key_id] is a valid ed25519 signature by
// `public_key_raw` (32 raw bytes) over `obj` without `signatures` and `unsigned`. Any malformed
// input (missing entry, bad base64, wrong lengths, floats) is simply "not signed".
bool verify_json_signature(const boost::json::object& obj, const std::string& server_name, const std::string& key_id,
                           const std::string& public_key_raw);

} // namespace myelin::protocol
