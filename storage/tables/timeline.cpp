#include "storage/tables/timeline.hpp"

#include <charconv>

// Outliers (events known only for auth or state, stored with a negative stream ordering by the
// federation persister) are never part of a timeline.
namespace myelin::storage::timeline {

namespace {
std::vector<events::event_row> rows(const result& r) {
  std::vector<events::event_row> out;
  out.reserve(r.size());
  for (size_t i = 0; i < r.size(); ++i) out.push_back(events::event_from(r[i]));
  return out;
}
} // namespace

std::vector<events::event_row> page(connection& c, const std::string& room_id, std::optional<point> from,
                                    bool backwards, size_t limit) {
  std::string sql = std::string("SELECT ") + events::event_columns + " FROM events WHERE room_id = $1 AND stream_ordering > 0";
  sql_params params{room_id};
  if (from) {
    // Row-value comparison keeps the (room_id, topological_ordering, stream_ordering) index usable.
    sql += backwards ? " AND (topological_ordering, stream_ordering) <= ($2, $3)"
                     : " AND (topological_ordering, stream_ordering) > ($2, $3)";
    params.push_back(from->topo);
    params.push_back(from->stream);
  }
  sql += backwards ? " ORDER BY topological_ordering DESC, stream_ordering DESC"
                   : " ORDER BY topological_ordering ASC, stream_ordering ASC";
  sql += " LIMIT " + std::to_string(limit);
  return rows(c.exec(sql, params));
}

std::optional<events::event_row> last_event_at(connection& c, const std::string& room_id, point p) {
  auto v = page(c, room_id, p, true, 1);
  if (v.empty()) return std::nullopt;
  return std::move(v.front());
}

std::optional<events::event_row> event_near_ts(connection& c, const std::string& room_id, int64_t ts, bool forwards) {
  std::string sql = std::string("SELECT ") + events::event_columns + " FROM events WHERE room_id = $1 AND stream_ordering > 0 AND origin_server_ts " +
                    (forwards ? ">= $2 ORDER BY origin_server_ts ASC, topological_ordering ASC"
                              : "<= $2 ORDER BY origin_server_ts DESC, topological_ordering DESC") +
                    " LIMIT 1";
  auto v = rows(c.exec(sql, {room_id, ts}));
  if (v.empty()) return std::nullopt;
  return std::move(v.front());
}

std::string to_token(point p) { return "t" + std::to_string(p.topo) + "_" + std::to_string(p.stream); }

std::optional<point> parse_token(std::string_view s) {
  if (s.size() < 4 || s[0] != 't') return std::nullopt;
  auto sep = s.find('_');
  if (sep == std::string_view::npos) return std::nullopt;
  point p;
  auto a = s.substr(1, sep - 1), b = s.substr(sep + 1);
  auto r1 = std::from_chars(a.data(), a.data() + a.size(), p.topo);
  auto r2 = std::from_chars(b.data(), b.data() + b.size(), p.stream);
  if (r1.ec != std::errc{} || r1.ptr != a.data() + a.size() || r2.ec != std::errc{} || r2.ptr != b.data() + b.size())
    return std::nullopt;
  return p;
}

} // namespace myelin::storage::timeline
