// Synapse's url_preview_url_blacklist: URLs the server refuses to preview whatever they resolve
// to. Each rule maps parts of the URL, named as Python's urlsplit names them (scheme, netloc,
// hostname, port, path, query, fragment, username, password), to a pattern: a glob (fnmatch: *, ?,
// [set]), or a regular expression when it starts with '^'. A URL is blocked when every part a
// rule names matches; a part the URL lacks (no port, no username) matches nothing.
// No I/O.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace myelin::protocol {

class url_blocklist {
public:
  using rule = std::vector<std::pair<std::string, std::string>>;  // (part, pattern)

  // Throws std::invalid_argument for an unknown part, an empty rule or a bad regular expression.
  void add(const rule& r);
  bool empty() const { return rules_.empty(); }
  // True when a rule matches `url` (an absolute URL; anything unparsable is never blocked here —
  // the caller refuses it as invalid first).
  bool blocks(const std::string& url) const;

private:
  struct compiled;
  std::vector<std::shared_ptr<const compiled>> rules_;  // shared: copies of a config share them
};

} // namespace myelin::protocol
