// An instance of the federation_sender group (sharded by destination: shard_for(destination, n),
// the group's `destination` balance policy). It follows the events stream and the ephemeral
// streams (typing, receipts, presence, to_device) and sends other servers what they must hear, in
// transactions (PUT /_matrix/federation/v1/send/{txnId}), one in flight per destination, in order.
//
//   PDUs   every event a local user sent, to every other server with a joined member (and, for a
//          membership event, the target's server). Each is also recorded as the newest event of
//          its room for that destination (federation_destination_rooms), so a destination that is
//          down (backed off) or too far behind (more than max_queue PDUs) costs no memory: it
//          catches up with the newest unsent event of each room once it answers again.
//   EDUs   m.typing, m.receipt and m.presence of local users go to servers sharing the room,
//          in memory only (lost while the destination is backed off, as in Synapse);
//          m.direct_to_device comes durably from federation_outbox (written by the to_device
//          writer) and is deleted only once the destination accepted it.
//
// A failed transaction (network, 401, 429, 5xx) backs the destination off (federation_sender
// retry_delay, doubling up to max_retry_delay), stored so a restart keeps it; a 200 resets it. A
// 400/403/404 answer refuses the transaction: logged and dropped, not retried.
//
// All I/O happens on the instance's own thread (blocking requests with a timeout), never on an
// actor thread or the shared blocking pool.
#pragma once
#include <caf/fwd.hpp>
#include <functional>
#include <string>

#include "actors/runtime/interfaces.hpp"

namespace myelin {
struct homeserver_config;
namespace storage { class database; }
namespace protocol { struct signing_key; }
namespace runtime { class writer_client; }
}

namespace myelin::federation_sender {

using sender_instance_actor = caf::typed_actor<caf::reacts_to<stream_update>,  // from the hub
                                               caf::reacts_to<atoms::crash_atom>>;

struct sender_deps {
  const homeserver_config* config = nullptr;
  storage::database* db = nullptr;
  runtime::writer_client* writers = nullptr;      // only for the handler context of outbound requests
  const protocol::signing_key* signing_key = nullptr;
  size_t index = 0;                               // this instance's shard
  std::function<size_t()> instances;              // the group's size now
};

// The streams an instance subscribes to.
inline const char* const followed_streams[] = {"events", "to_device", "typing", "receipts", "presence"};

sender_instance_actor spawn_sender_instance(caf::actor_system& sys, std::string label, sender_deps deps,
                                            runtime::stream_hub_actor hub);

} // namespace myelin::federation_sender
