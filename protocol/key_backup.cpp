#include "protocol/key_backup.hpp"

#include <boost/json.hpp>

#include "protocol/errors.hpp"
#include "protocol/json.hpp"

namespace myelin::protocol::key_backup {

namespace json = boost::json;

namespace {

constexpr size_t max_id_length = 255;

// Runs a field check and says where in the body a failure happened ("rooms.!r:hs.sessions.s1").
template <class Fn>
auto at(const std::string& where, Fn&& fn) {
  if (where.empty()) return fn();
  try {
    return fn();
  } catch (const matrix_error& e) {
    throw matrix_error(e.status(), e.errcode(), where + ": " + e.what());
  }
}

const json::object& req_object(const json::object& o, std::string_view key) {
  auto* v = opt_object(o, key);
  if (!v) throw errors::missing_param("Missing '" + std::string(key) + "'");
  return *v;
}

int64_t req_count(const json::object& o, std::string_view key) {
  auto v = opt_int(o, key);
  if (!v) throw errors::missing_param("Missing '" + std::string(key) + "'");
  if (*v < 0) throw errors::invalid_param("'" + std::string(key) + "' must not be negative");
  return *v;
}

// A RoomKeyBackup found at `where` ("" for a request body of its own).
std::vector<session_key> room_at(const std::string& where, const std::string& room_id, const json::object& body) {
  const json::object* sessions = nullptr;
  at(where, [&] {
    check_room_id(room_id);
    sessions = &req_object(body, "sessions");
  });
  std::vector<session_key> out;
  for (const auto& entry : *sessions) {  // not a structured binding: clang 15 cannot capture one
    std::string session_id(entry.key());
    at((where.empty() ? "" : where + ".") + "sessions." + session_id, [&] {
      if (!entry.value().is_object()) throw errors::bad_json("must be an object");
      out.push_back(parse_session(room_id, session_id, entry.value().as_object()));
    });
  }
  return out;
}

} // namespace

bool should_replace(const key_metadata& stored, const key_metadata& uploaded) {
  if (stored.is_verified != uploaded.is_verified) return uploaded.is_verified;
  if (stored.first_message_index != uploaded.first_message_index)
    return uploaded.first_message_index < stored.first_message_index;
  return uploaded.forwarded_count < stored.forwarded_count;
}

void check_room_id(const std::string& room_id) {
  if (room_id.size() < 2 || room_id.size() > max_id_length || room_id.front() != '!')
    throw errors::invalid_param("Invalid room id");
}

void check_session_id(const std::string& session_id) {
  if (session_id.empty() || session_id.size() > max_id_length) throw errors::invalid_param("Invalid session id");
}

session_key parse_session(const std::string& room_id, const std::string& session_id, const json::object& body) {
  check_room_id(room_id);
  check_session_id(session_id);
  session_key k{room_id, session_id, {}, {}};
  k.meta.first_message_index = req_count(body, "first_message_index");
  k.meta.forwarded_count = req_count(body, "forwarded_count");
  auto verified = opt_bool(body, "is_verified");
  if (!verified) throw errors::missing_param("Missing 'is_verified'");
  k.meta.is_verified = *verified;
  k.session_data = json::serialize(req_object(body, "session_data"));
  return k;
}

std::vector<session_key> parse_room(const std::string& room_id, const json::object& body) {
  return room_at("", room_id, body);
}

std::vector<session_key> parse_rooms(const json::object& body) {
  std::vector<session_key> out;
  for (const auto& entry : req_object(body, "rooms")) {
    std::string where = "rooms." + std::string(entry.key());
    at(where, [&] {
      if (!entry.value().is_object()) throw errors::bad_json("must be an object");
    });
    auto keys = room_at(where, std::string(entry.key()), entry.value().as_object());
    out.insert(out.end(), std::make_move_iterator(keys.begin()), std::make_move_iterator(keys.end()));
  }
  return out;
}

version_body parse_version_body(const json::object& body) {
  version_body v;
  v.algorithm = req_string(body, "algorithm");
  // The spec names one algorithm (m.megolm_backup.v1.curve25519-aes-sha2), but the server never
  // reads what it stores, so newer and experimental algorithms (MSC4048) are accepted as well.
  if (v.algorithm.empty() || v.algorithm.size() > max_id_length)
    throw errors::invalid_param("Invalid 'algorithm'");
  v.auth_data = req_object(body, "auth_data");
  v.version = opt_string(body, "version");
  return v;
}

std::optional<int64_t> parse_version(std::string_view text) {
  if (text.empty() || text.size() > 18 || text.front() == '0' ||
      text.find_first_not_of("0123456789") != std::string_view::npos)
    return std::nullopt;
  return std::stoll(std::string(text));
}

} // namespace myelin::protocol::key_backup
