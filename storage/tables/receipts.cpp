#include "storage/tables/receipts.hpp"

#include <boost/json.hpp>

#include "storage/tables/in_list.hpp"

namespace myelin::storage::receipts {

namespace {

constexpr const char* columns = "r.room_id, r.receipt_type, r.user_id, r.thread_id, r.event_id, r.data, r.position";

receipt receipt_from(const row& r) {
  return {r.as_text(0), r.as_text(1), r.as_text(2), r.as_text(3), r.as_text(4), r.as_text(5), r.as_int(6)};
}

} // namespace

std::vector<receipt> changed(connection& c, const std::vector<std::string>& room_ids, int64_t after, int64_t upto) {
  std::vector<receipt> out;
  for (size_t start = 0; start < room_ids.size(); start += max_in_list) {
    std::vector<std::string> chunk(room_ids.begin() + start,
                                   room_ids.begin() + std::min(room_ids.size(), start + max_in_list));
    std::string sql = std::string("SELECT ") + columns +
                      " FROM receipts r WHERE r.position > $1 AND r.position <= $2 AND r.room_id IN (" +
                      in_list(3, chunk) + ") ORDER BY r.position";
    sql_params params{after, upto};
    params.insert(params.end(), chunk.begin(), chunk.end());
    auto r = c.exec(sql, params);
    for (size_t i = 0; i < r.size(); ++i) out.push_back(receipt_from(r[i]));
  }
  return out;
}

std::optional<receipt> get(connection& c, const std::string& room_id, const std::string& receipt_type,
                           const std::string& user_id, const std::string& thread_id) {
  auto r = c.exec(std::string("SELECT ") + columns +
                      " FROM receipts r WHERE r.room_id = $1 AND r.receipt_type = $2 AND r.user_id = $3 "
                      "AND r.thread_id = $4",
                  {room_id, receipt_type, user_id, thread_id});
  if (r.empty()) return std::nullopt;
  return receipt_from(r[0]);
}

std::optional<receipt> latest_read(connection& c, const std::string& room_id, const std::string& user_id) {
  auto r = c.exec(std::string("SELECT ") + columns +
                      " FROM receipts r JOIN events e ON e.event_id = r.event_id "
                      "WHERE r.room_id = $1 AND r.user_id = $2 AND r.receipt_type IN ('m.read', 'm.read.private') "
                      "AND r.thread_id IN ('', 'main') "
                      "ORDER BY e.topological_ordering DESC, e.stream_ordering DESC LIMIT 1",
                  {room_id, user_id});
  if (r.empty()) return std::nullopt;
  return receipt_from(r[0]);
}

std::map<std::string, boost::json::object> receipt_events(const std::vector<receipt>& receipts,
                                                          const std::string& viewer) {
  std::map<std::string, boost::json::object> content_by_room;
  for (const auto& r : receipts) {
    if (r.receipt_type == read_private && r.user_id != viewer) continue;
    auto& content = content_by_room[r.room_id];
    auto* ev = content.if_contains(r.event_id);
    if (!ev) ev = &(content[r.event_id] = boost::json::object{});
    auto& types = ev->as_object();
    auto* users = types.if_contains(r.receipt_type);
    if (!users) users = &(types[r.receipt_type] = boost::json::object{});
    users->as_object()[r.user_id] = boost::json::parse(r.data);
  }
  std::map<std::string, boost::json::object> events;
  for (auto& [room_id, content] : content_by_room)
    events[room_id] = boost::json::object{{"type", "m.receipt"}, {"content", std::move(content)}};
  return events;
}

std::string thread_of_event(connection& c, const std::string& event_id) {
  // The event's own relation, and the relation of the event it relates to (one hop: an edit or
  // reaction to a thread reply is in that thread).
  auto r = c.exec(
      "SELECT child.relates_to_id, child.rel_type, parent.relates_to_id, parent.rel_type "
      "FROM event_relations child LEFT JOIN event_relations parent ON parent.event_id = child.relates_to_id "
      "WHERE child.event_id = $1",
      {event_id});
  if (r.empty()) return "main";
  if (r[0].as_text(1) == "m.thread") return r[0].as_text(0);
  if (!r[0].is_null(2) && r[0].as_text(3) == "m.thread") return r[0].as_text(2);
  return "main";
}

void put(connection& c, const receipt& r) {
  c.exec("INSERT INTO receipts (room_id, receipt_type, user_id, thread_id, event_id, data, position) "
         "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (room_id, receipt_type, user_id, thread_id) DO UPDATE "
         "SET event_id = excluded.event_id, data = excluded.data, position = excluded.position",
         {r.room_id, r.receipt_type, r.user_id, r.thread_id, r.event_id, r.data, r.position});
}

} // namespace myelin::storage::receipts
