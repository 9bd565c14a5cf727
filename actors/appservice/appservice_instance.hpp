// The appservice group's instance (a singleton): sends every registered application service the
// events it is interested in, as transactions (spec: Application Service API, "Pushing events":
// PUT {url}/_matrix/app/v1/transactions/{txnId}).
//
// It follows the events stream only as a wake-up; what to send is read from the database by
// position (a position per events persister), so a service that is down costs no memory however
// long it stays down. A transaction is stored (id, exact body, the positions it covers) before it
// is first sent and retried with exponential backoff until the service accepts it — the same id
// and body every time, across restarts — and only then does the service's position move on. One
// service's transactions go strictly in order. Typing and receipts (ephemeral events, MSC2409) go
// to services with receive_ephemeral; they are kept in memory only (a bounded list), as Synapse does.
//
// Each service's own user (@sender_localpart) is created when missing, as Dendrite does, so it has
// a profile like any user (Synapse lets it act without one).
//
// Requests run on the instance's own thread, never on an actor thread or the blocking pool.
#pragma once
#include <caf/fwd.hpp>
#include <string>

#include "actors/runtime/interfaces.hpp"

namespace myelin {
struct homeserver_config;
namespace storage { class database; }
namespace runtime { class writer_client; }
}

namespace myelin::appservice {

using appservice_instance_actor = caf::typed_actor<caf::reacts_to<stream_update>,  // from the hub
                                                   caf::reacts_to<atoms::crash_atom>>;

struct appservice_deps {
  const homeserver_config* config = nullptr;
  storage::database* db = nullptr;
  runtime::writer_client* writers = nullptr;  // creates each service's sender user
};

appservice_instance_actor spawn_appservice_instance(caf::actor_system& sys, std::string label, appservice_deps deps,
                                                    runtime::stream_hub_actor hub);

} // namespace myelin::appservice
