// Receiving PDUs (see inbound_pdus.hpp). The checks that need no state run here; the room's
// persister authorises and places the event (storage/streams/events_remote.cpp). When it reports
// gaps, they are filled from the sending server: unknown auth events through /event_auth, unknown
// prev events through /get_missing_events (up to 10 events back), and when that does not close the
// gap, the state before the event through /state.
#include "actors/federation/inbound_pdus.hpp"

#include <boost/json.hpp>
#include <map>

#include "actors/federation/federation.hpp"
#include "actors/federation/room_events.hpp"
#include "actors/runtime/writer_client.hpp"
#include "common/log.hpp"
#include "protocol/errors.hpp"
#include "protocol/event_hashes.hpp"
#include "protocol/identifiers.hpp"
#include "protocol/json.hpp"
#include "storage/tables/events.hpp"

namespace myelin::federation {

namespace json = boost::json;

namespace {

json::object persist(runtime::handler_context& ctx, const std::string& room_id, const std::string& op,
                     json::object args) {
  auto w = ctx.writers.write("events", room_id, op, args);
  return protocol::parse_object(w.result);
}

std::string path_segment(const std::string& s) { return protocol::percent_encode(s); }

// Stores the events `origin` sends for `path` (a list under `key`, plus `auth_chain` when present)
// as outliers after checking them. Returns the checked entries.
json::array fetch_outliers(runtime::handler_context& ctx, const std::string& origin, const std::string& room_id,
                           const protocol::room_version& version, const std::string& path,
                           const std::vector<const char*>& keys) {
  auto answer = request(ctx, origin, "GET", path, nullptr, std::chrono::seconds(60), max_room_state_answer_bytes);
  if (!answer.is_object()) return {};
  json::array all;
  for (const char* key : keys)
    if (auto* list = answer.as_object().if_contains(key); list && list->is_array())
      for (auto& e : checked_entries(ctx, version, list->as_array())) all.push_back(std::move(e));
  if (!all.empty()) persist(ctx, room_id, "persist_outliers", json::object{{"room_id", room_id}, {"events", all}});
  return all;
}

struct pdu_processor {
  runtime::handler_context& ctx;
  const std::string& origin;

  // nullopt when the event was accepted (or was known), else the error for the /send/ answer.
  std::optional<std::string> process(const std::string& room_id, const protocol::room_version& version,
                                     const checked_pdu& ev, bool fill_gaps, bool relay = false) {
    json::object args{{"room_id", room_id}, {"event_id", ev.event_id}, {"event", ev.json}};
    if (relay) args["relay_for"] = origin;
    auto r = persist(ctx, room_id, "persist_remote", args);
    if (r.contains("missing_auth")) {
      fetch_outliers(ctx, origin, room_id, version,
                     "/_matrix/federation/v1/event_auth/" + path_segment(room_id) + "/" + path_segment(ev.event_id),
                     {"auth_chain"});
      r = persist(ctx, room_id, "persist_remote", args);
    }
    if (r.contains("missing") && fill_gaps) {
      fetch_missing(room_id, version, ev);
      r = persist(ctx, room_id, "persist_remote", args);
      if (r.contains("missing") || r.contains("missing_auth")) {
        // Still a gap: take the state before the event from its sender.
        auto state = fetch_outliers(ctx, origin, room_id, version,
                                    "/_matrix/federation/v1/state/" + path_segment(room_id) +
                                        "?event_id=" + path_segment(ev.event_id),
                                    {"auth_chain", "pdus"});
        json::array before;
        for (const auto& entry : state) {
          const auto& e = entry.as_object().at("event").as_object();
          auto* sk = e.if_contains("state_key");
          if (sk && sk->is_string())
            before.push_back(json::array{e.at("type"), *sk, entry.as_object().at("event_id")});
        }
        args["state_before"] = std::move(before);
        r = persist(ctx, room_id, "persist_remote", args);
      }
    }
    auto outcome = protocol::opt_string(r, "outcome").value_or("");
    if (outcome == "accepted" || outcome == "known" || outcome == "soft_failed") return std::nullopt;
    if (outcome == "missing") return std::string("missing prev or auth events");
    return protocol::opt_string(r, "reason").value_or("rejected");
  }

