#include "protocol/sync_token.hpp"

#include <charconv>

namespace myelin::protocol {

const std::map<std::string, char>& sync_token_streams() {
  static const std::map<std::string, char> codes = {
      {"events", 'e'},   {"account_data", 'a'}, {"receipts", 'r'},   {"typing", 't'},
      {"presence", 'p'}, {"to_device", 'd'},    {"push_rules", 'u'}, {"device_lists", 'k'},
  };
  return codes;
}

int64_t sync_token::get(const std::string& stream, uint32_t writer) const {
  auto s = positions.find(stream);
  if (s == positions.end()) return 0;
  auto w = s->second.find(writer);
  return w == s->second.end() ? 0 : w->second;
}

void sync_token::set(const std::string& stream, uint32_t writer, int64_t position) {
  positions[stream][writer] = position;
}

bool sync_token::ahead_of(const sync_token& other) const {
  for (const auto& [stream, writers] : positions)
    for (const auto& [w, p] : writers)
      if (p > other.get(stream, w)) return true;
  return false;
}

std::string format_sync_token(const sync_token& t) {
  std::string out = "m";
  bool first = true;
  for (const auto& [stream, code] : sync_token_streams()) {
    auto s = t.positions.find(stream);
    if (s == t.positions.end()) continue;
    for (const auto& [writer, position] : s->second) {
      if (position <= 0) continue;
      if (!first) out += '_';
      first = false;
      out += code;
      out += std::to_string(writer);
      out += '.';
      out += std::to_string(position);
    }
  }
  return out;
}

namespace {

template <class T>
bool parse_number(std::string_view s, T& out) {
  if (s.empty() || s.size() > 19) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && ptr == s.data() + s.size() && out >= 0;
}

} // namespace

std::optional<sync_token> parse_sync_token(std::string_view text) {
  if (text.empty() || text[0] != 'm' || text.size() > 4096) return std::nullopt;
  sync_token t;
  std::string_view rest = text.substr(1);
  while (!rest.empty()) {
    auto end = rest.find('_');
    auto item = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
    if (end != std::string_view::npos && rest.empty()) return std::nullopt;  // trailing "_"
    auto dot = item.find('.');
    if (item.size() < 4 || dot == std::string_view::npos || dot < 2) return std::nullopt;
    uint32_t writer = 0;
    int64_t position = 0;
    if (!parse_number(item.substr(1, dot - 1), writer) || !parse_number(item.substr(dot + 1), position))
      return std::nullopt;
    if (writer > 1024) return std::nullopt;
    for (const auto& [stream, code] : sync_token_streams())
      if (code == item[0]) t.set(stream, writer, position);
    // Unknown codes are skipped: a newer server's stream, not an error.
  }
  return t;
}

} // namespace myelin::protocol
