#include "protocol/multipart.hpp"

#include <algorithm>
#include <cctype>

namespace myelin::protocol::multipart {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Headers of one part (lines separated by CRLF or LF), or nullopt for a line without a colon.
std::optional<std::vector<std::pair<std::string, std::string>>> parse_headers(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!text.empty()) {
    auto end = text.find('\n');
    auto line = trim(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    if (line.empty()) continue;
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    out.emplace_back(lower(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1))));
  }
  return out;
}

} // namespace

std::optional<std::string> part::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (n == name) return v;
  return std::nullopt;
}

std::optional<std::string> boundary_of(std::string_view content_type) {
  auto semi = content_type.find(';');
  if (lower(trim(content_type.substr(0, semi))) != "multipart/mixed" || semi == std::string_view::npos)
    return std::nullopt;
  auto params = content_type.substr(semi + 1);
  while (!params.empty()) {
    auto next = params.find(';');
    auto param = trim(params.substr(0, next));
    params = next == std::string_view::npos ? std::string_view{} : params.substr(next + 1);
    auto eq = param.find('=');
    if (eq == std::string_view::npos || lower(trim(param.substr(0, eq))) != "boundary") continue;
    auto value = trim(param.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    // RFC 2046: 1 to 70 characters.
    if (value.empty() || value.size() > 70) return std::nullopt;
    return std::string(value);
  }
  return std::nullopt;
}

namespace {

// Where the delimiter line of `delimiter` at `at` ends (after its line break, or after the closing
// "--"), with `closing` set; npos when the text at `at` is the delimiter followed by anything else
// (RFC 2046: only transport padding may follow it on its line), so it is content.
size_t delimiter_end(std::string_view body, size_t at, std::string_view delimiter, bool& closing) {
  size_t pos = at + delimiter.size();
  closing = body.substr(pos, 2) == "--";
  if (closing) pos += 2;
  while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;
  if (pos == body.size()) return closing ? pos : std::string_view::npos;
  if (body.substr(pos, 2) == "\r\n") return pos + 2;
  if (body[pos] == '\n') return pos + 1;
  return std::string_view::npos;
}

// The next delimiter line at or after `from` that starts a line: its position (of the dashes).
size_t next_delimiter(std::string_view body, size_t from, std::string_view delimiter) {
  const std::string needle = "\n" + std::string(delimiter);
  for (size_t at = body.find(needle, from); at != std::string_view::npos; at = body.find(needle, at + 1)) {
    bool closing = false;
    if (delimiter_end(body, at + 1, delimiter, closing) != std::string_view::npos) return at + 1;
  }
  return std::string_view::npos;
}

} // namespace

std::optional<std::vector<part>> parse(std::string_view body, std::string_view boundary) {
  const std::string delimiter = "--" + std::string(boundary);
  // The first delimiter, at the start or after a line break (anything before is a preamble).
  bool closing = false;
  size_t at = body.starts_with(delimiter) && delimiter_end(body, 0, delimiter, closing) != std::string_view::npos
                  ? 0
                  : next_delimiter(body, 0, delimiter);
  std::vector<part> parts;
  while (at != std::string_view::npos) {
    size_t start = delimiter_end(body, at, delimiter, closing);
    if (closing) return parts;
    size_t next = next_delimiter(body, start, delimiter);
    if (next == std::string_view::npos) return std::nullopt;
    // The line break before a delimiter belongs to the delimiter.
    size_t end = next - 1;
    if (end > start && body[end - 1] == '\r') --end;
    auto content = body.substr(start, end > start ? end - start : 0);
    // Headers end at the first blank line; a part may have no headers at all.
    size_t split = content.find("\r\n\r\n"), skip = 4;
    if (content.starts_with("\r\n")) split = 0, skip = 2;
    else if (content.starts_with("\n")) split = 0, skip = 1;
    else if (auto lf = content.find("\n\n"); lf != std::string_view::npos && lf < split) split = lf, skip = 2;
    if (split == std::string_view::npos) return std::nullopt;
    auto headers = parse_headers(content.substr(0, split));
    if (!headers) return std::nullopt;
    parts.push_back({std::move(*headers), std::string(content.substr(split + skip))});
    at = next;
  }
  return std::nullopt;
}

std::string build(const std::vector<part>& parts, std::string_view boundary) {
  std::string out;
  for (const auto& p : parts) {
    out += "--";
    out += boundary;
    out += "\r\n";
    for (const auto& [name, value] : p.headers) out += name + ": " + value + "\r\n";
    out += "\r\n";
    out += p.body;
    out += "\r\n";
  }
  out += "--";
  out += boundary;
  out += "--\r\n";
  return out;
}

} // namespace myelin::protocol::multipart
