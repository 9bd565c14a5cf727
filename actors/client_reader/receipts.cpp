// Receipts and read markers (spec: client-server "Receipts", "Read and unread markers"):
//   POST /rooms/{roomId}/receipt/{receiptType}/{eventId} {thread_id?}
//   POST /rooms/{roomId}/read_markers {m.fully_read?, m.read?, m.read.private?}
// m.read and m.read.private go to the receipts writer (which ignores a receipt that would move
// backwards); m.fully_read is the room's m.fully_read account data, moved only forwards too, as
// Synapse's read marker handler does. The caller must be joined and the event must be in the room.
#include <boost/json.hpp>

#include <array>

#include "actors/client_reader/presence.hpp"
#include "actors/endpoint_helpers.hpp"
#include "actors/rooms/rooms.hpp"
#include "actors/runtime/writer_client.hpp"
#include "protocol/errors.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/json.hpp"
#include "storage/tables/account_data.hpp"
#include "storage/tables/receipts.hpp"

namespace myelin::endpoints {

namespace json = boost::json;
using storage::events::event_row;

namespace {

constexpr const char* fully_read = "m.fully_read";
constexpr std::array<const char*, 3> marker_types = {fully_read, storage::receipts::read,
                                                     storage::receipts::read_private};

bool known_type(const std::string& type) {
  return std::find_if(marker_types.begin(), marker_types.end(), [&](const char* t) { return type == t; }) !=
         marker_types.end();
}

storage::events::topo_position order_of(const event_row& e) { return {e.topological_ordering, e.stream_ordering}; }

// The event, which must be in the room (404 otherwise).
event_row event_in_room(storage::connection& c, const std::string& room_id, const std::string& event_id) {
  auto e = storage::events::get_event(c, event_id);
  if (!e || e->room_id != room_id) throw protocol::errors::not_found("Event not found in this room");
  return *e;
}

// Spec "Threaded read receipts": a receipt for thread T may target T's root or an event in T;
// a "main" receipt an event outside every thread.
void check_thread(storage::connection& c, const std::string& event_id, const std::string& thread_id) {
  if (thread_id == event_id) return;  // the thread root
  if (storage::receipts::thread_of_event(c, event_id) != thread_id)
    throw protocol::errors::invalid_param("event_id " + event_id + " is not related to thread " + thread_id);
}

// Whether `event` is after the user's read marker in the room (or there is none).
bool moves_read_marker(storage::connection& c, const std::string& user_id, const std::string& room_id,
                       const event_row& event) {
  auto current = storage::account_data::get(c, user_id, room_id, fully_read);
  if (!current) return true;
  auto content = protocol::parse_value(*current);
  auto* id = content.is_object() ? content.as_object().if_contains("event_id") : nullptr;
  if (!id || !id->is_string()) return true;
  auto previous = storage::events::get_event(c, std::string(id->as_string()));
  return !previous || order_of(previous.value()) < order_of(event);  // a purged marker event counts as behind
}

// The writes of one request, made after its checks (and with no connection held: the writers
// need the pool too), and the positions its answer waits for.
struct marker_writes {
  const runtime::handler_context& ctx;
  const std::string& user_id;
  const std::string& room_id;
  std::vector<stream_position> positions = {};

  void receipt(const std::string& type, const std::string& event_id, const std::string& thread_id) {
    auto w = ctx.writers.write("receipts", room_id, "set",
                               {{"room_id", room_id},
                                {"receipt_type", type},
                                {"user_id", user_id},
                                {"thread_id", thread_id},
                                {"event_id", event_id}});
    positions.push_back(w.position);
  }

  void read_marker(const std::string& event_id) {
    auto w = ctx.writers.write("account_data", user_id, "set",
                               {{"user_id", user_id},
                                {"room_id", room_id},
                                {"type", fully_read},
                                {"content", json::object{{"event_id", event_id}}}});
    positions.push_back(w.position);
  }

  api_response answer() const {
    auto r = runtime::json_response(json::object{});
    for (const auto& p : positions)
      if (p.position > 0) r.wait_for.push_back(p);
    return r;
  }
};

api_response post_receipt(runtime::handler_context& ctx, const api_request& req) {
  const auto& room_id = req.path_params.at(0);
  const auto& type = req.path_params.at(1);
  const auto& event_id = req.path_params.at(2);
  if (!protocol::is_valid_room_id(room_id) || !event_id.starts_with('$'))
    throw protocol::errors::invalid_param("A valid room ID and event ID must be specified");
  auto body = body_object(ctx, req, /*allow_empty=*/true);
  if (!known_type(type))
    throw protocol::errors::invalid_param("Receipt type must be m.read, m.read.private or m.fully_read");
  std::string thread_id;
  if (auto* t = body.if_contains("thread_id")) {
    if (!t->is_string() || t->as_string().empty())
      throw protocol::errors::invalid_param("thread_id field must be a non-empty string");
    if (type == fully_read) throw protocol::errors::invalid_param("thread_id is not compatible with m.fully_read");
    thread_id = std::string(t->as_string());
  }
  bool move_marker = false;
  {
    auto c = ctx.db.acquire();
    rooms::require_joined(*c, room_id, req.user_id);
    auto event = event_in_room(*c, room_id, event_id);
    if (!thread_id.empty()) check_thread(*c, event_id, thread_id);
    if (type == fully_read) move_marker = moves_read_marker(*c, req.user_id, room_id, event);
  }
  marker_writes writes{ctx, req.user_id, room_id};
  if (type != fully_read) writes.receipt(type, event_id, thread_id);
  else if (move_marker) writes.read_marker(event_id);
  bump_presence(ctx, req.user_id);
  return writes.answer();
}

api_response post_read_markers(runtime::handler_context& ctx, const api_request& req) {
  const auto& room_id = req.path_params.at(0);
  if (!protocol::is_valid_room_id(room_id)) throw protocol::errors::invalid_param("Invalid room id");
  auto body = body_object(ctx, req);
  // Unknown keys are ignored (receipt types are extensible); known ones must name events.
  std::vector<std::pair<std::string, std::string>> wanted;
  for (const char* type : marker_types) {
    auto event_id = protocol::opt_string(body, type);
    if (!event_id || event_id->empty()) continue;
    wanted.emplace_back(type, *event_id);
  }
  bool move_marker = false;
  {
    auto c = ctx.db.acquire();
    rooms::require_joined(*c, room_id, req.user_id);
    // Every event is checked before anything is written: a bad request changes nothing.
    for (const auto& [type, event_id] : wanted) {
      auto event = event_in_room(*c, room_id, event_id);
      if (type == fully_read) move_marker = moves_read_marker(*c, req.user_id, room_id, event);
    }
  }
  marker_writes writes{ctx, req.user_id, room_id};
  for (const auto& [type, event_id] : wanted) {
    if (type != fully_read) writes.receipt(type, event_id, "");
    else if (move_marker) writes.read_marker(event_id);
  }
  bump_presence(ctx, req.user_id);
  return writes.answer();
}

} // namespace

void register_receipts(runtime::endpoint_registry& r) {
  r.add({.name = "receipts.post", .method = "POST",
         .path = "/_matrix/client/{:r0|v3}/rooms/{roomId}/receipt/{receiptType}/{eventId}"},
        post_receipt);
  r.add({.name = "read_markers.post", .method = "POST", .path = "/_matrix/client/{:r0|v3}/rooms/{roomId}/read_markers"},
        post_read_markers);
}

} // namespace myelin::endpoints