  // Asks the sender for the events between what we have (the room's forward extremities) and
  // `ev`, and processes them oldest first, without filling their own gaps.
  void fetch_missing(const std::string& room_id, const protocol::room_version& version, const checked_pdu& ev) {
    std::optional<storage::events::room_head> head;
    {
      auto c = ctx.db.acquire();
      head = storage::events::get_room_head(*c, room_id);
    }
    if (!head) return;
    json::array earliest;
    for (const auto& x : head->forward_extremities) earliest.emplace_back(x);
    json::value body = json::object{{"earliest_events", std::move(earliest)},
                                    {"latest_events", json::array{json::value(ev.event_id)}},
                                    {"limit", 10},
                                    {"min_depth", std::max<int64_t>(0, head->depth - 20)}};
    json::value answer;
    try {
      answer = request(ctx, origin, "POST", "/_matrix/federation/v1/get_missing_events/" + path_segment(room_id), &body,
                       std::chrono::seconds(30));
    } catch (const protocol::matrix_error& e) {
      ctx.log.info("get_missing_events failed", {{"origin", origin}, {"room_id", room_id}, {"error", e.what()}});
      return;
    }
    auto* events = answer.is_object() ? answer.as_object().if_contains("events") : nullptr;
    if (!events || !events->is_array()) return;
    std::vector<checked_pdu> fetched;
    for (const auto& p : events->as_array()) {
      if (!p.is_object()) continue;
      auto checked = check_received_pdu(ctx, version, p.as_object());
      if (auto* good = std::get_if<checked_pdu>(&checked)) fetched.push_back(std::move(*good));
    }
    std::sort(fetched.begin(), fetched.end(),
              [](const checked_pdu& a, const checked_pdu& b) { return a.depth() < b.depth(); });
    for (const auto& f : fetched)
      if (f.room_id() == room_id) process(room_id, version, f, false);
  }
};

} // namespace

std::optional<std::string> receive_pdu(runtime::handler_context& ctx, const std::string& origin,
                                       const checked_pdu& ev, const protocol::room_version& version, bool relay) {
  pdu_processor p{ctx, origin};
  return p.process(std::string(ev.room_id()), version, ev, true, relay);
}

json::object receive_pdus(runtime::handler_context& ctx, const std::string& origin, const json::array& pdus) {
  json::object out;
  pdu_processor processor{ctx, origin};
  // Checked events per room, in the transaction's order; rooms in order of first appearance.
  struct room_batch {
    const protocol::room_version* version = nullptr;  // null: a room this server is not in
    bool denied = false;                               // the room's ACL denies the origin
    std::vector<checked_pdu> events;
  };
  std::vector<std::string> room_order;
  std::map<std::string, room_batch> batches;
  for (const auto& p : pdus) {
    if (!p.is_object()) continue;
    const auto& pdu = p.as_object();
    auto* room = pdu.if_contains("room_id");
    if (!room || !room->is_string()) continue;
    std::string room_id(room->as_string());
    auto [it, fresh] = batches.try_emplace(room_id);
    if (fresh) {
      room_order.push_back(room_id);
      auto c = ctx.db.acquire();
      if (auto row = storage::events::get_room(*c, room_id)) {
        it->second.version = protocol::find_room_version(row->room_version);
        it->second.denied = !acl_allows(*c, room_id, origin);
      }
    }
    auto& batch = it->second;
    // Events of rooms this server is not in are ignored, as Synapse does (no id to answer under
    // without the room's version).
    if (!batch.version) continue;
    auto checked = check_received_pdu(ctx, *batch.version, pdu);
    if (auto* why = std::get_if<std::string>(&checked)) {
      try {
        out[protocol::event_id_for(pdu, std::string(batch.version->id))] = json::object{{"error", *why}};
      } catch (const std::exception&) {
      }
      continue;
    }
    auto& ev = std::get<checked_pdu>(checked);
    if (batch.denied) {
      out[ev.event_id] = json::object{{"error", "Server is banned from this room"}};
      continue;
    }
    batch.events.push_back(std::move(ev));
  }
  for (const auto& room_id : room_order) {
    auto& batch = batches[room_id];
    if (batch.events.empty()) continue;
    // The whole batch in one write; what it could not place (gaps) is then handled one by one.
    json::array entries;
    for (const auto& ev : batch.events) entries.push_back(json::object{{"event_id", ev.event_id}, {"event", ev.json}});
    json::object results;
    try {
      auto r = persist(ctx, room_id, "persist_remote_batch", json::object{{"room_id", room_id}, {"events", entries}});
      if (auto* res = r.if_contains("results"); res && res->is_object()) results = res->as_object();
    } catch (const protocol::matrix_error& e) {
      ctx.log.info("received events not stored", {{"origin", origin}, {"room_id", room_id}, {"error", e.what()}});
    }
    for (const auto& ev : batch.events) {
      std::optional<std::string> error;
      auto* r = results.if_contains(ev.event_id);
      auto outcome = r && r->is_object() ? protocol::opt_string(r->as_object(), "outcome").value_or("") : "";
      if (outcome == "accepted" || outcome == "known" || outcome == "soft_failed") {
      } else if (outcome == "rejected") {
        error = protocol::opt_string(r->as_object(), "reason").value_or("rejected");
      } else {
        try {
          error = processor.process(room_id, *batch.version, ev, true);
        } catch (const protocol::matrix_error& e) {
          error = e.what();
        }
      }
      out[ev.event_id] = error ? json::value(json::object{{"error", *error}}) : json::value(json::object{});
      if (error) ctx.log.info("received event not accepted", {{"origin", origin}, {"event_id", ev.event_id}, {"reason", *error}});
    }
  }
  return out;
}

} // namespace myelin::federation
