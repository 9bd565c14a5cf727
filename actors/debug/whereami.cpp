// GET /_myelin/debug/whereami/{group}: answers with the instance that served the request. It lets
// operators and tests see balancing at work (round robin spreading, user affinity pinning). One
// endpoint per API group, because the route table maps each path to its group.
#include <boost/json.hpp>

#include "actors/endpoint_helpers.hpp"
#include "actors/runtime/groups.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

void register_debug(runtime::endpoint_registry& r) {
  for (const auto& g : runtime::known_groups()) {
    if (g.kind != runtime::group_kind::api) continue;
    r.add({.name = "debug.whereami." + g.name, .method = "GET", .path = "/_myelin/debug/whereami/" + g.name,
           .auth = auth_mode::optional, .allow_guest = true, .nonblocking = true},
          [](runtime::handler_context& ctx, const api_request& req) {
            json::object out{{"instance", ctx.instance}};
            if (!req.user_id.empty()) out["user_id"] = req.user_id;
            return runtime::json_response(out);
          });
  }
}

} // namespace myelin::endpoints
