// libFuzzer target: request-body JSON parsing and canonical JSON must never crash, hang or leak,
// and canonical output must itself parse back to an equal value.
#include <boost/json.hpp>

#include "protocol/errors.hpp"
#include "protocol/json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  try {
    auto v = myelin::protocol::parse_value(in, 64);
    auto canon = myelin::protocol::canonical_json(v);
    auto again = myelin::protocol::parse_value(canon, 64);
    if (myelin::protocol::canonical_json(again) != canon) __builtin_trap();
  } catch (const myelin::protocol::matrix_error&) {
  }
  try {
    auto o = myelin::protocol::parse_object(in, 64, true);
    (void)myelin::protocol::opt_string(o, "type");
  } catch (const myelin::protocol::matrix_error&) {
  }
  return 0;
}
