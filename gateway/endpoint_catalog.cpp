// The endpoint catalog: path templates pre-split into segments at startup, matched segment by
// segment against the raw request path on every request. Matching must stay in the low
// microseconds over every endpoint, so it splits the path once into views and allocates only for
// the endpoint that matched (its decoded parameters) or, for a 405, the list of allowed methods.
#include <algorithm>
#include <array>
#include <stdexcept>
#include <unordered_map>

#include "gateway/detail_text.hpp"
#include "gateway/gateway.hpp"

namespace myelin::gateway {
namespace {

// Longer templates are rejected at add(); longer paths can still match a "{rest...}" template.
constexpr size_t max_segments = 32;

enum class seg_kind : uint8_t { literal, choice, param, rest };

struct segment {
  seg_kind kind = seg_kind::literal;
  std::string text;                  // literal text or parameter name
  std::vector<std::string> choices;  // "{:r0|v3}"
};

struct compiled_template {
  std::vector<segment> segments;
  bool has_rest = false;
  int affinity_index = -1;  // index into the captured parameters
};

// The raw path cut at '/', as views into it; the leading '/' produces no segment.
struct split_path {
  std::array<std::string_view, max_segments> seg;
  size_t count = 0;  // may exceed max_segments; only the first max_segments are kept
};

split_path split(std::string_view raw_path) {
  split_path out;
  std::string_view rest = raw_path.substr(1);
  for (;;) {
    size_t slash = rest.find('/');
    if (out.count < max_segments) out.seg[out.count] = rest.substr(0, slash);
    ++out.count;
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return out;
}

bool valid_param_name(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool valid_literal(std::string_view s) { return s.find_first_of("{}?# ") == std::string_view::npos; }

[[noreturn]] void bad_template(const endpoint_spec& spec, const std::string& why) {
  throw std::invalid_argument("endpoint '" + spec.name + "': bad path template '" + spec.path + "': " + why);
}

segment parse_braced(const endpoint_spec& spec, std::string_view inner) {
  segment s;
  if (!inner.empty() && inner.front() == ':') {
    s.kind = seg_kind::choice;
    std::string_view alts = inner.substr(1);
    for (;;) {
      size_t bar = alts.find('|');
      std::string_view alt = alts.substr(0, bar);
      if (alt.empty() || !valid_literal(alt)) bad_template(spec, "empty or invalid alternative");
      s.choices.emplace_back(alt);
      if (bar == std::string_view::npos) break;
      alts.remove_prefix(bar + 1);
    }
    return s;
  }
  if (inner.size() > 3 && inner.substr(inner.size() - 3) == "...") {
    s.kind = seg_kind::rest;
    inner.remove_suffix(3);
  } else {
    s.kind = seg_kind::param;
  }
  if (!valid_param_name(inner)) bad_template(spec, "invalid parameter name '" + std::string(inner) + "'");
  s.text.assign(inner);
  return s;
}

compiled_template compile(const endpoint_spec& spec) {
  if (spec.name.empty()) throw std::invalid_argument("endpoint with an empty name (path '" + spec.path + "')");
  auto upper = [](char c) { return c >= 'A' && c <= 'Z'; };
  if (spec.method.empty() || !std::all_of(spec.method.begin(), spec.method.end(), upper))
    throw std::invalid_argument("endpoint '" + spec.name + "': bad method '" + spec.method + "'");
  if (spec.path.empty() || spec.path.front() != '/') bad_template(spec, "must start with '/'");
  compiled_template t;
  split_path parts = split(spec.path);
  if (parts.count > max_segments) bad_template(spec, "too many segments");
  int params = 0;
  for (size_t i = 0; i < parts.count; ++i) {
    std::string_view p = parts.seg[i];
    segment s;
    if (!p.empty() && p.front() == '{' && p.back() == '}') {
      s = parse_braced(spec, p.substr(1, p.size() - 2));
    } else if (valid_literal(p)) {
      s.text.assign(p);
    } else {
      bad_template(spec, "braces must enclose a whole segment");
    }
    if (s.kind == seg_kind::rest && i + 1 != parts.count) bad_template(spec, "'{name...}' must be the last segment");
    if (s.kind == seg_kind::param || s.kind == seg_kind::rest) {
      if (!spec.affinity_param.empty() && s.text == spec.affinity_param) t.affinity_index = params;
      ++params;
    }
    t.has_rest = s.kind == seg_kind::rest;
    t.segments.push_back(std::move(s));
  }
  if (!spec.affinity_param.empty() && t.affinity_index < 0)
    bad_template(spec, "affinity_param '" + spec.affinity_param + "' is not a parameter of the template");
  return t;
}

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Whether two templates accept a common path in a way add() should refuse (same shape, literals
// and alternatives overlapping). A literal beside a parameter is not a clash: the literal wins.
bool overlapping(const compiled_template& a, const compiled_template& b) {
  if (a.segments.size() != b.segments.size() || a.has_rest != b.has_rest) return false;
  for (size_t i = 0; i < a.segments.size(); ++i) {
    const segment &x = a.segments[i], &y = b.segments[i];
    auto literal_in = [](const segment& lit, const segment& ch) { return contains(ch.choices, lit.text); };
    bool same;
    if (x.kind == seg_kind::literal && y.kind == seg_kind::literal) same = x.text == y.text;
    else if (x.kind == seg_kind::literal && y.kind == seg_kind::choice) same = literal_in(x, y);
    else if (x.kind == seg_kind::choice && y.kind == seg_kind::literal) same = literal_in(y, x);
    else if (x.kind == seg_kind::choice && y.kind == seg_kind::choice)
      same = std::any_of(x.choices.begin(), x.choices.end(),
                         [&](const std::string& c) { return contains(y.choices, c); });
    else same = x.kind == y.kind;
    if (!same) return false;
  }
  return true;
}

bool segments_match(const compiled_template& t, const split_path& p) {
  size_t fixed = t.has_rest ? t.segments.size() - 1 : t.segments.size();
  if (t.has_rest ? p.count < t.segments.size() : p.count != fixed) return false;
  for (size_t i = 0; i < fixed; ++i) {
    const segment& s = t.segments[i];
    switch (s.kind) {
      case seg_kind::literal:
        if (p.seg[i] != s.text) return false;
        break;
      case seg_kind::choice:
        if (!contains(s.choices, p.seg[i])) return false;
        break;
      default:
        break;
    }
  }
  return true;
}

// When several templates match one path the most specific wins: at the first segment where they
// differ, literal > alternative > parameter > rest; then the longer template (its rest is shorter).
bool more_specific(const compiled_template& a, const compiled_template& b) {
  size_t n = std::min(a.segments.size(), b.segments.size());
  for (size_t i = 0; i < n; ++i) {
    auto ka = a.segments[i].kind, kb = b.segments[i].kind;
    if (ka != kb) return ka < kb;
  }
  return a.segments.size() > b.segments.size();
}

// Decodes the captured segments of the matched template; false on a malformed %-escape.
bool capture_params(const compiled_template& t, const split_path& p, std::string_view raw_path,
                    std::vector<std::string>& out) {
  for (size_t i = 0; i < t.segments.size(); ++i) {
    seg_kind k = t.segments[i].kind;
    if (k != seg_kind::param && k != seg_kind::rest) continue;
    std::string_view raw = p.seg[i];
    if (k == seg_kind::rest) raw = raw_path.substr(static_cast<size_t>(raw.data() - raw_path.data()));
    out.emplace_back();
    if (!detail::percent_decode(raw, out.back())) return false;
  }
  return true;
}

void expand_samples(const compiled_template& t, size_t i, std::string& prefix, std::vector<std::string>& out) {
  constexpr size_t max_samples = 64;
  if (out.size() >= max_samples) return;
  if (i == t.segments.size()) {
    out.push_back(prefix);
    return;
  }
  const segment& s = t.segments[i];
  size_t keep = prefix.size();
  if (s.kind == seg_kind::choice) {
    for (const auto& c : s.choices) {
      prefix += '/';
      prefix += c;
      expand_samples(t, i + 1, prefix, out);
      prefix.resize(keep);
    }
    return;
  }
  prefix += '/';
  prefix += s.kind == seg_kind::literal ? std::string_view(s.text) : std::string_view("x");
  expand_samples(t, i + 1, prefix, out);
  prefix.resize(keep);
}

} // namespace

struct endpoint_catalog::impl {
  std::vector<endpoint_spec> specs;
  std::vector<compiled_template> templates;  // parallel to specs
  std::unordered_map<std::string, size_t> by_name;
  std::unordered_map<std::string, std::string> groups;
};

endpoint_catalog::endpoint_catalog() : impl_(std::make_unique<impl>()) {}
endpoint_catalog::~endpoint_catalog() = default;
endpoint_catalog::endpoint_catalog(endpoint_catalog&&) noexcept = default;
endpoint_catalog& endpoint_catalog::operator=(endpoint_catalog&&) noexcept = default;

void endpoint_catalog::add(endpoint_spec spec) {
  compiled_template t = compile(spec);
  // Groups are looked up by name, so a second endpoint with the same name would be ambiguous.
  if (impl_->by_name.count(spec.name)) throw std::invalid_argument("duplicate endpoint name '" + spec.name + "'");
  for (size_t i = 0; i < impl_->specs.size(); ++i) {
    if (impl_->specs[i].method == spec.method && overlapping(impl_->templates[i], t))
      throw std::invalid_argument("endpoint '" + spec.name + "': " + spec.method + " " + spec.path +
                                  " duplicates endpoint '" + impl_->specs[i].name + "' (" + impl_->specs[i].path + ")");
  }
  impl_->by_name.emplace(spec.name, impl_->specs.size());
  impl_->specs.push_back(std::move(spec));
  impl_->templates.push_back(std::move(t));
}

endpoint_match endpoint_catalog::match(std::string_view method, std::string_view raw_path) const {
  endpoint_match m;
  if (raw_path.empty() || raw_path.front() != '/') return m;
  const split_path parts = split(raw_path);
  const auto& specs = impl_->specs;
  const auto& templates = impl_->templates;
  size_t best = specs.size();
  for (size_t i = 0; i < specs.size(); ++i) {
    if (!segments_match(templates[i], parts)) continue;
    if (specs[i].method != method) {
      if (!contains(m.allowed_methods, specs[i].method)) m.allowed_methods.push_back(specs[i].method);
      continue;
    }
    if (best == specs.size() || more_specific(templates[i], templates[best])) best = i;
  }
  if (best == specs.size()) {
    m.path_known = !m.allowed_methods.empty();
    return m;
  }
  m.allowed_methods.clear();
  const compiled_template& t = templates[best];
  if (!capture_params(t, parts, raw_path, m.params)) return endpoint_match{};
  if (t.affinity_index >= 0) m.affinity_value = m.params[static_cast<size_t>(t.affinity_index)];
  m.spec = &specs[best];
  return m;
}

const std::vector<endpoint_spec>& endpoint_catalog::specs() const { return impl_->specs; }

void endpoint_catalog::set_group(const std::string& endpoint_name, std::string group) {
  impl_->groups[endpoint_name] = std::move(group);
}

const std::string& endpoint_catalog::group_of(const std::string& endpoint_name) const {
  // Endpoints never assigned a group go where Synapse sends unrouted requests: the main process.
  static const std::string main_group = "main";
  auto it = impl_->groups.find(endpoint_name);
  return it == impl_->groups.end() ? main_group : it->second;
}

std::vector<std::string> assign_groups(endpoint_catalog& catalog, const route_table& routes) {
  std::vector<std::string> warnings;
  for (const auto& spec : catalog.specs()) {
    std::vector<std::string> samples;
    std::string prefix;
    expand_samples(compile(spec), 0, prefix, samples);
    if (samples.empty()) samples.push_back(spec.path);
    std::string group = routes.group_for(spec.method, samples.front());
    for (size_t i = 1; i < samples.size(); ++i) {
      std::string other = routes.group_for(spec.method, samples[i]);
      if (other == group) continue;
      warnings.push_back("endpoint '" + spec.name + "' (" + spec.method + " " + spec.path + "): " + samples.front() +
                         " routes to '" + group + "' but " + samples[i] + " routes to '" + other + "'; using '" +
                         group + "'");
    }
    catalog.set_group(spec.name, std::move(group));
  }
  return warnings;
}

} // namespace myelin::gateway
