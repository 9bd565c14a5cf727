// libFuzzer target: homeserver.yaml. Any input either parses or throws config_error.
#include "common/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    (void)myelin::parse_homeserver_config(text, "fuzz.yaml", "/tmp");
  } catch (const myelin::config_error&) {
  }
  return 0;
}
