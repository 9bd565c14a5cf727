#include "actors/appservice/appservice_instance.hpp"

#include <caf/all.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "actors/appservice/as_client.hpp"
#include "actors/rooms/rooms.hpp"
#include "actors/runtime/writer_client.hpp"
#include "common/clock.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "protocol/appservice.hpp"
#include "protocol/errors.hpp"
#include "storage/database.hpp"
#include "storage/tables/accounts.hpp"
#include "storage/tables/admin.hpp"
#include "storage/tables/appservices.hpp"
#include "storage/tables/events.hpp"

namespace myelin::appservice {

namespace json = boost::json;
namespace as = protocol::appservice;
using clock = std::chrono::steady_clock;

namespace {

constexpr size_t batch_events = 100;          // per persister and transaction
constexpr size_t max_ephemeral = 1000;        // typing and receipts waiting, all services together
constexpr int64_t idle_save_interval_ms = 10000;  // how often positions move without a transaction

struct ephemeral_item {
  uint64_t seq = 0;
  std::string room_id;
  json::object event;
};

// A room's aliases and joined members, asked for at most once per room per step.
class room_facts {
public:
  explicit room_facts(storage::connection& c) : c_(c) {}
  as::lazy_list aliases(const std::string& room_id) {
    return [this, room_id] { return memo(aliases_, room_id, [&] { return storage::events::aliases_for_room(c_, room_id); }); };
  }
  as::lazy_list members(const std::string& room_id) {
    return [this, room_id] { return memo(members_, room_id, [&] { return storage::admin::joined_members(c_, room_id); }); };
  }

private:
  using cache = std::map<std::string, std::vector<std::string>>;
  template <class F>
  std::vector<std::string> memo(cache& m, const std::string& key, F&& load) {
    auto it = m.find(key);
    if (it == m.end()) it = m.emplace(key, load()).first;
    return it->second;
  }
  storage::connection& c_;
  cache aliases_, members_;
};

// The sending thread. The actor only wakes it and hands it ephemeral events.
class transaction_sender {
public:
  transaction_sender(appservice_deps deps, std::string label)
      : deps_(deps), log_("appservice", label), thread_([this] { run(); }) {}
  ~transaction_sender() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();  // at most one request's timeout
  }

  void wake() {
    {
      std::lock_guard lock(mu_);
      woken_ = true;
    }
    cv_.notify_all();
  }

  void add_ephemeral(std::string room_id, json::object event) {
    {
      std::lock_guard lock(mu_);
      ephemeral_.push_back({++ephemeral_seq_, std::move(room_id), std::move(event)});
      // A service that is down must not grow memory: the oldest typing/receipt updates go.
      if (ephemeral_.size() > max_ephemeral) ephemeral_.pop_front();
      woken_ = true;
    }
    cv_.notify_all();
  }

private:
  struct progress {
    bool loaded = false;
    storage::appservices::state st;
    uint64_t ephemeral_seq = 0;       // ephemeral items already considered
    clock::time_point next_try{};     // backoff after a failed transaction
    std::chrono::milliseconds delay{0};
    int64_t saved_ms = 0;
  };

  void run() {
    auto next_round = clock::now();
    while (true) {
      {
        std::unique_lock lock(mu_);
        cv_.wait_until(lock, next_round, [&] { return stopping_ || woken_; });
        if (stopping_) return;
        woken_ = false;
      }
      // A safety round every few seconds catches what no wake-up announced (another node's writer).
      next_round = clock::now() + std::chrono::seconds(5);
      auto services = current_appservices(*deps_.config);
      for (const auto& reg : services->all()) {
        ensure_sender(reg);
        if (reg.url.empty()) continue;  // url: null — the service receives nothing
        auto& p = progress_[reg.id];
        try {
          while (!stopping() && step(reg, p)) {
          }
        } catch (const std::exception& e) {
          log_.warn("application service step failed", {{"appservice", reg.id}, {"error", e.what()}});
          back_off(reg, p, e.what());
        }
        if (p.next_try > clock::now()) next_round = std::min(next_round, p.next_try);
      }
    }
  }

  bool stopping() {
    std::lock_guard lock(mu_);
    return stopping_;
  }

