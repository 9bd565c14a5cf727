#include "storage/tables/appservices.hpp"

#include <boost/json.hpp>

namespace myelin::storage::appservices {

namespace json = boost::json;

namespace {

std::string to_text(const positions& p) {
  json::object o;
  for (const auto& [k, v] : p) o[k] = v;
  return json::serialize(o);
}

positions from_text(const std::string& text) {
  positions p;
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return p;
  for (const auto& kv : v.as_object())
    if (kv.value().is_int64()) p[std::string(kv.key())] = kv.value().as_int64();
  return p;
}

} // namespace

std::optional<state> get(connection& c, const std::string& as_id) {
  auto r = c.exec("SELECT positions, last_txn_id, txn_body, txn_positions FROM appservice_state WHERE as_id = $1",
                  {as_id});
  if (r.empty()) return std::nullopt;
  state s;
  s.sent = from_text(r[0].as_text(0));
  s.last_txn_id = r[0].as_int(1);
  s.txn_body = r[0].opt_text(2);
  if (auto t = r[0].opt_text(3)) s.txn_positions = from_text(*t);
  return s;
}

void put(connection& c, const std::string& as_id, const state& s) {
  std::optional<std::string> txn_positions;
  if (s.txn_body) txn_positions = to_text(s.txn_positions);
  c.exec("INSERT INTO appservice_state (as_id, positions, last_txn_id, txn_body, txn_positions) "
         "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (as_id) DO UPDATE SET positions = excluded.positions, "
         "last_txn_id = excluded.last_txn_id, txn_body = excluded.txn_body, txn_positions = excluded.txn_positions",
         {as_id, to_text(s.sent), s.last_txn_id, nullable(s.txn_body), nullable(txn_positions)});
}

positions events_heads(connection& c) {
  auto r = c.exec("SELECT writer, position FROM stream_positions WHERE stream = 'events'");
  positions p;
  for (size_t i = 0; i < r.size(); ++i) p[r[i].as_text(0)] = r[i].as_int(1);
  return p;
}

} // namespace myelin::storage::appservices
