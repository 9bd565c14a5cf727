#include "storage/tables/events.hpp"

#include <boost/json.hpp>

#include "common/clock.hpp"
#include "storage/tables/in_list.hpp"

namespace myelin::storage::events {

namespace {

// The recursive walk from a group to its snapshot root. `n` is the distance: for a key present in
// several groups of the chain the nearest (smallest n) wins. Each step is a scalar subquery on the
// primary key, not a join: PostgreSQL planned the join as a hash join over a sequential scan of
// every state group of the server, once per step (5 ms per lookup at 2,000 rooms, growing with
// the server).
constexpr const char* chain_cte =
    "WITH RECURSIVE chain(id, prev, n) AS ("
    "  SELECT id, prev_group, 0 FROM state_groups WHERE id = $1"
    "  UNION ALL SELECT chain.prev, (SELECT g.prev_group FROM state_groups g WHERE g.id = chain.prev), chain.n + 1"
    "  FROM chain WHERE chain.prev IS NOT NULL) ";

void collect_nearest(const result& r, state_ids& out) {
  // Rows are ordered by n ascending: the first value seen for a key is the newest.
  for (size_t i = 0; i < r.size(); ++i) out.emplace(state_key_pair{r[i].as_text(0), r[i].as_text(1)}, r[i].as_text(2));
}

} // namespace

const char* const event_columns =
    "event_id, room_id, persister, stream_ordering, topological_ordering, type, state_key, sender, "
    "origin_server_ts, membership, state_group, redacted_by, txn_id, txn_device_id, json";

event_row event_from(const row& r) {
  event_row e;
  e.event_id = r.as_text(0);
  e.room_id = r.as_text(1);
  e.persister = r.as_text(2);
  e.stream_ordering = r.as_int(3);
  e.topological_ordering = r.as_int(4);
  e.type = r.as_text(5);
  e.state_key = r.opt_text(6);
  e.sender = r.as_text(7);
  e.origin_server_ts = r.as_int(8);
  e.membership = r.opt_text(9);
  e.state_group = r.opt_int(10);
  e.redacted_by = r.opt_text(11);
  e.txn_id = r.opt_text(12);
  e.txn_device_id = r.opt_text(13);
  e.json = r.as_text(14);
  return e;
}

std::vector<event_row> event_rows(const result& r) {
  std::vector<event_row> out;
  out.reserve(r.size());
  for (size_t i = 0; i < r.size(); ++i) out.push_back(event_from(r[i]));
  return out;
}

// The same columns as event_columns, qualified with the alias `e` for joins.
std::string qualified_event_columns() {
  std::string out;
  std::string_view cols = event_columns;
  size_t start = 0;
  while (start < cols.size()) {
    size_t end = cols.find(", ", start);
    if (end == std::string_view::npos) end = cols.size();
    out += (out.empty() ? "e." : ", e.") + std::string(cols.substr(start, end - start));
    start = end + 2;
  }
  return out;
}

std::optional<room_row> get_room(connection& c, const std::string& room_id) {
  auto r = c.exec("SELECT room_id, room_version, creator, is_public, created_ts FROM rooms WHERE room_id = $1",
                  {room_id});
  if (r.empty()) return std::nullopt;
  return room_row{r[0].as_text(0), r[0].as_text(1), r[0].as_text(2), r[0].as_int(3) != 0, r[0].as_int(4)};
}

std::optional<room_head> get_room_head(connection& c, const std::string& room_id) {
  auto r = c.exec("SELECT room_id, forward_extremities, depth, state_group, last_persister, last_stream_ordering, "
                  "bump_stamp FROM room_heads WHERE room_id = $1",
                  {room_id});
  if (r.empty()) return std::nullopt;
  room_head h;
  h.room_id = r[0].as_text(0);
  auto ext = boost::json::parse(r[0].as_text(1));
  for (const auto& v : ext.as_array()) h.forward_extremities.emplace_back(v.as_string());
  h.depth = r[0].as_int(2);
  h.state_group = r[0].opt_int(3);
  h.last_persister = r[0].as_text(4);
  h.last_stream_ordering = r[0].as_int(5);
  h.bump_stamp = r[0].as_int(6);
  return h;
}

std::vector<event_row> events_after(connection& c, const std::string& persister, int64_t after, size_t limit) {
  return event_rows(c.exec(std::string("SELECT ") + event_columns +
                               " FROM events WHERE persister = $1 AND stream_ordering > $2 "
                               "ORDER BY stream_ordering LIMIT $3",
                           {persister, after, static_cast<int64_t>(limit)}));
}

std::optional<event_row> get_event(connection& c, const std::string& event_id) {
  auto r = c.exec(std::string("SELECT ") + event_columns + " FROM events WHERE event_id = $1", {event_id});
  if (r.empty()) return std::nullopt;
  return event_from(r[0]);
}

std::vector<event_row> get_events(connection& c, const std::vector<std::string>& event_ids) {
  std::vector<event_row> out;
  for (size_t start = 0; start < event_ids.size(); start += max_in_list) {
    std::vector<std::string> chunk(event_ids.begin() + start,
                                   event_ids.begin() + std::min(event_ids.size(), start + max_in_list));
    std::string sql = std::string("SELECT ") + event_columns + " FROM events WHERE event_id IN (" + in_list(1, chunk) + ")";
    sql_params params(chunk.begin(), chunk.end());
    auto r = c.exec(sql, params);
    for (size_t i = 0; i < r.size(); ++i) out.push_back(event_from(r[i]));
  }
  return out;
}

state_ids state_at_group(connection& c, int64_t state_group) {
  auto r = c.exec(std::string(chain_cte) +
                      "SELECT e.type, e.state_key, e.event_id FROM chain JOIN state_group_entries e "
                      "ON e.state_group = chain.id ORDER BY chain.n",
                  {state_group});
  state_ids out;
  collect_nearest(r, out);
  return out;
}

state_ids state_at_group_filtered(connection& c, int64_t state_group, const std::vector<state_key_pair>& keys,
                                  const std::vector<std::string>& whole_types) {
  // Few keys are asked for at a time (visibility: history_visibility + one member); one query per
  // key keeps each statement simple and indexed by the primary key.
  state_ids out;
  // The key's entry in each group of the chain, by primary key (a join would scan the entries).
  std::string sql = std::string(chain_cte) +
                    "SELECT x.event_id FROM (SELECT chain.n, (SELECT e.event_id FROM state_group_entries e "
                    "WHERE e.state_group = chain.id AND e.type = $2 AND e.state_key = $3) AS event_id FROM chain) x "
                    "WHERE x.event_id IS NOT NULL ORDER BY x.n LIMIT 1";
  for (const auto& k : keys) {
    auto r = c.exec(sql, {state_group, k.first, k.second});
    if (!r.empty()) out.emplace(state_key_pair{k.first, k.second}, r[0].as_text(0));
  }
  std::string by_type = std::string(chain_cte) +
                        "SELECT e.type, e.state_key, e.event_id FROM chain JOIN state_group_entries e "
                        "ON e.state_group = chain.id WHERE e.type = $2 ORDER BY chain.n";
  for (const auto& t : whole_types) collect_nearest(c.exec(by_type, {state_group, t}), out);
  return out;
}

std::optional<std::string> current_state_event_id(connection& c, const std::string& room_id, const std::string& type,
                                                  const std::string& state_key) {
  auto r = c.exec("SELECT event_id FROM current_state_events WHERE room_id = $1 AND type = $2 AND state_key = $3",
                  {room_id, type, state_key});
  if (r.empty()) return std::nullopt;
  return r[0].as_text(0);
}

std::vector<event_row> member_events_at(connection& c, int64_t state_group, const std::set<std::string>& users) {
  if (users.empty()) return {};
  std::vector<state_key_pair> keys;
  for (const auto& u : users) keys.push_back({"m.room.member", u});
  std::vector<std::string> ids;
  for (const auto& [key, id] : state_at_group_filtered(c, state_group, keys)) ids.push_back(id);
  return get_events(c, ids);
}

state_ids current_state(connection& c, const std::string& room_id) {
  auto r = c.exec("SELECT type, state_key, event_id FROM current_state_events WHERE room_id = $1", {room_id});
  state_ids out;
  for (size_t i = 0; i < r.size(); ++i) out.emplace(state_key_pair{r[i].as_text(0), r[i].as_text(1)}, r[i].as_text(2));
  return out;
}

std::optional<std::string> current_membership(connection& c, const std::string& room_id, const std::string& user_id) {
  auto r = c.exec("SELECT membership FROM current_state_events WHERE room_id = $1 AND type = 'm.room.member' "
                  "AND state_key = $2",
                  {room_id, user_id});
  if (r.empty()) return std::nullopt;
  return r[0].opt_text(0);
}

bool server_has_member(connection& c, const std::string& room_id, const std::string& server_name,
                       std::initializer_list<std::string_view> memberships) {
  if (memberships.size() == 0) return false;
  // The name is matched literally: '_' and '%' are LIKE wildcards, and '_' is common in host names.
  std::string pattern = "%:";
  for (char ch : server_name) {
    if (ch == '\\' || ch == '%' || ch == '_') pattern += '\\';
    pattern += ch;
  }
  sql_params params{room_id, pattern};
  std::string in;
  for (auto m : memberships) {
    params.emplace_back(std::string(m));
    in += (in.empty() ? "$" : ", $") + std::to_string(params.size());
  }
  return !c.exec("SELECT 1 FROM current_state_events WHERE room_id = $1 AND type = 'm.room.member' "
                 "AND state_key LIKE $2 ESCAPE '\\' AND membership IN (" + in + ") LIMIT 1",
                 params)
              .empty();
}

std::vector<std::string> rooms_for_user(connection& c, const std::string& user_id, const std::string& membership) {
  auto r = c.exec("SELECT room_id FROM current_state_events WHERE type = 'm.room.member' AND state_key = $1 "
                  "AND membership = $2 ORDER BY room_id",
                  {user_id, membership});
  std::vector<std::string> out;
  for (size_t i = 0; i < r.size(); ++i) out.push_back(r[i].as_text(0));
  return out;
}

std::optional<std::string> event_for_txn(connection& c, const std::string& room_id, const std::string& user_id,
                                         const std::string& device_id, const std::string& scope,
                                         const std::string& txn_id) {
  auto r = c.exec(scope == "redact"
                      ? "SELECT event_id FROM events WHERE room_id = $1 AND sender = $2 AND txn_id = $4 "
                        "AND txn_device_id = $3 AND type = 'm.room.redaction'"
                      : "SELECT event_id FROM events WHERE room_id = $1 AND sender = $2 AND txn_id = $4 "
                        "AND txn_device_id = $3 AND type <> 'm.room.redaction'",
                  {room_id, user_id, device_id, txn_id});
  if (r.empty()) return std::nullopt;
  return r[0].as_text(0);
}

std::optional<std::string> room_for_alias(connection& c, const std::string& alias) {
  auto r = c.exec("SELECT room_id FROM room_aliases WHERE room_alias = $1", {alias});
  if (r.empty()) return std::nullopt;
  return r[0].as_text(0);
}

std::vector<std::string> aliases_for_room(connection& c, const std::string& room_id) {
  auto r = c.exec("SELECT room_alias FROM room_aliases WHERE room_id = $1 ORDER BY room_alias", {room_id});
  std::vector<std::string> out;
  for (size_t i = 0; i < r.size(); ++i) out.push_back(r[i].as_text(0));
  return out;
}

// ---- writes ----

void insert_room(connection& c, const room_row& r) {
  c.exec("INSERT INTO rooms (room_id, room_version, creator, is_public, created_ts) VALUES ($1, $2, $3, $4, $5)",
         {r.room_id, r.room_version, r.creator, int64_t(r.is_public), r.created_ts ? r.created_ts : now_ms()});
}

void upsert_room_head(connection& c, const room_head& h) {
  boost::json::array ext;
  for (const auto& e : h.forward_extremities) ext.emplace_back(e);
  c.exec("INSERT INTO room_heads (room_id, forward_extremities, depth, state_group, last_persister, "
         "last_stream_ordering, bump_stamp) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (room_id) DO UPDATE SET "
         "forward_extremities = excluded.forward_extremities, depth = excluded.depth, "
         "state_group = excluded.state_group, last_persister = excluded.last_persister, "
         "last_stream_ordering = excluded.last_stream_ordering, bump_stamp = excluded.bump_stamp",
         {h.room_id, boost::json::serialize(ext), h.depth, nullable(h.state_group), h.last_persister,
          h.last_stream_ordering, h.bump_stamp});
}

void insert_event(connection& c, const event_row& e) {
  c.exec("INSERT INTO events (event_id, room_id, persister, stream_ordering, topological_ordering, type, state_key, "
         "sender, origin_server_ts, membership, state_group, redacted_by, txn_id, txn_device_id, json) "
         "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
         {e.event_id, e.room_id, e.persister, e.stream_ordering, e.topological_ordering, e.type, nullable(e.state_key),
          e.sender, e.origin_server_ts, nullable(e.membership), nullable(e.state_group), nullable(e.redacted_by), nullable(e.txn_id),
          nullable(e.txn_device_id), e.json});
}

int64_t add_state_group(connection& c, const std::string& room_id, const std::string& event_id,
                        std::optional<int64_t> prev_group, const state_ids& changes, int max_delta_chain) {
  int64_t delta_depth = 0;
  if (prev_group) {
    auto r = c.exec("SELECT delta_depth FROM state_groups WHERE id = $1", {*prev_group});
    delta_depth = r.empty() ? max_delta_chain : r[0].as_int(0) + 1;
  }
  bool snapshot = !prev_group || delta_depth >= max_delta_chain;
  state_ids entries = changes;
  if (snapshot && prev_group) {
    auto full = state_at_group(c, *prev_group);
    for (auto& [k, v] : changes) full[k] = v;
    entries = std::move(full);
  }
  auto r = c.exec("INSERT INTO state_groups (room_id, event_id, prev_group, delta_depth) VALUES ($1, $2, $3, $4) "
                  "RETURNING id",
                  {room_id, event_id, snapshot ? sql_value(nullptr) : sql_value(*prev_group),
                   snapshot ? int64_t(0) : delta_depth});
  int64_t id = r[0].as_int(0);
  for (const auto& [k, v] : entries)
    c.exec("INSERT INTO state_group_entries (state_group, type, state_key, event_id) VALUES ($1, $2, $3, $4)",
           {id, k.first, k.second, v});
  return id;
}

void set_current_state(connection& c, const std::string& room_id, const std::string& type,
                       const std::string& state_key, const std::string& event_id,
                       const std::optional<std::string>& membership) {
  c.exec("INSERT INTO current_state_events (room_id, type, state_key, event_id, membership) VALUES ($1, $2, $3, $4, $5) "
         "ON CONFLICT (room_id, type, state_key) DO UPDATE SET event_id = excluded.event_id, "
         "membership = excluded.membership",
         {room_id, type, state_key, event_id, nullable(membership)});
}

void insert_relation(connection& c, const std::string& event_id, const std::string& room_id,
                     const std::string& relates_to, const std::string& rel_type,
                     const std::optional<std::string>& aggregation_key) {
  c.exec("INSERT INTO event_relations (event_id, room_id, relates_to_id, rel_type, aggregation_key) "
         "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING",
         {event_id, room_id, relates_to, rel_type, nullable(aggregation_key)});
}

void insert_redaction(connection& c, const std::string& event_id, const std::string& redacts,
                      const std::string& room_id) {
  c.exec("INSERT INTO redactions (event_id, redacts, room_id) VALUES ($1, $2, $3) ON CONFLICT (event_id) DO NOTHING",
         {event_id, redacts, room_id});
  // The first redaction wins; redacting twice changes nothing for clients.
  c.exec("UPDATE events SET redacted_by = $1 WHERE event_id = $2 AND redacted_by IS NULL", {event_id, redacts});
  // Redacted text must not stay searchable.
  c.exec("DELETE FROM event_search WHERE event_id = $1", {redacts});
}

void insert_search_entry(connection& c, const event_row& e, const std::string& key, const std::string& body) {
  if (c.kind() == dialect::postgres) {
    c.exec("INSERT INTO event_search (event_id, room_id, sender, key, body, origin_server_ts, topological_ordering, "
           "stream_ordering, vector) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, to_tsvector('english', $5)) "
           "ON CONFLICT (event_id) DO NOTHING",
           {e.event_id, e.room_id, e.sender, key, body, e.origin_server_ts, e.topological_ordering,
            e.stream_ordering});
  } else {
    c.exec("INSERT INTO event_search (body, event_id, room_id, sender, key, origin_server_ts, topological_ordering, "
           "stream_ordering) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
           {body, e.event_id, e.room_id, e.sender, key, e.origin_server_ts, e.topological_ordering,
            e.stream_ordering});
  }
}


// ---- reads for directory/search/relations ----

namespace {

// A list parameter as one JSON array, unpacked by the database: one statement text whatever the
// list's length (search can span thousands of rooms).
std::string json_list(const std::vector<std::string>& values) {
  boost::json::array a;
  for (const auto& v : values) a.emplace_back(v);
  return boost::json::serialize(a);
}

std::string in_json_list(connection& c, const std::string& param) {
  return c.kind() == dialect::postgres ? "(SELECT json_array_elements_text(" + param + "::json))"
                                       : "(SELECT value FROM json_each(" + param + "))";
}

} // namespace

std::vector<event_row> current_state_of_types(connection& c, const std::string& room_id,
                                              const std::vector<std::string>& types) {
  if (types.empty()) return {};
  auto r = c.exec("SELECT " + qualified_event_columns() +
                      " FROM current_state_events cs JOIN events e ON e.event_id = cs.event_id "
                      "WHERE cs.room_id = $1 AND cs.type IN " + in_json_list(c, "$2") +
                      " ORDER BY cs.type, cs.state_key",
                  {room_id, json_list(types)});
  return event_rows(r);
}

std::vector<event_row> current_state_in_all_rooms(connection& c, const std::string& type) {
  auto r = c.exec("SELECT " + qualified_event_columns() +
                      " FROM current_state_events cs JOIN events e ON e.event_id = cs.event_id "
                      "WHERE cs.type = $1 AND cs.state_key = ''",
                  {type});
  return event_rows(r);
}

int64_t joined_member_count(connection& c, const std::string& room_id) {
  auto r = c.exec("SELECT COUNT(*) FROM current_state_events WHERE room_id = $1 AND type = 'm.room.member' "
                  "AND membership = 'join'",
                  {room_id});
  return r.empty() ? 0 : r[0].as_int(0);
}

std::optional<alias_row> get_alias(connection& c, const std::string& room_alias) {
  auto r = c.exec("SELECT room_alias, room_id, creator FROM room_aliases WHERE room_alias = $1", {room_alias});
  if (r.empty()) return std::nullopt;
  return alias_row{r[0].as_text(0), r[0].as_text(1), r[0].as_text(2)};
}

std::vector<std::string> published_rooms(connection& c) {
  auto r = c.exec("SELECT room_id FROM rooms WHERE is_public <> 0 ORDER BY room_id");
  std::vector<std::string> out;
  for (size_t i = 0; i < r.size(); ++i) out.push_back(r[i].as_text(0));
  return out;
}

std::vector<event_row> relations_page(connection& c, const std::string& room_id, const std::string& parent_id,
                                      const std::optional<std::string>& rel_type,
                                      const std::optional<std::string>& event_type,
                                      std::optional<topo_position> from, bool backwards, size_t limit) {
  std::string sql = "SELECT " + qualified_event_columns() +
                    " FROM event_relations r JOIN events e ON e.event_id = r.event_id "
                    "WHERE r.relates_to_id = $1 AND r.room_id = $2 AND e.redacted_by IS NULL";
  sql_params params{parent_id, room_id};
  auto bind = [&](sql_value v) {
    params.push_back(std::move(v));
    return "$" + std::to_string(params.size());
  };
  if (rel_type) sql += " AND r.rel_type = " + bind(*rel_type);
  if (event_type) sql += " AND e.type = " + bind(*event_type);
  if (from) {
    std::string topo = bind(from->first), stream = bind(from->second);
    sql += backwards ? " AND (e.topological_ordering, e.stream_ordering) <= (" + topo + ", " + stream + ")"
                     : " AND (e.topological_ordering, e.stream_ordering) > (" + topo + ", " + stream + ")";
  }
  sql += backwards ? " ORDER BY e.topological_ordering DESC, e.stream_ordering DESC"
                   : " ORDER BY e.topological_ordering ASC, e.stream_ordering ASC";
  sql += " LIMIT " + std::to_string(limit);
  return event_rows(c.exec(sql, params));
}

std::vector<thread_root> thread_roots(connection& c, const std::string& room_id,
                                      const std::optional<std::string>& participant,
                                      const std::optional<thread_root>& before, size_t limit) {
  std::string sql =
      "SELECT r.relates_to_id, MAX(e.topological_ordering) AS latest FROM event_relations r "
      "JOIN events e ON e.event_id = r.event_id "
      "WHERE r.room_id = $1 AND r.rel_type = 'm.thread' AND e.redacted_by IS NULL "
      "GROUP BY r.relates_to_id HAVING 1 = 1";
  sql_params params{room_id};
  if (participant) {
    params.push_back(*participant);
    sql += " AND (MAX(CASE WHEN e.sender = $2 THEN 1 ELSE 0 END) = 1 OR EXISTS (SELECT 1 FROM events root "
           "WHERE root.event_id = r.relates_to_id AND root.sender = $2))";
  }
  if (before) {
    std::string t = "$" + std::to_string(params.size() + 1), id = "$" + std::to_string(params.size() + 2);
    params.push_back(before->latest_topo);
    params.push_back(before->root_id);
    sql += " AND (MAX(e.topological_ordering) < " + t + " OR (MAX(e.topological_ordering) = " + t +
           " AND r.relates_to_id < " + id + "))";
  }
  sql += " ORDER BY latest DESC, r.relates_to_id DESC LIMIT " + std::to_string(limit);
  auto r = c.exec(sql, params);
  std::vector<thread_root> out;
  for (size_t i = 0; i < r.size(); ++i) out.push_back({r[i].as_text(0), r[i].as_int(1)});
  return out;
}

thread_stats thread_summary(connection& c, const std::string& root_id, const std::string& user_id) {
  auto r = c.exec("SELECT COUNT(*), COALESCE(MAX(CASE WHEN e.sender = $2 THEN 1 ELSE 0 END), 0) "
                  "FROM event_relations r JOIN events e ON e.event_id = r.event_id "
                  "WHERE r.relates_to_id = $1 AND r.rel_type = 'm.thread' AND e.redacted_by IS NULL",
                  {root_id, user_id});
  if (r.empty()) return {};
  return {r[0].as_int(0), r[0].as_int(1) != 0};
}

std::vector<event_row> thread_latest_replies(connection& c, const std::string& root_id, size_t limit) {
  auto r = c.exec("SELECT " + qualified_event_columns() +
                      " FROM event_relations r JOIN events e ON e.event_id = r.event_id "
                      "WHERE r.relates_to_id = $1 AND r.rel_type = 'm.thread' AND e.redacted_by IS NULL "
                      "ORDER BY e.topological_ordering DESC, e.stream_ordering DESC LIMIT " + std::to_string(limit),
                  {root_id});
  return event_rows(r);
}

std::vector<event_row> events_by_ts(connection& c, const std::string& room_id, int64_t ts, bool forwards,
                                    size_t offset, size_t limit) {
  std::string sql = "SELECT " + std::string(event_columns) + " FROM events WHERE room_id = $1 AND stream_ordering > 0 AND origin_server_ts " +
                    (forwards ? ">= $2 ORDER BY origin_server_ts ASC, topological_ordering ASC, stream_ordering ASC"
                              : "<= $2 ORDER BY origin_server_ts DESC, topological_ordering DESC, "
                                "stream_ordering DESC") +
                    " LIMIT " + std::to_string(limit) + " OFFSET " + std::to_string(offset);
  return event_rows(c.exec(sql, {room_id, ts}));
}

std::vector<std::string> forgotten_rooms(connection& c, const std::string& user_id) {
  auto r = c.exec("SELECT room_id FROM room_forgotten WHERE user_id = $1 ORDER BY room_id", {user_id});
  std::vector<std::string> out;
  for (size_t i = 0; i < r.size(); ++i) out.push_back(r[i].as_text(0));
  return out;
}

namespace {

// The words as the engine's query language, every word quoted or reduced to characters that
// carry no syntax, so no user input can make the query fail.
std::string match_expression(connection& c, const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    if (c.kind() == dialect::postgres) {
      // Words hold only letters, digits, '_' and non-ASCII bytes: none is tsquery syntax.
      out += (out.empty() ? "" : " & ") + w + ":*";
    } else {
      std::string quoted = "\"";
      for (char ch : w) quoted += ch == '"' ? std::string("\"\"") : std::string(1, ch);
      out += (out.empty() ? "" : " ") + quoted + "\"*";
    }
  }
  return out;
}

// FROM/WHERE shared by the search and its count: $1 the query, $2 the rooms, $3 the keys.
std::string search_from_where(connection& c) {
  if (c.kind() == dialect::postgres)
    return " FROM event_search, to_tsquery('english', $1) AS q WHERE vector @@ q AND room_id IN " +
           in_json_list(c, "$2") + " AND key IN " + in_json_list(c, "$3");
  return " FROM event_search WHERE event_search MATCH $1 AND room_id IN " + in_json_list(c, "$2") +
         " AND key IN " + in_json_list(c, "$3");
}

} // namespace

