// multipart/mixed (RFC 2046) as the federation media endpoints use it (server-server API
// "Content Repository"): two parts, a JSON metadata part ({}) and the media (its bytes, or a
// Location header naming where to get them). Pure functions, no I/O.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace myelin::protocol::multipart {

struct part {
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  // The first header of that (lower-case) name.
  std::optional<std::string> header(std::string_view name) const;
};

// The boundary parameter of a multipart Content-Type ("multipart/mixed; boundary=abc"), quoted or
// not; nullopt when it is not multipart/mixed or has none.
std::optional<std::string> boundary_of(std::string_view content_type);

// The parts of a body between `--boundary` delimiters up to `--boundary--`; nullopt when the
// body is not well formed (no delimiter, no closing delimiter, a part without a blank line).
std::optional<std::vector<part>> parse(std::string_view body, std::string_view boundary);

// A body of the given parts (each part's headers then its body), and the boundary it used.
std::string build(const std::vector<part>& parts, std::string_view boundary);

} // namespace myelin::protocol::multipart
