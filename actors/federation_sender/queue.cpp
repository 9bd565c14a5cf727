#include "actors/federation_sender/queue.hpp"

#include <algorithm>
#include <boost/json.hpp>

#include "protocol/identifiers.hpp"

namespace myelin::federation_sender {

namespace json = boost::json;

std::vector<std::string> servers_of(const std::vector<std::string>& users, const std::string& own_server) {
  std::vector<std::string> out;
  for (const auto& u : users) {
    auto parts = protocol::split_user_id(u);
    if (!parts || parts->server_name == own_server) continue;
    out.push_back(parts->server_name);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool destination_queue::push_pdu(queued_pdu p) {
  if (pdus_.size() >= max_pdus_) {
    pdus_.clear();
    return false;
  }
  pdus_.push_back(std::move(p));
  return true;
}

void destination_queue::push_edu(json::object edu) {
  if (edus_.size() >= max_edus_) edus_.pop_front();
  edus_.push_back(std::move(edu));
}

std::vector<const queued_pdu*> destination_queue::peek_pdus(size_t max_pdus) const {
  std::vector<const queued_pdu*> out;
  for (size_t i = 0; i < pdus_.size() && i < max_pdus; ++i) out.push_back(&pdus_[i]);
  return out;
}

std::vector<const json::object*> destination_queue::peek_edus(size_t max_edus) const {
  std::vector<const json::object*> out;
  for (size_t i = 0; i < edus_.size() && i < max_edus; ++i) out.push_back(&edus_[i]);
  return out;
}

void destination_queue::pop(size_t pdus, size_t edus) {
  pdus_.erase(pdus_.begin(), pdus_.begin() + static_cast<std::ptrdiff_t>(std::min(pdus, pdus_.size())));
  edus_.erase(edus_.begin(), edus_.begin() + static_cast<std::ptrdiff_t>(std::min(edus, edus_.size())));
}

json::object transaction_body(const std::string& origin, int64_t origin_server_ts, const std::vector<json::object>& pdus,
                              const std::vector<json::object>& edus) {
  json::array p, e;
  for (const auto& x : pdus) p.push_back(x);
  for (const auto& x : edus) e.push_back(x);
  return {{"origin", origin}, {"origin_server_ts", origin_server_ts}, {"pdus", std::move(p)}, {"edus", std::move(e)}};
}

std::chrono::milliseconds next_backoff(std::chrono::milliseconds previous, std::chrono::milliseconds base,
                                       std::chrono::milliseconds cap) {
  // At least 1 ms: 0 means "not backed off" wherever the interval is kept.
  if (previous.count() <= 0) return std::max(std::chrono::milliseconds(1), std::min(base, cap));
  if (previous >= cap / 2) return cap;
  return std::min(previous * 2, cap);
}

json::object pdu_for_federation(const std::string& stored_json) {
  auto o = json::parse(stored_json).as_object();
  o.erase("unsigned");
  return o;
}

} // namespace myelin::federation_sender
