#include "actors/runtime/node_link.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/openssl/remote_actor.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>

#include "actors/runtime/instance_registry.hpp"
#include "actors/runtime/live_placement.hpp"
#include "actors/runtime/placement.hpp"
#include "common/clock.hpp"
#include "common/log.hpp"
#include "protocol/crypto.hpp"

namespace myelin::runtime {

std::string link_server_proof(const std::string& secret, const std::string& server, const std::string& client,
                              const std::string& client_nonce, const std::string& server_nonce) {
  return protocol::hmac_sha256_hex(secret, "myelin-link-server|" + server + "|" + client + "|" + client_nonce + "|" +
                                               server_nonce);
}

std::string link_client_proof(const std::string& secret, const std::string& client, const std::string& server,
                              const std::string& server_nonce, const std::string& client_nonce) {
  return protocol::hmac_sha256_hex(secret, "myelin-link-client|" + client + "|" + server + "|" + server_nonce + "|" +
                                               client_nonce);
}

namespace {

constexpr auto handshake_timeout = std::chrono::seconds(5);
constexpr auto first_retry = std::chrono::milliseconds(250);
constexpr auto max_retry = std::chrono::seconds(5);

// Link health per peer, written by the connectors and the directory (each on its own thread),
// read by the status endpoint.
class link_board {
public:
  void init(const placement& layout, const std::string& me) {
    std::lock_guard lock(mu_);
    for (const auto& n : layout.nodes)
      if (n.name != me) peers_[n.name] = peer_link_status{.peer = n.name, .address = n.host + ":" + std::to_string(n.port)};
  }
  void add(const node_spec& n) {
    std::lock_guard lock(mu_);
    peers_.try_emplace(n.name, peer_link_status{.peer = n.name, .address = n.host + ":" + std::to_string(n.port)});
  }
  template <class F>
  void update(const std::string& peer, F&& f) {
    std::lock_guard lock(mu_);
    if (auto it = peers_.find(peer); it != peers_.end()) f(it->second);
  }
  std::vector<peer_link_status> snapshot() const {
    std::lock_guard lock(mu_);
    std::vector<peer_link_status> out;
    for (const auto& [name, st] : peers_) out.push_back(st);
    return out;
  }

private:
  mutable std::mutex mu_;
  std::map<std::string, peer_link_status> peers_;
};

// One connection per pair of nodes: the node listed later in the placement dials; the other's
// connector links back over the connection the dialer opened (CAF's SSL middleman cannot cope with
// two connections between the same nodes, one each way). Later, not earlier: a node appended to
// the file is unknown to the running nodes until it links to them.
bool dials(const placement& layout, const std::string& me, const std::string& peer) {
  long mine = -1, theirs = -1;
  for (size_t i = 0; i < layout.nodes.size(); ++i) {
    if (layout.nodes[i].name == me) mine = static_cast<long>(i);
    if (layout.nodes[i].name == peer) theirs = static_cast<long>(i);
  }
  return mine >= 0 && theirs >= 0 && mine > theirs;
}

struct shared_link_config {
  node_link_config cfg;
  std::string secret;
  caf::actor directory;             // this node's, set before any connector starts
  mutable link_board board;
  // Adopts a peer's newer layout: "" when adopted (or already current), else why not.
  std::function<std::string(const placement&)> grow;
  bool dials(const std::string& peer) const { return runtime::dials(*cfg.layout->get(), cfg.me, peer); }
};
using link_config_ptr = std::shared_ptr<const shared_link_config>;

// This node's instances as a table for a peer.
link_table local_table(const shared_link_config& lc) {
  link_table t;
  t.node = lc.cfg.me;
  t.hub = caf::actor_cast<caf::actor>(lc.cfg.hub);
  auto layout = lc.cfg.layout->get();
  for (const auto& g : known_groups())
    for (size_t i : layout->indices_on(lc.cfg.me, g.name))
      t.entries.push_back(link_entry{g.name, i, lc.cfg.registry->at(g.name, i).handle});
  t.layout = layout_text(*layout);
  return t;
}

// ---- the directory: answers peers' handshakes, then tells them about this node ----

struct directory_state {
  link_config_ptr lc;
  struct pending_handshake {
    std::string peer;
    std::string client_nonce;
    std::string server_nonce;
    std::shared_ptr<const placement> grows_to;  // the peer's newer layout, adopted once it authenticates
  };
  std::map<caf::actor_addr, pending_handshake> pending;  // by the connecting actor
  struct peer {
    caf::actor connector;
    caf::actor hub;
    caf::actor directory;
  };
  std::map<std::string, peer> peers;  // authenticated nodes
  std::map<std::string, caf::actor> local_connectors;  // this node's connector for each peer

