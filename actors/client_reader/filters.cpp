// Stored filters (spec: client-server "Filtering"): POST /user/{userId}/filter stores a Filter
// and returns its id; GET /user/{userId}/filter/{filterId} returns it. /sync refers to filters by
// id. Only the owner may create or read them. Filter ids count up per user.
#include <boost/json.hpp>

#include "actors/endpoint_helpers.hpp"
#include "protocol/errors.hpp"
#include "protocol/event_filter.hpp"
#include "protocol/json.hpp"
#include "storage/tables/filters.hpp"
#include "storage/database.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

namespace {

void require_owner(const api_request& req) {
  if (req.path_params.at(0) != req.user_id)
    throw protocol::errors::forbidden("Cannot use filters of other users");
}

} // namespace

void register_filters(runtime::endpoint_registry& r) {
  r.add({.name = "filter.create", .method = "POST", .path = "/_matrix/client/{:r0|v3}/user/{userId}/filter",
         .allow_guest = true},
        [](runtime::handler_context& ctx, const api_request& req) {
          require_owner(req);
          auto body = body_object(ctx, req);
          protocol::parse_filter(body);  // validates: 400 M_BAD_JSON for a malformed filter
          auto text = json::serialize(body);
          int64_t id = transact_retrying_unique(ctx.db, [&](storage::connection& c) {
            auto r = c.exec("SELECT COALESCE(MAX(filter_id), -1) + 1 FROM user_filters WHERE user_id = $1",
                            {req.user_id});
            int64_t next = r[0].as_int(0);
            c.exec("INSERT INTO user_filters (user_id, filter_id, filter_json) VALUES ($1, $2, $3)",
                   {req.user_id, next, text});
            return next;
          });
          return runtime::json_response(json::object{{"filter_id", std::to_string(id)}});
        });
  r.add({.name = "filter.get", .method = "GET",
         .path = "/_matrix/client/{:r0|v3}/user/{userId}/filter/{filterId}", .allow_guest = true},
        [](runtime::handler_context& ctx, const api_request& req) {
          require_owner(req);
          auto c = ctx.db.acquire();
          auto text = storage::filters::get(*c, req.user_id, req.path_params.at(1));
          if (!text) throw protocol::errors::not_found("No such filter");
          return runtime::json_response(protocol::parse_value(*text));
        });
}

} // namespace myelin::endpoints
