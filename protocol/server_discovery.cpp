#include "protocol/server_discovery.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>

#include "protocol/identifiers.hpp"

namespace myelin::protocol::discovery {

namespace {

// An SRV target as getaddrinfo will be asked for it: letters, digits, '-', '_' and dots between
// non-empty labels, at most 253 characters; lowercased, any trailing dot dropped.
std::optional<std::string> host_name(std::string name) {
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (name.empty() || name.size() > 253 || name.front() == '.' || name.find("..") != std::string::npos)
    return std::nullopt;
  for (auto& c : name) {
    auto u = static_cast<unsigned char>(c);
    if (!std::isalnum(u) && c != '-' && c != '_' && c != '.') return std::nullopt;
    c = static_cast<char>(std::tolower(u));
  }
  return name;
}

// The host of a server name as a connection wants it: IPv6 literals without their brackets.
std::string bare_host(const std::string& host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') return host.substr(1, host.size() - 2);
  return host;
}

route direct(const std::string& name, const server_name_parts& p, std::string step) {
  route r;
  r.url = "https://" + name;
  r.targets.push_back({0, 0, p.port.value_or(default_port), bare_host(p.host)});
  r.step = std::move(step);
  return r;
}

// Steps 3.3–3.5 for a delegated host, 4–6 for the server's own host: _matrix-fed._tcp, then the
// deprecated _matrix._tcp, then the host itself on 8448. The URL names the host without a port,
// so the Host header is the bare host, as the spec asks.
route by_srv(const std::string& host, const lookups& lookup, const char* fed_step, const char* legacy_step,
             const char* fallback_step) {
  route r;
  r.url = "https://" + host;
  for (auto [service, step] : {std::pair{"_matrix-fed._tcp.", fed_step}, std::pair{"_matrix._tcp.", legacy_step}}) {
    auto answer = lookup.srv(service + host);
    if (answer.result == srv_answer::outcome::failed) r.dns_failed = true;
    if (answer.result != srv_answer::outcome::found) continue;
    auto records = usable_records(std::move(answer.records));
    if (records.empty()) continue;
    r.targets = std::move(records);
    r.step = step;
    r.srv_ttl_seconds = answer.ttl_seconds;
    return r;
  }
  r.targets.push_back({0, 0, default_port, host});
  r.step = fallback_step;
  return r;
}

} // namespace

std::vector<srv_record> usable_records(std::vector<srv_record> records) {
  std::vector<srv_record> out;
  for (auto& rec : records) {
    if (rec.target == "." || rec.port == 0) continue;
    if (auto name = host_name(std::move(rec.target))) {
      rec.target = std::move(*name);
      out.push_back(std::move(rec));
    }
  }
  return out;
}

std::optional<route> resolve(std::string_view server_name, const lookups& lookup) {
  auto parts = split_server_name(server_name);
  if (!parts) return std::nullopt;
  const std::string name(server_name);
  if (parts->ip_literal) return direct(name, *parts, "1");
  if (parts->port) return direct(name, *parts, "2");

  std::string host = parts->host;
  std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return std::tolower(c); });
  std::optional<std::string> delegated = lookup.well_known ? lookup.well_known(host) : std::nullopt;
  std::optional<server_name_parts> d;
  if (delegated) d = split_server_name(*delegated);
  if (!d) return by_srv(host, lookup, "4", "5", "6");

  route r;
  if (d->ip_literal) {
    r = direct(*delegated, *d, "3.1");
  } else if (d->port) {
    r = direct(*delegated, *d, "3.2");
  } else {
    std::string delegated_host = d->host;
    std::transform(delegated_host.begin(), delegated_host.end(), delegated_host.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    r = by_srv(delegated_host, lookup, "3.3", "3.4", "3.5");
  }
  r.delegated = true;
  return r;
}

std::vector<connect_target> connection_order(const std::vector<srv_record>& targets,
                                             const std::function<uint32_t(uint32_t)>& random) {
  std::vector<srv_record> sorted = targets;
  std::stable_sort(sorted.begin(), sorted.end(), [](const srv_record& a, const srv_record& b) {
    if (a.priority != b.priority) return a.priority < b.priority;
    return a.weight == 0 && b.weight != 0;  // weight 0 first within a priority (RFC 2782)
  });
  std::vector<connect_target> out;
  out.reserve(sorted.size());
  for (auto group = sorted.begin(); group != sorted.end();) {
    auto end = std::find_if(group, sorted.end(), [&](const srv_record& r) { return r.priority != group->priority; });
    std::vector<srv_record> left(group, end);
    while (!left.empty()) {
      uint64_t sum = 0;
      for (const auto& r : left) sum += r.weight;
      uint64_t pick = random(static_cast<uint32_t>(std::min<uint64_t>(sum, std::numeric_limits<uint32_t>::max())));
      size_t chosen = left.size() - 1;  // reached only if `random` answers past the sum
      uint64_t running = 0;
      for (size_t i = 0; i < left.size(); ++i) {
        running += left[i].weight;
        if (running >= pick) {
          chosen = i;
          break;
        }
      }
      out.push_back({left[chosen].target, left[chosen].port});
      left.erase(left.begin() + static_cast<std::ptrdiff_t>(chosen));
    }
    group = end;
  }
  return out;
}

std::optional<int64_t> cache_max_age_seconds(std::string_view cache_control) {
  std::optional<int64_t> out;
  size_t pos = 0;
  while (pos <= cache_control.size()) {
    size_t end = cache_control.find(',', pos);
    if (end == std::string_view::npos) end = cache_control.size();
    auto d = cache_control.substr(pos, end - pos);
    while (!d.empty() && (d.front() == ' ' || d.front() == '\t')) d.remove_prefix(1);
    while (!d.empty() && (d.back() == ' ' || d.back() == '\t')) d.remove_suffix(1);
    std::string lower(d);
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (lower == "no-store" || lower == "no-cache") return 0;
    if (lower.starts_with("max-age=")) {
      std::string_view digits(lower);
      digits.remove_prefix(8);
      if (digits.size() >= 2 && digits.front() == '"' && digits.back() == '"') digits = digits.substr(1, digits.size() - 2);
      int64_t v = 0;
      auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
      if (ec == std::errc::result_out_of_range && !digits.empty() && digits.front() != '-')
        v = std::numeric_limits<int64_t>::max();  // "forever": the caller's cap applies
      else if (ec != std::errc{} || p != digits.data() + digits.size() || v < 0 || digits.empty())
        return std::nullopt;  // a malformed max-age: as if there were none
      out = v;
    }
    pos = end + 1;
  }
  return out;
}

} // namespace myelin::protocol::discovery
