// libFuzzer target: placement files. Any input either parses or throws config_error.
#include "actors/runtime/placement.hpp"
#include "common/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    auto p = myelin::runtime::parse_placement(text, "fuzz.yaml");
    (void)p.total_instances("sync");
  } catch (const myelin::config_error&) {
  }
  return 0;
}
