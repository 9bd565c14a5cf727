// The device_lists stream: end-to-end encryption keys and the log of whose device lists changed.
// The keys group checks shapes and signatures on its pool threads before writing; this writer
// stores, and is the single place one-time keys are handed out, so a key is never claimed twice.
//
// Every change others must re-fetch keys for takes a position, is recorded in
// device_list_changes, and publishes {"type":"device_list","position","user_id","rooms":[joined
// rooms]}; the rooms wake the syncs of everyone sharing one with the user. For other servers (the
// federation sender) the row also says what changed: "device_ids" (with "deleted": true when they
// are gone) and/or "cross_signing": true. A change only one user sees (their user-signing
// signature on someone's master key) publishes just that user.
//
// Operations:
//   upload_keys {user_id, device_id, device_keys?: object, one_time_keys?: [key], fallback_keys?: [key]}
//     key = {algorithm, key_id, key_json}. New or different device keys are a change. A one-time
//     key id already stored with other content refuses the whole upload (400 M_INVALID_PARAM).
//     Result: {one_time_key_counts: {algorithm: n}} (signed_curve25519 always present).
//   claim {claims: [{user_id, device_id, algorithm}]}
//     Result {keys: [{user_id, device_id, algorithm, key_id, key_json}]}: per device the one-time
//     key with the lowest id, deleted as it is handed out, else the fallback key (marked used).
//     No row: claiming is not a device list change.
//   devices_changed {user_id, device_ids}     a device was added or renamed
//   devices_deleted {user_id, device_ids}     the devices are gone: their keys and signatures too
//   upload_cross_signing {user_id, keys: [{key_type, public_key, key_json}]}
//   upload_signatures {user_id, signatures: [{target_user_id, target_key_id, signer_key_id, signature}]}
//     Signatures by user_id (already verified). On user_id's own keys: a change of user_id for
//     everyone; on another user's master key: a change of that user only user_id sees.
//   remote_devices {user_id, stream_id, devices: [remote device]}
//     Another server's user: the whole device list (a resync), now tracked at stream_id.
//   remote_device {user_id, stream_id, device: remote device, deleted?: bool}
//     One device of a tracked (or newly tracked) remote user changed or went away.
//     remote device = {device_id, keys?: object, display_name?}.
//   remote_untrack {user_id}
//     Forget a remote user's list (a resync failed; /keys/query will ask their server).
//   remote_cross_signing {user_id, keys: [{key_type, key_json}]}
//     A remote user's master / self-signing keys.
//   Each of the remote operations is a change everyone sharing a room with the user sees.
//   cleanup {}
//     Periodic: keys of devices that no longer exist (removed while the writer was not told, e.g.
//     a crash between the accounts and device_lists writes) are deleted as if devices_deleted ran.
#include <boost/json.hpp>

#include "common/clock.hpp"
#include "protocol/errors.hpp"
#include "protocol/json.hpp"
#include "storage/streams/stream_definition.hpp"
#include "storage/tables/accounts.hpp"
#include "storage/tables/device_lists.hpp"
#include "storage/tables/e2e_keys.hpp"
#include "storage/tables/federation_inbound.hpp"
#include "storage/tables/events.hpp"

