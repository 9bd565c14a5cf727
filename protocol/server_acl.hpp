// Server ACLs (m.room.server_acl; client-server "Server Access Control Lists", server-server
// "Server Access Control Lists (ACLs)"): whether a server may take part in a room. Pure.
#pragma once
#include <boost/json/object.hpp>
#include <string_view>

namespace myelin::protocol {

// The spec's order on the ACL event's content: an IP literal is denied when allow_ip_literals is
// false; then a match in `deny` denies; a match in `allow` allows; anything else is denied. Globs
// ('*', '?') are case-insensitive and see the server name without its port. Call only when the
// room has an ACL event (no event: everyone is allowed).
bool server_allowed_by_acl(const boost::json::object& acl_content, std::string_view server_name);

} // namespace myelin::protocol
