#include "actors/runtime/endpoint_registry.hpp"

#include <boost/json/serialize.hpp>
#include <stdexcept>

#include "protocol/errors.hpp"

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

api_response error_response(const protocol::matrix_error& e) {
  api_response r;
  r.status = static_cast<uint16_t>(e.status());
  r.body = e.body();
  if (e.status() == 503) r.headers.emplace_back("Retry-After", "1");
  if (auto it = e.extra().find("retry_after_ms"); it != e.extra().end() && it->value().is_int64())
    r.headers.emplace_back("Retry-After", std::to_string((it->value().as_int64() + 999) / 1000));
  return r;
}

api_response json_response(const boost::json::value& body, uint16_t status) {
  api_response r;
  r.status = status;
  r.body = boost::json::serialize(body);
  return r;
}

} // namespace myelin::runtime