std::vector<search_hit> search_events(connection& c, const search_query& q) {
  if (q.words.empty() || q.room_ids.empty() || q.keys.empty()) return {};
  bool pg = c.kind() == dialect::postgres;
  std::string sql = std::string("SELECT event_id, room_id, ") +
                    (pg ? "ts_rank(vector, q)" : "-bm25(event_search)") +
                    ", origin_server_ts, stream_ordering" + search_from_where(c);
  sql_params params{match_expression(c, q.words), json_list(q.room_ids), json_list(q.keys)};
  if (q.by_rank) {
    sql += pg ? " ORDER BY ts_rank(vector, q) DESC" : " ORDER BY bm25(event_search)";
    sql += ", origin_server_ts DESC, event_id DESC LIMIT " + std::to_string(q.limit) + " OFFSET " +
           std::to_string(q.offset);
  } else {
    if (q.before) {
      sql += " AND (origin_server_ts, stream_ordering, event_id) < ($4, $5, $6)";
      params.push_back(q.before->origin_server_ts);
      params.push_back(q.before->stream_ordering);
      params.push_back(q.before->event_id);
    }
    sql += " ORDER BY origin_server_ts DESC, stream_ordering DESC, event_id DESC LIMIT " + std::to_string(q.limit);
  }
  auto r = c.exec(sql, params);
  std::vector<search_hit> out;
  out.reserve(r.size());
  for (size_t i = 0; i < r.size(); ++i)
    out.push_back({r[i].as_text(0), r[i].as_text(1), r[i].as_double(2),
                   search_cursor{r[i].as_int(3), r[i].as_int(4), r[i].as_text(0)}});
  return out;
}

