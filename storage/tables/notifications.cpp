#include "storage/tables/notifications.hpp"

#include "storage/tables/in_list.hpp"

namespace myelin::storage::notifications {

namespace {

// Whether the push action `ep` is read: a read receipt covering its thread (see the header) points
// at an event at or after it. Receipts are found by their primary key (room, type, user, thread).
constexpr const char* read_condition =
    "EXISTS (SELECT 1 FROM receipts r JOIN events re ON re.event_id = r.event_id"
    " WHERE r.room_id = ep.room_id AND r.user_id = ep.user_id"
    " AND r.receipt_type IN ('m.read', 'm.read.private')"
    " AND (r.thread_id = '' OR r.thread_id = CASE WHEN ep.thread_id = '' THEN 'main' ELSE ep.thread_id END)"
    " AND (re.topological_ordering > ep.topological_ordering"
    "  OR (re.topological_ordering = ep.topological_ordering AND re.stream_ordering >= ep.stream_ordering)))";

// The push actions that notify, without those of redacted events (a redaction takes the
// notification back, as in Synapse).
constexpr const char* notifying =
    "event_push_actions ep JOIN events pe ON pe.event_id = ep.event_id AND pe.redacted_by IS NULL AND ep.notif = 1 ";

constexpr size_t insert_columns = 10;
constexpr size_t max_rows_per_insert = 64;

// One INSERT of `count` rows starting at rows[start].
void insert_rows(connection& c, const std::vector<push_action>& rows, size_t start, size_t count) {
  std::string sql = "INSERT INTO event_push_actions (room_id, event_id, user_id, persister, stream_ordering, "
                    "topological_ordering, thread_id, notif, highlight, actions, ts) VALUES ";
  sql_params params;
  params.reserve(count * insert_columns);
  for (size_t i = 0; i < count; ++i) {
    const auto& a = rows[start + i];
    size_t p = i * insert_columns;
    sql += i ? ", (" : "(";
    for (size_t k = 1; k <= insert_columns; ++k) {
      sql += "$" + std::to_string(p + k) + (k == insert_columns ? ")" : ", ");
      if (k == 7) sql += "1, ";  // notif: only notifying actions are stored
    }
    params.insert(params.end(), {a.room_id, a.event_id, a.user_id, a.persister, a.stream_ordering,
                                 a.topological_ordering, a.thread_id, int64_t(a.highlight), a.actions, a.ts});
  }
  c.exec(sql, params);
}

} // namespace

void insert(connection& c, const std::vector<push_action>& rows) {
  // SQLite: one row per statement. A statement that writes several rows and may fail half way
  // makes SQLite keep a statement journal (the old content of every page it changes, written to a
  // temporary file), which cost more than the statements saved. A single-row INSERT needs none,
  // and SQLite statements are cheap calls, not round trips.
  if (c.kind() == dialect::sqlite) {
    for (size_t i = 0; i < rows.size(); ++i) insert_rows(c, rows, i, 1);
    return;
  }
  // PostgreSQL: each statement is a round trip. Statements of 64, 32, …, 1 rows (50 rows: 32 +
  // 16 + 2): a handful of statement texts serve every room size from the prepared-statement cache.
  size_t start = 0;
  for (size_t chunk = max_rows_per_insert; chunk > 0; chunk /= 2)
    while (rows.size() - start >= chunk) {
      insert_rows(c, rows, start, chunk);
      start += chunk;
    }
}

std::pair<int64_t, int64_t> unread_counts::totals() const {
  std::pair<int64_t, int64_t> t{notification_count, highlight_count};
  for (const auto& [root, counts] : threads) {
    t.first += counts.first;
    t.second += counts.second;
  }
  return t;
}

unread_counts unread_for(connection& c, const std::string& user_id, const std::string& room_id) {
  return std::move(unread_for_rooms(c, user_id, {room_id}).at(room_id));
}

std::map<std::string, unread_counts> unread_for_rooms(connection& c, const std::string& user_id,
                                                      const std::vector<std::string>& room_ids) {
  std::map<std::string, unread_counts> out;
  for (const auto& id : room_ids) out[id];
  for_each_chunk(room_ids, [&](std::vector<std::string>& chunk) {
    std::string sql = std::string("SELECT ep.room_id, ep.thread_id, COUNT(*), SUM(ep.highlight) FROM ") +
                      notifying + "WHERE ep.user_id = $1 AND ep.room_id IN (" + in_list(2, chunk) + ") AND NOT " +
                      read_condition + " GROUP BY ep.room_id, ep.thread_id";
    sql_params params{user_id};
    params.insert(params.end(), chunk.begin(), chunk.end());
    auto r = c.exec(sql, params);
    for (size_t i = 0; i < r.size(); ++i) {
      auto& counts = out[r[i].as_text(0)];
      const auto& thread = r[i].as_text(1);
      if (thread.empty()) {
        counts.notification_count = r[i].as_int(2);
        counts.highlight_count = r[i].as_int(3);
      } else {
        counts.threads[thread] = {r[i].as_int(2), r[i].as_int(3)};
      }
    }
  });
  return out;
}

std::string to_string(const page_token& t) {
  return std::to_string(t.ts) + "_" + std::to_string(t.stream_ordering) + "_" + t.persister;
}

std::optional<page_token> parse_page_token(std::string_view s) {
  auto number = [](std::string_view part) -> std::optional<int64_t> {
    if (part.empty() || part.size() > 18) return std::nullopt;
    int64_t v = 0;
    for (char ch : part) {
      if (ch < '0' || ch > '9') return std::nullopt;
      v = v * 10 + (ch - '0');
    }
    return v;
  };
  auto first = s.find('_');
  if (first == std::string_view::npos) return std::nullopt;
  auto second = s.find('_', first + 1);
  if (second == std::string_view::npos || second + 1 >= s.size()) return std::nullopt;
  auto ts = number(s.substr(0, first));
  auto stream = number(s.substr(first + 1, second - first - 1));
  if (!ts || !stream) return std::nullopt;
  return page_token{*ts, *stream, std::string(s.substr(second + 1))};
}

std::vector<notification> page(connection& c, const std::string& user_id, const std::optional<page_token>& from,
                               bool only_highlight, size_t limit) {
  std::string sql = std::string("SELECT ep.room_id, ep.event_id, ep.persister, ep.stream_ordering, "
                                "ep.topological_ordering, ep.thread_id, ep.highlight, ep.actions, ep.ts, "
                                "CASE WHEN ") + read_condition + " THEN 1 ELSE 0 END FROM " + notifying +
                    "WHERE ep.user_id = $1";
  sql_params params{user_id, int64_t(limit)};
  if (only_highlight) sql += " AND ep.highlight = 1";
  if (from) {
    sql += " AND (ep.ts < $3 OR (ep.ts = $3 AND (ep.persister < $4 OR (ep.persister = $4 AND ep.stream_ordering < $5))))";
    params.insert(params.end(), {from->ts, from->persister, from->stream_ordering});
  }
  sql += " ORDER BY ep.ts DESC, ep.persister DESC, ep.stream_ordering DESC LIMIT $2";
  auto r = c.exec(sql, params);
  std::vector<notification> out;
  for (size_t i = 0; i < r.size(); ++i) {
    notification n;
    n.action = {r[i].as_text(0), r[i].as_text(1), user_id,          r[i].as_text(2), r[i].as_int(3),
                r[i].as_int(4),  r[i].as_text(5), r[i].as_int(6) != 0, r[i].as_text(7), r[i].as_int(8)};
    n.read = r[i].as_int(9) != 0;
    out.push_back(std::move(n));
  }
  return out;
}

} // namespace myelin::storage::notifications
