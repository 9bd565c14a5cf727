#include "actors/runtime/endpoint_registry.hpp"

#include <boost/json/serialize.hpp>
#include <stdexcept>

namespace myelin::runtime {

void endpoint_registry::add(endpoint_spec spec, handler_fn handler) {
  if (by_name_.count(spec.name)) throw std::invalid_argument("endpoint registered twice: " + spec.name);
  by_name_[spec.name] = entries_.size();
  entries_.push_back({std::move(spec), std::move(handler)});
}

const endpoint_entry* endpoint_registry::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &entries_[it->second];
}

api_response json_response(const boost::json::value& body, uint16_t status) {
  api_response r;
  r.status = status;
  r.body = boost::json::serialize(body);
  return r;
}

} // namespace myelin::runtime
