// The events persister's internals, shared by its local operations (events_stream.cpp: events
// this server makes) and its federation operations (events_remote.cpp: events other servers made).
// Not an interface for anything else: the events stream's contract is events_stream.hpp.
#pragma once
#include <boost/json/object.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "protocol/auth_rules.hpp"
#include "protocol/pdu.hpp"
#include "protocol/room_versions.hpp"
#include "storage/streams/event_push.hpp"
#include "storage/streams/events_stream.hpp"
#include "storage/tables/events.hpp"

namespace myelin::storage::persister {

// One room being appended to within an operation: its row, its head (advanced in memory, written
// once at the end), the current state events loaded so far (auth events; nullptr = known to be
// absent) and the events this operation produced.
struct room_append {
  events::room_row room;
  const protocol::room_version* version = nullptr;
  events::room_head head;
  std::map<protocol::state_key_pair, std::shared_ptr<const protocol::pdu>> state;
  std::vector<std::string> event_ids;
  std::shared_ptr<const room_members> members;  // for push evaluation; null = not loaded yet
};

// The persister's memory of the rooms it sequences. Only this persister changes them, so what it
// remembers stays true — provided it follows the transactions: an operation's result is staged
// and becomes what later batches see only once the batch has committed; a failed batch drops it.
// This saves the room/head and auth-state reads on every event.
class room_cache {
public:
  std::optional<room_append> find(const std::string& room_id) const {
    if (auto it = pending_.find(room_id); it != pending_.end()) return it->second;
    if (auto it = committed_.find(room_id); it != committed_.end()) return it->second;
    return std::nullopt;
  }
  void stage(room_append ra) {
    ra.event_ids.clear();
    auto id = ra.room.room_id;
    pending_.insert_or_assign(std::move(id), std::move(ra));
  }
  void begin() { pending_.clear(); }
  // The heads of the rooms this batch advanced: written once per batch, not once per event.
  void write_heads(connection& c) const {
    for (const auto& [id, ra] : pending_) events::upsert_room_head(c, ra.head);
  }
  void abort() { pending_.clear(); }
  // A purged room: dropped at once (a cache miss only reloads, so this is safe even if the batch
  // then fails).
  void forget(const std::string& room_id) {
    pending_.erase(room_id);
    committed_.erase(room_id);
  }
  void commit() {
    // Bounded memory: past the limit start over (rooms reload on their next event).
    if (committed_.size() + pending_.size() > max_rooms) committed_.clear();
    for (auto& [id, ra] : pending_) committed_.insert_or_assign(id, std::move(ra));
    pending_.clear();
  }

private:
  static constexpr size_t max_rooms = 4096;
  std::unordered_map<std::string, room_append> committed_, pending_;
};

// Everything one persister instance keeps: its signing identity, its room cache and its push
// evaluator (with its rule set and ignore list caches).
struct persister_state {
  explicit persister_state(event_signer s) : signer(std::move(s)), push(signer.server_name) {}
  event_signer signer;
  room_cache cache;
  event_push push;
};

protocol::pdu to_pdu(const events::event_row& e);

// The room's row and head, from the cache or the database (404 for an unknown room).
room_append open_room(persister_state& ps, connection& c, const std::string& room_id);

// The auth state for an event shaped like `skeleton`, from the room's current state.
protocol::auth_state load_auth_state(connection& c, room_append& ra, const protocol::pdu& skeleton);

// Where an event goes: the timeline (a new position in the events stream) or, for an outlier
// (an event known only for auth or state: a remote room's state at our join, an auth chain), a
// negative stream ordering that no stream window, timeline page or follower ever reads.
struct event_placement {
  std::optional<int64_t> state_group_before;   // the state before the event
  // The state event this one replaces in that state (for unsigned.prev_content); nullopt = none.
  std::optional<std::string> replaces;
  bool outlier = false;
  bool soft_failed = false;  // an outlier that failed against the current state
  // History fetched from another server (/backfill): on the timeline for /messages (a positive
  // stream ordering) under the persister name "backfill:<writer>", which no stream window or
  // follower reads, so /sync and pushers never see it as new.
  bool backfilled = false;
  const boost::json::object* txn = nullptr;     // {txn_id, device_id} of a local client's request
  // Added to the stored event's unsigned (an invite's invite_room_state from the inviting server).
  const boost::json::object* extra_unsigned = nullptr;
};

// Stores an authorised event: its row with the state group after it, relations and search,
// redaction bookkeeping, push actions (timeline events only). Leaves the room head and the current
// state to the caller. Returns the row as stored.
events::event_row store_event(op_context& ctx, persister_state& ps, room_append& ra, protocol::pdu& ev,
                              const event_placement& where);

// Registers the federation operations (events_remote.cpp).
void add_federation_ops(std::map<std::string, stream_op>& ops, const std::shared_ptr<persister_state>& ps);

// The row published for a timeline event.
boost::json::object published_row(const events::event_row& row);

} // namespace myelin::storage::persister
