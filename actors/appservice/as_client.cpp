#include "actors/appservice/as_client.hpp"

#include "common/config.hpp"
#include "common/log.hpp"
#include "outbound/http_fetch.hpp"
#include "protocol/appservice.hpp"
#include "protocol/identifiers.hpp"

namespace myelin::appservice {

std::string path_segment(const std::string& s) { return protocol::percent_encode(s); }

call_result call(const homeserver_config& cfg, const protocol::appservice::registration& as, const std::string& method,
                 const std::string& path, const std::string& body) {
  outbound::fetch_options opts;
  opts.method = method;
  opts.headers = {{"Authorization", "Bearer " + as.hs_token}};
  if (!body.empty()) opts.headers.emplace_back("Content-Type", "application/json");
  opts.body = body;
  opts.user_agent = outbound::fetch_options::default_user_agent("appservice");
  opts.timeout = std::chrono::milliseconds(cfg.appservice.timeout_ms);
  opts.max_redirects = 0;
  opts.max_bytes = 1 << 20;
  opts.ip_policy = nullptr;  // the operator chose the URL in the registration file
  call_result r;
  auto start = std::chrono::steady_clock::now();
  try {
    auto answer = outbound::fetch(opts, as.url + path);
    r.status = answer.status;
    r.body = std::move(answer.body);
    r.result = r.status >= 200 && r.status < 300 ? call_result::kind::ok : call_result::kind::bad_status;
    if (r.result != call_result::kind::ok) r.error = "status " + std::to_string(r.status);
  } catch (const outbound::fetch_error& e) {
    r.result = e.which() == outbound::fetch_error::kind::timeout ? call_result::kind::timeout : call_result::kind::failed;
    r.error = e.what();
  }
  r.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  return r;
}

namespace {

bool query(const homeserver_config& cfg, const protocol::appservice::registration& as, const std::string& path,
           const std::string& what) {
  static const logger lg("appservice");
  auto r = call(cfg, as, "GET", path, "");
  if (r.result == call_result::kind::ok && r.status == 200) return true;
  if (r.status != 404)
    lg.warn("application service query failed", {{"appservice", as.id}, {"query", what}, {"error", r.error}});
  return false;
}

} // namespace

bool query_alias(const homeserver_config& cfg, const protocol::appservice::registration& as, const std::string& alias) {
  return query(cfg, as, "/_matrix/app/v1/rooms/" + path_segment(alias), alias);
}

bool query_user(const homeserver_config& cfg, const protocol::appservice::registration& as, const std::string& user_id) {
  return query(cfg, as, "/_matrix/app/v1/users/" + path_segment(user_id), user_id);
}

} // namespace myelin::appservice
