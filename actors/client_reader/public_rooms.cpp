// The published room directory (spec: client-server "Listing rooms"): GET and POST /publicRooms.
// Like Synapse, a published room is listed when people can get in or read it (join rule public,
// knock or knock_restricted, or world_readable history), ordered by joined members (most first),
// then room id. Tokens are positions in that order ("n<members>_<room id>", with a leading 'f'
// for the next page or 'b' for the previous one), so pages stay stable while rooms come and go.
// The directory is computed from current state on each call: the number of published rooms on
// one server is small next to the number of rooms.
#include <algorithm>
#include <boost/json.hpp>
#include <charconv>

#include "actors/client_reader/params.hpp"
#include "actors/client_reader/room_summary.hpp"
#include "actors/endpoint_helpers.hpp"
#include "actors/federation/federation.hpp"
#include "common/config.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/json.hpp"
#include "storage/tables/events.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
using rooms::room_summary;

namespace {

struct directory_request {
  std::optional<size_t> limit;  // nullopt = every room (Synapse's default too)
  std::optional<std::string> since;
  std::optional<std::string> search_term;
  std::optional<std::vector<std::optional<std::string>>> room_types;  // nullopt entry = no type
};

// A position in the directory order.
struct order_key {
  int64_t members = 0;
  std::string room_id;
  bool before(const order_key& o) const {  // earlier in the listing
    return members != o.members ? members > o.members : room_id < o.room_id;
  }
};

struct page_token {
  bool forwards = true;
  order_key key;
};

std::string to_token(bool forwards, const room_summary& s) {
  return std::string(forwards ? "f" : "b") + std::to_string(s.num_joined_members) + "_" + s.room_id;
}

page_token parse_token(const std::string& t) {
  auto bad = [] { return protocol::errors::invalid_param("Invalid pagination token"); };
  if (t.size() < 4 || (t[0] != 'f' && t[0] != 'b')) throw bad();
  auto sep = t.find('_');
  if (sep == std::string::npos) throw bad();
  page_token p;
  p.forwards = t[0] == 'f';
  auto [ptr, ec] = std::from_chars(t.data() + 1, t.data() + sep, p.key.members);
  if (ec != std::errc{} || ptr != t.data() + sep) throw bad();
  p.key.room_id = t.substr(sep + 1);
  if (p.key.room_id.empty() || p.key.room_id[0] != '!') throw bad();
  return p;
}

std::string ascii_lower(std::string s) {
  for (auto& ch : s)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  return s;
}

bool listable(const room_summary& s) {
  if (s.world_readable()) return true;
  return s.join_rule && (*s.join_rule == "public" || *s.join_rule == "knock" || *s.join_rule == "knock_restricted");
}

bool matches(const directory_request& r, const room_summary& s) {
  if (r.search_term && !r.search_term->empty()) {
    auto term = ascii_lower(*r.search_term);
    auto has = [&](const std::optional<std::string>& field) {
      return field && ascii_lower(*field).find(term) != std::string::npos;
    };
    if (!has(s.name) && !has(s.topic) && !has(s.canonical_alias)) return false;
  }
  if (r.room_types) {
    bool ok = std::any_of(r.room_types->begin(), r.room_types->end(),
                          [&](const std::optional<std::string>& t) { return t == s.room_type; });
    if (!ok) return false;
  }
  return true;
}

api_response list_rooms(runtime::handler_context& ctx, const directory_request& r) {
  std::vector<room_summary> rooms;
  {
    auto c = ctx.db.acquire();
    for (const auto& id : storage::events::published_rooms(*c))
      if (auto s = rooms::summarize_room(*c, id); s && listable(*s) && matches(r, *s)) rooms.push_back(std::move(*s));
  }
  std::sort(rooms.begin(), rooms.end(), [](const room_summary& a, const room_summary& b) {
    return order_key{a.num_joined_members, a.room_id}.before(order_key{b.num_joined_members, b.room_id});
  });

  // [first, last) is the page.
  size_t first = 0, last = rooms.size();
  if (r.since) {
    auto token = parse_token(*r.since);
    auto at_or_after = std::partition_point(rooms.begin(), rooms.end(), [&](const room_summary& s) {
      return order_key{s.num_joined_members, s.room_id}.before(token.key);
    });
    size_t pos = static_cast<size_t>(at_or_after - rooms.begin());
    if (token.forwards) {
      // The token names the last room of the previous page: start after it.
      if (pos < rooms.size() && rooms[pos].room_id == token.key.room_id &&
          rooms[pos].num_joined_members == token.key.members)
        ++pos;
      first = pos;
      last = r.limit ? std::min(rooms.size(), first + *r.limit) : rooms.size();
    } else {
      // The token names the first room of the following page: end before it.
      last = pos;
      first = r.limit && *r.limit < last ? last - *r.limit : 0;
    }
  } else if (r.limit) {
    last = std::min(rooms.size(), *r.limit);
  }

  json::array chunk;
  for (size_t i = first; i < last; ++i) chunk.push_back(rooms[i].to_json());
  json::object body{{"chunk", std::move(chunk)}, {"total_room_count_estimate", rooms.size()}};
  if (last < rooms.size() && last > first) body["next_batch"] = to_token(true, rooms[last - 1]);
  if (first > 0 && first < rooms.size()) body["prev_batch"] = to_token(false, rooms[first]);
  return runtime::json_response(body);
}

// Another server's directory (`server` names one): asked of it over federation, the client's
// paging and filter passed on. nullopt for this server's own.
std::optional<api_response> remote_directory(runtime::handler_context& ctx, const std::optional<std::string>& server,
                                             const json::object& query) {
  if (!server || server->empty() || *server == ctx.config.server_name) return std::nullopt;
  if (!protocol::is_valid_server_name(*server)) throw protocol::errors::invalid_param("Invalid server name");
  json::value body = query;
  return runtime::json_response(
      federation::request(ctx, *server, "POST", "/_matrix/federation/v1/publicRooms", &body, std::chrono::seconds(20)));
}

std::optional<size_t> directory_limit(std::optional<int64_t> n);

// POST /publicRooms' body (client and federation alike): limit, since, filter.
api_response post_list(runtime::handler_context& ctx, const json::object& body) {
  directory_request d;
  d.limit = directory_limit(protocol::opt_int(body, "limit"));
  if (auto since = protocol::opt_string(body, "since"); since && !since->empty()) d.since = since;
  if (auto* filter = protocol::opt_object(body, "filter")) {
    d.search_term = protocol::opt_string(*filter, "generic_search_term");
    if (auto* types = protocol::opt_array(*filter, "room_types")) {
      d.room_types.emplace();
      for (const auto& t : *types) {
        if (t.is_null())
          d.room_types->push_back(std::nullopt);
        else if (t.is_string())
          d.room_types->push_back(std::string(t.as_string()));
        else
          throw protocol::errors::bad_json("room_types must be strings or null");
      }
    }
  }
  return list_rooms(ctx, d);
}

// GET /publicRooms' query (client and federation alike): limit and since.
api_response get_list(runtime::handler_context& ctx, const api_request& req) {
  directory_request d;
  d.limit = directory_limit(int_param(req, "limit"));
  if (auto since = query_param(req, "since"); since && !since->empty()) d.since = since;
  return list_rooms(ctx, d);
}

std::optional<size_t> directory_limit(std::optional<int64_t> n) {
  if (!n || *n <= 0) return std::nullopt;  // Synapse: a missing or zero limit lists everything
  return static_cast<size_t>(*n);
}

} // namespace

