// Presence bumps shared by the endpoints that count as user activity (typing, receipts, read
// markers), as Synapse's bump_presence_active_time.
#pragma once
#include <string>

#include "actors/runtime/endpoint_registry.hpp"

namespace myelin::endpoints {

// Tells the presence writer, without waiting, that the user just did something. Nothing when
// presence is disabled.
void bump_presence(runtime::handler_context& ctx, const std::string& user_id);

} // namespace myelin::endpoints
