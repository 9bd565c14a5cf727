#include "actors/runtime/node.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/manager.hpp>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>

#include "actors/appservice/appservice_instance.hpp"
#include "actors/federation_sender/sender_instance.hpp"
#include "actors/pusher/pusher_instance.hpp"
#include "actors/runtime/api_instance.hpp"
#include "actors/runtime/blocking_pool.hpp"
#include "actors/runtime/bridge.hpp"
#include "actors/runtime/live_placement.hpp"
#include "actors/runtime/node_link.hpp"
#include "actors/runtime/node_views.hpp"
#include "actors/runtime/redis_bus.hpp"
#include "actors/runtime/stream_hub.hpp"
#include "actors/runtime/stream_writer.hpp"
#include "actors/runtime/supervisor.hpp"
#include "actors/runtime/token_cache.hpp"
#include "actors/runtime/writer_client.hpp"
#include "actors/sync/sync_instance.hpp"
#include "common/clock.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "protocol/appservice.hpp"
#include "protocol/crypto.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "storage/migrations.hpp"
#include "storage/streams/events_stream.hpp"

namespace myelin::runtime {

// A path from the placement file: relative ones are relative to the file's directory.
std::string placement_path(const placement& p, const std::string& path) {
  std::filesystem::path f(path);
  if (f.is_absolute() || p.origin.empty()) return path;
  return (std::filesystem::path(p.origin).parent_path() / f).string();
}

void configure_actor_system(caf::actor_system_config& cfg, size_t scheduler_threads, const placement* links) {
  cfg.load<caf::io::middleman>();
  if (links && links->multi_node() && links->tls.enabled()) {
    const placement& layout = *links;
    // Node links over TLS: CAF's OpenSSL module with certificate authentication switched on
    // (a CA file makes it verify the peer's chain and require a certificate, on both sides).
    for (auto [field, path] : {std::pair{"certificate", &layout.tls.certificate}, {"key", &layout.tls.key},
                               {"ca", &layout.tls.ca}}) {
      auto resolved = placement_path(layout, *path);
      if (!std::ifstream(resolved))
        throw std::runtime_error(layout.origin + ": tls." + field + ": cannot read " + resolved);
    }
    cfg.load<caf::openssl::manager>();
    cfg.openssl_certificate = placement_path(layout, layout.tls.certificate);
    cfg.openssl_key = placement_path(layout, layout.tls.key);
    cfg.openssl_cafile = placement_path(layout, layout.tls.ca);
    cfg.openssl_passphrase = layout.tls.passphrase;
  }
  cfg.add_message_types<caf::id_block::myelin>();
  // The default work-stealing policy busy-polls; sharing sleeps when idle (STACK-NOTES).
  cfg.set("scheduler.policy", caf::atom("sharing"));
  cfg.set("scheduler.max-threads", std::max<size_t>(1, scheduler_threads));
}

struct node_runtime::impl {
  homeserver_config cfg;
  placement layout;                    // as started; `live` is what the node works with
  std::unique_ptr<live_placement> live;
  node_options opts;
  logger log{"node"};
  std::unique_ptr<caf::actor_system_config> caf_cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::unique_ptr<storage::database> db;
  std::unique_ptr<blocking_pool> pool;
  std::unique_ptr<writer_client> writers;
  instance_registry registry;
  endpoint_registry endpoints;
  token_cache tokens;
  node_views views;
  stream_hub_actor hub;
  std::vector<caf::actor> bridges;
  std::atomic<uint64_t> bridge_rr{0};
  caf::actor supervisor;
  std::unique_ptr<node_links> links;  // multi-node placements only
  std::shared_ptr<redis_bus> bus;     // multi-node placements with `redis:` only
  std::shared_ptr<void> metrics_collector;  // this node's scrape-time metrics, while it runs
  void write_metrics(metrics::writer& w) const;
  std::mutex supervised_mu;
  std::set<std::pair<std::string, size_t>> supervised;  // this node's slots under the supervisor

