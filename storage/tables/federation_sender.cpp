#include "storage/tables/federation_sender.hpp"

namespace myelin::storage::federation_sender {

progress load_progress(connection& c, const std::string& instance) {
  auto r = c.exec("SELECT persister, stream_ordering FROM federation_sender_progress WHERE instance = $1", {instance});
  progress out;
  for (size_t i = 0; i < r.size(); ++i) out[r[i].as_text(0)] = r[i].as_int(1);
  return out;
}

void save_progress(connection& c, const std::string& instance, const progress& p) {
  for (const auto& [persister, position] : p)
    c.exec("INSERT INTO federation_sender_progress (instance, persister, stream_ordering) VALUES ($1, $2, $3) "
           "ON CONFLICT (instance, persister) DO UPDATE SET stream_ordering = excluded.stream_ordering",
           {instance, persister, position});
}

namespace {

destination_state destination_from(const row& r) {
  return {r.as_text(0), r.as_int(1), r.as_int(2), r.as_int(3) != 0};
}

} // namespace

std::optional<destination_state> get_destination(connection& c, const std::string& destination) {
  auto r = c.exec("SELECT destination, retry_last_ts, retry_interval_ms, catching_up FROM federation_destinations "
                  "WHERE destination = $1",
                  {destination});
  if (r.empty()) return std::nullopt;
  return destination_from(r[0]);
}

std::vector<destination_state> pending_destinations(connection& c) {
  auto r = c.exec(
      "SELECT d.destination, COALESCE(f.retry_last_ts, 0), COALESCE(f.retry_interval_ms, 0), "
      "COALESCE(f.catching_up, 0) FROM ("
      "  SELECT destination FROM federation_destinations WHERE retry_interval_ms > 0 OR catching_up <> 0"
      "  UNION SELECT destination FROM federation_destination_rooms WHERE sent = 0"
      "  UNION SELECT destination FROM federation_outbox) d "
      "LEFT JOIN federation_destinations f ON f.destination = d.destination");
  std::vector<destination_state> out;
  for (size_t i = 0; i < r.size(); ++i) out.push_back(destination_from(r[i]));
  return out;
}

void save_destination(connection& c, const destination_state& d) {
  c.exec("INSERT INTO federation_destinations (destination, retry_last_ts, retry_interval_ms, catching_up) "
         "VALUES ($1, $2, $3, $4) ON CONFLICT (destination) DO UPDATE SET retry_last_ts = excluded.retry_last_ts, "
         "retry_interval_ms = excluded.retry_interval_ms, catching_up = excluded.catching_up",
         {d.destination, d.retry_last_ts, d.retry_interval_ms, int64_t{d.catching_up ? 1 : 0}});
}

void record_pdu_due(connection& c, const std::string& destination, const std::string& room_id,
                    const std::string& event_id) {
  c.exec("INSERT INTO federation_destination_rooms (destination, room_id, event_id, sent) VALUES ($1, $2, $3, 0) "
         "ON CONFLICT (destination, room_id) DO UPDATE SET event_id = excluded.event_id, sent = 0",
         {destination, room_id, event_id});
}

void mark_pdus_sent(connection& c, const std::string& destination, const std::vector<std::string>& event_ids) {
  for (const auto& id : event_ids)
    c.exec("UPDATE federation_destination_rooms SET sent = 1 WHERE destination = $1 AND event_id = $2",
           {destination, id});
}

std::vector<std::string> unsent_pdus(connection& c, const std::string& destination, size_t limit) {
  auto r = c.exec("SELECT event_id FROM federation_destination_rooms WHERE destination = $1 AND sent = 0 "
                  "ORDER BY room_id LIMIT $2",
                  {destination, static_cast<int64_t>(limit)});
  std::vector<std::string> out;
  for (size_t i = 0; i < r.size(); ++i) out.push_back(r[i].as_text(0));
  return out;
}

void outbox_add(connection& c, const std::string& destination, int64_t position, const std::string& edu_json) {
  c.exec("INSERT INTO federation_outbox (destination, position, edu_json) VALUES ($1, $2, $3) "
         "ON CONFLICT (destination, position) DO NOTHING",
         {destination, position, edu_json});
}

std::vector<outbox_edu> outbox_peek(connection& c, const std::string& destination, size_t limit) {
  auto r = c.exec("SELECT position, edu_json FROM federation_outbox WHERE destination = $1 ORDER BY position LIMIT $2",
                  {destination, static_cast<int64_t>(limit)});
  std::vector<outbox_edu> out;
  for (size_t i = 0; i < r.size(); ++i) out.push_back({r[i].as_int(0), r[i].as_text(1)});
  return out;
}

void outbox_remove(connection& c, const std::string& destination, int64_t upto_position) {
  c.exec("DELETE FROM federation_outbox WHERE destination = $1 AND position <= $2", {destination, upto_position});
}

std::vector<std::string> joined_users(connection& c, const std::string& room_id) {
  auto r = c.exec("SELECT state_key FROM current_state_events WHERE room_id = $1 AND type = 'm.room.member' "
                  "AND membership = 'join'",
                  {room_id});
  std::vector<std::string> out;
  for (size_t i = 0; i < r.size(); ++i) out.push_back(r[i].as_text(0));
  return out;
}

std::optional<std::string> relayed_for(connection& c, const std::string& event_id) {
  auto r = c.exec("SELECT origin FROM federation_relayed_events WHERE event_id = $1", {event_id});
  if (r.empty()) return std::nullopt;
  return r[0].as_text(0);
}

std::map<std::string, int64_t> heard_from_since(connection& c, int64_t since_ts) {
  auto r = c.exec("SELECT origin, MAX(received_ts) FROM federation_txns WHERE received_ts > $1 GROUP BY origin",
                  {since_ts});
  std::map<std::string, int64_t> out;
  for (size_t i = 0; i < r.size(); ++i) out[r[i].as_text(0)] = r[i].as_int(1);
  return out;
}

} // namespace myelin::storage::federation_sender
