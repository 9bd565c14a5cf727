// GET /_matrix/federation/v1/version: the server implementation's name and version.
#include <boost/json.hpp>

#include "actors/endpoint_helpers.hpp"

#ifndef MYELIN_VERSION
#define MYELIN_VERSION "unknown"
#endif

namespace myelin::endpoints {

void register_federation_version(runtime::endpoint_registry& r) {
  r.add({.name = "federation.version", .method = "GET", .path = "/_matrix/federation/v1/version", .auth = auth_mode::none,
         .nonblocking = true},
        [](runtime::handler_context&, const api_request&) {
          return runtime::json_response(
              boost::json::object{{"server", boost::json::object{{"name", "Myelin"}, {"version", MYELIN_VERSION}}}});
        });
}

} // namespace myelin::endpoints