  // A peer that dials us linked in: our connector for it links back through its directory.
  void link_back(const std::string& peer_name) {
    auto p = peers.find(peer_name);
    auto c = local_connectors.find(peer_name);
    if (p == peers.end() || c == local_connectors.end() || !p->second.directory) return;
    if (lc->dials(peer_name)) return;
    caf::anon_send(c->second, atoms::link_atom_v, p->second.directory);
  }
  logger log{"cluster"};
};

caf::behavior directory_impl(caf::stateful_actor<directory_state>* self, link_config_ptr lc) {
  self->state.lc = lc;
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    st.pending.erase(dm.source);
    for (auto it = st.peers.begin(); it != st.peers.end(); ++it) {
      if (it->second.connector.address() != dm.source) continue;
      caf::anon_send(st.lc->cfg.hub, atoms::link_atom_v, it->second.hub, false);
      st.log.warn("node link lost (inbound)", {{"peer", it->first}});
      st.lc->board.update(it->first, [](peer_link_status& p) { p.inbound = false; });
      st.peers.erase(it);
      break;
    }
  });
  return {
      [=](link_hello& h) -> caf::result<link_challenge> {
        auto& st = self->state;
        auto sender = caf::actor_cast<caf::actor_addr>(self->current_sender());
        auto mine = st.lc->cfg.layout->get();
        std::shared_ptr<const placement> grows_to;
        if (h.layout != layout_text(*mine) && h.node != st.lc->cfg.me) {
          // Instance numbers and affinity hashes come from the file: two files mix only when one
          // merely adds to the other. Adopted after the peer proves the secret, not before.
          std::string why;
          try {
            auto theirs = std::make_shared<const placement>(layout_from_text(h.layout, *mine));
            if ((why = growth_problem(*mine, *theirs)).empty()) grows_to = theirs;
            else if (growth_problem(*theirs, *mine).empty()) why.clear();  // the peer adopts ours
          } catch (const std::exception& e) {
            why = e.what();
          }
          if (!why.empty()) {
            st.log.warn("refused a node link: it runs a different placement file", {{"claimed", h.node}, {"why", why}});
            if (mine->find_node(h.node))
              st.lc->board.update(h.node, [&](peer_link_status& p) {
                ++p.refused;
                p.last_error = "refused an inbound link: the peer runs a different placement file (" + why + ")";
              });
            return caf::make_error(caf::sec::invalid_argument, std::string("different placement file"));
          }
        }
        const placement& known = grows_to ? *grows_to : *mine;
        if (h.node == st.lc->cfg.me || !known.find_node(h.node) || h.nonce.size() < 16) {
          st.log.warn("refused a node link: unknown node", {{"claimed", h.node}});
          return caf::make_error(caf::sec::invalid_argument);
        }
        if (auto prev = st.pending.find(sender); prev != st.pending.end() && prev->second.peer == h.node) {
          // Its previous handshake stopped after our proof: the peer's secret differs from ours.
          st.log.warn("refused a node link: the peer gave up after our proof (wrong shared secret?)",
                      {{"claimed", h.node}});
          st.lc->board.update(h.node, [](peer_link_status& p) {
            ++p.refused;
            p.last_error = "the peer gave up the handshake after this node's proof: wrong shared secret?";
          });
        }
        auto server_nonce = protocol::random_alnum(32);
        st.pending[sender] = {h.node, h.nonce, server_nonce, std::move(grows_to)};
        self->monitor(caf::actor_cast<caf::actor>(self->current_sender()));
        return link_challenge{st.lc->cfg.me, server_nonce,
                              link_server_proof(st.lc->secret, st.lc->cfg.me, h.node, h.nonce, server_nonce)};
      },
      [=](link_auth& a) -> caf::result<link_table> {
        auto& st = self->state;
        auto sender = caf::actor_cast<caf::actor_addr>(self->current_sender());
        auto it = st.pending.find(sender);
        if (it == st.pending.end() || it->second.peer != a.node) {
          st.log.warn("refused a node link: no handshake in progress", {{"claimed", a.node}});
          return caf::make_error(caf::sec::invalid_argument);
        }
        auto expected = link_client_proof(st.lc->secret, a.node, st.lc->cfg.me, it->second.server_nonce,
                                          it->second.client_nonce);
        auto grows_to = std::move(it->second.grows_to);
        st.pending.erase(it);
        if (!protocol::constant_time_equal(expected, a.proof) || !a.connector || !a.hub) {
          st.log.warn("refused a node link: wrong shared secret", {{"claimed", a.node}});
          st.lc->board.update(a.node, [](peer_link_status& p) {
            ++p.refused;
            p.last_error = "refused an inbound link: wrong shared secret";
          });
          return caf::make_error(caf::sec::invalid_argument);
        }
        if (grows_to) {
          if (auto why = st.lc->grow(*grows_to); !why.empty()) {  // another peer's growth came first
            st.log.warn("refused a node link: it runs a different placement file", {{"claimed", a.node}, {"why", why}});
            return caf::make_error(caf::sec::invalid_argument, std::string("different placement file"));
          }
        }
        if (auto old = st.peers.find(a.node); old != st.peers.end())  // the peer restarted
          caf::anon_send(st.lc->cfg.hub, atoms::link_atom_v, old->second.hub, false);
        st.peers[a.node] = {a.connector, a.hub, a.directory};
        self->monitor(a.connector);
        st.link_back(a.node);
        caf::anon_send(st.lc->cfg.hub, atoms::link_atom_v, a.hub, true);
        st.log.info("node linked (inbound)", {{"peer", a.node}});
        st.lc->board.update(a.node, [](peer_link_status& p) { p.inbound = true; });
        return local_table(*st.lc);
      },
      // This node's connector for `peer` (sent once, as connectors start).
      [=](atoms::link_atom, const std::string& peer, const caf::actor& connector) {
        self->state.local_connectors[peer] = connector;
        self->state.link_back(peer);
      },
      // A local instance (re)started or stopped: every linked peer learns its new handle.
      [=](atoms::link_atom, const std::string& group, uint64_t index, const caf::actor& handle) {
        auto& st = self->state;
        link_table t;
        t.node = st.lc->cfg.me;
        t.hub = caf::actor_cast<caf::actor>(st.lc->cfg.hub);
        t.entries.push_back(link_entry{group, index, handle});
        for (const auto& [name, p] : st.peers) self->send(p.connector, t);
      },
  };
}

