// The events stream: room events, written by N persisters, each the only writer of the rooms that
// hash to it (sha256(room_id) mod N). A persister is its rooms' sequencer: it fills in
// prev_events, depth and auth_events from the room head it alone advances, runs the authorization
// rules against the current state, hashes and signs the event, and stores it with its state group
// — so concurrent senders to one room never fork the DAG and need no lock.
//
// Operations (args are JSON objects; an event template is
//   {"type", "state_key"?, "content", "sender", "redacts"?}):
//   create_room  {room_id, room_version, creator, is_public?, events: [template…], aliases?: [alias]}
//                → {room_id, event_ids}
//   append       {room_id, event: template, txn?: {user_id, device_id, scope, txn_id}}
//                → {event_id, stream_ordering, duplicate?}; a known txn returns its first event
//   set_alias    {room_alias, room_id, creator} ; delete_alias {room_alias}
//   set_visibility {room_id, is_public}
//   forget       {user_id, room_id}
//   block_room   {room_id, user_id, block}       (admin API; the room need not exist)
//   purge_room   {room_id}                        every row of the room, in this op's transaction
//   purge_history {room_id, before_depth?, before_ts?, delete_local_events, server_name} → {deleted}
//   record_room_task {task_id, kind, room_id, status, error?, result?, created_ts?}
// Rows published per event: {"type":"event", "position", "room_id", "event_id", "event_type",
// "state_key"?, "membership"?, "sender"}.
#pragma once
#include <string>

#include "protocol/signing_key.hpp"
#include "storage/streams/stream_definition.hpp"

namespace myelin::storage {

// events_stream(signer) (declared in stream_definition.hpp) returns a definition with its own
// room cache: call it once per persister instance.
struct event_signer {
  std::string server_name;
  protocol::signing_key key;
};

} // namespace myelin::storage
