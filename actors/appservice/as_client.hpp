// Requests to application services (spec: Application Service API): transactions, user and room
// alias queries, ping. Every request carries `Authorization: Bearer <hs_token>`. Blocking: called
// from the appservice instance's own thread or from handlers on the blocking pool, never from an
// actor or Asio thread.
#pragma once
#include <chrono>
#include <string>

namespace myelin {
struct homeserver_config;
namespace protocol::appservice { struct registration; }
}

namespace myelin::appservice {

struct call_result {
  enum class kind { ok, bad_status, failed, timeout } result = kind::failed;
  int status = 0;         // when the service answered
  std::string body;
  std::string error;      // what went wrong, for logs and M_CONNECTION_FAILED
  std::chrono::milliseconds took{0};
};

// `path` starts with /_matrix/app/v1/ and is already percent-encoded. 2xx is ok.
call_result call(const homeserver_config& cfg, const protocol::appservice::registration& as, const std::string& method,
                 const std::string& path, const std::string& body);

// "%XX" for everything but unreserved characters: user ids and aliases in a path segment.
std::string path_segment(const std::string& s);

// GET /_matrix/app/v1/rooms/{alias} and /users/{userId}: true when the service answered 200 (it
// says it has created the alias / the user).
bool query_alias(const homeserver_config& cfg, const protocol::appservice::registration& as, const std::string& alias);
bool query_user(const homeserver_config& cfg, const protocol::appservice::registration& as, const std::string& user_id);

} // namespace myelin::appservice