// ---- a connector: this node's link to one peer ----

struct connector_state {
  link_config_ptr lc;
  node_spec peer;  // a copy: the placement it came from may be replaced as it grows
  caf::actor directory;            // the peer's, once linked
  std::chrono::milliseconds retry = first_retry;
  bool linked = false;
  std::string warned;              // the reason last logged: one line per outage and reason, not per attempt
  // Entries for slots this node's placement does not have yet: the peer adopted a grown placement
  // first and started its new instances. Applied once this node adopts it too (a grown layout is
  // announced to every connector), so a growth race never leaves a slot empty.
  std::map<std::pair<std::string, uint64_t>, caf::actor> newer_slots;
  logger log{"cluster"};

  // Fills the peer's slots from its table; a peer may only fill slots the placement gives it.
  void apply(const link_table& t) {
    auto layout = lc->cfg.layout->get();
    for (const auto& e : t.entries) {
      auto owner = layout->node_of(e.group, e.index);
      if (owner.empty()) {
        newer_slots[{e.group, e.index}] = e.handle;
        continue;
      }
      if (owner != peer.name) {
        log.warn("ignored a slot a peer does not own", {{"peer", peer.name}, {"group", e.group}});
        continue;
      }
      if (e.handle) lc->cfg.registry->set(e.group, e.index, e.handle);
      else lc->cfg.registry->clear(e.group, e.index);
    }
  }

  // The placement grew: the slots kept for it now have an owner.
  void apply_newer_slots() {
    link_table t;
    for (auto& [slot, handle] : newer_slots) t.entries.push_back(link_entry{slot.first, slot.second, handle});
    newer_slots.clear();
    apply(t);
  }

