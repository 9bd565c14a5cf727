// Queries of the federation sender (storage/schema/0024_federation_sender.cpp): its progress
// through the events stream, each destination's backoff and catch-up state, the newest local event
// per (destination, room), and the to-device outbox the to_device writer fills.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "storage/database.hpp"

namespace myelin::storage::federation_sender {

// Per persister label, the last stream ordering a sender instance ("federation_sender/<i>") handled.
using progress = std::map<std::string, int64_t>;
progress load_progress(connection& c, const std::string& instance);
void save_progress(connection& c, const std::string& instance, const progress& p);

struct destination_state {
  std::string destination;
  int64_t retry_last_ts = 0;      // when the last attempt failed (ms since the epoch)
  int64_t retry_interval_ms = 0;  // 0 = healthy
  bool catching_up = false;       // PDUs were skipped: catch-up first
};
std::optional<destination_state> get_destination(connection& c, const std::string& destination);
// Destinations with something pending after a restart: backed off, catching up, unsent PDUs or
// outbox EDUs. The sender shards them itself.
std::vector<destination_state> pending_destinations(connection& c);
void save_destination(connection& c, const destination_state& d);

// The destination should have `event_id`, now the newest local event of the room for it.
void record_pdu_due(connection& c, const std::string& destination, const std::string& room_id,
                    const std::string& event_id);
// The destination accepted these events (rows already moved on to a newer event stay unsent).
void mark_pdus_sent(connection& c, const std::string& destination, const std::vector<std::string>& event_ids);
// Catch-up: the unsent newest events, one per room, at most `limit`.
std::vector<std::string> unsent_pdus(connection& c, const std::string& destination, size_t limit);

// The to-device outbox: one EDU (JSON) per destination and to_device position.
struct outbox_edu {
  int64_t position = 0;
  std::string edu_json;
};
void outbox_add(connection& c, const std::string& destination, int64_t position, const std::string& edu_json);
std::vector<outbox_edu> outbox_peek(connection& c, const std::string& destination, size_t limit);
void outbox_remove(connection& c, const std::string& destination, int64_t upto_position);

// The servers whose /send/ transactions arrived after `since_ts` (federation_txns), with the
// newest arrival of each: a server that talks to us is up, whatever our backoff says.
std::map<std::string, int64_t> heard_from_since(connection& c, int64_t since_ts);

// The users joined to the room now (current state), for the servers to send its events to.
std::vector<std::string> joined_users(connection& c, const std::string& room_id);
// The origin a membership event was taken from through our send_join/leave/knock, to be passed
// on to the room's other servers (federation_relayed_events); nullopt for any other event.
std::optional<std::string> relayed_for(connection& c, const std::string& event_id);

} // namespace myelin::storage::federation_sender