namespace myelin::storage {
namespace {

namespace json = boost::json;
using protocol::req_string;

constexpr std::chrono::milliseconds cleanup_interval{10 * 60 * 1000};

std::vector<e2e_keys::key_entry> key_entries(const json::object& args, std::string_view key) {
  std::vector<e2e_keys::key_entry> out;
  if (auto* a = protocol::opt_array(args, key))
    for (const auto& v : *a) {
      const auto& k = v.as_object();
      out.push_back({req_string(k, "algorithm"), req_string(k, "key_id"), req_string(k, "key_json")});
    }
  return out;
}

// What changed, for other servers (the federation sender turns it into m.device_list_update and
// m.signing_key_update EDUs): these devices (their keys, or their deletion), the cross-signing keys.
struct change_detail {
  std::vector<std::string> device_ids;
  bool deleted = false;
  bool cross_signing = false;
};

// Records a change of `user_id` seen by everyone sharing a room with them; one position per
// operation however many changes it records.
void everyone_sees_change(op_context& ctx, const std::string& user_id, op_output& out, const change_detail& what = {}) {
  if (out.rows.empty()) ctx.next_position();
  device_lists::record_change(ctx.db, ctx.position, user_id);
  json::array rooms;
  for (auto& room_id : events::rooms_for_user(ctx.db, user_id, "join")) rooms.emplace_back(room_id);
  json::object row{{"type", "device_list"}, {"position", ctx.position}, {"user_id", user_id}, {"rooms", std::move(rooms)}};
  if (!what.device_ids.empty()) {
    json::array ids;
    for (const auto& d : what.device_ids) ids.emplace_back(d);
    row["device_ids"] = std::move(ids);
    if (what.deleted) row["deleted"] = true;
  }
  if (what.cross_signing) row["cross_signing"] = true;
  out.rows.push_back(std::move(row));
}

op_output upload_keys(op_context& ctx, const json::object& args) {
  auto user_id = req_string(args, "user_id");
  auto device_id = req_string(args, "device_id");
  int64_t now = now_ms();
  op_output out{json::object{}, {}};
  if (auto* keys = protocol::opt_object(args, "device_keys")) {
    auto text = protocol::canonical_json(*keys);
    if (e2e_keys::device_keys(ctx.db, user_id, device_id) != text) {
      e2e_keys::put_device_keys(ctx.db, user_id, device_id, text, now);
      everyone_sees_change(ctx, user_id, out, {{device_id}});
    }
  }
  if (auto clash = e2e_keys::put_one_time_keys(ctx.db, user_id, device_id, key_entries(args, "one_time_keys"), now))
    throw protocol::errors::invalid_param("One-time key " + clash->algorithm + ":" + clash->key_id +
                                          " already exists with other content");
  for (const auto& k : key_entries(args, "fallback_keys")) e2e_keys::put_fallback_key(ctx.db, user_id, device_id, k);
  out.result = json::object{{"one_time_key_counts", e2e_keys::one_time_key_counts_json(ctx.db, user_id, device_id)}};
  return out;
}

op_output claim(connection& c, const json::object& args) {
  std::vector<e2e_keys::device_claim> claims;
  if (auto* wanted = protocol::opt_array(args, "claims"))
    for (const auto& v : *wanted) {
      const auto& cl = v.as_object();
      claims.push_back({req_string(cl, "user_id"), req_string(cl, "device_id"), req_string(cl, "algorithm"), {}});
    }
  e2e_keys::take_one_time_keys(c, claims);
  e2e_keys::use_fallback_keys(c, claims);  // for the devices that had no one-time key left
  json::array keys;
  for (const auto& cl : claims)
    if (cl.key)
      keys.push_back(json::object{{"user_id", cl.user_id}, {"device_id", cl.device_id}, {"algorithm", cl.algorithm},
                                  {"key_id", cl.key->key_id}, {"key_json", cl.key->key_json}});
  return {json::object{{"keys", std::move(keys)}}, {}};
}

op_output devices_changed(op_context& ctx, const json::object& args) {
  op_output out{json::object{}, {}};
  auto device_ids = protocol::string_array(args, "device_ids");
  if (!device_ids.empty()) everyone_sees_change(ctx, req_string(args, "user_id"), out, {device_ids});
  return out;
}

op_output devices_deleted(op_context& ctx, const json::object& args) {
  auto user_id = req_string(args, "user_id");
  auto device_ids = protocol::string_array(args, "device_ids");
  op_output out{json::object{}, {}};
  if (device_ids.empty()) return out;
  e2e_keys::delete_device_keys(ctx.db, user_id, device_ids);
  everyone_sees_change(ctx, user_id, out, {device_ids, true});
  return out;
}

op_output upload_cross_signing(op_context& ctx, const json::object& args) {
  auto user_id = req_string(args, "user_id");
  int64_t now = now_ms();
  op_output out{json::object{}, {}};
  bool any = false;
  if (auto* keys = protocol::opt_array(args, "keys"))
    for (const auto& v : *keys) {
      const auto& k = v.as_object();
      e2e_keys::cross_signing_row row{user_id, req_string(k, "key_type"), req_string(k, "public_key"),
                                      req_string(k, "key_json")};
      auto old = e2e_keys::cross_signing_key(ctx.db, user_id, row.key_type);
      if (old && old->key_json == row.key_json) continue;
      e2e_keys::put_cross_signing_key(ctx.db, row, now);
      any = true;
    }
  if (any) everyone_sees_change(ctx, user_id, out, {{}, false, true});
  return out;
}

op_output upload_signatures(op_context& ctx, const json::object& args) {
  auto signer = req_string(args, "user_id");
  op_output out{json::object{}, {}};
  bool own = false;
  change_detail own_change;  // signatures on the signer's own devices or keys
  std::set<std::string> others;
  if (auto* sigs = protocol::opt_array(args, "signatures"))
    for (const auto& v : *sigs) {
      const auto& s = v.as_object();
      e2e_keys::signature_row row{req_string(s, "target_user_id"), req_string(s, "target_key_id"), signer,
                                  req_string(s, "signer_key_id"), req_string(s, "signature")};
      e2e_keys::put_signature(ctx.db, row);
      if (row.target_user_id == signer) {
        own = true;
        // A device id, or the signer's master key (its key id is the public key): a cross-signing change.
        if (accounts::get_device(ctx.db, signer, row.target_key_id)) own_change.device_ids.push_back(row.target_key_id);
        else own_change.cross_signing = true;
      } else {
        others.insert(row.target_user_id);
      }
    }
  if (own) everyone_sees_change(ctx, signer, out, own_change);
  for (const auto& target : others) {
    if (out.rows.empty()) ctx.next_position();
    device_lists::record_change(ctx.db, ctx.position, target, signer);
  }
  if (!others.empty() && !own)
    out.rows.push_back(json::object{{"type", "device_list"}, {"position", ctx.position}, {"user_id", signer}});
  return out;
}

federation_inbound::remote_device remote_device_of(const json::value& v) {
  if (!v.is_object()) throw protocol::errors::bad_json("A remote device must be an object");
  const auto& d = v.as_object();
  federation_inbound::remote_device out{req_string(d, "device_id"), std::nullopt,
                                        protocol::opt_string(d, "display_name")};
  if (const auto* keys = protocol::opt_object(d, "keys")) out.key_json = json::serialize(*keys);
  return out;
}

int64_t req_int(const json::object& args, std::string_view key) {
  auto v = protocol::opt_int(args, key);
  if (!v) throw protocol::errors::missing_param("Missing '" + std::string(key) + "'");
  return *v;
}

op_output remote_devices(op_context& ctx, const json::object& args) {
  auto user_id = req_string(args, "user_id");
  std::vector<federation_inbound::remote_device> devices;
  if (const auto* list = protocol::opt_array(args, "devices"))
    for (const auto& v : *list) devices.push_back(remote_device_of(v));
  federation_inbound::replace_devices(ctx.db, user_id, req_int(args, "stream_id"), devices, now_ms());
  op_output out{json::object{}, {}};
  everyone_sees_change(ctx, user_id, out);
  return out;
}

op_output remote_device(op_context& ctx, const json::object& args) {
  auto user_id = req_string(args, "user_id");
  const auto* device = args.if_contains("device");
  if (!device) throw protocol::errors::missing_param("Missing 'device'");
  federation_inbound::update_device(ctx.db, user_id, req_int(args, "stream_id"), remote_device_of(*device),
                                    protocol::opt_bool(args, "deleted").value_or(false), now_ms());
  op_output out{json::object{}, {}};
  everyone_sees_change(ctx, user_id, out);
  return out;
}

op_output remote_untrack(op_context& ctx, const json::object& args) {
  auto user_id = req_string(args, "user_id");
  federation_inbound::untrack(ctx.db, user_id);
  op_output out{json::object{}, {}};
  everyone_sees_change(ctx, user_id, out);
  return out;
}

op_output remote_cross_signing(op_context& ctx, const json::object& args) {
  auto user_id = req_string(args, "user_id");
  op_output out{json::object{}, {}};
  bool any = false;
  if (const auto* keys = protocol::opt_array(args, "keys"))
    for (const auto& v : *keys) {
      const auto& k = v.as_object();
      federation_inbound::put_cross_signing_key(ctx.db, user_id, {req_string(k, "key_type"), req_string(k, "key_json")});
      any = true;
    }
  if (any) everyone_sees_change(ctx, user_id, out);
  return out;
}

op_output cleanup(op_context& ctx, const json::object&) {
  op_output out{json::object{}, {}};
  for (const auto& [user_id, device_ids] : e2e_keys::orphaned_devices(ctx.db)) {
    e2e_keys::delete_device_keys(ctx.db, user_id, device_ids);
    everyone_sees_change(ctx, user_id, out, {device_ids, true});
  }
  return out;
}

} // namespace

stream_definition device_lists_stream() {
  stream_definition def{"device_lists",
                        {{"upload_keys", upload_keys},
                         {"claim", on_connection(claim)},
                         {"devices_changed", devices_changed},
                         {"devices_deleted", devices_deleted},
                         {"upload_cross_signing", upload_cross_signing},
                         {"upload_signatures", upload_signatures},
                         {"remote_devices", remote_devices},
                         {"remote_device", remote_device},
                         {"remote_untrack", remote_untrack},
                         {"remote_cross_signing", remote_cross_signing},
                         {"cleanup", cleanup}}};
  def.periodic = stream_definition::periodic_op{cleanup_interval, "cleanup"};
  return def;
}

} // namespace myelin::storage
