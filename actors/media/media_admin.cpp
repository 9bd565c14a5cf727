// Synapse-compatible admin API for media (docs: Synapse "Media" admin API), served by the media
// group: the mxc URIs a room's events mention, one user's media (paged, ordered) and deleting it,
// deleting one local media item, deleting local media by age and size, and purging other servers'
// media cached here. Deleting removes the
// file, its thumbnails and their rows (media is not a stream: the media group writes these tables
// directly). Admins only.
#include <boost/json.hpp>
#include <map>
#include <set>

#include "actors/admin/admin_helpers.hpp"
#include "actors/endpoint_helpers.hpp"
#include "actors/media/media_repository.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "storage/tables/accounts.hpp"
#include "storage/tables/events.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
namespace errors = protocol::errors;
namespace media_table = storage::media_table;

namespace {

// Every mxc:// string anywhere in a JSON value (url, info.thumbnail_url, file.url, avatar_url, …).
void collect_mxc(const json::value& v, std::set<std::string>& out) {
  if (v.is_string()) {
    if (v.as_string().starts_with("mxc://")) out.emplace(v.as_string());
  } else if (v.is_object()) {
    for (const auto& kv : v.as_object()) collect_mxc(kv.value(), out);
  } else if (v.is_array()) {
    for (const auto& x : v.as_array()) collect_mxc(x, out);
  }
}

// The media id of an mxc URI of this server, if it is one.
std::optional<std::string> local_media_id(const homeserver_config& config, std::string_view mxc) {
  auto prefix = "mxc://" + config.server_name + "/";
  if (!mxc.starts_with(prefix)) return std::nullopt;
  return std::string(mxc.substr(prefix.size()));
}

api_response room_media(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  auto room_id = admin::checked_room_id(req);
  auto c = ctx.db.acquire();
  if (!storage::events::get_room(*c, room_id)) throw errors::not_found("Room not found");
  std::set<std::string> uris;
  // Only events that can mention media are parsed (redacted ones have lost their content).
  auto r = c->exec("SELECT json FROM events WHERE room_id = $1 AND redacted_by IS NULL AND json LIKE '%mxc://%'",
                   {room_id});
  for (size_t i = 0; i < r.size(); ++i) {
    boost::system::error_code ec;
    auto ev = json::parse(r[i].as_text(0), ec);
    if (!ec && ev.is_object())
      if (auto* content = ev.as_object().if_contains("content")) collect_mxc(*content, uris);
  }
  json::array local, remote;
  for (const auto& u : uris) (local_media_id(ctx.config, u) ? local : remote).emplace_back(u);
  return runtime::json_response(json::object{{"local", std::move(local)}, {"remote", std::move(remote)}});
}

// Deletes local media: rows first (one transaction), then the files. Returns the ids deleted.
json::array delete_media(runtime::handler_context& ctx, const std::vector<std::string>& media_ids) {
  std::vector<std::string> deleted;
  ctx.db.transact([&](storage::connection& c) {
    deleted.clear();
    for (const auto& id : media_ids)
      if (media_table::delete_local(c, id)) deleted.push_back(id);
  });
  const auto& store = media::store(ctx.config);
  json::array out;
  for (const auto& id : deleted) {
    store.remove(id);
    store.remove_thumbnails(id);
    out.emplace_back(id);
  }
  ctx.log.info("media deleted", {{"count", std::to_string(deleted.size())}});
  return out;
}

api_response deleted_response(json::array ids) {
  auto total = static_cast<int64_t>(ids.size());
  return runtime::json_response(json::object{{"deleted_media", std::move(ids)}, {"total", total}});
}

api_response delete_one(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  const auto& server_name = req.path_params.at(0);
  const auto& media_id = req.path_params.at(1);
  if (server_name != ctx.config.server_name) throw errors::invalid_param("Can only delete local media");
  if (!storage::media::valid_media_id(media_id)) throw errors::not_found("Unknown media");
  auto ids = delete_media(ctx, {media_id});
  if (ids.empty()) throw errors::not_found("Unknown media");
  return deleted_response(std::move(ids));
}

// The local media ids profiles and room avatars use (kept unless keep_profiles=false).
std::set<std::string> avatar_media(runtime::handler_context& ctx) {
  std::set<std::string> uris;
  auto c = ctx.db.acquire();
  auto r = c->exec("SELECT avatar_url FROM profiles WHERE avatar_url LIKE 'mxc://%'");
  for (size_t i = 0; i < r.size(); ++i) uris.insert(r[i].as_text(0));
  for (const auto& e : storage::events::current_state_in_all_rooms(*c, "m.room.avatar")) {
    boost::system::error_code ec;
    auto ev = json::parse(e.json, ec);
    if (!ec && ev.is_object())
      if (auto* content = ev.as_object().if_contains("content")) collect_mxc(*content, uris);
  }
  std::set<std::string> ids;
  for (const auto& u : uris)
    if (auto id = local_media_id(ctx.config, u)) ids.insert(*id);
  return ids;
}

api_response delete_by_age(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  if (req.path_params.size() == 1 && req.path_params[0] != ctx.config.server_name)
    throw errors::invalid_param("Can only delete local media");
  if (!query_param(req, "before_ts")) throw errors::missing_param("Missing integer query parameter 'before_ts'");
  auto before_ts = admin::query_count(req, "before_ts", 0, INT64_MAX);
  auto size_gt = admin::query_count(req, "size_gt", 0, INT64_MAX);
  bool keep_profiles = admin::query_flag(req, "keep_profiles", true);
  std::vector<std::string> ids;
  {
    auto c = ctx.db.acquire();
    ids = media_table::media_ids_before(*c, before_ts, size_gt);
  }
  if (keep_profiles) {
    auto keep = avatar_media(ctx);
    std::erase_if(ids, [&](const std::string& id) { return keep.count(id) > 0; });
  }
  return deleted_response(delete_media(ctx, ids));
}

// POST /_synapse/admin/v1/purge_media_cache?before_ts=: other servers' media cached here and not
// served since `before_ts`, deleted (file, thumbnails, rows); fetched again if asked for later.
api_response purge_media_cache(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  if (!query_param(req, "before_ts")) throw errors::missing_param("Missing integer query parameter 'before_ts'");
  auto before_ts = admin::query_count(req, "before_ts", 0, INT64_MAX);
  constexpr int64_t batch = 500;
  const auto& store = media::store(ctx.config);
  int64_t deleted = 0;
  while (true) {
    std::vector<std::pair<std::string, std::string>> items;
    {
      auto c = ctx.db.acquire();
      items = media_table::remote_media_before(*c, before_ts, batch);
    }
    // Row first, then the file: a request after the row is gone fetches the item again (one that
    // read the row just before may still find its file gone, as with Synapse's purge).
    for (const auto& item : items) {
      bool gone = false;
      ctx.db.transact([&](storage::connection& c) { gone = media_table::delete_remote(c, item.first, item.second); });
      store.remove_remote(item.first, item.second);
      deleted += gone ? 1 : 0;
    }
    if (static_cast<int64_t>(items.size()) < batch) break;
  }
  ctx.log.info("remote media cache purged", {{"count", std::to_string(deleted)}});
  return runtime::json_response(json::object{{"deleted", deleted}});
}

// Synapse's order_by names → local_media columns (last_access_ts: Myelin records none, so the
// creation time stands in; safe_from_quarantine: nothing is protected, the media id).
std::string order_column(const api_request& req) {
  static const std::map<std::string, std::string> columns{
      {"media_id", "media_id"},         {"upload_name", "upload_name"},   {"created_ts", "created_ts"},
      {"last_access_ts", "created_ts"}, {"media_length", "size"},         {"media_type", "content_type"},
      {"quarantined_by", "quarantined_by"}, {"safe_from_quarantine", "media_id"}};
  auto name = query_param(req, "order_by").value_or("created_ts");
  auto it = columns.find(name);
  if (it == columns.end()) throw errors::invalid_param("Unknown order_by " + name);
  return it->second;
}

// The page of a user's media the query selects (from, limit, order_by, dir).
struct user_media_query {
  std::string user_id;
  int64_t from = 0, limit = 100;
  media_table::media_page page;
};

user_media_query select_user_media(runtime::handler_context& ctx, const api_request& req) {
  admin::require_admin(ctx, req);
  user_media_query q;
  q.user_id = admin::local_user_id(ctx, req.path_params.at(0));
  q.from = admin::query_count(req, "from", 0);
  q.limit = admin::query_count(req, "limit", 100, 1000);
  auto column = order_column(req);
  auto dir = query_param(req, "dir").value_or("f");
  if (dir != "f" && dir != "b") throw errors::invalid_param("dir must be f or b");
  auto c = ctx.db.acquire();
  if (!storage::accounts::get_user(*c, q.user_id)) throw errors::not_found("Unknown user");
  q.page = media_table::list_user_media(*c, q.user_id, q.from, q.limit, column, dir == "b");
  return q;
}

json::object media_json(const media_table::local_media& m) {
  return json::object{{"media_id", m.media_id},
                      {"media_type", m.content_type},
                      {"media_length", m.size},
                      {"upload_name", admin::or_null(m.upload_name)},
                      {"created_ts", m.created_ts},
                      {"last_access_ts", m.upload_ts.value_or(m.created_ts)},
                      {"quarantined_by", admin::or_null(m.quarantined_by)},
                      {"safe_from_quarantine", false}};
}

api_response list_user_media(runtime::handler_context& ctx, const api_request& req) {
  auto q = select_user_media(ctx, req);
  json::array media;
  for (const auto& m : q.page.media) media.push_back(media_json(m));
  json::object out{{"media", std::move(media)}, {"total", q.page.total}};
  auto next = q.from + static_cast<int64_t>(q.page.media.size());
  if (next < q.page.total) out["next_token"] = next;
  return runtime::json_response(out);
}

api_response delete_user_media(runtime::handler_context& ctx, const api_request& req) {
  auto q = select_user_media(ctx, req);
  std::vector<std::string> ids;
  for (const auto& m : q.page.media) ids.push_back(m.media_id);
  return deleted_response(delete_media(ctx, ids));
}

} // namespace

void register_media_admin(runtime::endpoint_registry& r) {
  r.add({.name = "admin.media.room", .method = "GET", .path = "/_synapse/admin/v1/room/{roomId}/media"}, room_media);
  r.add({.name = "admin.media.user.list", .method = "GET", .path = "/_synapse/admin/v1/users/{userId}/media"},
        list_user_media);
  r.add({.name = "admin.media.user.delete", .method = "DELETE", .path = "/_synapse/admin/v1/users/{userId}/media"},
        delete_user_media);
  r.add({.name = "admin.media.delete", .method = "DELETE", .path = "/_synapse/admin/v1/media/{serverName}/{mediaId}"},
        delete_one);
  r.add({.name = "admin.media.delete_old", .method = "POST", .path = "/_synapse/admin/v1/media/delete"}, delete_by_age);
  r.add({.name = "admin.media.purge_cache", .method = "POST", .path = "/_synapse/admin/v1/purge_media_cache"},
        purge_media_cache);
  r.add({.name = "admin.media.delete_old.server", .method = "POST",
         .path = "/_synapse/admin/v1/media/{serverName}/delete"},
        delete_by_age);
}

} // namespace myelin::endpoints
