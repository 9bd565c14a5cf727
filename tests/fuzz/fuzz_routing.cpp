// libFuzzer target: matching raw request targets against the endpoint catalog (every endpoint
// Myelin serves). Never crashes; a match's parameters are decoded text of bounded size.
#include "actors/runtime/endpoint_registry.hpp"
#include "gateway/gateway.hpp"

namespace {
const myelin::gateway::endpoint_catalog& catalog() {
  static myelin::gateway::endpoint_catalog c = [] {
    myelin::runtime::endpoint_registry r;
    myelin::runtime::register_all_endpoints(r);
    myelin::gateway::endpoint_catalog cat;
    for (const auto& e : r.entries()) cat.add(e.spec);
    return cat;
  }();
  return c;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  static const char* methods[] = {"GET", "POST", "PUT", "DELETE"};
  auto m = catalog().match(methods[size % 4], in);
  for (const auto& p : m.params)
    if (p.size() > size) __builtin_trap();  // decoding never grows a parameter
  return 0;
}
