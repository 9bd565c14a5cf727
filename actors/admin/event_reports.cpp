// Event reports: POST /rooms/{roomId}/report/{eventId} (spec: Client-Server API, "Reporting
// content"), and the Synapse admin API that lists, shows and deletes them (admins only). Written
// through the accounts writer (ops report_event, delete_event_report).
#include <boost/json.hpp>
#include <charconv>
#include <map>

#include "actors/admin/admin_helpers.hpp"
#include "actors/endpoint_helpers.hpp"
#include "actors/rooms/rooms.hpp"
#include "actors/runtime/writer_client.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/json.hpp"
#include "storage/tables/admin.hpp"
#include "storage/tables/events.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
namespace errors = protocol::errors;
using storage::admin::event_report;

namespace {


api_response report(runtime::handler_context& ctx, const api_request& req) {
  const auto& room_id = req.path_params.at(0);
  const auto& event_id = req.path_params.at(1);
  auto body = body_object(ctx, req, true);
  auto reason = protocol::opt_string(body, "reason");
  auto score = protocol::opt_int(body, "score");
  if (score && (*score < -100 || *score > 0)) throw errors::invalid_param("score must be between -100 and 0");
  if (reason && reason->size() > 4096) throw errors::invalid_param("reason is too long");
  {
    // Unknown and invisible events look the same, so a report reveals nothing about a room.
    auto c = ctx.db.acquire();
    auto e = storage::events::get_event(*c, event_id);
    if (!e || e->room_id != room_id || !rooms::can_see_event(*c, req.user_id, *e))
      throw errors::not_found("Unable to report event: it does not exist or you aren't able to see it.");
  }
  json::object args{{"room_id", room_id}, {"event_id", event_id}, {"user_id", req.user_id}};
  if (reason) args["reason"] = *reason;
  if (score) args["score"] = *score;
  auto w = ctx.writers.write("accounts", req.user_id, "report_event", args);
  return json_response_after(json::object{}, w.position);
}

// The current name and canonical alias of each room, one query per room.
struct room_labels {
  std::optional<std::string> name, canonical_alias;
};

room_labels labels_of(storage::connection& c, const std::string& room_id) {
  room_labels l;
  for (const auto& e : storage::events::current_state_of_types(c, room_id, {"m.room.name", "m.room.canonical_alias"})) {
    if (e.state_key != "") continue;
    if (e.type == "m.room.name") l.name = storage::admin::content_string(e.json, "name");
    else l.canonical_alias = storage::admin::content_string(e.json, "alias");
  }
  return l;
}

json::object report_json(const event_report& r, const room_labels& l) {
  return json::object{{"id", r.id},
                      {"received_ts", r.received_ts},
                      {"room_id", r.room_id},
                      {"name", admin::or_null(l.name)},
                      {"canonical_alias", admin::or_null(l.canonical_alias)},
                      {"event_id", r.event_id},
                      {"user_id", r.user_id},
                      {"reason", admin::or_null(r.reason)},
                      {"score", admin::or_null(r.score)},
                      {"sender", admin::or_null(r.sender)}};
}

int64_t report_id(const api_request& req) {
  const auto& raw = req.path_params.at(0);
  int64_t id = 0;
  auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), id);
  if (ec != std::errc{} || end != raw.data() + raw.size() || id <= 0)
    throw errors::invalid_param("The report_id parameter must be a positive integer");
  return id;
}

api_response list_reports(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  storage::admin::report_filter f;
  f.from = admin::query_count(req, "from", 0);
  f.limit = admin::query_count(req, "limit", 100, 1000);
  auto dir = query_param(req, "dir").value_or("b");
  if (dir != "f" && dir != "b") throw errors::invalid_param("dir must be f or b");
  f.newest_first = dir == "b";
  f.user_id = query_param(req, "user_id");
  f.room_id = query_param(req, "room_id");
  auto c = ctx.db.acquire();
  auto page = storage::admin::list_event_reports(*c, f);
  std::map<std::string, room_labels> labels;
  json::array out;
  for (const auto& r : page.reports) {
    auto it = labels.find(r.room_id);
    if (it == labels.end()) it = labels.emplace(r.room_id, labels_of(*c, r.room_id)).first;
    out.push_back(report_json(r, it->second));
  }
  json::object body{{"event_reports", std::move(out)}, {"total", page.total}};
  auto next = f.from + static_cast<int64_t>(page.reports.size());
  if (next < page.total) body["next_token"] = next;
  return runtime::json_response(body);
}

api_response get_report(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  auto id = report_id(req);
  auto c = ctx.db.acquire();
  auto r = storage::admin::get_event_report(*c, id);
  if (!r) throw errors::not_found("Event report not found");
  auto out = report_json(*r, labels_of(*c, r->room_id));
  auto e = storage::events::get_event(*c, r->event_id);
  out["event_json"] = e ? protocol::parse_value(e->json) : json::value(nullptr);
  return runtime::json_response(out);
}

api_response delete_report(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  auto id = report_id(req);
  auto w = ctx.writers.write("accounts", req.user_id, "delete_event_report", {{"id", id}});
  return json_response_after(json::object{}, w.position);
}

} // namespace

void register_admin_event_reports(runtime::endpoint_registry& r) {
  r.add({.name = "rooms.report", .method = "POST", .path = "/_matrix/client/{:r0|v3}/rooms/{roomId}/report/{eventId}",
         .rate_limit = "message"},
        report);
  r.add({.name = "admin.event_reports.list", .method = "GET", .path = "/_synapse/admin/v1/event_reports"},
        list_reports);
  r.add({.name = "admin.event_reports.get", .method = "GET", .path = "/_synapse/admin/v1/event_reports/{reportId}"},
        get_report);
  r.add({.name = "admin.event_reports.delete", .method = "DELETE",
         .path = "/_synapse/admin/v1/event_reports/{reportId}"},
        delete_report);
}

} // namespace myelin::endpoints
