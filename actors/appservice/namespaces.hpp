// The namespace rules the client API enforces for application services (spec: Application Service
// API, "Server admin style permissions"), shared by the endpoints that create aliases.
#pragma once
#include <string>

namespace myelin {
struct homeserver_config;
}

namespace myelin::appservice {

// May the requester (`appservice_id`: its service, "" for a user) create `alias`? A service only
// inside its own alias namespace (403 M_EXCLUSIVE otherwise), anyone else only outside the
// exclusive ones (400 M_EXCLUSIVE). Returns true when a service creates in its own namespace (it
// needs no membership of the room: it owns the namespace).
bool check_alias_creation(const homeserver_config& cfg, const std::string& appservice_id, const std::string& alias);

} // namespace myelin::appservice
