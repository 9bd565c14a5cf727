// Matrix identifiers and their grammar (spec appendix "Identifier Grammar").
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace myelin::protocol {

// A server name: hostname (or IP literal) with an optional :port.
bool is_valid_server_name(std::string_view s);

// A valid server name's parts: host ("[::1]" keeps its brackets), port if given, whether the
// host is an IP literal (server-server API "Resolving server names" treats those directly).
struct server_name_parts {
  std::string host;
  std::optional<uint16_t> port;
  bool ip_literal = false;
};
std::optional<server_name_parts> split_server_name(std::string_view s);

// A localpart a server may register today: [a-z0-9._=\-/+]+ .
bool is_valid_user_localpart(std::string_view s);

// "@localpart:server". Historical localparts (any printable ASCII but ':') are accepted when
// `historical` is true, as the spec requires for reading ids made elsewhere.
bool is_valid_user_id(std::string_view s, bool historical = true);

struct user_id_parts {
  std::string localpart;
  std::string server_name;
};
std::optional<user_id_parts> split_user_id(std::string_view s);

// The full user id for a login/register identifier that may be a bare localpart or a full id.
// Localparts are lowercased as Synapse does for login.
std::string qualify_user_id(std::string_view user_or_localpart, std::string_view server_name);

// Ids for the rest of the spec: "!opaque:server", "$opaque" (v4+), "#alias:server".
bool is_valid_room_id(std::string_view s);
bool is_valid_room_alias(std::string_view s);
bool is_valid_event_id(std::string_view s);

// An id (or any text) as one URL path segment or query value: every byte but RFC 3986's
// unreserved characters percent-encoded.
std::string percent_encode(std::string_view s);

// Device ids are opaque; we bound their size and forbid control characters.
bool is_valid_device_id(std::string_view s);

} // namespace myelin::protocol