  void forget_peer() {
    auto layout = lc->cfg.layout->get();
    for (const auto& g : known_groups())
      for (size_t i : layout->indices_on(peer.name, g.name)) lc->cfg.registry->clear(g.name, i);
  }
};

using connector_ptr = caf::stateful_actor<connector_state>*;

// After a link (re)forms, this node may have missed what the peer's writers published meanwhile:
// ask each of them for its position and apply it here with a row that wakes every long-poll, whose
// next answer reads the database. Late, never lost.
void catch_up(connector_ptr self, const link_table& t) {
  for (const auto& e : t.entries) {
    const group_info* g = find_group(e.group);
    if (!e.handle || !g || g->kind != group_kind::writer) continue;
    auto writer = caf::actor_cast<stream_writer_actor>(e.handle);
    self->request(writer, handshake_timeout, atoms::position_atom_v)
        .then(
            [=](stream_position& p) {
              stream_update u{p.stream, p.writer, p.position, {R"({"type":"catch_up","everyone":true})"}};
              caf::anon_send(self->state.lc->cfg.hub, atoms::forward_atom_v, std::move(u));
            },
            [](caf::error&) {});  // the link dropped again: the next link catches up
  }
}

void schedule_retry(connector_ptr self) {
  auto& st = self->state;
  // The node that does not dial waits for the peer to link in again (its directory says when).
  if (!st.lc->dials(st.peer.name)) return;
  self->delayed_send(self, st.retry, atoms::link_atom_v);
  st.retry = std::min<std::chrono::milliseconds>(st.retry * 2, max_retry);
}

void link_failed(connector_ptr self, const std::string& why) {
  auto& st = self->state;
  st.lc->board.update(st.peer.name, [&](peer_link_status& p) {
    ++p.failed_attempts;
    p.last_error = why;
  });
  if (st.warned != why) {
    st.log.warn("cannot link to node yet; retrying",
                {{"peer", st.peer.name}, {"address", st.peer.host + ":" + std::to_string(st.peer.port)},
                 {"error", why}});
    st.warned = why;
  }
  schedule_retry(self);
}

// `known`: the peer's directory, when the peer dialed us and we link back over its connection;
// otherwise this node dials.
void try_link(connector_ptr self, caf::actor known = nullptr) {
  auto& st = self->state;
  if (st.linked) return;
  caf::expected<caf::actor> dir = known;
  if (!known) {
    // Blocking, which is why connectors are detached actors with a thread of their own.
    dir = st.lc->cfg.layout->get()->tls.enabled()
              ? caf::openssl::remote_actor(self->system(), st.peer.host, st.peer.port)
              : self->system().middleman().remote_actor(st.peer.host, st.peer.port);
  }
  if (!dir) return link_failed(self, self->system().render(dir.error()));
  auto client_nonce = protocol::random_alnum(32);
  self->request(*dir, handshake_timeout, link_hello{st.lc->cfg.me, client_nonce, st.lc->cfg.layout->text()})
      .then(
          [=](link_challenge& c) {
            auto& st = self->state;
            auto expected =
                link_server_proof(st.lc->secret, st.peer.name, st.lc->cfg.me, client_nonce, c.nonce);
            if (c.node != st.peer.name || !protocol::constant_time_equal(expected, c.proof)) {
              st.log.error("refused node link: the peer does not hold the shared secret", {{"peer", st.peer.name}});
              st.lc->board.update(st.peer.name, [](peer_link_status& p) {
                ++p.failed_attempts;
                p.last_error = "the peer does not hold the shared secret";
              });
              return schedule_retry(self);
            }
            link_auth auth{st.lc->cfg.me, link_client_proof(st.lc->secret, st.lc->cfg.me, st.peer.name, c.nonce,
                                                            client_nonce),
                           caf::actor_cast<caf::actor>(self), caf::actor_cast<caf::actor>(st.lc->cfg.hub),
                           st.lc->directory};
            self->request(*dir, handshake_timeout, std::move(auth))
                .then(
                    [=](link_table& t) {
                      auto& st = self->state;
                      // The peer accepted our layout; when its own is newer (it only adds), adopt it
                      // before filling its slots, which may be new ones.
                      if (!t.layout.empty() && t.layout != st.lc->cfg.layout->text()) {
                        std::string why;
                        try {
                          why = st.lc->grow(layout_from_text(t.layout, *st.lc->cfg.layout->get()));
                        } catch (const std::exception& e) {
                          why = e.what();
                        }
                        if (!why.empty())
                          st.log.warn("kept this node's placement; the peer's does not only add to it",
                                      {{"peer", st.peer.name}, {"why", why}});
                      }
                      st.directory = *dir;
                      st.linked = true;
                      st.warned.clear();
                      st.retry = first_retry;
                      self->monitor(st.directory);
                      caf::anon_send(st.lc->cfg.hub, atoms::link_atom_v, t.hub, true);
                      st.apply(t);
                      catch_up(self, t);
                      st.log.info("node linked", {{"peer", st.peer.name}, {"instances", std::to_string(t.entries.size())}});
                      st.lc->board.update(st.peer.name, [](peer_link_status& p) {
                        p.linked = true;
                        p.changed_ms = now_ms();
                        ++p.links;
                      });
                    },
                    [=](caf::error& e) { link_failed(self, "handshake refused: " + self->system().render(e)); });
          },
          [=](caf::error& e) { link_failed(self, "no handshake: " + self->system().render(e)); });
}

