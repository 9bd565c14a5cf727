// libFuzzer target: the URL preview's parsers. Any bytes, under any declared charset, give an
// OpenGraph object within the limits whose JSON reads back (so its strings are valid UTF-8); IP
// ranges that parse print as text that parses to the same range; the image probe never reads past
// the bytes it is given.
#include <boost/json.hpp>

#include "protocol/image_probe.hpp"
#include "protocol/ip_range.hpp"
#include "protocol/opengraph.hpp"

namespace {

constexpr const char* content_types[] = {"text/html", "text/html; charset=utf-8", "text/html; charset=ISO-8859-1",
                                         "text/html; charset=shift_jis", "text/html; charset=x-no-such-charset",
                                         "application/xhtml+xml; charset=\"windows-1252\""};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const char* content_type = content_types[data[0] % std::size(content_types)];

  auto og = myelin::protocol::html_to_opengraph(in, "https://example.org/dir/page.html", content_type);
  for (const auto& [key, value] : og)
    if (key.size() > 4 * 50 || !value.is_string() || value.as_string().size() > 4 * 1000) __builtin_trap();
  boost::system::error_code ec;
  auto back = boost::json::parse(boost::json::serialize(og), ec);
  if (ec || back != boost::json::value(og)) __builtin_trap();

  if (auto range = myelin::protocol::parse_ip_range(in)) {
    auto again = myelin::protocol::parse_ip_range(range->to_string());
    if (!again || !(*again == *range) || !myelin::protocol::contains(*range, range->network)) __builtin_trap();
  }
  (void)myelin::protocol::probe_image(in);
  return 0;
}
