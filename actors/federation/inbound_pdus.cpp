// Receiving PDUs (see inbound_pdus.hpp).
#include "actors/federation/inbound_pdus.hpp"

#include <boost/json.hpp>

namespace myelin::federation {

boost::json::object receive_pdus(runtime::handler_context&, const std::string&, const boost::json::array& pdus) {
  // Placeholder until the PDU path lands: every PDU is answered as not processed.
  boost::json::object out;
  for (const auto& p : pdus) {
    if (!p.is_object()) continue;
    auto* id = p.as_object().if_contains("event_id");
    std::string key = id && id->is_string() ? std::string(id->as_string()) : std::string("unknown");
    out[key] = boost::json::object{{"error", "PDUs are not processed yet"}};
  }
  return out;
}

} // namespace myelin::federation
