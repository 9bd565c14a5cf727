// libFuzzer target: matching raw request targets against the endpoint catalog (every endpoint
// Myelin serves), and the same bytes as a Range header. Never crashes; a match's parameters are
// decoded text of bounded size; a byte range lies inside the body it was parsed against.
#include "actors/runtime/endpoint_registry.hpp"
#include "gateway/detail_text.hpp"
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
  uint64_t body_size = size * 977;
  auto range = myelin::gateway::detail::parse_byte_range(in, body_size);
  if (range.result == myelin::gateway::detail::byte_range::kind::part &&
      (range.first > range.last || range.last >= body_size))
    __builtin_trap();
  return 0;
}