  // Creates the service's sender user once; a failure is tried again next round.
  void ensure_sender(const as::registration& reg) {
    if (!deps_.writers || senders_.count(reg.sender)) return;
    try {
      bool exists = false;
      {
        auto c = deps_.db->acquire();
        exists = storage::accounts::get_user(*c, reg.sender).has_value();
      }
      if (!exists) {
        deps_.writers->write("accounts", reg.sender, "register",
                             {{"user_id", reg.sender}, {"is_guest", false}, {"displayname", reg.sender_localpart}});
        log_.info("created the application service's user", {{"appservice", reg.id}, {"user_id", reg.sender}});
      }
      senders_.insert(reg.sender);
    } catch (const protocol::matrix_error& e) {
      if (e.errcode() == "M_USER_IN_USE") senders_.insert(reg.sender);  // created meanwhile
      else log_.warn("could not create the application service's user", {{"appservice", reg.id}, {"error", e.what()}});
    } catch (const std::exception& e) {
      log_.warn("could not create the application service's user", {{"appservice", reg.id}, {"error", e.what()}});
    }
  }

  std::vector<ephemeral_item> ephemeral_after(uint64_t seq, uint64_t& last) {
    std::lock_guard lock(mu_);
    std::vector<ephemeral_item> out;
    for (const auto& e : ephemeral_)
      if (e.seq > seq) out.push_back(e);
    last = ephemeral_seq_;
    return out;
  }

  uint64_t ephemeral_now() {
    std::lock_guard lock(mu_);
    return ephemeral_seq_;
  }

  void back_off(const as::registration& reg, progress& p, const std::string& why) {
    auto first = std::chrono::milliseconds(deps_.config->appservice.retry_delay_ms);
    auto max = std::chrono::milliseconds(deps_.config->appservice.max_retry_delay_ms);
    p.delay = p.delay.count() == 0 ? first : std::min(p.delay * 2, max);
    p.next_try = clock::now() + p.delay;
    log_.warn("application service transaction failed; will retry",
              {{"appservice", reg.id}, {"txn_id", std::to_string(p.st.last_txn_id)}, {"error", why},
               {"retry_in_ms", std::to_string(p.delay.count())}});
  }

  // Loads the service's progress; a service seen for the first time starts at the current heads
  // (it gets what happens from now on, not the server's history).
  void load(storage::connection& c, const as::registration& reg, progress& p) {
    if (auto st = storage::appservices::get(c, reg.id)) {
      p.st = std::move(*st);
    } else {
      p.st.sent = storage::appservices::events_heads(c);
      storage::appservices::put(c, reg.id, p.st);
    }
    p.ephemeral_seq = ephemeral_now();
    p.saved_ms = now_ms();
    p.loaded = true;
  }

  // Builds the next transaction into p.st (stored before it is sent). False when there is none.
  bool build(storage::connection& c, const as::registration& reg, progress& p, bool& more) {
    auto next = p.st.sent;
    std::vector<storage::events::event_row> picked;
    room_facts facts(c);
    for (const auto& [persister, head] : storage::appservices::events_heads(c)) {
      int64_t after = next.count(persister) ? next[persister] : 0;
      if (after >= head) continue;
      auto rows = storage::events::events_after(c, persister, after, batch_events);
      if (rows.size() == batch_events) more = true;
      for (auto& e : rows) {
        next[persister] = e.stream_ordering;
        as::event_facts ev{e.room_id, e.type, e.sender, e.state_key};
        if (as::interested_in_event(reg, ev, facts.aliases(e.room_id), facts.members(e.room_id)))
          picked.push_back(std::move(e));
      }
    }
    json::array ephemeral;
    if (reg.receive_ephemeral) {
      uint64_t last = 0;
      for (auto& item : ephemeral_after(p.ephemeral_seq, last))
        if (as::interested_in_room(reg, item.room_id, facts.aliases(item.room_id), facts.members(item.room_id)))
          ephemeral.push_back(std::move(item.event));
      p.ephemeral_seq = last;
    }
    if (picked.empty() && ephemeral.empty()) {
      // Nothing for this service: move on in memory, and store now and then so a restart does
      // not rescan much.
      bool moved = next != p.st.sent;
      p.st.sent = std::move(next);
      if (moved && now_ms() - p.saved_ms >= idle_save_interval_ms) {
        storage::appservices::put(c, reg.id, p.st);
        p.saved_ms = now_ms();
      }
      return false;
    }
    json::object body{{"events", rooms::client_events(c, picked, rooms::viewer{})}};
    if (!ephemeral.empty()) {
      body["de.sorunome.msc2409.ephemeral"] = ephemeral;  // the unstable name, which Synapse also sends
      body["ephemeral"] = std::move(ephemeral);
    }
    p.st.last_txn_id += 1;
    p.st.txn_body = json::serialize(body);
    p.st.txn_positions = std::move(next);
    storage::appservices::put(c, reg.id, p.st);
    p.saved_ms = now_ms();
    return true;
  }

