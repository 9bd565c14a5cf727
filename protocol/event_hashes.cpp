// Content hash, reference hash and hash-derived event ids (server-server API "Signing Events";
// rooms/v3, rooms/v4 "Event IDs"). The content hash covers the full event so tampering with
// redactable parts is detectable; the reference hash covers only what survives redaction, so an
// event keeps its id when redacted.
#include "protocol/event_hashes.hpp"

#include <initializer_list>
#include <stdexcept>
#include <string_view>

#include "protocol/crypto.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "protocol/redaction.hpp"

namespace myelin::protocol {

namespace json = boost::json;

namespace {

std::string sha256_of_canonical_without(json::object obj, std::initializer_list<std::string_view> drop) {
  for (auto key : drop) obj.erase(key);
  return sha256_raw(canonical_json(obj));
}

std::string raw_content_hash(const json::object& pdu) {
  return sha256_of_canonical_without(pdu, {"unsigned", "signatures", "hashes"});
}

} // namespace

std::string content_hash(const json::object& pdu) { return base64_encode_unpadded(raw_content_hash(pdu)); }

void add_content_hash(json::object& pdu) {
  std::string hash = content_hash(pdu);
  json::value& hashes = pdu["hashes"];
  if (!hashes.is_object()) hashes.emplace_object();
  hashes.as_object()["sha256"] = hash;
}

bool check_content_hash(const json::object& pdu) {
  const auto* hashes = pdu.if_contains("hashes");
  if (!hashes || !hashes->is_object()) return false;
  const auto* claimed = hashes->as_object().if_contains("sha256");
  if (!claimed || !claimed->is_string()) return false;
  // Compare decoded bytes, so that a padded encoding from a lenient sender still matches.
  std::string claimed_raw;
  if (!base64_decode(claimed->as_string(), claimed_raw)) return false;
  try {
    return constant_time_equal(claimed_raw, raw_content_hash(pdu));
  } catch (const matrix_error&) {
    return false;  // not canonicalisable
  }
}

std::string reference_hash(const json::object& pdu, const std::string& room_version) {
  // Redaction already drops `unsigned` and `age_ts`; they are named here because the spec (and
  // older implementations) list them explicitly.
  return sha256_of_canonical_without(redact(pdu, room_version), {"signatures", "unsigned", "age_ts"});
}

std::string event_id_for(const json::object& pdu, const std::string& room_version) {
  if (room_version == "1" || room_version == "2")
    throw std::invalid_argument("room version " + room_version + " event ids are chosen by the sending server");
  // reference_hash rejects unknown versions before the encoding is chosen.
  const std::string hash = reference_hash(pdu, room_version);
  return "$" + (room_version == "3" ? base64_encode_unpadded(hash) : base64url_encode_unpadded(hash));
}

} // namespace myelin::protocol