  // Starts one of this node's instances, once: at start and when the placement grows, which may
  // race (a peer can link while the node is still starting).
  void supervise_local(const std::string& group, size_t index) {
    std::lock_guard lock(supervised_mu);
    if (supervised.emplace(group, index).second) supervise(supervisor, group, index);
  }
  std::vector<std::shared_ptr<const stream_writer_config>> writer_cfgs;
  bool started = false;
  bool stopped = false;

  void on_accounts_update(const stream_update& u) {
    for (const auto& text : u.rows) {
      auto row = boost::json::parse(text).as_object();
      if (row["type"] == "tokens_revoked")
        for (const auto& h : row["token_hashes"].as_array()) tokens.revoke(std::string(h.as_string()));
    }
  }

  void authenticate_appservice(const protocol::appservice::registration& as, std::string as_user_id,
                               std::function<void(gateway::auth_result)> done);

  caf::actor spawn_instance(const std::string& group, size_t index) {
    const group_info* info = find_group(group);
    auto label = instance_label(group, index);
    if (info->kind == group_kind::writer) {
      for (const auto& wc : writer_cfgs)
        if (wc->writer_name == label) return caf::actor_cast<caf::actor>(spawn_stream_writer(*sys, wc));
      throw std::logic_error("no stream definition for " + group);
    }
    api_instance_deps deps;
    deps.config = &cfg;
    deps.db = db.get();
    deps.writers = writers.get();
    deps.pool = pool.get();
    deps.endpoints = &endpoints;
    deps.max_in_flight = cfg.runtime.max_in_flight_per_instance;
    deps.expose_instance_header = opts.expose_instance_header;
    deps.limiter = opts.limiter;
    deps.views = &views;
    deps.signing_key = &opts.signing_key;
    if (group == "sync") return caf::actor_cast<caf::actor>(sync::spawn_sync_instance(*sys, label, deps, hub));
    if (group == "pusher") {
      pusher::pusher_deps pd{&cfg, db.get(), index, [this] { return live->get()->total_instances("pusher"); }};
      return caf::actor_cast<caf::actor>(pusher::spawn_pusher_instance(*sys, label, std::move(pd), hub));
    }
    if (group == "federation_sender") {
      federation_sender::sender_deps fd{&cfg, db.get(), writers.get(), &opts.signing_key, index,
                                        [this] { return live->get()->total_instances("federation_sender"); }};
      return caf::actor_cast<caf::actor>(federation_sender::spawn_sender_instance(*sys, label, std::move(fd), hub));
    }
    if (group == "appservice")
      return caf::actor_cast<caf::actor>(
          appservice::spawn_appservice_instance(*sys, label, appservice::appservice_deps{&cfg, db.get(), writers.get()}, hub));
    return caf::actor_cast<caf::actor>(spawn_api_instance(*sys, label, deps));
  }
};

// What a scrape reads from the node: positions published here (compare a writer's position across
// nodes to see a node lagging), pools, instances and links.
void node_runtime::impl::write_metrics(metrics::writer& w) const {
  using metrics::kind;
  w.header("myelin_stream_position", "Highest position of each stream writer published on this node.", kind::gauge);
  for (const auto& [stream, writers] : views.positions.snapshot())
    for (const auto& [writer, position] : writers)
      w.sample("myelin_stream_position", {{"stream", stream}, {"writer", writer}}, static_cast<double>(position));
  if (db) {
    double size = static_cast<double>(db->pool_size()), idle = static_cast<double>(db->idle_connections());
    w.header("myelin_db_pool_connections", "Database pool connections by state.", kind::gauge);
    w.sample("myelin_db_pool_connections", {{"state", "in_use"}}, size - idle);
    w.sample("myelin_db_pool_connections", {{"state", "idle"}}, idle);
  }
  if (pool) {
    w.header("myelin_blocking_pool_queued_jobs", "Jobs waiting for a blocking-pool thread.", kind::gauge);
    w.sample("myelin_blocking_pool_queued_jobs", {}, static_cast<double>(pool->queued()));
    w.header("myelin_blocking_pool_threads", "Blocking-pool threads.", kind::gauge);
    w.sample("myelin_blocking_pool_threads", {}, static_cast<double>(pool->threads()));
  }
  auto layout = live->get();
  w.header("myelin_group_instances", "Instances of each group in the placement, by whether this node reaches them.",
           kind::gauge);
  for (const auto& g : known_groups()) {
    size_t total = layout->total_instances(g.name), up = 0;
    auto refs = registry.all(g.name);
    for (size_t i = 0; i < total && i < refs.size(); ++i) up += refs[i].handle ? 1 : 0;
    w.sample("myelin_group_instances", {{"group", g.name}, {"state", "available"}}, static_cast<double>(up));
    w.sample("myelin_group_instances", {{"group", g.name}, {"state", "unavailable"}}, static_cast<double>(total - up));
  }
  if (links) {
    w.header("myelin_node_link_up", "1 while this node's link to a peer is up.", kind::gauge);
    for (const auto& l : links->status()) w.sample("myelin_node_link_up", {{"peer", l.peer}}, l.linked ? 1 : 0);
  }
}

node_runtime::node_runtime(const homeserver_config& cfg, placement p, node_options opts)
    : impl_(std::make_unique<impl>()) {
  impl_->cfg = cfg;
  impl_->layout = std::move(p);
  impl_->live = std::make_unique<live_placement>(impl_->layout);
  impl_->opts = std::move(opts);
  register_all_endpoints(impl_->endpoints);
}

node_runtime::~node_runtime() { stop(); }

void node_runtime::start() {
  auto& m = *impl_;
  if (m.started) return;
  m.started = true;
  protocol::crypto_init();

  storage::database_options dbo;
  if (m.layout.multi_node() && m.cfg.database.name == "sqlite3")
    throw std::runtime_error("a multi-node placement needs PostgreSQL: every node works on the same database, "
                             "and an SQLite file belongs to one process");
  if (m.layout.multi_node() && m.layout.shared_secret.empty())
    throw std::runtime_error("a multi-node placement needs a shared_secret: node links prove it to each other");
  if (m.cfg.database.name == "sqlite3") {
    dbo.kind = storage::dialect::sqlite;
    dbo.sqlite_path = m.cfg.database.sqlite_path;
  } else {
    dbo.kind = storage::dialect::postgres;
    dbo.postgres_conninfo = m.cfg.database.postgres_conninfo;
  }
  dbo.pool_size = m.cfg.database.pool_size;
  m.db = storage::open_database(dbo);
  auto report = storage::apply_migrations(*m.db, storage::all_migrations(), [&](const storage::migration& mg) {
    m.log.info("applying migration", {{"version", std::to_string(mg.version)}, {"name", mg.name}});
  });
  m.log.info("database ready", {{"engine", m.cfg.database.name}, {"schema_version", std::to_string(report.to_version)}});

  m.caf_cfg = std::make_unique<caf::actor_system_config>();
  configure_actor_system(*m.caf_cfg, m.cfg.runtime.scheduler_threads, &m.layout);
  m.sys = std::make_unique<caf::actor_system>(*m.caf_cfg);
  m.pool = std::make_unique<blocking_pool>(m.cfg.runtime.blocking_threads, "myelin-blocking");
  m.writers = std::make_unique<writer_client>(*m.sys, m.registry,
                                              std::chrono::seconds(m.cfg.runtime.group_request_timeout_seconds));

  auto listeners = std::make_shared<hub_listeners>();
  listeners->by_stream.emplace("accounts", [this](const stream_update& u) { impl_->on_accounts_update(u); });
  listeners->by_stream.emplace("typing", [this](const stream_update& u) { impl_->views.typing.apply(u); });
  listeners->by_stream.emplace(
      "*", [this](const stream_update& u) { impl_->views.positions.advance(u.stream, u.writer, u.position); });
  auto initial_positions = load_all_stream_positions(*m.db);
  m.views.positions.seed(initial_positions);
  const std::string& me = m.opts.node_name;
  if (m.layout.multi_node() && m.layout.redis.enabled()) m.bus = std::make_shared<redis_bus>(m.layout.redis, me);
  m.hub = spawn_stream_hub(*m.sys, listeners, std::move(initial_positions), m.bus);
  if (m.bus) m.bus->start(m.hub);

  if (m.opts.signing_key.seed.empty()) m.opts.signing_key = protocol::generate_signing_key();
  storage::event_signer signer{m.cfg.server_name, m.opts.signing_key};
  // One definition per writer instance: a stream may keep per-instance memory (the events
  // persisters' room caches).
  std::vector<std::pair<std::string, std::function<storage::stream_definition()>>> streams = {
      {"accounts", [] { return storage::accounts_stream(); }},
      {"events", [signer] { return storage::events_stream(signer); }},
      {"account_data", [] { return storage::account_data_stream(); }},
      {"push_rules", [] { return storage::push_rules_stream(); }},
      {"typing", [] { return storage::typing_stream(); }},
      {"receipts", [] { return storage::receipts_stream(); }},
      {"to_device", [] { return storage::to_device_stream(); }},
      {"device_lists", [] { return storage::device_lists_stream(); }},
      {"presence", [presence = m.cfg.presence.enabled] { return storage::presence_stream(presence); }},
  };
  for (const auto& [name, make] : streams) {
    std::string group = "writer." + name;
    for (size_t i : m.layout.indices_on(me, group)) {
      auto wc = std::make_shared<stream_writer_config>();
      wc->definition = make();
      wc->writer_name = instance_label(group, i);
      wc->db = m.db.get();
      wc->hub = m.hub;
      m.writer_cfgs.push_back(wc);
    }
  }

  // Before the links: a peer with a grown placement may hand this node new instances to start.
  m.supervisor = spawn_supervisor(
      *m.sys, [this](const std::string& g, size_t i) { return impl_->spawn_instance(g, i); }, &m.registry);
  if (m.layout.multi_node()) {
    // Peers learn about this node's instances as they (re)start; the links exist before the
    // first instance does, so none is missed.
    node_link_config lcfg{m.live.get(), me, &m.registry, m.hub};
    // supervise_local starts only the slots not started yet: the new ones.
    lcfg.grown = [this](const placement& grown_to) {
      for (const auto& g : known_groups())
        for (size_t i : grown_to.indices_on(impl_->opts.node_name, g.name)) impl_->supervise_local(g.name, i);
    };
    m.links = std::make_unique<node_links>(*m.sys, std::move(lcfg));
    m.registry.set_observer([this](const std::string& group, size_t index, const caf::actor& handle) {
      if (!impl_->links) return;
      if (impl_->live->get()->node_of(group, index) == impl_->opts.node_name)
        impl_->links->local_instance_changed(group, index, handle);
      impl_->links->registry_changed();
    });
  }
  m.views.cluster = cluster_view{m.live.get(), me, &m.registry, m.links.get(), now_ms(), m.bus.get()};
  // Writers first: the other groups' instances may write as soon as they exist.
  std::vector<std::string> order;
  for (const auto& g : known_groups())
    if (g.kind == group_kind::writer) order.push_back(g.name);
  for (const auto& g : known_groups())
    if (g.kind != group_kind::writer && !g.idle) order.push_back(g.name);
  caf::scoped_actor self{*m.sys};
  // Every instance of the cluster has a slot; this node fills its own, node links the others.
  for (const auto& group : order) {
    auto layout = m.live->get();
    m.registry.declare(group, layout->total_instances(group));
    for (size_t i : layout->indices_on(me, group)) m.supervise_local(group, i);
  }
  size_t bridges = std::max<size_t>(1, m.cfg.runtime.scheduler_threads);
  for (size_t i = 0; i < bridges; ++i)
    m.bridges.push_back(
        spawn_bridge(*m.sys, &m.registry, m.hub, std::chrono::seconds(m.cfg.runtime.group_request_timeout_seconds)));
  // Wait until every instance slot is filled, so the first request finds its group.
  for (int tries = 0; tries < 500; ++tries) {
    bool all = true;
    for (const auto& group : order)
      for (size_t i : m.layout.indices_on(me, group))
        if (!m.registry.at(group, i).handle) all = false;
    if (all) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::string summary;
  for (const auto& group : order) {
    size_t n = m.layout.instances_on(me, group);
    if (n) summary += (summary.empty() ? "" : " ") + group + "x" + std::to_string(n);
  }
  m.metrics_collector = metrics::registry::global().add_collector([this](metrics::writer& w) { impl_->write_metrics(w); });
  m.log.info("node started", {{"node", me}, {"groups", summary},
                              {"blocking_threads", std::to_string(m.pool->threads())}});
}

void node_runtime::stop() {
  auto& m = *impl_;
  if (!m.started || m.stopped) return;
  m.stopped = true;
  m.metrics_collector.reset();  // waits for a scrape in progress: nothing below is read after this
  if (m.links) m.links->stop();
  if (m.bus) m.bus->stop();  // its threads send to the hub: joined while the actor system lives
  if (m.sys) {
    caf::scoped_actor self{*m.sys};
    // Stop the supervisor first so it does not restart what we shut down.
    self->send_exit(m.supervisor, caf::exit_reason::user_shutdown);
    auto layout = m.live->get();
    for (const auto& group : m.registry.groups())  // this node's instances only: the others are peers'
      for (size_t i : layout->indices_on(m.opts.node_name, group))
        if (auto ref = m.registry.at(group, i); ref.handle) self->send_exit(ref.handle, caf::exit_reason::user_shutdown);
    for (auto& b : m.bridges) self->send_exit(b, caf::exit_reason::user_shutdown);
    self->send_exit(m.hub, caf::exit_reason::user_shutdown);
  }
  if (m.pool) m.pool->stop();
  m.bridges.clear();
  m.hub = nullptr;
  m.supervisor = nullptr;
  for (const auto& group : m.registry.groups())
    for (size_t i = 0; i < m.registry.size(group); ++i) m.registry.clear(group, i);
  m.sys.reset();  // joins the scheduler, detached writers and link connectors
  m.registry.set_observer(nullptr);
  m.links.reset();
  m.db.reset();
  m.log.info("node stopped", {{"node", m.opts.node_name}});
}

void node_runtime::dispatch(const std::string& group, const std::string& affinity_key, api_request req,
                            std::function<void(api_response, std::string)> done) {
  auto& m = *impl_;
  if (m.bridges.empty() || m.stopped) {
    done(error_response(protocol::errors::unavailable("Server is shutting down")), group);
    return;
  }
  auto& bridge = m.bridges[m.bridge_rr.fetch_add(1, std::memory_order_relaxed) % m.bridges.size()];
  caf::anon_send(bridge, dispatch_job{group, affinity_key, std::move(req), std::move(done)});
}

void node_runtime::wait_for_positions(std::vector<stream_position> positions, std::chrono::milliseconds timeout,
                                      std::function<void()> done) {
  auto& m = *impl_;
  if (m.bridges.empty() || m.stopped) {
    done();
    return;
  }
  caf::anon_send(m.bridges.front(), wait_job{std::move(positions), timeout, std::move(done)});
}

// An application service's as_token (spec: Application Service API, "Identity assertion"): the
// service acts as its sender, or as ?user_id= when that user is local, in its user namespace and
// registered — Synapse's rules and messages (403 M_FORBIDDEN otherwise).
void node_runtime::impl::authenticate_appservice(const protocol::appservice::registration& as, std::string as_user_id,
                                                 std::function<void(gateway::auth_result)> done) {
  gateway::auth_result r;
  r.appservice_id = as.id;
  r.rate_limited = as.rate_limited;
  r.user_id = as_user_id.empty() ? as.sender : std::move(as_user_id);
  if (r.user_id == as.sender) {
    r.result = gateway::auth_result::outcome::ok;
    done(std::move(r));
    return;
  }
  auto parts = protocol::split_user_id(r.user_id);
  if (!parts || parts->server_name != cfg.server_name || !as.is_interested_in_user(r.user_id)) {
    r.result = gateway::auth_result::outcome::forbidden;
    r.message = "Application service cannot masquerade as this user (" + r.user_id + ").";
    done(std::move(r));
    return;
  }
  if (!pool || stopped) {
    r.result = gateway::auth_result::outcome::unavailable;
    done(std::move(r));
    return;
  }
  pool->post([this, r = std::move(r), done = std::move(done)]() mutable {
    try {
      auto c = db->acquire();
      auto rows = c->exec("SELECT deactivated FROM users WHERE user_id = $1", {r.user_id});
      if (rows.empty() || rows[0].as_int(0) != 0) {
        r.result = gateway::auth_result::outcome::forbidden;
        r.message = "Application service has not registered this user (" + r.user_id + ")";
      } else {
        r.result = gateway::auth_result::outcome::ok;
      }
    } catch (const std::exception& ex) {
      log.error("user lookup failed", {{"error", ex.what()}});
      r.result = gateway::auth_result::outcome::unavailable;
    }
    done(std::move(r));
  });
}

void node_runtime::authenticate(std::string access_token, std::string as_user_id,
                                std::function<void(gateway::auth_result)> done) {
  auto& m = *impl_;
  auto hash = protocol::sha256_hex(access_token);
  auto services = current_appservices(m.cfg);
  if (const auto* as = services->by_as_token_hash(hash)) {
    m.authenticate_appservice(*as, std::move(as_user_id), std::move(done));
    return;
  }
  if (auto hit = m.tokens.get(hash)) {
    gateway::auth_result r = hit->who;
    if (hit->valid_until_ms && *hit->valid_until_ms <= now_ms()) r.result = gateway::auth_result::outcome::expired;
    done(std::move(r));
    return;
  }
  if (!m.pool || m.stopped) {
    gateway::auth_result unavailable;
    unavailable.result = gateway::auth_result::outcome::unavailable;
    done(std::move(unavailable));
    return;
  }
  uint64_t generation = m.tokens.generation();
  m.pool->post([this, hash, generation, done = std::move(done)]() {
    auto& m = *impl_;
    gateway::auth_result r;
    try {
      auto c = m.db->acquire();
      auto rows = c->exec(
          "SELECT a.user_id, a.device_id, a.id, a.valid_until_ms, a.is_guest, u.deactivated "
          "FROM access_tokens a JOIN users u ON u.user_id = a.user_id WHERE a.token_hash = $1",
          {hash});
      if (rows.empty() || rows[0].as_int(5) != 0) {
        r.result = gateway::auth_result::outcome::unknown;
      } else {
        auto row = rows[0];
        r.result = gateway::auth_result::outcome::ok;
        r.user_id = row.as_text(0);
        r.device_id = row.as_text(1);
        r.token_id = row.as_int(2);
        r.is_guest = row.as_int(4) != 0;
        token_cache::entry e{r, row.opt_int(3)};
        m.tokens.put(hash, e, generation);
        if (e.valid_until_ms && *e.valid_until_ms <= now_ms()) r.result = gateway::auth_result::outcome::expired;
      }
    } catch (const std::exception& ex) {
      m.log.error("token lookup failed", {{"error", ex.what()}});
      r.result = gateway::auth_result::outcome::unavailable;
    }
    done(std::move(r));
  });
}

const endpoint_registry& node_runtime::endpoints() const { return impl_->endpoints; }
instance_registry& node_runtime::registry() { return impl_->registry; }
storage::database& node_runtime::db() { return *impl_->db; }
caf::actor_system& node_runtime::system() { return *impl_->sys; }

void node_runtime::release_long_polls() {
  for (size_t i : impl_->live->get()->indices_on(impl_->opts.node_name, "sync"))
    if (auto ref = impl_->registry.at("sync", i); ref.handle) caf::anon_send(ref.handle, atoms::release_atom_v);
}

void node_runtime::crash_instance(const std::string& group, size_t index) {
  auto ref = impl_->registry.at(group, index);
  if (ref.handle) caf::anon_send(ref.handle, atoms::crash_atom_v);
}

} // namespace myelin::runtime
