// /sync: what the sync group computes for one request. The computation is a plain function run on
// the blocking pool; the sync instance actor (sync_instance.hpp) decides when to run it again for a
// long-poll, from the stream updates its notifier matches to the request.
#pragma once
#include <boost/json/object.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "actors/runtime/endpoint_registry.hpp"
#include "actors/runtime/groups.hpp"
#include "protocol/event_filter.hpp"
#include "protocol/sync_token.hpp"

namespace myelin::sync {

// Longest long-poll served; a larger `timeout` is cut to this (the bridge allows for it).
constexpr int64_t max_timeout_ms =
    std::chrono::duration_cast<std::chrono::milliseconds>(runtime::long_poll_allowance).count();

// The query parameters of GET /sync, checked (400 M_INVALID_PARAM for malformed values).
struct sync_params {
  std::optional<protocol::sync_token> since;
  int64_t timeout_ms = 0;
  bool full_state = false;
  std::string set_presence = "online";  // online | unavailable | offline
  std::optional<std::string> filter;    // a filter id or inline JSON
  // Legacy /events without `from`: start at the token of the first computation.
  bool from_now = false;
};
sync_params parse_sync_params(const api_request& req);
// The `timeout` query parameter in ms, capped at max_timeout_ms (400 M_INVALID_PARAM if malformed).
int64_t parse_timeout(const api_request& req);

// Who must be woken for this sync: the user (to-device, account data, invites, joins) and the
// rooms whose events, receipts or typing matter to them.
struct sync_interest {
  std::string user_id;
  std::vector<std::string> room_ids;
};

struct sync_outcome {
  api_response response;
  bool empty = true;                  // nothing new: a long-poll keeps waiting
  sync_interest interest;
  protocol::sync_token upto;          // the token the response was computed up to (next_batch)
};

// The token this node can serve now: every position its hub has published, and never behind
// `since` (a token from a node that saw more is honoured, not rolled back).
protocol::sync_token current_token(const runtime::handler_context& ctx, const std::optional<protocol::sync_token>& since);

// One /sync computation up to `upto`. Throws matrix_error for a bad filter.
sync_outcome compute_sync(runtime::handler_context& ctx, const api_request& req, const sync_params& params,
                          const protocol::sync_token& upto);

// The endpoints the sync instance long-polls: /sync and the legacy /events.
struct long_poll_endpoint {
  sync_params (*parse)(const api_request&);
  sync_outcome (*compute)(runtime::handler_context&, const api_request&, const sync_params&,
                          const protocol::sync_token&);
};
const long_poll_endpoint* long_poll_for(const std::string& endpoint_name);

// Legacy /events (actors/sync/legacy.cpp).
sync_params parse_events_params(const api_request& req);
sync_outcome compute_events(runtime::handler_context& ctx, const api_request& req, const sync_params& params,
                            const protocol::sync_token& upto);

// Simplified sliding sync (actors/sync/sliding/sliding.cpp): `pos` (its sync token as `since`) and
// `timeout` from the query; the body is read by the computation.
sync_params parse_sliding_params(const api_request& req);
sync_outcome compute_sliding(runtime::handler_context& ctx, const api_request& req, const sync_params& params,
                             const protocol::sync_token& upto);

// "writer.events/3" → 3 (0 for a label without an index).
uint32_t writer_index(const std::string& writer_label);

} // namespace myelin::sync
