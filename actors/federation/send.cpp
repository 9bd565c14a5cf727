// PUT /_matrix/federation/v1/send/{txnId}: a transaction from another server (server-server API
// "Transactions"): its PDUs go to receive_pdus (actors/federation/inbound_pdus), its EDUs to the
// streams local users' /sync reads — typing, receipts, presence, to-device messages, device list
// and cross-signing key updates.
//
// A transaction is processed once: its answer is stored per (origin, txnId) and a retry gets the
// stored answer. One origin's transactions are processed one at a time within this process (the
// spec requires servers to send one at a time per destination; this makes a retry racing the
// original wait for it). Across nodes, routing balances federation_inbound by origin, and a
// transaction processed twice at once on two nodes is harmless: to-device messages are
// deduplicated by message_id, the other EDUs are states set again.
//
// Every EDU is checked on its own: a user or device that is not the origin's, a room the user is
// not joined to, or a malformed content is logged and ignored; none fails the transaction (only
// an unreachable writer does, so the origin retries).
#include <boost/json.hpp>

#include <map>
#include <memory>
#include <mutex>

#include "actors/endpoint_helpers.hpp"
#include "actors/federation/federation.hpp"
#include "actors/federation/room_events.hpp"
#include "actors/federation/inbound_pdus.hpp"
#include "common/clock.hpp"
#include "actors/runtime/writer_client.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/json.hpp"
#include "storage/tables/events.hpp"
#include "storage/tables/federation_inbound.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
namespace inbound = storage::federation_inbound;

namespace {

// The spec's limits on one transaction.
constexpr size_t max_pdus = 50;
constexpr size_t max_edus = 100;
constexpr int64_t txn_retention_ms = 24 * 3600 * 1000;
// A remote user's typing lasts this long unless their server says otherwise (Synapse's
// FEDERATION_TIMEOUT for typing).
constexpr int64_t remote_typing_timeout_ms = 60 * 1000;
constexpr int64_t max_typing_timeout_ms = 120 * 1000;

// Serialises one origin's transactions; an entry lives while someone holds or waits for it.
class origin_lock {
public:
  explicit origin_lock(const std::string& origin) : origin_(origin) {
    {
      std::lock_guard g(map_mutex_);
      auto& e = entries_[origin_];
      if (!e.mutex) e.mutex = std::make_shared<std::mutex>();
      ++e.users;
      mutex_ = e.mutex;
    }
    mutex_->lock();
  }
  ~origin_lock() {
    mutex_->unlock();
    std::lock_guard g(map_mutex_);
    if (auto it = entries_.find(origin_); it != entries_.end() && --it->second.users == 0) entries_.erase(it);
  }
  origin_lock(const origin_lock&) = delete;
  origin_lock& operator=(const origin_lock&) = delete;

private:
  struct entry {
    std::shared_ptr<std::mutex> mutex;
    int users = 0;
  };
  static inline std::mutex map_mutex_;
  static inline std::map<std::string, entry> entries_;
  std::string origin_;
  std::shared_ptr<std::mutex> mutex_;
};

// What EDU handlers share: the request's context and the origin every user must belong to.
struct edu_context {
  runtime::handler_context& ctx;
  const std::string& origin;

