// libFuzzer target: `placement from-synapse` inputs. The input is several files separated by lines
// "--8<--": the first is homeserver.yaml, the rest workers or conf.d fragments. Any input either
// translates (and the output parses: translate_synapse_deployment checks that itself and throws
// std::logic_error, a crash here, if not) or throws config_error.
#include <string>
#include <vector>

#include "actors/runtime/synapse_import.hpp"
#include "common/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string separator = "\n--8<--\n";
  std::vector<myelin::runtime::synapse_config_file> files;
  for (size_t start = 0;;) {
    size_t end = text.find(separator, start);
    files.push_back({"f" + std::to_string(files.size()) + ".yaml", text.substr(start, end - start)});
    if (end == std::string::npos) break;
    start = end + separator.size();
  }
  auto shared = files.front();
  files.erase(files.begin());
  try {
    (void)myelin::runtime::translate_synapse_deployment(shared, files);
  } catch (const myelin::config_error&) {
  }
  return 0;
}
