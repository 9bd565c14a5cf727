// actors/runtime/redis_bus and the hub's Redis protocol: the wire format, and two hubs (two
// "nodes" in one actor system) fanning out through a private redis-server that is killed and
// restarted: updates keep arriving through the outage (over the direct path), each hub catches up,
// and Redis carries them again once it is back.
#include <boost/test/unit_test.hpp>
#include <caf/all.hpp>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

#include "actors/runtime/node.hpp"
#include "actors/runtime/redis_bus.hpp"
#include "actors/runtime/stream_hub.hpp"
#include "protocol/crypto.hpp"

using namespace myelin;
using namespace myelin::runtime;
namespace fs = std::filesystem;

namespace {

// A redis-server of our own on a unix socket, so the test may kill it.
struct private_redis {
  fs::path dir;
  fs::path socket() const { return dir / "redis.sock"; }
  explicit private_redis() {
    dir = fs::temp_directory_path() / ("myelin-redis-" + std::to_string(::getpid()) + "-" + protocol::random_alnum(6));
    fs::create_directories(dir);
  }
  ~private_redis() {
    kill();
    fs::remove_all(dir);
  }
  bool start() {
    auto cmd = "redis-server --port 0 --unixsocket " + socket().string() + " --daemonize yes --pidfile " +
               (dir / "redis.pid").string() + " --logfile " + (dir / "redis.log").string() + " --dir " + dir.string() +
               " --save '' --appendonly no";
    if (std::system(cmd.c_str()) != 0) return false;
    return wait_until([&] { return fs::exists(socket()); });
  }
  void kill() {
    std::ifstream in(dir / "redis.pid");
    pid_t pid = 0;
    if (!(in >> pid) || pid <= 0) return;
    ::kill(pid, SIGKILL);
    wait_until([&] { return ::kill(pid, 0) != 0; });
    fs::remove(dir / "redis.pid");
    fs::remove(socket());
  }
  static bool wait_until(const std::function<bool()>& ok, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!ok()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  }
};

// One "node": a hub with a bus, and what its listener saw.
struct test_node {
  std::shared_ptr<redis_bus> bus;
  stream_hub_actor hub;
  std::shared_ptr<std::mutex> mu = std::make_shared<std::mutex>();
  std::shared_ptr<std::vector<stream_update>> seen = std::make_shared<std::vector<stream_update>>();

