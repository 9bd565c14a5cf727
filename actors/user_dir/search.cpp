// POST /user_directory/search (spec: client-server "User directory"): users whose id or display
// name contains the search term (ASCII case-insensitively) among those the searcher may discover,
// Synapse's default rule: users who share a room with the searcher, and users joined to a public
// room (join rule public). Deactivated users are never returned. Computed from current room
// state and profiles at query time, so it is never stale.
#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <set>

#include "actors/endpoint_helpers.hpp"
#include "actors/rooms/rooms.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "storage/tables/events.hpp"

namespace myelin::endpoints {

namespace json = boost::json;

namespace {

constexpr int64_t default_limit = 10;
constexpr int64_t max_limit = 100;
// Rows (user, room) looked at for one search; a very short term on a big server stops here.
constexpr size_t max_candidate_rows = 10000;

std::string ascii_lower(std::string s) {
  for (auto& ch : s)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  return s;
}

// "%term%" with LIKE's wildcards in the term escaped ('\' is the escape character).
std::string contains_pattern(const std::string& term) {
  std::string p = "%";
  for (char ch : term) {
    if (ch == '%' || ch == '_' || ch == '\\') p += '\\';
    p += ch;
  }
  return p + "%";
}

bool is_public_room(storage::connection& c, const std::string& room_id) {
  for (const auto& e : storage::events::current_state_of_types(c, room_id, {"m.room.join_rules"})) {
    if (e.redacted_by) continue;
    auto content = rooms::content_of(e);
    auto* rule = content.if_contains("join_rule");
    if (rule && rule->is_string() && rule->as_string() == "public") return true;
  }
  return false;
}

struct match {
  std::string user_id;
  std::optional<std::string> displayname;
  std::optional<std::string> avatar_url;
  bool prefix = false;  // the term starts the localpart or the display name: shown first
};

api_response search(runtime::handler_context& ctx, const api_request& req) {
  auto body = body_object(ctx, req);
  auto term = protocol::req_string(body, "search_term");
  auto limit = protocol::opt_int(body, "limit").value_or(default_limit);
  if (limit < 0) throw protocol::errors::invalid_param("limit must not be negative");
  limit = std::min(limit, max_limit);

  // Trim: clients send what the user typed.
  auto first = term.find_first_not_of(" \t\n\r");
  term = first == std::string::npos ? "" : term.substr(first, term.find_last_not_of(" \t\n\r") - first + 1);
  if (term.empty()) return runtime::json_response(json::object{{"results", json::array{}}, {"limited", false}});
  auto needle = ascii_lower(term);

  auto c = ctx.db.acquire();
  auto rows = storage::events::directory_members_matching(*c, contains_pattern(needle), max_candidate_rows);
  auto mine = storage::events::rooms_for_user(*c, req.user_id, "join");
  std::set<std::string> shared(mine.begin(), mine.end());
  std::map<std::string, bool> public_rooms;  // room → join rule public, looked up once per room

  std::map<std::string, match> found;
  for (const auto& r : rows) {
    if (found.count(r.user_id)) continue;
    bool discoverable = shared.count(r.room_id) > 0;
    if (!discoverable) {
      auto it = public_rooms.find(r.room_id);
      if (it == public_rooms.end()) it = public_rooms.emplace(r.room_id, is_public_room(*c, r.room_id)).first;
      discoverable = it->second;
    }
    if (!discoverable) continue;
    match m{r.user_id, r.displayname, r.avatar_url};
    auto localpart = ascii_lower(r.user_id.substr(1));
    m.prefix = localpart.rfind(needle, 0) == 0 || (r.displayname && ascii_lower(*r.displayname).rfind(needle, 0) == 0);
    found.emplace(r.user_id, std::move(m));
  }

  std::vector<match> ordered;
  for (auto& [id, m] : found) ordered.push_back(std::move(m));
  std::stable_sort(ordered.begin(), ordered.end(), [](const match& a, const match& b) {
    if (a.prefix != b.prefix) return a.prefix;
    auto key = [](const match& m) { return ascii_lower(m.displayname.value_or(m.user_id.substr(1))); };
    return key(a) < key(b);
  });

  json::array results;
  for (size_t i = 0; i < ordered.size() && i < static_cast<size_t>(limit); ++i) {
    json::object o{{"user_id", ordered[i].user_id}};
    if (ordered[i].displayname) o["display_name"] = *ordered[i].displayname;
    if (ordered[i].avatar_url) o["avatar_url"] = *ordered[i].avatar_url;
    results.push_back(std::move(o));
  }
  bool limited = ordered.size() > static_cast<size_t>(limit) || rows.size() >= max_candidate_rows;
  return runtime::json_response(json::object{{"results", std::move(results)}, {"limited", limited}});
}

} // namespace

void register_user_directory(runtime::endpoint_registry& r) {
  r.add({.name = "user_directory.search", .method = "POST", .path = "/_matrix/client/{:r0|v3}/user_directory/search"},
        search);
}

} // namespace myelin::endpoints
