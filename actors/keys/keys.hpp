// What the end-to-end key endpoints (actors/keys/keys_*.cpp) share: which users are served here
// and which servers count as unreachable, and the request maps they all parse.
#pragma once
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "actors/runtime/endpoint_registry.hpp"

namespace myelin::keys {

// The users a /keys/query or /keys/claim request names, split by server. Throws 400 for a malformed user id or a value that is not an object/array as `what` needs.
struct users_by_server {
  std::vector<std::string> local;               // in request order
  std::map<std::string, std::vector<std::string>> remote;
};
users_by_server split_users(const runtime::handler_context& ctx, const boost::json::object& by_user, std::string_view what);

// Another server's users' keys for a client (actors/keys/remote_keys.cpp), each server asked at
// once in parallel within `timeout`; a server that fails or times out is reported in the
// `failures` object ({"server": {"status", "message"}}) and its users are left out.
//   query: tracked users (whose device lists we hold: we share a room) from the cache, the others
//          through POST /_matrix/federation/v1/user/keys/query. Merged into `out`'s device_keys,
//          master_keys and self_signing_keys (an answer's entries for other servers' users are
//          dropped).
//   claim: POST /_matrix/federation/v1/user/keys/claim; merged into out["one_time_keys"].
void query_remote_keys(runtime::handler_context& ctx, const boost::json::object& wanted, const users_by_server& users,
                       std::chrono::milliseconds timeout, boost::json::object& out, boost::json::object& failures);
void claim_remote_keys(runtime::handler_context& ctx, const boost::json::object& wanted, const users_by_server& users,
                       std::chrono::milliseconds timeout, boost::json::object& out, boost::json::object& failures);
// The `timeout` (ms) of a /keys/query or /keys/claim body: 10 s by default, at most a minute.
std::chrono::milliseconds request_timeout(const boost::json::object& body);

// The one_time_keys / fallback_keys maps of an upload body under `fields`, checked, as the
// device_lists writer's key list [{algorithm, key_id, key_json}].
boost::json::array key_list(const boost::json::object& body, std::initializer_list<std::string_view> fields);

// What /keys/upload and a dehydrated device's upload send the device_lists writer's upload_keys:
// device keys (checked: owner, device, self-signature), one-time and fallback keys.
boost::json::object upload_keys_args(const boost::json::object& body, const std::string& user_id,
                                     const std::string& device_id);

// The device keys / cross-signing keys as stored, parsed (they were canonical JSON when written).
boost::json::object stored_object(const std::string& json_text);

} // namespace myelin::keys
