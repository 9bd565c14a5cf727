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
  // An application service's ?user_id= picks the user it acts as (masquerading). Off for
  // /register, where the service names the new user in the body and ?user_id= (which SDKs send
  // anyway) must not be checked against users that do not exist yet.
  bool appservice_masquerade = true;
};

} // namespace myelin
