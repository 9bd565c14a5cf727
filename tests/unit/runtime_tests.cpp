// actors/runtime: group instances across two actor systems linked over loopback (proof that every
// cross-group message serializes), supervision, the bridge's failure handling, group commit and
// read-after-write waits.
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>
#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <filesystem>
#include <future>
#include <set>
#include <thread>

#include "actors/runtime/api_instance.hpp"
#include "actors/runtime/blocking_pool.hpp"
#include "actors/runtime/instance_registry.hpp"
#include "actors/runtime/node.hpp"
#include "actors/runtime/stream_hub.hpp"
#include "actors/runtime/stream_writer.hpp"
#include "actors/runtime/writer_client.hpp"
#include "common/config.hpp"
#include "protocol/crypto.hpp"
#include "storage/migrations.hpp"

using namespace myelin;
using namespace myelin::runtime;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
  fs::path path;
  temp_dir() {
    path = fs::temp_directory_path() / ("myelin-rt-" + std::to_string(::getpid()) + "-" + protocol::random_alnum(6));
    fs::create_directories(path);
  }
  ~temp_dir() { fs::remove_all(path); }
};

homeserver_config sqlite_config(const fs::path& dir) {
  homeserver_config cfg;
  cfg.server_name = "test.local";
  cfg.database.name = "sqlite3";
  cfg.database.sqlite_path = (dir / "hs.db").string();
  cfg.runtime.blocking_threads = 4;
  cfg.runtime.group_request_timeout_seconds = 10;
  cfg.enable_registration = true;
  return cfg;
}

// Waits for a dispatch to complete, with a bound so a hang fails the test instead of blocking.
std::pair<api_response, std::string> dispatch_and_wait(node_runtime& node, const std::string& group,
                                                      api_request req, const std::string& key = "") {
  auto done = std::make_shared<std::promise<std::pair<api_response, std::string>>>();
  auto fut = done->get_future();
  node.dispatch(group, key, std::move(req),
                [done](api_response r, std::string label) { done->set_value({std::move(r), std::move(label)}); });
  BOOST_REQUIRE(fut.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
  return fut.get();
}

api_request request_for(const std::string& endpoint, std::string body = {}) {
  api_request r;
  r.endpoint = endpoint;
  r.method = "GET";
  r.body = std::move(body);
  r.client_ip = "127.0.0.1";
  r.request_id = "t";
  return r;
}

} // namespace

BOOST_AUTO_TEST_SUITE(runtime_tests)

