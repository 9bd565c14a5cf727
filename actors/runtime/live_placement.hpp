// The placement a running node works with, which may grow while it runs. A node started from a
// newer version of the placement file that only *adds* — nodes appended to the node list,
// instances of stateless or user-affinity groups appended after the existing ones — hands its
// layout to the nodes it links to, and they adopt it without a restart: every existing instance
// keeps its number, so no request already routed changes meaning. Anything else (renumbering,
// a different persister count, removing) still needs the restart procedure in docs/cluster.md.
#pragma once
#include <memory>
#include <mutex>
#include <string>

#include "actors/runtime/placement.hpp"

namespace myelin::runtime {

// What identifies a placement between nodes: nodes (name, host, port) in file order, whether the
// links use TLS, and every group's assignments, as canonical JSON text. Equal texts, equal layouts.
std::string layout_text(const placement& p);
std::string placement_digest(const placement& p);  // sha256 of layout_text
// Reads a peer's layout_text. Node-local settings (origin, secret, TLS paths, this node's
// bind_address) come from `base`. Throws std::invalid_argument on malformed text.
placement layout_from_text(const std::string& text, const placement& base);
// Why `to` cannot replace `from` in a running cluster; "" when it only adds what may be added live.
std::string growth_problem(const placement& from, const placement& to);

class live_placement {
public:
  explicit live_placement(placement initial);
  std::shared_ptr<const placement> get() const;
  std::string text() const;     // layout_text of the current placement
  std::string digest() const;   // sha256 of text()
  // Replaces the placement with `newer` when it grows the current one; returns the previous one,
  // or null with `why` set when it does not.
  std::shared_ptr<const placement> grow(const placement& newer, std::string& why);

private:
  mutable std::mutex mu_;
  std::shared_ptr<const placement> current_;
  std::string text_, digest_;
};

} // namespace myelin::runtime
