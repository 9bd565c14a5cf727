#include "protocol/identifiers.hpp"

#include <algorithm>
#include <cctype>

namespace myelin::protocol {

namespace {
bool is_dns_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.'; }

bool valid_port(std::string_view p) {
  if (p.empty() || p.size() > 5) return false;
  if (!std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  return std::stoul(std::string(p)) <= 65535;
}
} // namespace

bool is_valid_server_name(std::string_view s) {
  if (s.empty() || s.size() > 255) return false;
  std::string_view host = s;
  if (host.front() == '[') {  // IPv6 literal
    auto close = host.find(']');
    if (close == std::string_view::npos) return false;
    auto inner = host.substr(1, close - 1);
    if (inner.empty() || inner.size() > 45) return false;
    for (char c : inner)
      if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.')) return false;
    auto rest = host.substr(close + 1);
    if (rest.empty()) return true;
    return rest.front() == ':' && valid_port(rest.substr(1));
  }
  auto colon = host.rfind(':');
  if (colon != std::string_view::npos) {
    if (!valid_port(host.substr(colon + 1))) return false;
    host = host.substr(0, colon);
  }
  if (host.empty()) return false;
  return std::all_of(host.begin(), host.end(), is_dns_char);
}

std::optional<server_name_parts> split_server_name(std::string_view s) {
  if (!is_valid_server_name(s)) return std::nullopt;
  server_name_parts out;
  std::string_view host = s, port;
  if (s.front() == '[') {
    auto close = s.find(']');
    host = s.substr(0, close + 1);
    if (close + 1 < s.size()) port = s.substr(close + 2);
    out.ip_literal = true;
  } else if (auto colon = s.rfind(':'); colon != std::string_view::npos) {
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  if (!port.empty()) out.port = static_cast<uint16_t>(std::stoul(std::string(port)));
  out.host = std::string(host);
  if (!out.ip_literal)  // dotted quad: digits and dots only, four parts
    out.ip_literal = std::all_of(host.begin(), host.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == '.'; }) &&
                     std::count(host.begin(), host.end(), '.') == 3;
  return out;
}

std::string percent_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

bool is_valid_user_localpart(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '=' || c == '-' ||
           c == '/' || c == '+';
  });
}

std::optional<user_id_parts> split_user_id(std::string_view s) {
  if (s.size() < 4 || s.front() != '@') return std::nullopt;
  auto colon = s.find(':');
  if (colon == std::string_view::npos || colon == 1) return std::nullopt;
  return user_id_parts{std::string(s.substr(1, colon - 1)), std::string(s.substr(colon + 1))};
}

bool is_valid_user_id(std::string_view s, bool historical) {
  if (s.size() > 255) return false;
  auto parts = split_user_id(s);
  if (!parts || !is_valid_server_name(parts->server_name)) return false;
  if (is_valid_user_localpart(parts->localpart)) return true;
  if (!historical) return false;
  return std::all_of(parts->localpart.begin(), parts->localpart.end(),
                     [](char c) { return c >= 0x21 && c <= 0x7e && c != ':'; });
}

std::string qualify_user_id(std::string_view user, std::string_view server_name) {
  if (!user.empty() && user.front() == '@') {
    auto parts = split_user_id(user);
    if (!parts) return std::string(user);
    std::string local = parts->localpart;
    std::transform(local.begin(), local.end(), local.begin(), [](unsigned char c) { return std::tolower(c); });
    return "@" + local + ":" + parts->server_name;
  }
  std::string local(user);
  std::transform(local.begin(), local.end(), local.begin(), [](unsigned char c) { return std::tolower(c); });
  return "@" + local + ":" + std::string(server_name);
}

namespace {
bool sigil_with_server(std::string_view s, char sigil) {
  if (s.size() < 4 || s.size() > 255 || s.front() != sigil) return false;
  auto colon = s.find(':');
  if (colon == std::string_view::npos || colon == 1) return false;
  return is_valid_server_name(s.substr(colon + 1));
}
} // namespace

bool is_valid_room_id(std::string_view s) { return sigil_with_server(s, '!'); }
bool is_valid_room_alias(std::string_view s) { return sigil_with_server(s, '#'); }
bool is_valid_event_id(std::string_view s) { return s.size() >= 2 && s.size() <= 255 && s.front() == '$'; }

bool is_valid_device_id(std::string_view s) {
  if (s.empty() || s.size() > 255) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x20; });
}

} // namespace myelin::protocol