caf::behavior connector_impl(connector_ptr self, link_config_ptr lc, node_spec peer) {
  self->state.lc = lc;
  self->state.peer = peer;
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    if (dm.source != st.directory.address()) return;
    st.linked = false;
    st.directory = nullptr;
    st.forget_peer();
    st.log.warn("node link lost; its instances are unavailable until it returns", {{"peer", st.peer.name}});
    st.lc->board.update(st.peer.name, [](peer_link_status& p) {
      p.linked = false;
      p.changed_ms = now_ms();
      p.last_error = "link lost";
    });
    schedule_retry(self);
  });
  if (lc->dials(peer.name))
    self->send(self, atoms::link_atom_v);
  else
    lc->board.update(peer.name, [](peer_link_status& p) { p.last_error = "waiting for the peer to connect (it dials)"; });
  return {
      [=](atoms::link_atom) { try_link(self); },
      // The peer dialed us and authenticated: link back through its directory.
      [=](atoms::link_atom, caf::actor& peer_directory) {
        auto& st = self->state;
        if (st.linked && st.directory == peer_directory) return;
        if (st.linked) {  // the peer restarted before the old link's down message reached us
          self->demonitor(st.directory);
          st.linked = false;
          st.directory = nullptr;
          st.forget_peer();
        }
        try_link(self, std::move(peer_directory));
      },
      [=](link_table& t) {
        if (self->state.linked) self->state.apply(t);
      },
      [=](atoms::link_atom, atoms::flush_atom) {
        if (self->state.linked) self->state.apply_newer_slots();
      },
  };
}

} // namespace

struct node_links::impl {
  caf::actor_system* sys = nullptr;
  link_config_ptr lc;
  std::atomic<bool> complete{false};
  bool tls = false;
  caf::actor directory;
  std::mutex mu;                     // connectors, growth
  std::vector<caf::actor> connectors;
  uint16_t port = 0;
  std::atomic<bool> stopped{false};

  void start_connector(const node_spec& n) {
    connectors.push_back(sys->spawn<caf::detached>(connector_impl, lc, n));
    caf::anon_send(directory, atoms::link_atom_v, n.name, connectors.back());
  }

  // A linked peer's layout: adopt it when it only adds to ours (new slots in the registry, this
  // node's new instances started, connectors for new nodes). "" when adopted, equal or older.
  std::string grow(const placement& newer) {
    auto& live = *lc->cfg.layout;
    std::lock_guard lock(mu);
    if (stopped) return "the node is stopping";
    auto current = live.get();
    if (layout_text(newer) == layout_text(*current) || growth_problem(newer, *current).empty()) return {};
    std::string why;
    auto before = live.grow(newer, why);
    if (!before) return why;
    auto after = live.get();
    std::string changes;
    for (const auto& g : known_groups()) {
      size_t was = before->total_instances(g.name), now = after->total_instances(g.name);
      if (was == now) continue;
      lc->cfg.registry->declare(g.name, now);
      changes += (changes.empty() ? "" : " ") + g.name + ":" + std::to_string(was) + "->" + std::to_string(now);
    }
    if (lc->cfg.grown) lc->cfg.grown(*after);
    for (size_t i = before->nodes.size(); i < after->nodes.size(); ++i) {
      const auto& n = after->nodes[i];
      lc->board.add(n);
      if (n.name != lc->cfg.me) start_connector(n);
      changes += (changes.empty() ? "" : " ") + std::string("node:+") + n.name;
    }
    for (const auto& c : connectors) caf::anon_send(c, atoms::link_atom_v, atoms::flush_atom_v);
    logger("cluster").warn("adopted a newer placement from a linked node (it only adds)",
                           {{"node", lc->cfg.me}, {"changes", changes}});
    complete = false;
    return {};
  }
};

