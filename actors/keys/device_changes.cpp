#include "actors/keys/device_changes.hpp"

#include <boost/json.hpp>

#include "actors/runtime/writer_client.hpp"

namespace myelin::keys {

namespace json = boost::json;

void after_devices_removed(runtime::handler_context& ctx, const std::string& user_id,
                           const write_result& accounts_write) {
  json::error_code ec;
  auto result = json::parse(accounts_write.result, ec);
  const auto* obj = ec ? nullptr : result.if_object();
  const auto* removed = obj ? obj->if_contains("removed_devices") : nullptr;
  if (!removed || !removed->is_array() || removed->as_array().empty()) return;
  json::object args{{"user_id", user_id}, {"device_ids", *removed}};
  ctx.writers.write("device_lists", user_id, "devices_deleted", args);
  ctx.writers.write("to_device", user_id, "drop_devices", args);
}

void after_device_changed(runtime::handler_context& ctx, const std::string& user_id, const std::string& device_id) {
  ctx.writers.write("device_lists", user_id, "devices_changed",
                    {{"user_id", user_id}, {"device_ids", json::array{json::value(device_id)}}});
}

} // namespace myelin::keys
