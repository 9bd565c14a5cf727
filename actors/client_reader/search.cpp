// POST /search (spec: client-server "Server Side Search"), category room_events: full-text search
// over message bodies, room names and topics (event_search: tsvector on PostgreSQL, FTS5 on
// SQLite) in the rooms the user is or was in, ordered by rank or recency, with history
// visibility applied to every result and every context event.
//
// The search term is reduced to words (runs of letters and digits, any non-ASCII character
// counting as a letter) that must all occur as word prefixes, Synapse's behaviour. Nothing of the
// user's syntax reaches the database's query language, so quotes, '*', "AND (" or lone
// punctuation simply find what their words find, never a 500.
//
// next_batch: "k<offset>" when ordered by rank, "r<ts>_<stream>_<event id>" (where the previous
// page ended) when ordered by recency.
#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <map>
#include <set>

#include "actors/endpoint_helpers.hpp"
#include "actors/rooms/rooms.hpp"
#include "protocol/errors.hpp"
#include "protocol/event_filter.hpp"
#include "protocol/json.hpp"
#include "storage/tables/events.hpp"
#include "storage/tables/timeline.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
using storage::events::event_row;
namespace timeline = storage::timeline;

namespace {

constexpr size_t default_limit = 10;   // Synapse's default filter limit for search
constexpr size_t max_limit = 100;
constexpr size_t max_words = 16;
constexpr size_t max_word_bytes = 64;
constexpr int64_t max_context = 20;
constexpr size_t max_scan_rounds = 8;  // bound the work behind results the user may not see

const std::vector<std::string> all_keys{"content.body", "content.name", "content.topic"};

std::vector<std::string> words_of(const std::string& term) {
  std::vector<std::string> words;
  std::string current;
  auto flush = [&] {
    if (!current.empty() && words.size() < max_words) words.push_back(current.substr(0, max_word_bytes));
    current.clear();
  };
  for (char ch : term) {
    auto u = static_cast<unsigned char>(ch);
    if (u >= 0x80 || std::isalnum(u))
      current += ch;
    else
      flush();
  }
  flush();
  // A word cut inside a multi-byte character would be invalid UTF-8: drop the partial tail.
  for (auto& w : words)
    if (w.size() == max_word_bytes) {
      size_t end = w.size();
      while (end > 0 && (static_cast<unsigned char>(w[end - 1]) & 0xC0) == 0x80) --end;
      if (end > 0 && static_cast<unsigned char>(w[end - 1]) >= 0xC0) w.resize(end - 1);
    }
  return words;
}

struct criteria {
  std::string search_term;
  std::vector<std::string> keys = all_keys;
  protocol::room_event_filter filter;
  size_t limit = default_limit;
  bool by_rank = true;
  bool with_context = false;
  int64_t before_limit = 5, after_limit = 5;
  bool include_profile = false;
  std::set<std::string> group_by;  // "room_id", "sender"
};

int64_t context_limit(const json::object& o, const char* key) {
  auto v = protocol::opt_int(o, key).value_or(5);
  if (v < 0) throw protocol::errors::invalid_param(std::string(key) + " must not be negative");
  return std::min(v, max_context);
}

criteria parse_criteria(const json::object& room_events) {
  criteria c;
  c.search_term = protocol::req_string(room_events, "search_term");
  if (auto* keys = protocol::opt_array(room_events, "keys")) {
    c.keys.clear();
    for (const auto& k : *keys) {
      if (!k.is_string() || std::find(all_keys.begin(), all_keys.end(), k.as_string()) == all_keys.end())
        throw protocol::errors::invalid_param("keys may only hold content.body, content.name and content.topic");
      c.keys.emplace_back(k.as_string());
    }
  }
  if (auto* f = protocol::opt_object(room_events, "filter")) c.filter = protocol::parse_room_event_filter(*f);
  if (c.filter.limit) {
    if (*c.filter.limit <= 0) throw protocol::errors::invalid_param("filter.limit must be greater than zero");
    c.limit = std::min<size_t>(static_cast<size_t>(*c.filter.limit), max_limit);
  }
  auto order = protocol::opt_string(room_events, "order_by").value_or("rank");
  if (order != "rank" && order != "recent") throw protocol::errors::invalid_param("order_by must be rank or recent");
  c.by_rank = order == "rank";
  if (auto* ctx = protocol::opt_object(room_events, "event_context")) {
    c.with_context = true;
    c.before_limit = context_limit(*ctx, "before_limit");
    c.after_limit = context_limit(*ctx, "after_limit");
    c.include_profile = protocol::opt_bool(*ctx, "include_profile").value_or(false);
  }
  if (auto* groupings = protocol::opt_object(room_events, "groupings"))
    if (auto* group_by = protocol::opt_array(*groupings, "group_by"))
      for (const auto& g : *group_by) {
        if (!g.is_object()) throw protocol::errors::bad_json("group_by entries must be objects");
        auto key = protocol::req_string(g.as_object(), "key");
        if (key != "room_id" && key != "sender") throw protocol::errors::invalid_param("Unknown group_by key " + key);
        c.group_by.insert(key);
      }
  return c;
}

// Where a page starts: an offset into the ranking, or a point in the recency order.
struct page_start {
  size_t offset = 0;
  std::optional<storage::events::search_cursor> before;
};

page_start parse_next_batch(const std::string& token, bool by_rank) {
  auto bad = [] { return protocol::errors::invalid_param("Invalid next_batch token"); };
  page_start p;
  if (by_rank) {
    if (token.size() < 2 || token[0] != 'k') throw bad();
    auto [ptr, ec] = std::from_chars(token.data() + 1, token.data() + token.size(), p.offset);
    if (ec != std::errc{} || ptr != token.data() + token.size()) throw bad();
    return p;
  }
  if (token.size() < 6 || token[0] != 'r') throw bad();
  auto a = token.find('_');
  auto b = a == std::string::npos ? a : token.find('_', a + 1);
  if (b == std::string::npos) throw bad();
  storage::events::search_cursor cur;
  auto r1 = std::from_chars(token.data() + 1, token.data() + a, cur.origin_server_ts);
  auto r2 = std::from_chars(token.data() + a + 1, token.data() + b, cur.stream_ordering);
  if (r1.ec != std::errc{} || r1.ptr != token.data() + a || r2.ec != std::errc{} || r2.ptr != token.data() + b)
    throw bad();
  cur.event_id = token.substr(b + 1);
  if (cur.event_id.empty()) throw bad();
  p.before = std::move(cur);
  return p;
}

std::string next_batch_token(const page_start& p, bool by_rank) {
  if (by_rank) return "k" + std::to_string(p.offset);
  return "r" + std::to_string(p.before->origin_server_ts) + "_" + std::to_string(p.before->stream_ordering) + "_" +
         p.before->event_id;
}

struct found {
  event_row event;
  double rank = 0;
};

// Pages through the raw hits until `limit` visible, wanted events are found. `start` is advanced
// past every hit looked at; returns whether more hits may follow.
bool collect(storage::connection& c, const std::string& user_id, const criteria& cr,
             storage::events::search_query q, page_start& start, std::vector<found>& out) {
  bool more = false;
  for (size_t round = 0; round < max_scan_rounds && out.size() < cr.limit; ++round) {
    q.limit = std::max<size_t>(cr.limit * 2, 20);
    q.offset = start.offset;
    q.before = start.before;
    auto hits = storage::events::search_events(c, q);
    std::vector<std::string> ids;
    for (const auto& h : hits) ids.push_back(h.event_id);
    std::map<std::string, std::vector<event_row>> by_room;
    for (auto& e : storage::events::get_events(c, ids)) by_room[e.room_id].push_back(std::move(e));
    std::map<std::string, event_row> visible;
    for (auto& [room_id, events] : by_room)
      for (auto& e : rooms::filter_visible(c, room_id, user_id, std::move(events))) visible.emplace(e.event_id, e);
    size_t used = 0;
    for (const auto& h : hits) {
      if (out.size() >= cr.limit) break;
      ++used;
      ++start.offset;
      start.before = h.position;
      auto it = visible.find(h.event_id);
      if (it != visible.end() && rooms::matches_filter(cr.filter, it->second)) out.push_back({it->second, h.rank});
    }
    more = used < hits.size() || hits.size() == q.limit;
    if (!more) break;
  }
  return more;
}

json::object context_of(storage::connection& c, const event_row& e, const criteria& cr, const rooms::viewer& v) {
  std::vector<event_row> before, after;
  if (cr.before_limit > 0)
    before = rooms::filter_visible(
        c, e.room_id, v.user_id,
        timeline::page(c, e.room_id, timeline::before(e), true, static_cast<size_t>(cr.before_limit)));
  if (cr.after_limit > 0)
    after = rooms::filter_visible(
        c, e.room_id, v.user_id,
        timeline::page(c, e.room_id, timeline::after(e), false, static_cast<size_t>(cr.after_limit)));
  json::object ctx;
  ctx["events_before"] = rooms::client_events(c, before, v);
  ctx["events_after"] = rooms::client_events(c, after, v);
  ctx["start"] = timeline::to_token(before.empty() ? timeline::before(e) : timeline::before(before.back()));
  ctx["end"] = timeline::to_token(after.empty() ? timeline::after(e) : timeline::after(after.back()));
  if (cr.include_profile) {
    // The senders' member events as of the last event shown (Synapse's "historic" profiles).
    const event_row& last = after.empty() ? e : after.back();
    std::set<std::string> senders{e.sender};
    for (const auto& x : before) senders.insert(x.sender);
    for (const auto& x : after) senders.insert(x.sender);
    json::object profiles;
    if (last.state_group) {
      std::vector<storage::events::state_key_pair> keys;
      for (const auto& s : senders) keys.push_back({"m.room.member", s});
      std::vector<std::string> ids;
      for (const auto& [k, id] : storage::events::state_at_group_filtered(c, *last.state_group, keys))
        ids.push_back(id);
      for (const auto& m : storage::events::get_events(c, ids)) {
        json::object profile;
        if (!m.redacted_by) {
          auto content = rooms::content_of(m);
          for (const char* f : {"displayname", "avatar_url"})
            if (auto* val = content.if_contains(f); val && val->is_string()) profile[f] = *val;
        }
        if (m.state_key) profiles[*m.state_key] = std::move(profile);
      }
    }
    ctx["profile_info"] = std::move(profiles);
  }
  return ctx;
}

json::object search_room_events(storage::connection& c, const api_request& req, const criteria& cr,
                                const std::optional<std::string>& next_batch) {
  // The rooms the user is in or has been in (unless forgotten); visibility decides what of the
  // latter they see.
  auto forgotten_list = storage::events::forgotten_rooms(c, req.user_id);
  std::set<std::string> forgotten(forgotten_list.begin(), forgotten_list.end());
  std::vector<std::string> rooms;
  for (const char* m : {"join", "leave", "ban"})
    for (auto& r : storage::events::rooms_for_user(c, req.user_id, m))
      if (cr.filter.matches_room(r) && (std::string_view(m) == "join" || !forgotten.count(r)))
        rooms.push_back(std::move(r));

  storage::events::search_query q;
  q.words = words_of(cr.search_term);
  q.room_ids = rooms;
  q.keys = cr.keys;
  q.by_rank = cr.by_rank;
  page_start start;
  if (next_batch) start = parse_next_batch(*next_batch, cr.by_rank);

  std::vector<found> results;
  bool more = collect(c, req.user_id, cr, q, start, results);

  rooms::viewer v{req.user_id, req.device_id};
  std::vector<event_row> events;
  for (const auto& f : results) events.push_back(f.event);
  auto formatted = rooms::client_events(c, events, v);

  json::array out;
  std::map<std::string, json::object> groups;  // group key → value → group
  for (size_t i = 0; i < results.size(); ++i) {
    const auto& e = results[i].event;
    json::object item{{"rank", results[i].rank}, {"result", formatted.at(i)}};
    if (cr.with_context) item["context"] = context_of(c, e, cr, v);
    out.push_back(std::move(item));
    for (const auto& key : cr.group_by) {
      const std::string& value = key == "room_id" ? e.room_id : e.sender;
      auto& group = groups[key];
      auto* g = group.if_contains(value);
      if (!g) g = &(group[value] = json::object{{"results", json::array{}}, {"order", static_cast<int64_t>(i)}});
      g->as_object()["results"].as_array().emplace_back(e.event_id);
    }
  }

  json::array highlights;
  for (const auto& w : q.words) highlights.emplace_back(w);
  json::object body{{"results", std::move(out)},
                    {"count", storage::events::count_search_matches(c, q)},
                    {"highlights", std::move(highlights)}};
  if (!groups.empty()) {
    json::object g;
    for (auto& [k, v] : groups) g[k] = std::move(v);
    body["groups"] = std::move(g);
  }
  if (more && (cr.by_rank || start.before)) body["next_batch"] = next_batch_token(start, cr.by_rank);
  return body;
}

api_response search(runtime::handler_context& ctx, const api_request& req) {
  auto body = body_object(ctx, req);
  auto* categories = protocol::opt_object(body, "search_categories");
  if (!categories) throw protocol::errors::missing_param("Missing search_categories");
  json::object result_categories;
  if (auto* room_events = protocol::opt_object(*categories, "room_events")) {
    auto cr = parse_criteria(*room_events);
    auto next_batch = query_param(req, "next_batch");
    if (next_batch && next_batch->empty()) next_batch.reset();
    auto c = ctx.db.acquire();
    result_categories["room_events"] = search_room_events(*c, req, cr, next_batch);
  }
  return runtime::json_response(json::object{{"search_categories", std::move(result_categories)}});
}

} // namespace

void register_search(runtime::endpoint_registry& r) {
  r.add({.name = "search", .method = "POST", .path = "/_matrix/client/{:r0|v3}/search"}, search);
}

} // namespace myelin::endpoints