node_links::node_links(caf::actor_system& sys, node_link_config cfg) : impl_(std::make_unique<impl>()) {
  auto& m = *impl_;
  m.sys = &sys;
  auto shared = std::make_shared<shared_link_config>();
  shared->cfg = std::move(cfg);
  auto layout = shared->cfg.layout->get();
  shared->secret = layout->shared_secret;
  shared->board.init(*layout, shared->cfg.me);
  shared->grow = [impl = impl_.get()](const placement& newer) { return impl->grow(newer); };
  m.lc = shared;
  const node_spec* me = layout->find_node(m.lc->cfg.me);
  m.directory = sys.spawn(directory_impl, m.lc);
  shared->directory = m.directory;
  m.tls = layout->tls.enabled();
  auto bound = m.tls ? caf::openssl::publish(m.directory, me->port, me->bind_address.c_str(), true)
                     : sys.middleman().publish(m.directory, me->port, me->bind_address.c_str(), true);
  if (!bound) {
    caf::anon_send_exit(m.directory, caf::exit_reason::user_shutdown);
    throw std::runtime_error("cannot bind the node link on " + me->bind_address + ":" + std::to_string(me->port) +
                             ": " + sys.render(bound.error()));
  }
  m.port = *bound;
  {
    std::lock_guard lock(m.mu);
    for (const auto& n : layout->nodes)
      if (n.name != m.lc->cfg.me) m.start_connector(n);
  }
  logger("cluster").info("node link listening", {{"node", m.lc->cfg.me},
                                                 {"transport", m.tls ? "tls" : "tcp"},
                                                 {"address", me->bind_address + ":" + std::to_string(m.port)},
                                                 {"peers", std::to_string(m.connectors.size())}});
}

node_links::~node_links() { stop(); }

void node_links::local_instance_changed(const std::string& group, size_t index, const caf::actor& handle) {
  if (!impl_->stopped) caf::anon_send(impl_->directory, atoms::link_atom_v, group, uint64_t{index}, handle);
}

void node_links::registry_changed() {
  auto& m = *impl_;
  auto current = m.lc->cfg.layout->get();
  const auto& layout = *current;
  size_t total = 0;
  bool all = true;
  for (const auto& g : known_groups()) {
    if (g.idle) continue;  // no instances are started for these
    auto refs = m.lc->cfg.registry->all(g.name);
    size_t n = layout.total_instances(g.name);
    total += n;
    for (size_t i = 0; i < n && all; ++i) all = i < refs.size() && refs[i].handle;
    if (!all) break;
  }
  if (!all) {
    m.complete = false;
    return;
  }
  if (!m.complete.exchange(true))
    logger("cluster").info("cluster complete: every instance is reachable",
                           {{"node", m.lc->cfg.me}, {"instances", std::to_string(total)}});
}

std::vector<peer_link_status> node_links::status() const { return impl_->lc->board.snapshot(); }

void node_links::stop() {
  auto& m = *impl_;
  {
    std::lock_guard lock(m.mu);  // no growth starts connectors after this
    if (m.stopped.exchange(true)) return;
  }
  // CAF 0.17.6's caf::openssl::unpublish does not compile (it sends the wrong message to the
  // SSL middleman): over TLS the acceptor closes with the actor system, a moment later.
  if (!m.tls) m.sys->middleman().unpublish(m.directory, m.port);
  std::lock_guard lock(m.mu);
  for (auto& c : m.connectors) caf::anon_send_exit(c, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(m.directory, caf::exit_reason::user_shutdown);
  m.connectors.clear();
}

} // namespace myelin::runtime