  test_node(caf::actor_system& sys, const std::string& name, const std::string& socket) {
    redis_settings rs;
    rs.path = socket;
    bus = std::make_shared<redis_bus>(rs, name);
    auto listeners = std::make_shared<hub_listeners>();
    listeners->by_stream.emplace("test", [mu = mu, seen = seen](const stream_update& u) {
      std::lock_guard lock(*mu);
      seen->push_back(u);
    });
    hub = spawn_stream_hub(sys, listeners, {}, bus);
    bus->start(hub);
  }
  bool saw(int64_t position, const std::string& row) const {
    std::lock_guard lock(*mu);
    for (const auto& u : *seen)
      if (u.position == position && !u.rows.empty() && u.rows[0] == row) return true;
    return false;
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(redis_bus_tests)

BOOST_AUTO_TEST_CASE(wire_format_round_trip) {
  stream_update u{"events", "writer.events/1", 42, {R"({"type":"event","room_id":"!r:x"})", "{}"}};
  auto text = redis_bus::encode("node-a", u);
  auto back = redis_bus::decode(text);
  BOOST_REQUIRE(back.has_value());
  BOOST_TEST(back->first == "node-a");
  BOOST_TEST(back->second.stream == "events");
  BOOST_TEST(back->second.writer == "writer.events/1");
  BOOST_TEST(back->second.position == 42);
  BOOST_TEST(back->second.rows == u.rows);
  // Anything else on the channel is ignored, never thrown.
  BOOST_TEST(!redis_bus::decode("not json"));
  BOOST_TEST(!redis_bus::decode(R"({"node":"a","stream":"s","writer":"w","position":"1","rows":[]})"));
  BOOST_TEST(!redis_bus::decode(R"({"node":"a","stream":"s","writer":"w","position":1,"rows":[{}]})"));
}

BOOST_AUTO_TEST_CASE(publisher_refuses_while_redis_is_unreachable) {
  redis_settings rs;
  rs.path = "/nonexistent/redis.sock";
  redis_bus bus(rs, "a");
  caf::actor_system_config cfg;
  configure_actor_system(cfg, 1);
  caf::actor_system sys{cfg};
  auto hub = spawn_stream_hub(sys, std::make_shared<hub_listeners>(), {});
  bus.start(hub);
  BOOST_TEST(private_redis::wait_until([&] { return bus.status().failures >= 2; }));
  // Nothing queued: the hub forwards over the links instead.
  BOOST_TEST(!bus.publish(stream_update{"test", "w/0", 1, {}}));
  auto s = bus.status();
  BOOST_TEST(!s.publisher_up);
  BOOST_TEST(!s.subscriber_up);
  BOOST_TEST(s.last_error.find("No such file") != std::string::npos, s.last_error);
  bus.stop();
  caf::anon_send_exit(hub, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(two_hubs_through_an_outage) {
  if (std::system("command -v redis-server >/dev/null 2>&1") != 0) {
    BOOST_TEST_MESSAGE("redis-server is not installed: skipped");
    return;
  }
  private_redis redis;
  BOOST_REQUIRE(redis.start());
  caf::actor_system_config cfg;
  configure_actor_system(cfg, 2);
  caf::actor_system sys{cfg};
  test_node a(sys, "a", redis.socket().string()), b(sys, "b", redis.socket().string());
  caf::anon_send(a.hub, atoms::link_atom_v, caf::actor_cast<caf::actor>(b.hub), true);
  caf::anon_send(b.hub, atoms::link_atom_v, caf::actor_cast<caf::actor>(a.hub), true);
  auto both_subscribed = [&] {
    auto sa = a.bus->status(), sb = b.bus->status();
    return sa.publisher_up && sb.subscriber_up && sa.peers.count("b") && sa.peers["b"] && sb.peers.count("a") &&
           sb.peers["a"];
  };
  BOOST_REQUIRE(private_redis::wait_until(both_subscribed));
  auto publish = [&](int64_t position, const std::string& row) {
    caf::anon_send(a.hub, atoms::publish_atom_v, stream_update{"test", "w/0", position, {row}});
  };

  // 1. Through Redis only: b is subscribed, so a sends nothing directly.
  publish(1, "one");
  BOOST_TEST(private_redis::wait_until([&] { return b.saw(1, "one"); }));
  BOOST_TEST(b.bus->status().received == 1u);
  BOOST_TEST(a.bus->status().published == 1u);
  BOOST_TEST(a.bus->status().received == 0u);  // its own message comes back and is ignored

  // 2. Redis dies: both sides notice, b catches up to what a has published, and updates keep
  // arriving over the direct path.
  auto catch_ups = b.bus->status().catch_ups;
  redis.kill();
  BOOST_REQUIRE(private_redis::wait_until([&] {
    auto sa = a.bus->status(), sb = b.bus->status();
    return !sa.publisher_up && !sa.subscriber_up && !sb.subscriber_up && !sa.peers["b"];
  }));
  BOOST_TEST(private_redis::wait_until([&] { return b.bus->status().catch_ups > catch_ups; }));
  BOOST_TEST(b.saw(1, catch_up_row));
  publish(2, "two");
  BOOST_TEST(private_redis::wait_until([&] { return b.saw(2, "two"); }, std::chrono::seconds(2)));
  BOOST_TEST(b.bus->status().received == 1u);  // not through Redis
  BOOST_TEST(!a.bus->status().last_error.empty());

  // 3. Redis returns on the same socket: both reconnect (back-off at most 5 s), and it carries
  // updates again.
  BOOST_REQUIRE(redis.start());
  BOOST_REQUIRE(private_redis::wait_until(both_subscribed, std::chrono::seconds(15)));
  publish(3, "three");
  BOOST_TEST(private_redis::wait_until([&] { return b.saw(3, "three"); }));
  BOOST_TEST(private_redis::wait_until([&] { return b.bus->status().received == 2u; }));

  a.bus->stop();
  b.bus->stop();
  caf::anon_send_exit(a.hub, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(b.hub, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END()
