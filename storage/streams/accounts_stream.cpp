// The accounts stream: users, profiles, devices and access tokens. Its rows tell subscribers what
// changed — above all which token hashes were revoked, so every node's token cache drops them.
#include <boost/json.hpp>

#include "common/clock.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "storage/streams/stream_definition.hpp"
#include "storage/tables/accounts.hpp"
#include "storage/tables/admin.hpp"
#include "storage/tables/registration_tokens.hpp"

namespace myelin::storage {
namespace {

namespace json = boost::json;
using protocol::opt_string;
using protocol::req_string;

json::object tokens_revoked(const std::string& user_id, const std::vector<std::string>& hashes) {
  json::array a;
  for (const auto& h : hashes) a.emplace_back(h);
  return {{"type", "tokens_revoked"}, {"user_id", user_id}, {"token_hashes", std::move(a)}};
}

json::object devices_changed(const std::string& user_id, const std::vector<std::string>& ids, const char* what) {
  json::array a;
  for (const auto& d : ids) a.emplace_back(d);
  return {{"type", what}, {"user_id", user_id}, {"device_ids", std::move(a)}};
}

// Creates (or refreshes) a device and gives it a new token. Logging in again with a known
// device_id revokes that device's earlier tokens, as the spec says.
void add_session(connection& c, const std::string& user_id, const json::object& s, bool is_guest, op_output& out) {
  accounts::device_row d;
  d.user_id = user_id;
  d.device_id = req_string(s, "device_id");
  d.display_name = opt_string(s, "display_name");
  d.last_seen_ip = opt_string(s, "ip");
  d.last_seen_user_agent = opt_string(s, "user_agent");
  auto old = accounts::delete_tokens_for_devices(c, user_id, {d.device_id});
  if (!old.empty()) out.rows.push_back(tokens_revoked(user_id, old));
  accounts::upsert_device(c, d);
  auto token_id = accounts::insert_access_token(c, req_string(s, "token_hash"), user_id, d.device_id,
                                                protocol::opt_int(s, "valid_until_ms"), is_guest);
  out.rows.push_back(devices_changed(user_id, {d.device_id}, "devices_added"));
  out.result.as_object()["token_id"] = token_id;
}

op_output register_user(connection& c, const json::object& args) {
  op_output out{json::object{}, {}};
  accounts::user_row u;
  u.user_id = req_string(args, "user_id");
  u.password_hash = opt_string(args, "password_hash");
  u.is_guest = protocol::opt_bool(args, "is_guest").value_or(false);
  u.is_admin = protocol::opt_bool(args, "is_admin").value_or(false);
  u.created_ts = now_ms();
  try {
    accounts::insert_user(c, u);
  } catch (const database_error& e) {
    if (e.unique_violation()) throw protocol::errors::user_in_use();
    throw;
  }
  accounts::upsert_profile(c, u.user_id, opt_string(args, "displayname"), std::nullopt);
  // The use the UIA stage reserved becomes a completed one, with the account (one transaction).
  if (auto token = opt_string(args, "registration_token")) registration_tokens::complete(c, *token);
  out.rows.push_back({{"type", "user_created"}, {"user_id", u.user_id}});
  if (auto* session = protocol::opt_object(args, "session")) add_session(c, u.user_id, *session, u.is_guest, out);
  return out;
}

op_output login(connection& c, const json::object& args) {
  op_output out{json::object{}, {}};
  auto user_id = req_string(args, "user_id");
  auto user = accounts::get_user(c, user_id);
  if (!user) throw protocol::errors::forbidden("Invalid username or password");
  if (user->deactivated) throw protocol::errors::user_deactivated();
  add_session(c, user_id, args, user->is_guest, out);
  return out;
}

// Removes devices with their tokens (logout, device deletion). The result lists them under
// "removed_devices": their keys and to-device messages belong to other writers, which the handler
// tells next (actors/keys/device_changes.hpp).
void remove_devices(connection& c, const std::string& user_id, const std::vector<std::string>& device_ids,
                    op_output& out) {
  auto hashes = accounts::delete_tokens_for_devices(c, user_id, device_ids);
  auto deleted = accounts::delete_devices(c, user_id, device_ids);
  if (!hashes.empty()) out.rows.push_back(tokens_revoked(user_id, hashes));
  if (!deleted.empty()) out.rows.push_back(devices_changed(user_id, deleted, "devices_deleted"));
  auto& removed = out.result.as_object()["removed_devices"];
  if (!removed.is_array()) removed.emplace_array();
  for (auto& d : deleted) removed.as_array().emplace_back(d);
}

std::vector<std::string> all_device_ids(connection& c, const std::string& user_id) {
  std::vector<std::string> ids;
  for (auto& d : accounts::list_devices(c, user_id)) ids.push_back(d.device_id);
  return ids;
}

// Tokens without a device (none are made today) would survive device deletion; sweep them too.
void remove_all_sessions(connection& c, const std::string& user_id, op_output& out) {
  remove_devices(c, user_id, all_device_ids(c, user_id), out);
  auto rest = accounts::delete_tokens_for_user(c, user_id);
  if (!rest.empty()) out.rows.push_back(tokens_revoked(user_id, rest));
}

op_output logout(connection& c, const json::object& args) {
  op_output out{json::object{}, {}};
  remove_devices(c, req_string(args, "user_id"), {req_string(args, "device_id")}, out);
  return out;
}

op_output logout_all(connection& c, const json::object& args) {
  op_output out{json::object{}, {}};
  remove_all_sessions(c, req_string(args, "user_id"), out);
  return out;
}

op_output set_password(connection& c, const json::object& args) {
  op_output out{json::object{}, {}};
  auto user_id = req_string(args, "user_id");
  accounts::set_password_hash(c, user_id, req_string(args, "password_hash"));
  out.rows.push_back({{"type", "password_changed"}, {"user_id", user_id}});
  if (protocol::opt_bool(args, "logout_devices").value_or(true)) {
    auto keep = opt_string(args, "keep_device_id");
    std::vector<std::string> others;
    for (auto& d : all_device_ids(c, user_id))
      if (!keep || d != *keep) others.push_back(d);
    remove_devices(c, user_id, others, out);
  }
  return out;
}

op_output deactivate(connection& c, const json::object& args) {
  op_output out{json::object{}, {}};
  auto user_id = req_string(args, "user_id");
  accounts::set_deactivated(c, user_id);
  accounts::upsert_profile(c, user_id, std::nullopt, std::nullopt);
  remove_all_sessions(c, user_id, out);
  out.rows.push_back({{"type", "user_deactivated"}, {"user_id", user_id}});
  return out;
}

// Admin API: sets the server-admin flag and/or reactivates a deactivated account (which has no
// password until one is set).
op_output set_user_flags(connection& c, const json::object& args) {
  auto user_id = req_string(args, "user_id");
  if (!accounts::get_user(c, user_id)) throw protocol::errors::not_found("User not found");
  if (auto admin = protocol::opt_bool(args, "admin")) accounts::set_admin(c, user_id, *admin);
  if (protocol::opt_bool(args, "reactivate").value_or(false)) accounts::set_reactivated(c, user_id);
  return {json::object{}, {json::object{{"type", "user_flags_changed"}, {"user_id", user_id}}}};
}

// Event reports: made by any user about an event they can see, read and deleted by admins. The
// rows name the reporter; nothing subscribes to them.
op_output report_event(connection& c, const json::object& args) {
  storage::admin::event_report r;
  r.received_ts = now_ms();
  r.room_id = req_string(args, "room_id");
  r.event_id = req_string(args, "event_id");
  r.user_id = req_string(args, "user_id");
  r.reason = opt_string(args, "reason");
  r.score = protocol::opt_int(args, "score");
  auto id = storage::admin::insert_event_report(c, r);
  return {json::object{{"id", id}}, {json::object{{"type", "event_reported"}, {"user_id", r.user_id}}}};
}

op_output delete_event_report(connection& c, const json::object& args) {
  auto id = protocol::opt_int(args, "id").value_or(0);
  auto report = storage::admin::get_event_report(c, id);
  if (!report || !storage::admin::delete_event_report(c, id)) throw protocol::errors::not_found("Event report not found");
  return {json::object{}, {json::object{{"type", "event_report_deleted"}, {"user_id", report->user_id}}}};
}

// Registration tokens (admin API and the m.login.registration_token UIA stage). Rows
// {"type": "registration_token_changed", "token"} name no user or room: nothing is woken by them.
op_output token_changed(const std::string& token, json::value result = json::object{}) {
  return {std::move(result), {json::object{{"type", "registration_token_changed"}, {"token", token}}}};
}

op_output create_registration_token(connection& c, const json::object& args) {
  registration_tokens::token_row row;
  row.token = req_string(args, "token");
  row.uses_allowed = protocol::opt_int(args, "uses_allowed");
  row.expiry_time = protocol::opt_int(args, "expiry_time");
  if (!registration_tokens::insert(c, row)) throw protocol::errors::invalid_param("Token already in use");
  return token_changed(row.token);
}

// Each of uses_allowed and expiry_time is changed when present in args (null clears it).
op_output update_registration_token(connection& c, const json::object& args) {
  auto token = req_string(args, "token");
  auto* uses = args.if_contains("uses_allowed");
  auto* expiry = args.if_contains("expiry_time");
  auto as_opt = [](const json::value* v) {
    return v && v->is_int64() ? std::optional<int64_t>(v->as_int64()) : std::nullopt;
  };
  if (!registration_tokens::update(c, token, uses != nullptr, as_opt(uses), expiry != nullptr, as_opt(expiry)))
    throw protocol::errors::not_found("No such registration token: " + token);
  return token_changed(token);
}

op_output delete_registration_token(connection& c, const json::object& args) {
  auto token = req_string(args, "token");
  if (!registration_tokens::remove(c, token)) throw protocol::errors::not_found("No such registration token: " + token);
  return token_changed(token);
}

// The UIA stage: one use of the token for the session, if one is left. Expired sessions give
// theirs back first, so abandoned registrations do not use a token up. Result {"reserved": bool}.
op_output reserve_registration_token(connection& c, const json::object& args) {
  auto token = req_string(args, "token");
  registration_tokens::release_expired_sessions(c, protocol::opt_int(args, "expired_before").value_or(0));
  if (!registration_tokens::reserve(c, token, req_string(args, "session"), now_ms()))
    return {json::object{{"reserved", false}}, {}};
  return token_changed(token, json::object{{"reserved", true}});
}

// A registration that had reserved a use failed: the use is given back.
op_output release_registration_token(connection& c, const json::object& args) {
  auto token = req_string(args, "token");
  registration_tokens::release(c, token);
  return token_changed(token);
}

op_output update_device(connection& c, const json::object& args) {
  op_output out{json::object{}, {}};
  auto user_id = req_string(args, "user_id");
  auto device_id = req_string(args, "device_id");
  if (!accounts::set_device_display_name(c, user_id, device_id, opt_string(args, "display_name")))
    throw protocol::errors::not_found("Unknown device");
  out.rows.push_back(devices_changed(user_id, {device_id}, "devices_updated"));
  return out;
}

op_output delete_devices(connection& c, const json::object& args) {
  op_output out{json::object{}, {}};
  remove_devices(c, req_string(args, "user_id"), protocol::string_array(args, "device_ids"), out);
  return out;
}

// Replaces the user's dehydrated device (MSC3814): the old one is removed like any device, the new
// one is a device without a token. A device id some other device of the user has is refused.
op_output set_dehydrated_device(connection& c, const json::object& args) {
  op_output out{json::object{}, {}};
  auto user_id = req_string(args, "user_id");
  accounts::dehydrated_device_row d{req_string(args, "device_id"), req_string(args, "device_data")};
  auto old = accounts::get_dehydrated_device(c, user_id);
  bool same_device = old && old->device_id == d.device_id;
  if (!same_device && accounts::get_device(c, user_id, d.device_id))
    throw protocol::errors::invalid_param("Device id " + d.device_id + " is already in use");
  if (old && !same_device) remove_devices(c, user_id, {old->device_id}, out);
  accounts::device_row device;
  device.user_id = user_id;
  device.device_id = d.device_id;
  device.display_name = opt_string(args, "display_name");
  accounts::upsert_device(c, device);
  accounts::put_dehydrated_device(c, user_id, d);
  out.rows.push_back(devices_changed(user_id, {d.device_id}, "devices_added"));
  return out;
}

op_output delete_dehydrated_device(connection& c, const json::object& args) {
  op_output out{json::object{}, {}};
  auto user_id = req_string(args, "user_id");
  auto old = accounts::get_dehydrated_device(c, user_id);
  if (!old) throw protocol::errors::not_found("No dehydrated device");
  remove_devices(c, user_id, {old->device_id}, out);
  out.result.as_object()["device_id"] = old->device_id;
  return out;
}

// Sets displayname and/or avatar_url (a key present with null clears it; an absent key is kept).
op_output set_profile(connection& c, const json::object& args) {
  auto user_id = req_string(args, "user_id");
  auto current = accounts::get_profile(c, user_id);
  if (!current) throw protocol::errors::not_found("Profile not found");
  auto field = [&](std::string_view key, std::optional<std::string> keep) -> std::optional<std::string> {
    auto* v = args.if_contains(key);
    if (!v) return keep;
    if (v->is_null()) return std::nullopt;
    return std::string(v->as_string());
  };
  accounts::upsert_profile(c, user_id, field("displayname", current->displayname),
                           field("avatar_url", current->avatar_url));
  return {json::object{}, {json::object{{"type", "profile_updated"}, {"user_id", user_id}}}};
}

} // namespace

stream_definition accounts_stream() {
  return stream_definition{"accounts",
                           {
                               {"register", on_connection(register_user)},
                               {"login", on_connection(login)},
                               {"logout", on_connection(logout)},
                               {"logout_all", on_connection(logout_all)},
                               {"set_password", on_connection(set_password)},
                               {"deactivate", on_connection(deactivate)},
                               {"set_user_flags", on_connection(set_user_flags)},
                               {"report_event", on_connection(report_event)},
                               {"delete_event_report", on_connection(delete_event_report)},
                               {"create_registration_token", on_connection(create_registration_token)},
                               {"update_registration_token", on_connection(update_registration_token)},
                               {"delete_registration_token", on_connection(delete_registration_token)},
                               {"reserve_registration_token", on_connection(reserve_registration_token)},
                               {"release_registration_token", on_connection(release_registration_token)},
                               {"update_device", on_connection(update_device)},
                               {"delete_devices", on_connection(delete_devices)},
                               {"set_profile", on_connection(set_profile)},
                               {"set_dehydrated_device", on_connection(set_dehydrated_device)},
                               {"delete_dehydrated_device", on_connection(delete_dehydrated_device)},
                           }};
}

} // namespace myelin::storage