void register_public_rooms(runtime::endpoint_registry& r) {
  // Synapse's allow_public_rooms_without_auth defaults to false, so the GET needs a token too.
  r.add({.name = "publicRooms.get", .method = "GET", .path = "/_matrix/client/{:r0|v3}/publicRooms",
         .allow_guest = true},
        [](runtime::handler_context& ctx, const api_request& req) {
          json::object forwarded;
          if (auto l = int_param(req, "limit")) forwarded["limit"] = *l;
          if (auto since = query_param(req, "since"); since && !since->empty()) forwarded["since"] = *since;
          if (auto remote = remote_directory(ctx, query_param(req, "server"), forwarded)) return std::move(*remote);
          directory_request d;
          d.limit = directory_limit(int_param(req, "limit"));
          if (auto since = query_param(req, "since"); since && !since->empty()) d.since = since;
          return list_rooms(ctx, d);
        });

  r.add({.name = "publicRooms.post", .method = "POST", .path = "/_matrix/client/{:r0|v3}/publicRooms"},
        [](runtime::handler_context& ctx, const api_request& req) {
          auto body = body_object(ctx, req, true);
          if (auto remote = remote_directory(ctx, query_param(req, "server"), body)) return std::move(*remote);
          return post_list(ctx, body);
        });
  // Other servers asking for ours (server-server "Public Room Directory"): the same listing.
  r.add({.name = "federation.publicRooms.get", .method = "GET", .path = "/_matrix/federation/v1/publicRooms",
         .auth = auth_mode::none},
        [](runtime::handler_context& ctx, const api_request& req) {
          federation::authenticate_origin(ctx, req);
          return get_list(ctx, req);
        });
  r.add({.name = "federation.publicRooms.post", .method = "POST", .path = "/_matrix/federation/v1/publicRooms",
         .auth = auth_mode::none},
        [](runtime::handler_context& ctx, const api_request& req) {
          federation::authenticate_origin(ctx, req);
          return post_list(ctx, body_object(ctx, req, true));
        });
}

} // namespace myelin::endpoints