int64_t count_search_matches(connection& c, const search_query& q) {
  if (q.words.empty() || q.room_ids.empty() || q.keys.empty()) return 0;
  auto r = c.exec("SELECT COUNT(*)" + search_from_where(c),
                  {match_expression(c, q.words), json_list(q.room_ids), json_list(q.keys)});
  return r.empty() ? 0 : r[0].as_int(0);
}

std::vector<directory_member> directory_members_matching(connection& c, const std::string& pattern,
                                                         size_t max_rows) {
  auto r = c.exec("SELECT m.state_key, m.room_id, p.displayname, p.avatar_url FROM current_state_events m "
                  "LEFT JOIN profiles p ON p.user_id = m.state_key "
                  "LEFT JOIN users u ON u.user_id = m.state_key "
                  "WHERE m.type = 'm.room.member' AND m.membership = 'join' "
                  "AND (u.deactivated IS NULL OR u.deactivated = 0) "
                  "AND (lower(m.state_key) LIKE $1 ESCAPE '\\' OR lower(p.displayname) LIKE $1 ESCAPE '\\') "
                  "ORDER BY m.state_key, m.room_id LIMIT " + std::to_string(max_rows),
                  {pattern});
  std::vector<directory_member> out;
  out.reserve(r.size());
  for (size_t i = 0; i < r.size(); ++i)
    out.push_back({r[i].as_text(0), r[i].as_text(1), r[i].opt_text(2), r[i].opt_text(3)});
  return out;
}

} // namespace myelin::storage::events
