#include "actors/keys/device_changes.hpp"

#include <boost/json.hpp>

#include "actors/runtime/writer_client.hpp"
#include "common/log.hpp"
#include "protocol/errors.hpp"

namespace myelin::keys {

namespace json = boost::json;

namespace {

// The accounts write has happened (the device exists, or is gone with its tokens), so the request
// must not fail now: a follow-up write that cannot be made is logged, and the writers' periodic
// cleanups (or the device's next key upload) make up for it.
void follow_up(runtime::handler_context& ctx, const std::string& stream, const std::string& user_id,
               const std::string& op, const json::object& args) {
  try {
    ctx.writers.write(stream, user_id, op, args);
  } catch (const protocol::matrix_error& e) {
    ctx.log.warn("device change not recorded; the periodic cleanup will catch up",
                 {{"stream", stream}, {"op", op}, {"user_id", user_id}, {"error", e.what()}});
  }
}

} // namespace

void after_devices_removed(runtime::handler_context& ctx, const std::string& user_id,
                           const write_result& accounts_write) {
  json::error_code ec;
  auto result = json::parse(accounts_write.result, ec);
  const auto* obj = ec ? nullptr : result.if_object();
  const auto* removed = obj ? obj->if_contains("removed_devices") : nullptr;
  if (!removed || !removed->is_array() || removed->as_array().empty()) return;
  json::object args{{"user_id", user_id}, {"device_ids", *removed}};
  follow_up(ctx, "device_lists", user_id, "devices_deleted", args);
  follow_up(ctx, "to_device", user_id, "drop_devices", args);
}

void after_device_changed(runtime::handler_context& ctx, const std::string& user_id, const std::string& device_id) {
  follow_up(ctx, "device_lists", user_id, "devices_changed",
            {{"user_id", user_id}, {"device_ids", json::array{json::value(device_id)}}});
}

} // namespace myelin::keys
