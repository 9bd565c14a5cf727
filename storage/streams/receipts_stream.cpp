// The receipts stream: read receipts (m.read, m.read.private), one per (room, type, user, thread).
// A receipt only moves forward: one for an event at or before the current receipt's event (in
// the room's topological, then stream order) is ignored, as Synapse does — so a client sending
// receipts out of order never moves a user's read marker back. Unthreaded, "main" and per-thread
// receipts are separate keys.
//
// Operation: set {room_id, receipt_type, user_id, thread_id ("" = unthreaded), event_id, ts?}.
// Result {"updated": bool}. Row {"type":"receipt","position","room_id","user_id","receipt_type",
// "event_id","thread_id"}; for m.read.private only user_id should be woken (receipt_type says so).
#include <boost/json.hpp>

#include "common/clock.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "storage/streams/stream_definition.hpp"
#include "storage/tables/events.hpp"
#include "storage/tables/receipts.hpp"

namespace myelin::storage {
namespace {

namespace json = boost::json;
using protocol::req_string;

events::topo_position order_of(const events::event_row& e) { return {e.topological_ordering, e.stream_ordering}; }

op_output set(op_context& ctx, const json::object& args) {
  receipts::receipt r;
  r.room_id = req_string(args, "room_id");
  r.receipt_type = req_string(args, "receipt_type");
  r.user_id = req_string(args, "user_id");
  r.thread_id = protocol::opt_string(args, "thread_id").value_or("");
  r.event_id = req_string(args, "event_id");
  if (r.receipt_type != receipts::read && r.receipt_type != receipts::read_private)
    throw protocol::errors::invalid_param("Unknown receipt type " + r.receipt_type);
  auto event = events::get_event(ctx.db, r.event_id);
  if (!event || event->room_id != r.room_id) throw protocol::errors::not_found("Event not found in this room");

  const json::object unchanged{{"updated", false}};
  if (auto current = receipts::get(ctx.db, r.room_id, r.receipt_type, r.user_id, r.thread_id)) {
    if (current->event_id == r.event_id) return {unchanged, {}};
    auto previous = events::get_event(ctx.db, current->event_id);
    if (previous && order_of(*previous) >= order_of(*event)) return {unchanged, {}};
  }

  json::object data{{"ts", protocol::opt_int(args, "ts").value_or(now_ms())}};
  if (!r.thread_id.empty()) data["thread_id"] = r.thread_id;
  r.data = json::serialize(data);
  r.position = ctx.next_position();
  receipts::put(ctx.db, r);
  json::object row{{"type", "receipt"},          {"position", r.position}, {"room_id", r.room_id},
                   {"user_id", r.user_id},       {"receipt_type", r.receipt_type},
                   {"event_id", r.event_id},     {"thread_id", r.thread_id}};
  return {json::object{{"updated", true}}, {std::move(row)}};
}

} // namespace

stream_definition receipts_stream() { return stream_definition{"receipts", {{"set", set}}}; }

} // namespace myelin::storage
