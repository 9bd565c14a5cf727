#include "protocol/pdu_checks.hpp"

#include <boost/json.hpp>

#include "protocol/identifiers.hpp"
#include "protocol/json.hpp"
#include "protocol/redaction.hpp"
#include "protocol/signing.hpp"

namespace myelin::protocol {

namespace json = boost::json;

namespace {

constexpr int64_t max_canonical_int = (int64_t(1) << 53) - 1;

bool is_event_id_list(const json::value* v, size_t max) {
  if (!v || !v->is_array() || v->as_array().size() > max) return false;
  for (const auto& id : v->as_array())
    if (!id.is_string() || id.as_string().empty() || id.as_string()[0] != '$') return false;
  return true;
}

bool is_int_in_range(const json::value* v) {
  if (!v) return false;
  if (v->is_int64()) return v->as_int64() >= 0 && v->as_int64() <= max_canonical_int;
  if (v->is_uint64()) return v->as_uint64() <= uint64_t(max_canonical_int);
  return false;
}

std::string server_of(std::string_view user_id) {
  auto parts = split_user_id(std::string(user_id));
  return parts ? parts->server_name : std::string();
}

} // namespace

std::optional<std::string> check_pdu_format(const room_version&, const json::object& pdu) {
  for (const char* key : {"type", "room_id", "sender"}) {
    auto* v = pdu.if_contains(key);
    if (!v || !v->is_string()) return std::string("missing or non-string ") + key;
  }
  if (!is_valid_user_id(pdu.at("sender").as_string(), true)) return std::string("sender is not a user id");
  if (!is_valid_room_id(pdu.at("room_id").as_string())) return std::string("room_id is not a room id");
  if (auto* sk = pdu.if_contains("state_key"); sk && !sk->is_string()) return std::string("state_key is not a string");
  if (!is_int_in_range(pdu.if_contains("depth"))) return std::string("depth is not an integer in range");
  if (!is_int_in_range(pdu.if_contains("origin_server_ts"))) return std::string("origin_server_ts is not an integer in range");
  auto* content = pdu.if_contains("content");
  if (!content || !content->is_object()) return std::string("content is not an object");
  auto* hashes = pdu.if_contains("hashes");
  if (!hashes || !hashes->is_object() || !hashes->as_object().if_contains("sha256") ||
      !hashes->as_object().at("sha256").is_string())
    return std::string("hashes.sha256 missing");
  auto* sigs = pdu.if_contains("signatures");
  if (!sigs || !sigs->is_object()) return std::string("signatures is not an object");
  if (!is_event_id_list(pdu.if_contains("prev_events"), 20)) return std::string("prev_events is not a list of at most 20 event ids");
  if (!is_event_id_list(pdu.if_contains("auth_events"), 10)) return std::string("auth_events is not a list of at most 10 event ids");
  try {
    if (canonical_json(pdu).size() > max_pdu_bytes) return std::string("event larger than 65536 bytes");
  } catch (const std::exception&) {
    return std::string("event is not canonical JSON (floats or out-of-range integers)");
  }
  return std::nullopt;
}

std::vector<std::string> required_signers(const room_version& version, const json::object& pdu) {
  std::vector<std::string> out;
  if (auto* s = pdu.if_contains("sender"); s && s->is_string()) out.push_back(server_of(s->as_string()));
  if (version.restricted_join) {
    auto* type = pdu.if_contains("type");
    auto* content = pdu.if_contains("content");
    if (type && type->is_string() && type->as_string() == "m.room.member" && content && content->is_object()) {
      const auto& c = content->as_object();
      auto* m = c.if_contains("membership");
      auto* via = c.if_contains("join_authorised_via_users_server");
      if (m && m->is_string() && m->as_string() == "join" && via && via->is_string()) {
        auto server = server_of(via->as_string());
        if (!server.empty() && server != out.front()) out.push_back(server);
      }
    }
  }
  return out;
}

std::vector<std::string> signing_key_ids(const json::object& pdu, const std::string& server) {
  std::vector<std::string> out;
  auto* sigs = pdu.if_contains("signatures");
  if (!sigs || !sigs->is_object()) return out;
  auto* mine = sigs->as_object().if_contains(server);
  if (!mine || !mine->is_object()) return out;
  for (const auto& [key_id, sig] : mine->as_object())
    if (key_id.starts_with("ed25519:") && sig.is_string()) out.emplace_back(key_id);
  return out;
}

bool pdu_signature_valid(const room_version& version, const json::object& pdu, const std::string& server,
                         const std::string& key_id, const std::string& public_key_raw) {
  try {
    return verify_json_signature(redact(pdu, std::string(version.id)), server, key_id, public_key_raw);
  } catch (const std::exception&) {
    return false;
  }
}

} // namespace myelin::protocol
