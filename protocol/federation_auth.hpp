// Server-server request authentication (server-server API "Request Authentication") and server
// key responses ("Retrieving server keys"). No I/O: building and checking the X-Matrix
// Authorization header and the signed key documents; fetching keys is the caller's business.
#pragma once
#include <boost/json/object.hpp>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/signing_key.hpp"

namespace myelin::protocol::federation {

// The parameters of an `Authorization: X-Matrix ...` header. `destination` is empty when the
// sender left it out (servers before v1.3).
struct x_matrix {
  std::string origin, destination, key_id, signature;
};

// Parses the header value (scheme included). Names are case-insensitive, values quoted (with
// backslash escapes) or bare tokens (colons allowed, for older servers), unknown names ignored.
// nullopt when the scheme is not X-Matrix or origin, key or sig is missing.
std::optional<x_matrix> parse_x_matrix(std::string_view header);

// The JSON object a request's signature covers: method, uri (path and query, as sent), origin,
// destination and, when the request has a body, content.
boost::json::object request_json(std::string_view method, std::string_view uri, std::string_view origin,
                                 std::string_view destination, const boost::json::value* content);

// The Authorization header value for a request from `origin` to `destination`, signed with `key`.
std::string authorization_header(std::string_view method, std::string_view uri, const std::string& origin,
                                 std::string_view destination, const boost::json::value* content,
                                 const signing_key& key);

// Whether `auth` signs this request with the key whose raw public key is `public_key_raw`.
// The destination, when given, must be `our_name` (the caller answers 401 otherwise).
bool verify_request(const x_matrix& auth, std::string_view method, std::string_view uri, std::string_view our_name,
                    const boost::json::value* content, const std::string& public_key_raw);

// ---- server keys ----

// Our /_matrix/key/v2/server document: server_name, verify_keys {key_id: {key}}, old_verify_keys
// {key_id: {key, expired_ts}}, valid_until_ts, signed by `key`.
struct old_key {
  std::string public_key_raw;
  int64_t expired_ts = 0;
};
boost::json::object server_keys_document(const std::string& server_name, const signing_key& key,
                                         const std::map<std::string, old_key>& old_keys, int64_t valid_until_ts);

// One verify key of a remote server as its key document states it.
struct verify_key {
  std::string public_key_raw;
  int64_t valid_until_ts = 0;  // for current keys: the document's valid_until_ts
  bool expired = false;        // from old_verify_keys (valid only for events before expired_ts)
  int64_t expired_ts = 0;
};

// Checks a key document for `server_name` (as /key/v2/server or a notary returns it): the name
// matches, every verify key is well formed, and the document is signed by each of its own
// current keys. Returns key_id → key. Throws matrix_error M_UNAUTHORIZED (401) with the reason.
std::map<std::string, verify_key> check_server_keys(const boost::json::object& doc, const std::string& server_name);

} // namespace myelin::protocol::federation