// Two actor systems in one process, linked over loopback: a client_reader instance, the accounts
// writer and the stream hub live on "node A"; "node B" calls all three through remote handles.
BOOST_AUTO_TEST_CASE(groups_work_across_two_linked_actor_systems) {
  protocol::crypto_init();
  temp_dir dir;
  auto cfg = sqlite_config(dir.path);
  storage::database_options dbo;
  dbo.sqlite_path = cfg.database.sqlite_path;
  auto db = storage::open_database(dbo);
  storage::apply_migrations(*db, storage::all_migrations());

  caf::actor_system_config cfg_a, cfg_b;
  configure_actor_system(cfg_a, 1);
  configure_actor_system(cfg_b, 1);
  caf::actor_system sys_a{cfg_a};
  caf::actor_system sys_b{cfg_b};

  // Node A: hub, writer, one API instance with a test endpoint that reads the database.
  auto hub = spawn_stream_hub(sys_a, std::make_shared<hub_listeners>(), {});
  auto wcfg = std::make_shared<stream_writer_config>();
  wcfg->definition = storage::accounts_stream();
  wcfg->writer_name = "writer.accounts/0";
  wcfg->db = db.get();
  wcfg->hub = hub;
  auto writer = spawn_stream_writer(sys_a, wcfg);
  instance_registry registry;
  registry.declare("writer.accounts", 1);
  registry.set("writer.accounts", 0, caf::actor_cast<caf::actor>(writer));
  writer_client writers(sys_a, registry, std::chrono::seconds(5));
  blocking_pool pool(2, "test-pool");
  endpoint_registry endpoints;
  endpoints.add({.name = "test.count_users", .method = "GET", .path = "/x"},
                [](handler_context& ctx, const api_request& req) {
                  auto c = ctx.db.acquire();
                  auto n = c->exec("SELECT COUNT(*) FROM users")[0].as_int(0);
                  return json_response(boost::json::object{{"users", n}, {"echo", req.body}, {"at", ctx.instance}});
                });
  api_instance_deps deps{&cfg, db.get(), &writers, &pool, &endpoints, 16, false};
  auto instance = spawn_api_instance(sys_a, "client_reader/0", deps);

  auto& mm_a = sys_a.middleman();
  auto port_instance = mm_a.publish(instance, 0, "127.0.0.1", true);
  auto port_writer = mm_a.publish(writer, 0, "127.0.0.1", true);
  auto port_hub = mm_a.publish(hub, 0, "127.0.0.1", true);
  BOOST_REQUIRE(port_instance && port_writer && port_hub);

  // Node B: remote handles, typed.
  auto remote_instance = sys_b.middleman().remote_actor<api_instance_actor>("127.0.0.1", *port_instance);
  auto remote_writer = sys_b.middleman().remote_actor<stream_writer_actor>("127.0.0.1", *port_writer);
  auto remote_hub = sys_b.middleman().remote_actor<stream_hub_actor>("127.0.0.1", *port_hub);
  BOOST_REQUIRE(remote_instance && remote_writer && remote_hub);

  caf::scoped_actor self{sys_b};
  // A stream subscriber on node B receives updates from node A's hub.
  auto got_update = std::make_shared<std::promise<stream_update>>();
  // (Spawned with an argument: CAF 0.17 dereferences a null argument pack for argument-less
  // function actors, which UBSan reports.)
  auto subscriber = sys_b.spawn(
      [](caf::event_based_actor*, std::shared_ptr<std::promise<stream_update>> got) -> caf::behavior {
        return {[got](const stream_update& u) {
          if (!u.rows.empty()) got->set_value(u);
        }};
      },
      got_update);
  self->send(*remote_hub, atoms::subscribe_atom_v, std::string("accounts"), subscriber);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the subscription land

  write_result wr;
  self->request(*remote_writer, std::chrono::seconds(5),
                write_request{"register", R"({"user_id":"@remote:test.local","displayname":"R"})"})
      .receive([&](write_result& r) { wr = r; }, [&](caf::error& e) { BOOST_FAIL(sys_b.render(e)); });
  BOOST_TEST(wr.status == 200);
  BOOST_TEST(wr.position.stream == "accounts");
  BOOST_TEST(wr.position.position == 1);

  auto fut = got_update->get_future();
  BOOST_REQUIRE(fut.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  auto update = fut.get();
  BOOST_TEST(update.position == 1);
  BOOST_TEST(update.rows.at(0).find("user_created") != std::string::npos);

  // A refused write crosses back as a typed error result, not a lost message.
  self->request(*remote_writer, std::chrono::seconds(5),
                write_request{"register", R"({"user_id":"@remote:test.local"})"})
      .receive([&](write_result& r) { wr = r; }, [&](caf::error& e) { BOOST_FAIL(sys_b.render(e)); });
  BOOST_TEST(wr.status == 400);
  BOOST_TEST(wr.errcode == "M_USER_IN_USE");

  api_response resp;
  auto req = request_for("test.count_users", "hello");
  self->request(*remote_instance, std::chrono::seconds(5), req)
      .receive([&](api_response& r) { resp = r; }, [&](caf::error& e) { BOOST_FAIL(sys_b.render(e)); });
  BOOST_TEST(resp.status == 200);
  auto body = boost::json::parse(resp.body).as_object();
  BOOST_TEST(body["users"].as_int64() == 1);
  BOOST_TEST(body["echo"].as_string() == "hello");
  BOOST_TEST(body["at"].as_string() == "client_reader/0");

  // And the wait protocol: node B asks node A's hub whether position 1 has been seen.
  bool reached = false;
  self->request(*remote_hub, std::chrono::seconds(5), atoms::wait_atom_v,
                std::vector<stream_position>{{"accounts", "writer.accounts/0", 1}})
      .receive([&](bool b) { reached = b; }, [&](caf::error& e) { BOOST_FAIL(sys_b.render(e)); });
  BOOST_TEST(reached);

  self->send_exit(subscriber, caf::exit_reason::user_shutdown);
  self->send_exit(instance, caf::exit_reason::user_shutdown);
  self->send_exit(writer, caf::exit_reason::user_shutdown);
  self->send_exit(hub, caf::exit_reason::user_shutdown);
  pool.stop();
}

BOOST_AUTO_TEST_CASE(supervisor_restarts_a_crashed_instance_and_inflight_requests_fail_cleanly) {
  temp_dir dir;
  auto cfg = sqlite_config(dir.path);
  node_runtime node(cfg, all_in_one_placement(), node_options{"main", true});
  node.start();

  auto [first, label] = dispatch_and_wait(node, "client_reader", request_for("versions"));
  BOOST_TEST(first.status == 200);
  BOOST_TEST(label == "client_reader/0");
  auto before = node.registry().at("client_reader", 0).handle;

  // A registration is in flight (argon2id keeps it busy) when its instance dies: the caller gets a
  // prompt 503, not a hang until the timeout.
  api_request reg = request_for("register", R"({"username":"inflight","password":"pw-pw-pw","auth":{"type":"m.login.dummy"}})");
  reg.method = "POST";
  auto done = std::make_shared<std::promise<api_response>>();
  auto fut = done->get_future();
  auto t0 = std::chrono::steady_clock::now();
  node.dispatch("client_reader", "", reg, [done](api_response r, std::string) { done->set_value(std::move(r)); });
  node.crash_instance("client_reader", 0);
  BOOST_REQUIRE(fut.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  auto failed = fut.get();
  BOOST_TEST(failed.status == 503);
  BOOST_TEST(failed.body.find("M_UNKNOWN") != std::string::npos);
  BOOST_TEST((std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3)));

  // The supervisor has put a new instance in the slot.
  for (int i = 0; i < 200 && (!node.registry().at("client_reader", 0).handle ||
                              node.registry().at("client_reader", 0).handle == before);
       ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto after = node.registry().at("client_reader", 0).handle;
  BOOST_TEST(static_cast<bool>(after));
  BOOST_TEST((after != before));
  auto [again, label2] = dispatch_and_wait(node, "client_reader", request_for("versions"));
  BOOST_TEST(again.status == 200);

  // A crashed stream writer comes back at its committed position.
  node.crash_instance("writer.accounts", 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  BOOST_TEST(static_cast<bool>(node.registry().at("writer.accounts", 0).handle));
  node.stop();
}

BOOST_AUTO_TEST_CASE(group_commit_assigns_distinct_ordered_positions_and_waits_resolve) {
  protocol::crypto_init();
  temp_dir dir;
  auto cfg = sqlite_config(dir.path);
  node_runtime node(cfg, all_in_one_placement(), node_options{});
  node.start();
  writer_client writers(node.system(), node.registry(), std::chrono::seconds(10));

  constexpr int threads = 8, per_thread = 25;
  std::vector<std::vector<int64_t>> positions(threads);
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        auto id = "@u" + std::to_string(t) + "_" + std::to_string(i) + ":test.local";
        auto r = writers.write("accounts", id, "register", {{"user_id", id}});
        positions[t].push_back(r.position.position);
      }
    });
  for (auto& t : ts) t.join();
  std::set<int64_t> all;
  for (auto& v : positions) {
    BOOST_TEST(std::is_sorted(v.begin(), v.end()));  // one caller's writes are ordered
    all.insert(v.begin(), v.end());
  }
  BOOST_TEST(all.size() == size_t(threads * per_thread));
  BOOST_TEST(*all.begin() == 1);
  BOOST_TEST(*all.rbegin() == threads * per_thread);

  // The node has seen the last position; a position beyond it times out (false, not a hang).
  auto wait = [&](int64_t p) {
    auto done = std::make_shared<std::promise<void>>();
    auto f = done->get_future();
    auto t0 = std::chrono::steady_clock::now();
    node.wait_for_positions({{"accounts", "writer.accounts/0", p}}, std::chrono::milliseconds(300),
                            [done] { done->set_value(); });
    BOOST_REQUIRE(f.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
    return std::chrono::steady_clock::now() - t0;
  };
  BOOST_TEST((wait(threads * per_thread) < std::chrono::milliseconds(200)));
  BOOST_TEST((wait(threads * per_thread + 10) >= std::chrono::milliseconds(250)));
  node.stop();

  // After a restart the position survives.
  node_runtime again(cfg, all_in_one_placement(), node_options{});
  again.start();
  writer_client w2(again.system(), again.registry(), std::chrono::seconds(10));
  auto r = w2.write("accounts", "", "register", {{"user_id", "@after:test.local"}});
  BOOST_TEST(r.position.position == threads * per_thread + 1);
  again.stop();
}

BOOST_AUTO_TEST_SUITE_END()
