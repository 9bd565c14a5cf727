// What follows a change to a user's devices made by the accounts writer: the device_lists writer
// records it (so everyone sharing a room re-fetches the user's keys) and, for removed devices,
// deletes their keys; the to_device writer drops their queued messages. Called by every handler
// that adds or removes devices (login, registration, logout, deletion, password change,
// deactivation). These follow-ups never fail the request (the accounts write has happened): one
// that cannot be made is logged, and the device_lists and to_device writers' periodic cleanups
// remove what a deleted device left behind — also if the process dies between the writes.
#pragma once
#include <string>

#include "actors/runtime/endpoint_registry.hpp"
#include "actors/runtime/messages.hpp"

namespace myelin::keys {

// `accounts_write`: the accounts writer's answer; its result's "removed_devices" (if any) are used.
void after_devices_removed(runtime::handler_context& ctx, const std::string& user_id,
                           const write_result& accounts_write);

// A device was created or renamed.
void after_device_changed(runtime::handler_context& ctx, const std::string& user_id, const std::string& device_id);

} // namespace myelin::keys