  // One transaction: the stored one if any, else a new one. True when it was delivered and there
  // may be more to send at once.
  bool step(const as::registration& reg, progress& p) {
    if (clock::now() < p.next_try) return false;
    bool more = false;
    {
      auto c = deps_.db->acquire();
      if (!p.loaded) load(*c, reg, p);
      if (!p.st.txn_body && !build(*c, reg, p, more)) return more;
    }  // the connection goes back to the pool before the request
    auto txn_id = std::to_string(p.st.last_txn_id);
    auto r = call(*deps_.config, reg, "PUT", "/_matrix/app/v1/transactions/" + txn_id, *p.st.txn_body);
    if (r.result != call_result::kind::ok) {
      back_off(reg, p, r.error);
      return false;
    }
    p.st.sent = p.st.txn_positions;
    p.st.txn_body.reset();
    p.st.txn_positions.clear();
    {
      auto c = deps_.db->acquire();
      storage::appservices::put(*c, reg.id, p.st);
    }
    p.delay = std::chrono::milliseconds(0);
    log_.debug("transaction delivered", {{"appservice", reg.id}, {"txn_id", txn_id}});
    return true;
  }

  appservice_deps deps_;
  logger log_;
  std::map<std::string, progress> progress_;  // the sending thread's only
  std::set<std::string> senders_;             // sender users known to exist (sending thread)
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ephemeral_item> ephemeral_;
  uint64_t ephemeral_seq_ = 0;
  bool woken_ = true;  // a first round at start: transactions left in flight by a restart
  bool stopping_ = false;
  std::thread thread_;  // last: started once everything it uses exists
};

// MSC2409's ephemeral events from the typing and receipts streams' rows (their formats are in
// storage/streams/typing_stream.cpp and receipts_stream.cpp). Private receipts stay private.
std::optional<json::object> ephemeral_event(const std::string& stream, const json::object& row) {
  auto text = [&](const char* key) -> std::string {
    const auto* v = row.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  auto room_id = text("room_id");
  if (room_id.empty()) return std::nullopt;
  if (stream == "typing") {
    const auto* users = row.if_contains("user_ids");
    if (text("type") != "typing" || !users || !users->is_array()) return std::nullopt;
    return json::object{{"type", "m.typing"}, {"room_id", room_id}, {"content", {{"user_ids", *users}}}};
  }
  if (stream == "receipts") {
    if (text("type") != "receipt" || text("receipt_type") != "m.read") return std::nullopt;
    json::object data{{"ts", now_ms()}};
    if (auto thread = text("thread_id"); !thread.empty()) data["thread_id"] = thread;
    json::object content{{text("event_id"), json::object{{"m.read", json::object{{text("user_id"), std::move(data)}}}}}};
    return json::object{{"type", "m.receipt"}, {"room_id", room_id}, {"content", std::move(content)}};
  }
  return std::nullopt;
}

struct appservice_state {
  std::unique_ptr<transaction_sender> sender;
};

using instance_type = appservice_instance_actor::stateful_pointer<appservice_state>;

appservice_instance_actor::behavior_type appservice_impl(instance_type self, std::string label, appservice_deps deps,
                                                         runtime::stream_hub_actor hub) {
  self->state.sender = std::make_unique<transaction_sender>(deps, label);
  for (const char* stream : {"events", "typing", "receipts"})
    caf::anon_send(hub, atoms::subscribe_atom_v, std::string(stream), caf::actor_cast<caf::actor>(self));
  return {
      [=](stream_update& u) {
        if (u.stream == "events") {
          self->state.sender->wake();  // the sender reads what is new from the database
          return;
        }
        auto services = current_appservices(*deps.config);
        if (std::none_of(services->all().begin(), services->all().end(),
                         [](const as::registration& r) { return r.receive_ephemeral && !r.url.empty(); }))
          return;
        for (const auto& text : u.rows) {
          boost::system::error_code ec;
          auto row = json::parse(text, ec);
          if (ec || !row.is_object()) continue;
          if (auto ev = ephemeral_event(u.stream, row.as_object()))
            self->state.sender->add_ephemeral(std::string(row.as_object().at("room_id").as_string()), std::move(*ev));
        }
      },
      [=](atoms::crash_atom) { self->quit(caf::sec::runtime_error); },
  };
}

} // namespace

appservice_instance_actor spawn_appservice_instance(caf::actor_system& sys, std::string label, appservice_deps deps,
                                                    runtime::stream_hub_actor hub) {
  return sys.spawn(appservice_impl, std::move(label), std::move(deps), std::move(hub));
}

} // namespace myelin::appservice
