#include "protocol/url_blocklist.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <charconv>
#include <boost/url/parse.hpp>
#include <optional>
#include <regex>
#include <stdexcept>

namespace myelin::protocol {

namespace {

constexpr std::string_view url_parts[] = {"scheme", "netloc", "hostname", "port", "path",
                                          "query", "fragment", "username", "password"};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// The part as Python's urlsplit gives it; nullopt where it gives None.
std::optional<std::string> part_of(const boost::urls::url_view& u, std::string_view part) {
  if (part == "scheme") return lower(std::string(u.scheme()));
  if (part == "netloc") return std::string(u.encoded_authority());
  if (part == "hostname") {
    std::string host(u.encoded_host());
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    return lower(std::move(host));
  }
  if (part == "port") {
    // As a number ("0080" is 80); Python has no port past 65535.
    auto digits = u.port();
    unsigned port = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (!u.has_port() || digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || port > 65535)
      return std::nullopt;
    return std::to_string(port);
  }
  if (part == "path") return std::string(u.encoded_path());
  if (part == "query") return std::string(u.encoded_query());
  if (part == "fragment") return std::string(u.encoded_fragment());
  if (part == "username") return u.has_userinfo() ? std::optional(std::string(u.encoded_user())) : std::nullopt;
  if (part == "password") return u.has_password() ? std::optional(std::string(u.encoded_password())) : std::nullopt;
  return std::nullopt;
}

} // namespace

struct url_blocklist::compiled {
  struct matcher {
    std::string part;
    std::string glob;                  // when regex is empty
    std::optional<std::regex> regex;   // patterns starting with '^'

    bool matches(const std::string& value) const {
      if (regex) return std::regex_search(value, *regex, std::regex_constants::match_continuous);
      // FNM_NOESCAPE: a backslash is an ordinary character in Python's fnmatch.
      return ::fnmatch(glob.c_str(), value.c_str(), FNM_NOESCAPE) == 0;
    }
  };
  std::vector<matcher> matchers;
};

void url_blocklist::add(const rule& r) {
  if (r.empty()) throw std::invalid_argument("a rule needs at least one URL part to match");
  auto c = std::make_shared<compiled>();
  for (const auto& [part, pattern] : r) {
    if (std::find(std::begin(url_parts), std::end(url_parts), part) == std::end(url_parts))
      throw std::invalid_argument("unknown URL part '" + part +
                                  "' (expected scheme, netloc, hostname, port, path, query, fragment, "
                                  "username or password)");
    compiled::matcher m{part, pattern, std::nullopt};
    if (pattern.starts_with('^')) {
      try {
        m.regex.emplace(pattern, std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        throw std::invalid_argument("'" + pattern + "' is not a valid regular expression: " + e.what());
      }
    }
    c->matchers.push_back(std::move(m));
  }
  rules_.push_back(std::move(c));
}

bool url_blocklist::blocks(const std::string& url) const {
  if (rules_.empty()) return false;
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return false;
  for (const auto& r : rules_) {
    bool all = std::all_of(r->matchers.begin(), r->matchers.end(), [&](const compiled::matcher& m) {
      auto value = part_of(*parsed, m.part);
      return value && m.matches(*value);
    });
    if (all) return true;
  }
  return false;
}

} // namespace myelin::protocol
