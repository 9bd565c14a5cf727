#include "storage/tables/to_device.hpp"

#include <boost/json.hpp>

#include "protocol/json.hpp"
#include "storage/tables/in_list.hpp"

namespace myelin::storage::to_device {

boost::json::object client_event(const to_device_message& m) {
  return {{"sender", m.sender}, {"type", m.type}, {"content", protocol::parse_value(m.content)}};
}

std::vector<to_device_message> pending(connection& c, const std::string& user_id, const std::string& device_id,
                                       int64_t after, int64_t upto, size_t limit) {
  auto r = c.exec("SELECT m.position, m.sender, m.type, m.content FROM device_inbox m "
                  "JOIN devices d ON d.user_id = m.user_id AND d.device_id = m.device_id "
                  "WHERE m.user_id = $1 AND m.device_id = $2 AND m.position > $3 AND m.position <= $4 "
                  "AND m.sent_ts >= d.created_ts ORDER BY m.position LIMIT $5",
                  {user_id, device_id, after, upto, static_cast<int64_t>(limit)});
  std::vector<to_device_message> out;
  out.reserve(r.size());
  for (size_t i = 0; i < r.size(); ++i) out.push_back({r[i].as_int(0), r[i].as_text(1), r[i].as_text(2), r[i].as_text(3)});
  return out;
}

bool record_txn(connection& c, const std::string& sender, const std::string& sender_device,
                const std::string& event_type, const std::string& txn_id, int64_t now_ms) {
  auto r = c.exec("INSERT INTO device_inbox_txns (sender, sender_device, event_type, txn_id, created_ts) "
                  "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                  {sender, sender_device, event_type, txn_id, now_ms});
  return r.affected_rows() > 0;
}

void insert(connection& c, const std::string& user_id, const std::string& device_id, int64_t position,
            const std::string& sender, const std::string& type, const std::string& content, int64_t sent_ts) {
  c.exec("INSERT INTO device_inbox (user_id, device_id, position, sender, type, content, sent_ts) "
         "VALUES ($1, $2, $3, $4, $5, $6, $7)",
         {user_id, device_id, position, sender, type, content, sent_ts});
}

int64_t ack(connection& c, const std::string& user_id, const std::string& device_id, int64_t upto) {
  return c.exec("DELETE FROM device_inbox WHERE user_id = $1 AND device_id = $2 AND position <= $3",
                {user_id, device_id, upto})
      .affected_rows();
}

void purge(connection& c, int64_t txns_before) {
  c.exec("DELETE FROM device_inbox_txns WHERE created_ts < $1", {txns_before});
  c.exec("DELETE FROM device_inbox WHERE NOT EXISTS (SELECT 1 FROM devices d WHERE d.user_id = device_inbox.user_id "
         "AND d.device_id = device_inbox.device_id AND d.created_ts <= device_inbox.sent_ts)");
}

void drop_devices(connection& c, const std::string& user_id, const std::vector<std::string>& device_ids) {
  for_each_chunk(device_ids, [&](std::vector<std::string> chunk) {
    sql_params params{user_id};
    auto sql = "DELETE FROM device_inbox WHERE user_id = $1 AND device_id IN (" + in_list(2, chunk) + ")";
    params.insert(params.end(), chunk.begin(), chunk.end());
    c.exec(sql, params);
  });
}

} // namespace myelin::storage::to_device