  // Whether `user_id` is a valid id of the origin's (logged when not).
  bool of_origin(const std::string& user_id, std::string_view edu) const {
    auto parts = protocol::split_user_id(user_id);
    if (parts && protocol::is_valid_user_id(user_id) && parts->server_name == origin) return true;
    ignored(edu, "user is not the origin's", user_id);
    return false;
  }
  // The user id in o[key] when it is the origin's; else nullopt.
  std::optional<std::string> origin_user(const json::object& o, std::string_view key, std::string_view edu) const {
    auto user_id = protocol::req_string(o, key);
    if (!of_origin(user_id, edu)) return std::nullopt;
    return user_id;
  }
  bool joined(const std::string& room_id, const std::string& user_id) const {
    auto c = ctx.db.acquire();
    return storage::events::current_membership(*c, room_id, user_id) == std::optional<std::string>("join");
  }
  // The room's server ACL lets the origin in (spec: typing and receipts of a denied server are
  // ignored).
  bool acl_allows(const std::string& room_id) const {
    auto c = ctx.db.acquire();
    return federation::acl_allows(*c, room_id, origin);
  }
  bool shares_room(const std::string& user_id) const {
    auto c = ctx.db.acquire();
    return inbound::shares_room_with_local_user(*c, user_id);
  }
  void ignored(std::string_view edu, std::string_view why, std::string_view subject) const {
    ctx.log.info("federation EDU ignored", {{"origin", origin}, {"edu", std::string(edu)},
                                            {"reason", std::string(why)}, {"subject", std::string(subject)}});
  }
};

void typing_edu(const edu_context& e, const json::object& content) {
  auto room_id = protocol::req_string(content, "room_id");
  auto user_id = e.origin_user(content, "user_id", "m.typing");
  if (!user_id) return;
  auto typing = protocol::opt_bool(content, "typing");
  if (!typing) throw protocol::errors::missing_param("Missing 'typing'");
  if (!protocol::is_valid_room_id(room_id) || !e.joined(room_id, *user_id))
    return e.ignored("m.typing", "user not joined to the room", *user_id);
  if (!e.acl_allows(room_id)) return e.ignored("m.typing", "server denied by the room's ACL", room_id);
  auto timeout = std::clamp<int64_t>(protocol::opt_int(content, "timeout").value_or(remote_typing_timeout_ms), 0,
                                     max_typing_timeout_ms);
  e.ctx.writers.write("typing", room_id, "set",
                      {{"room_id", room_id}, {"user_id", *user_id}, {"typing", *typing}, {"timeout_ms", timeout}});
}

// {room_id: {"m.read": {user_id: {event_ids: [...], data: {ts, thread_id?}}}}}. Only public read
// receipts travel between servers; other types are ignored.
void receipt_edu(const edu_context& e, const json::object& content) {
  for (const auto& [room_key, by_type] : content) {
    std::string room_id(room_key);
    if (!by_type.is_object() || !protocol::is_valid_room_id(room_id)) {
      e.ignored("m.receipt", "malformed room entry", room_id);
      continue;
    }
    const auto* read = protocol::opt_object(by_type.as_object(), "m.read");
    if (!read) continue;
    if (!e.acl_allows(room_id)) {
      e.ignored("m.receipt", "server denied by the room's ACL", room_id);
      continue;
    }
    for (const auto& [user_key, receipt] : *read) {
      std::string user_id(user_key);
      if (!receipt.is_object()) throw protocol::errors::bad_json("A receipt must be an object");
      if (!e.of_origin(user_id, "m.receipt")) continue;
      if (!e.joined(room_id, user_id)) {
        e.ignored("m.receipt", "user not joined to the room", user_id);
        continue;
      }
      const auto& r = receipt.as_object();
      const auto* data = protocol::opt_object(r, "data");
      auto thread_id = data ? protocol::opt_string(*data, "thread_id").value_or("") : "";
      auto ts = data ? protocol::opt_int(*data, "ts") : std::nullopt;
      for (const auto& event_id : protocol::string_array(r, "event_ids")) {
        json::object args{{"room_id", room_id}, {"receipt_type", "m.read"}, {"user_id", user_id},
                          {"thread_id", thread_id}, {"event_id", event_id}};
        if (ts) args["ts"] = *ts;
        try {
          e.ctx.writers.write("receipts", room_id, "set", std::move(args));
        } catch (const protocol::matrix_error& err) {  // an event we do not have: that receipt only
          if (err.status() >= 500) throw;
          e.ignored("m.receipt", err.what(), event_id);
        }
      }
    }
  }
}

// {push: [{user_id, presence, status_msg?, last_active_ago?, currently_active?}]}: kept for users
// sharing a room with one of ours (nobody else here may see them).
void presence_edu(const edu_context& e, const json::object& content) {
  const auto* push = protocol::opt_array(content, "push");
  if (!push) throw protocol::errors::missing_param("Missing 'push'");
  for (const auto& v : *push) {
    if (!v.is_object()) continue;
    const auto& p = v.as_object();
    auto user_id = e.origin_user(p, "user_id", "m.presence");
    if (!user_id) continue;
    if (!e.shares_room(*user_id)) {
      e.ignored("m.presence", "no local user shares a room with the user", *user_id);
      continue;
    }
    json::object args{{"user_id", *user_id}, {"presence", protocol::req_string(p, "presence")}};
    if (auto msg = protocol::opt_string(p, "status_msg")) args["status_msg"] = *msg;
    if (auto ago = protocol::opt_int(p, "last_active_ago")) args["last_active_ago"] = *ago;
    e.ctx.writers.write("presence", *user_id, "remote", std::move(args));
  }
}

// {sender, type, message_id, messages: {user_id: {device_id | "*": content}}}: our users' part,
// delivered once per (sender, type, message_id).
void to_device_edu(const edu_context& e, const json::object& content) {
  auto sender = e.origin_user(content, "sender", "m.direct_to_device");
  if (!sender) return;
  auto type = protocol::req_string(content, "type");
  auto message_id = protocol::req_string(content, "message_id");
  const auto* messages = protocol::opt_object(content, "messages");
  if (!messages) throw protocol::errors::missing_param("Missing 'messages'");
  json::object local;
  for (const auto& [user_key, by_device] : *messages) {
    auto parts = protocol::split_user_id(user_key);
    if (!parts || parts->server_name != e.ctx.config.server_name || !by_device.is_object()) {
      e.ignored("m.direct_to_device", "recipient is not a local user", user_key);
      continue;
    }
    local[user_key] = by_device;
  }
  if (local.empty() || type.empty() || message_id.empty()) return;
  // The sender has no device here: "" keys the deduplication with the message_id.
  e.ctx.writers.write("to_device", *sender, "send",
                      {{"sender", *sender}, {"sender_device", ""}, {"type", type}, {"txn_id", message_id},
                       {"messages", std::move(local)}});
}

// A device's keys as a remote sends them: only when they name the user and device they claim.
std::optional<json::object> device_keys_of(const json::object& o, std::string_view field, const std::string& user_id,
                                           const std::string& device_id) {
  const auto* keys = protocol::opt_object(o, field);
  if (!keys) return std::nullopt;
  if (protocol::opt_string(*keys, "user_id") != user_id || protocol::opt_string(*keys, "device_id") != device_id)
    return std::nullopt;
  return *keys;
}

json::object remote_device_arg(const std::string& device_id, const std::optional<json::object>& keys,
                               const std::optional<std::string>& display_name) {
  json::object d{{"device_id", device_id}};
  if (keys) d["keys"] = *keys;
  if (display_name) d["display_name"] = *display_name;
  return d;
}

// Cross-signing keys of `user_id` in `o` (master_key, self_signing_key) as the writer's list;
// keys naming another user are dropped.
json::array cross_signing_args(const json::object& o, const std::string& user_id) {
  json::array out;
  for (auto [field, type] : {std::pair{"master_key", "master"}, std::pair{"self_signing_key", "self_signing"}}) {
    const auto* key = protocol::opt_object(o, field);
    if (!key || protocol::opt_string(*key, "user_id") != user_id) continue;
    out.push_back(json::object{{"key_type", type}, {"key_json", protocol::to_string(*key)}});
  }
  return out;
}

// Fetches `user_id`'s whole device list from their server and replaces what we hold.
void resync_device_list(runtime::handler_context& ctx, const std::string& user_id) {
  auto server = protocol::split_user_id(user_id)->server_name;
  try {
    auto answer = federation::request(
        ctx, server, "GET", "/_matrix/federation/v1/user/devices/" + protocol::percent_encode(user_id), nullptr);
    if (!answer.is_object()) throw protocol::errors::bad_json("The device list is not an object");
    const auto& list = answer.as_object();
    if (protocol::opt_string(list, "user_id") != user_id)
      throw protocol::errors::bad_json("The device list is another user's");
    auto stream_id = protocol::opt_int(list, "stream_id");
    if (!stream_id) throw protocol::errors::missing_param("Missing 'stream_id'");
    json::array devices;
    if (const auto* ds = protocol::opt_array(list, "devices"))
      for (const auto& v : *ds) {
        if (!v.is_object()) continue;
        auto device_id = protocol::opt_string(v.as_object(), "device_id");
        if (!device_id || device_id->empty()) continue;
        devices.push_back(remote_device_arg(*device_id, device_keys_of(v.as_object(), "keys", user_id, *device_id),
                                            protocol::opt_string(v.as_object(), "device_display_name")));
      }
    ctx.writers.write("device_lists", user_id, "remote_devices",
                      {{"user_id", user_id}, {"stream_id", *stream_id}, {"devices", std::move(devices)}});
    auto cross_signing = cross_signing_args(list, user_id);
    if (!cross_signing.empty())
      ctx.writers.write("device_lists", user_id, "remote_cross_signing",
                        {{"user_id", user_id}, {"keys", std::move(cross_signing)}});
  } catch (const protocol::matrix_error& e) {
    // Keep nothing stale: untracked, the user's keys are asked of their server on each query.
    ctx.log.warn("device list resync failed", {{"user_id", user_id}, {"error", e.what()}});
    ctx.writers.write("device_lists", user_id, "remote_untrack", {{"user_id", user_id}});
  }
}

// {user_id, device_id, stream_id, prev_id?: [ids], deleted?, keys?, device_display_name?}. Applied
// when its prev_ids follow what we hold; anything else (a gap, no prev_id, an untracked user)
// makes us fetch the whole list (GET /user/devices/{userId}), as Synapse's DeviceListUpdater.
void device_list_edu(const edu_context& e, const json::object& content) {
  auto user_id = e.origin_user(content, "user_id", "m.device_list_update");
  if (!user_id) return;
  auto device_id = protocol::req_string(content, "device_id");
  auto stream_id = protocol::opt_int(content, "stream_id");
  if (!stream_id) throw protocol::errors::missing_param("Missing 'stream_id'");
  if (!e.shares_room(*user_id)) return e.ignored("m.device_list_update", "no local user shares a room", *user_id);
  std::optional<int64_t> known;
  {
    auto c = e.ctx.db.acquire();
    known = inbound::tracked_stream_id(*c, *user_id);
  }
  if (known && *stream_id <= *known) return;  // already applied
  std::vector<int64_t> prev_ids;
  if (const auto* prev = protocol::opt_array(content, "prev_id"))
    for (const auto& p : *prev)
      if (p.is_int64()) prev_ids.push_back(p.as_int64());
  bool follows = known && !prev_ids.empty() &&
                 std::all_of(prev_ids.begin(), prev_ids.end(), [&](int64_t p) { return p <= *known; });
  if (!follows) return resync_device_list(e.ctx, *user_id);
  bool deleted = protocol::opt_bool(content, "deleted").value_or(false);
  e.ctx.writers.write("device_lists", *user_id, "remote_device",
                      {{"user_id", *user_id},
                       {"stream_id", *stream_id},
                       {"deleted", deleted},
                       {"device", remote_device_arg(device_id, device_keys_of(content, "keys", *user_id, device_id),
                                                    protocol::opt_string(content, "device_display_name"))}});
}

// {user_id, master_key?, self_signing_key?}.
void signing_key_edu(const edu_context& e, const json::object& content) {
  auto user_id = e.origin_user(content, "user_id", "m.signing_key_update");
  if (!user_id) return;
  if (!e.shares_room(*user_id)) return e.ignored("m.signing_key_update", "no local user shares a room", *user_id);
  auto keys = cross_signing_args(content, *user_id);
  if (keys.empty()) return;
  e.ctx.writers.write("device_lists", *user_id, "remote_cross_signing", {{"user_id", *user_id}, {"keys", std::move(keys)}});
}

void handle_edu(const edu_context& e, const json::value& v) {
  if (!v.is_object()) return e.ignored("?", "not an object", "");
  const auto& edu = v.as_object();
  auto type = protocol::opt_string(edu, "edu_type").value_or("");
  const auto* content = protocol::opt_object(edu, "content");
  if (!content) return e.ignored(type, "no content", "");
  using handler = void (*)(const edu_context&, const json::object&);
  static const std::map<std::string, handler, std::less<>> handlers{
      {"m.typing", typing_edu},
      {"m.receipt", receipt_edu},
      {"m.presence", presence_edu},
      {"m.direct_to_device", to_device_edu},
      {"m.device_list_update", device_list_edu},
      {"m.signing_key_update", signing_key_edu},
  };
  auto it = handlers.find(type);
  if (it == handlers.end()) return e.ignored(type, "unknown EDU type", "");
  try {
    it->second(e, *content);
  } catch (const protocol::matrix_error& err) {
    // A writer that cannot be reached fails the transaction (the origin retries it, and every EDU
    // is safe to apply again); anything else — malformed, refused — drops this EDU only.
    if (err.status() >= 500) throw;
    e.ignored(type, err.what(), "");
  }
}

const json::array& list_of(const json::object& body, std::string_view key, size_t max) {
  static const json::array none;
  const auto* a = protocol::opt_array(body, key);
  if (!a) return none;
  if (a->size() > max)
    throw protocol::errors::bad_json("A transaction carries at most " + std::to_string(max) + " " + std::string(key));
  return *a;
}

api_response send_transaction(runtime::handler_context& ctx, const api_request& req) {
  auto origin = federation::authenticate_origin(ctx, req);
  const auto& txn_id = req.path_params.at(0);
  auto body = body_object(ctx, req);
  if (auto claimed = protocol::opt_string(body, "origin"); claimed && *claimed != origin)
    throw protocol::errors::forbidden("The transaction's origin is not the server that signed it");
  const auto& pdus = list_of(body, "pdus", max_pdus);
  const auto& edus = list_of(body, "edus", max_edus);

  origin_lock lock(origin);
  {
    auto c = ctx.db.acquire();
    if (auto stored = inbound::txn_response(*c, origin, txn_id))
      return runtime::json_response(protocol::parse_value(*stored));
  }
  json::object answer{{"pdus", federation::receive_pdus(ctx, origin, pdus)}};
  edu_context e{ctx, origin};
  for (const auto& edu : edus) handle_edu(e, edu);
  {
    auto c = ctx.db.acquire();
    int64_t now = now_ms();
    inbound::store_txn_response(*c, origin, txn_id, protocol::to_string(answer), now, now - txn_retention_ms);
  }
  return runtime::json_response(answer);
}

} // namespace

void register_federation_send(runtime::endpoint_registry& r) {
  r.add({.name = "federation.send", .method = "PUT", .path = "/_matrix/federation/v1/send/{txnId}",
         .auth = auth_mode::none},
        send_transaction);
}

} // namespace myelin::endpoints
