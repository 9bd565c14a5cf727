// GET /v1/rooms/{roomId}/hierarchy (spec: client-server "Spaces"): the space tree below a room,
// depth first, following m.space.child events with a non-empty `via`. Rooms the user may not
// see (neither joined nor invited, not public, knockable or world readable, not a restricted room
// they qualify for) are left out together with their subtree. A room this server is not in is
// asked of the servers its parent's m.space.child names (federation /hierarchy): the answer
// describes the room, its children and which of them are hidden, and is kept five minutes so
// pages and repeated walks do not ask again.
//
// The walk is deterministic, so a page token is just how many rooms were already returned, plus
// the two parameters that must not change between pages: "h<offset>_<suggested 0|1>_<depth>".
#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <map>
#include <mutex>
#include <set>

#include "actors/client_reader/params.hpp"
#include "actors/client_reader/room_summary.hpp"
#include "actors/endpoint_helpers.hpp"
#include "actors/federation/federation.hpp"
#include "actors/rooms/rooms.hpp"
#include "common/clock.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "storage/tables/events.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
using rooms::room_summary;
using storage::events::event_row;

namespace {

constexpr size_t default_limit = 50;
constexpr size_t max_limit = 100;
constexpr int64_t default_max_depth = 50;
constexpr size_t max_rooms_walked = 2000;  // bounds one request however big the tree
// Rooms asked of other servers in one request (each answer is cached, so later pages and walks
// reach further), and how long one such question may take.
constexpr size_t max_remote_questions = 10;
constexpr auto remote_timeout = std::chrono::seconds(5);
constexpr int64_t remote_answer_ttl_ms = 5 * 60 * 1000;
constexpr size_t max_servers_per_question = 3;

struct page_token {
  size_t offset = 0;
  bool suggested_only = false;
  int64_t max_depth = default_max_depth;
};

std::string to_token(const page_token& t) {
  return "h" + std::to_string(t.offset) + "_" + (t.suggested_only ? "1" : "0") + "_" + std::to_string(t.max_depth);
}

page_token parse_token(const std::string& s) {
  auto bad = [] { return protocol::errors::invalid_param("Unknown pagination token"); };
  if (s.size() < 6 || s[0] != 'h') throw bad();
  auto a = s.find('_'), b = s.rfind('_');
  if (a == std::string::npos || b == a || b != a + 2) throw bad();
  page_token t;
  auto r1 = std::from_chars(s.data() + 1, s.data() + a, t.offset);
  auto r2 = std::from_chars(s.data() + b + 1, s.data() + s.size(), t.max_depth);
  if (r1.ec != std::errc{} || r1.ptr != s.data() + a || r2.ec != std::errc{} || r2.ptr != s.data() + s.size())
    throw bad();
  if (s[a + 1] != '0' && s[a + 1] != '1') throw bad();
  t.suggested_only = s[a + 1] == '1';
  return t;
}

bool suggested(const json::object& content) {
  auto* s = content.if_contains("suggested");
  return s && s->is_bool() && s->as_bool();
}

// m.space.child "order": printable ASCII, at most 50 characters; anything else is no order.
std::optional<std::string> child_order(const json::object& content) {
  auto* o = content.if_contains("order");
  if (!o || !o->is_string() || o->as_string().size() > 50) return std::nullopt;
  for (char ch : o->as_string())
    if (ch < 0x20 || ch > 0x7e) return std::nullopt;
  return std::string(o->as_string());
}

const json::object& content_of(const json::object& stripped_event) {
  static const json::object empty;
  auto* c = stripped_event.if_contains("content");
  return c && c->is_object() ? c->as_object() : empty;
}

std::string string_field(const json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::vector<std::string> via_of(const json::object& stripped_event) {
  std::vector<std::string> out;
  if (auto* via = content_of(stripped_event).if_contains("via"); via && via->is_array())
    for (const auto& v : via->as_array())
      if (v.is_string() && protocol::is_valid_server_name(v.as_string())) out.emplace_back(v.as_string());
  return out;
}

// A room's m.space.child events (stripped, as children_state shows them) that name a room and a
// non-empty `via`, in the spec's order: by `order` (rooms without one last), then by when the
// child was added, then by room id.
json::array ordered_children(std::vector<json::object> states, bool suggested_only) {
  std::erase_if(states, [&](const json::object& e) {
    return string_field(e, "type") != "m.space.child" || !protocol::is_valid_room_id(string_field(e, "state_key")) ||
           via_of(e).empty() || (suggested_only && !suggested(content_of(e)));
  });
  auto ts = [](const json::object& e) {
    auto* t = e.if_contains("origin_server_ts");
    return t && t->is_int64() ? t->as_int64() : 0;
  };
  std::stable_sort(states.begin(), states.end(), [&](const json::object& a, const json::object& b) {
    auto oa = child_order(content_of(a)), ob = child_order(content_of(b));
    if (oa.has_value() != ob.has_value()) return oa.has_value();
    if (oa && *oa != *ob) return *oa < *ob;
    if (ts(a) != ts(b)) return ts(a) < ts(b);
    return string_field(a, "state_key") < string_field(b, "state_key");
  });
  return json::array(std::make_move_iterator(states.begin()), std::make_move_iterator(states.end()));
}

json::array local_children(const room_summary& s, bool suggested_only) {
  std::vector<json::object> states;
  for (const auto& e : s.space_children)
    states.push_back({{"type", e.type},
                      {"state_key", e.state_key.value_or("")},
                      {"content", rooms::content_of(e)},
                      {"sender", e.sender},
                      {"origin_server_ts", e.origin_server_ts}});
  return ordered_children(std::move(states), suggested_only);
}

// ---- rooms known from other servers ----

// One federation /hierarchy answer: the room (a summary with children_state), the summaries of
// its children that server knows, and the children hidden from us.
struct remote_room {
  json::object room;
  std::map<std::string, json::object> children;
  std::set<std::string> inaccessible;
};

struct cached_answer {
  std::optional<remote_room> answer;  // nullopt: no server could answer
  int64_t until_ms = 0;
};
std::mutex remote_cache_mu;
std::map<std::string, cached_answer> remote_cache;
constexpr size_t max_cached_answers = 1000;

std::optional<remote_room> parse_answer(const json::value& v, const std::string& room_id) {
  if (!v.is_object()) return std::nullopt;
  auto* room = v.as_object().if_contains("room");
  if (!room || !room->is_object() || string_field(room->as_object(), "room_id") != room_id) return std::nullopt;
  remote_room out;
  out.room = room->as_object();
  if (auto* children = v.as_object().if_contains("children"); children && children->is_array())
    for (const auto& c : children->as_array())
      if (c.is_object() && protocol::is_valid_room_id(string_field(c.as_object(), "room_id")))
        out.children[string_field(c.as_object(), "room_id")] = c.as_object();
  if (auto* hidden = v.as_object().if_contains("inaccessible_children"); hidden && hidden->is_array())
    for (const auto& h : hidden->as_array())
      if (h.is_string()) out.inaccessible.insert(std::string(h.as_string()));
  return out;
}

// The room as one of `via` describes it, from the cache or asked (while `questions` lasts).
std::optional<remote_room> ask_servers(runtime::handler_context& ctx, const std::string& room_id,
                                       const std::vector<std::string>& via, bool suggested_only, size_t& questions) {
  std::string key = room_id + (suggested_only ? "|s" : "|a");
  int64_t now = now_ms();
  {
    std::lock_guard lock(remote_cache_mu);
    if (auto it = remote_cache.find(key); it != remote_cache.end() && it->second.until_ms > now)
      return it->second.answer;
  }
  if (questions == 0) return std::nullopt;
  --questions;
  std::optional<remote_room> answer;
  size_t tried = 0;
  for (const auto& server : via) {
    if (server == ctx.config.server_name) continue;
    if (tried++ == max_servers_per_question) break;  // a child may name any number of servers
    try {
      auto v = federation::request(ctx, server, "GET",
                                   "/_matrix/federation/v1/hierarchy/" + protocol::percent_encode(room_id) +
                                       "?suggested_only=" + (suggested_only ? "true" : "false"),
                                   nullptr, remote_timeout);
      if ((answer = parse_answer(v, room_id))) break;
    } catch (const protocol::matrix_error& e) {
      ctx.log.info("remote hierarchy failed", {{"server", server}, {"room_id", room_id}, {"error", e.what()}});
    }
  }
  std::lock_guard lock(remote_cache_mu);
  if (remote_cache.size() >= max_cached_answers) {
    std::erase_if(remote_cache, [now](const auto& kv) { return kv.second.until_ms <= now; });
    if (remote_cache.size() >= max_cached_answers) remote_cache.clear();
  }
  remote_cache[key] = {answer, now + remote_answer_ttl_ms};
  return answer;
}

// The spec's list of who may see a room in the hierarchy, read from its summary (this server's
// or another server's: the same fields).
bool accessible(storage::connection& c, const json::object& summary, const std::string& user_id) {
  auto room_id = string_field(summary, "room_id");
  auto m = storage::events::current_membership(c, room_id, user_id);
  if (m && (*m == "join" || *m == "invite")) return true;
  if (auto* w = summary.if_contains("world_readable"); w && w->is_bool() && w->as_bool()) return true;
  auto rule = string_field(summary, "join_rule");
  if (rule == "public" || rule == "knock" || rule == "knock_restricted") return true;
  if (rule == "restricted")
    if (auto* allowed = summary.if_contains("allowed_room_ids"); allowed && allowed->is_array())
      for (const auto& a : allowed->as_array())
        if (a.is_string()) {
          auto am = storage::events::current_membership(c, std::string(a.as_string()), user_id);
          if (am && *am == "join") return true;
        }
  return false;
}

// What one client request's walk knows: summaries of children other servers gave, the rooms
// they hid from us, and how many more questions it may ask them.
struct walk {
  walk(runtime::handler_context& c, const std::string& user, bool suggested)
      : ctx(c), user_id(user), suggested_only(suggested) {}

  runtime::handler_context& ctx;
  const std::string& user_id;
  bool suggested_only;
  std::map<std::string, json::object> remote_children;
  std::set<std::string> hidden;
  size_t questions = max_remote_questions;

  // The room's entry (its summary with children_state) if the user may see it; nullopt when
  // hidden or unknown everywhere asked. A room this server is in is described from here; another
  // from a summary a server already gave (rooms that are not spaces need nothing more) or by
  // asking `via`; this server's stale view of a room it left is the last resort.
  std::optional<json::object> describe(const std::string& room_id, const std::vector<std::string>& via) {
    if (hidden.count(room_id)) return std::nullopt;
    std::optional<room_summary> local;
    {
      auto c = ctx.db.acquire();
      local = rooms::summarize_room(*c, room_id);
      if (local && (via.empty() || storage::events::server_has_member(*c, room_id, ctx.config.server_name, {"join"})))
        return from_local(*c, *local);
    }
    std::optional<json::object> entry;
    if (auto it = remote_children.find(room_id);
        it != remote_children.end() && string_field(it->second, "room_type") != "m.space") {
      entry = it->second;
      (*entry)["children_state"] = json::array{};
    } else if (auto answer = ask_servers(ctx, room_id, via, suggested_only, questions)) {
      entry = std::move(answer->room);
      std::vector<json::object> states;
      if (auto* cs = entry->if_contains("children_state"); cs && cs->is_array())
        for (const auto& e : cs->as_array())
          if (e.is_object()) states.push_back(e.as_object());
      (*entry)["children_state"] = ordered_children(std::move(states), suggested_only);
      for (auto& [id, summary] : answer->children) remote_children.emplace(id, std::move(summary));
      hidden.insert(answer->inaccessible.begin(), answer->inaccessible.end());
    }
    auto c = ctx.db.acquire();
    if (!entry) return local ? from_local(*c, *local) : std::nullopt;
    if (!accessible(*c, *entry, user_id)) return std::nullopt;
    return entry;
  }

  std::optional<json::object> from_local(storage::connection& c, const room_summary& s) {
    auto entry = s.to_json(true);
    if (!accessible(c, entry, user_id)) return std::nullopt;
    entry["children_state"] = local_children(s, suggested_only);
    return entry;
  }
};

api_response hierarchy(runtime::handler_context& ctx, const api_request& req) {
  const auto& root_id = req.path_params.at(0);
  if (!protocol::is_valid_room_id(root_id)) throw protocol::errors::invalid_param("Invalid room id");
  size_t limit = limit_param(req, default_limit, max_limit);
  page_token params;
  params.suggested_only = bool_param(req, "suggested_only").value_or(false);
  if (auto d = int_param(req, "max_depth")) {
    if (*d < 0) throw protocol::errors::invalid_param("max_depth must be a non-negative integer");
    params.max_depth = std::min(*d, default_max_depth);
  }
  if (auto from = query_param(req, "from"); from && !from->empty()) {
    auto t = parse_token(*from);
    if (t.suggested_only != params.suggested_only || t.max_depth != params.max_depth)
      throw protocol::errors::invalid_param("suggested_only and max_depth cannot change on paginated requests");
    params.offset = t.offset;
  }

  walk w{ctx, req.user_id, params.suggested_only};
  // The root: this server's view when it knows the room, else its own server's.
  auto root = w.describe(root_id, {root_id.substr(root_id.find(':') + 1)});
  // An unknown room answers like an inaccessible one (the spec's 403 for both).
  if (!root) throw protocol::errors::forbidden("You are not allowed to view this room");

  struct queued {
    std::string room_id;
    int64_t depth;
    std::vector<std::string> via;
  };
  std::vector<queued> stack{{root_id, 0, {}}};
  std::set<std::string> seen;
  json::array rooms;
  size_t index = 0;  // rooms produced so far, including those of earlier pages
  bool more = false;
  while (!stack.empty() && seen.size() < max_rooms_walked) {
    auto next = std::move(stack.back());
    stack.pop_back();
    if (!seen.insert(next.room_id).second) continue;
    auto entry = next.room_id == root_id ? std::move(root) : w.describe(next.room_id, next.via);
    if (!entry) continue;
    if (index >= params.offset + limit) {
      more = true;
      break;
    }
    const auto& children = entry->at("children_state").as_array();
    if (next.depth < params.max_depth)
      for (auto it = children.rbegin(); it != children.rend(); ++it) {
        auto child_id = string_field(it->as_object(), "state_key");
        if (!seen.count(child_id)) stack.push_back({child_id, next.depth + 1, via_of(it->as_object())});
      }
    if (index >= params.offset) rooms.push_back(std::move(*entry));
    ++index;
  }
  json::object body{{"rooms", std::move(rooms)}};
  if (more) {
    page_token next = params;
    next.offset = index;
    body["next_batch"] = to_token(next);
  }
  return runtime::json_response(body);
}

// Whether another server may see a room in a hierarchy: world readable, joinable or knockable by
// anyone, or one of its users is in it (joined or invited).
bool server_may_see(storage::connection& c, const room_summary& s, const std::string& server) {
  if (s.world_readable()) return true;
  if (s.join_rule && (*s.join_rule == "public" || *s.join_rule == "knock" || *s.join_rule == "knock_restricted"))
    return true;
  return storage::events::server_has_member(c, s.room_id, server, {"join", "invite"});
}

// GET /_matrix/federation/v1/hierarchy/{roomId} (server-server "Spaces"): one room with its
// m.space.child events and the summaries of the children known here; the requesting server walks
// further itself. 404 for a room unknown here or hidden from it.
api_response federation_hierarchy(runtime::handler_context& ctx, const api_request& req) {
  auto origin = federation::authenticate_origin(ctx, req);
  const auto& root_id = req.path_params.at(0);
  bool suggested_only = bool_param(req, "suggested_only").value_or(false);
  auto c = ctx.db.acquire();
  auto root = rooms::summarize_room(*c, root_id);
  if (!root || !server_may_see(*c, *root, origin)) throw protocol::errors::not_found("Unknown room");
  auto entry = root->to_json(true);
  auto children = local_children(*root, suggested_only);
  json::array known, inaccessible;
  for (const auto& ch : children) {
    auto child_id = string_field(ch.as_object(), "state_key");
    auto s = rooms::summarize_room(*c, child_id);
    if (!s) continue;  // not known here: the asking server may know it from elsewhere
    if (server_may_see(*c, *s, origin))
      known.push_back(s->to_json(true));
    else
      inaccessible.emplace_back(child_id);
  }
  entry["children_state"] = std::move(children);
  return runtime::json_response(json::object{
      {"room", std::move(entry)}, {"children", std::move(known)}, {"inaccessible_children", std::move(inaccessible)}});
}

} // namespace

void register_hierarchy(runtime::endpoint_registry& r) {
  r.add({.name = "federation.hierarchy", .method = "GET", .path = "/_matrix/federation/v1/hierarchy/{roomId}",
         .auth = auth_mode::none},
        federation_hierarchy);
  r.add({.name = "rooms.hierarchy", .method = "GET", .path = "/_matrix/client/v1/rooms/{roomId}/hierarchy",
         .allow_guest = true},
        hierarchy);
}

} // namespace myelin::endpoints
