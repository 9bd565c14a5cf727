// What an endpoint is, as data: method, path template, auth and limits. Each endpoint file in
// actors/ declares one of these next to its handler; the gateway matches requests against them.
#pragma once
#include <string>

namespace myelin {

enum class auth_mode { none, required, optional };

struct endpoint_spec {
  std::string name;    // unique, e.g. "account.whoami"
  std::string method;  // GET | POST | PUT | DELETE
  // Path template matched segment by segment on the RAW request target (never a decoded path):
  //   literal segments, "{name}" = one path parameter (percent-decoded after matching, may be
  //   empty), "{:r0|v3}" = one segment out of a set of literals (not captured),
  //   "{name...}" = the rest of the path, as one parameter (only as the last segment).
  std::string path;
  auth_mode auth = auth_mode::required;
  bool allow_guest = false;
  std::string rate_limit;        // "" or a class: "login", "registration", "message"
  std::string affinity_param;    // path parameter whose value picks the instance (e.g. "roomId")
  bool large_body = false;       // media uploads: max_upload_size instead of max_request_body_size
  // The handler never blocks (no database, no hashing): it runs on the group instance's actor
  // instead of taking two extra thread hops through the blocking pool.
  bool nonblocking = false;
  // /register and /login: a token matters only when it is an application service's (its
  // m.login.application_service). ?user_id= is not a masquerade (the body names the user, who may
  // not exist yet; SDKs send it anyway), and an unknown or expired token counts as none, since the
  // ordinary flows ignore tokens (as Synapse's do).
  bool appservice_login = false;
};

} // namespace myelin
