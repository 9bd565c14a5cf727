// The list of every endpoint Myelin serves: each family registers itself from its own file.
#include "actors/runtime/endpoint_registry.hpp"

namespace myelin::endpoints {
void register_versions(runtime::endpoint_registry&);
void register_login(runtime::endpoint_registry&);
void register_registration(runtime::endpoint_registry&);
void register_account(runtime::endpoint_registry&);
void register_logout(runtime::endpoint_registry&);
void register_password(runtime::endpoint_registry&);
void register_openid(runtime::endpoint_registry&);
void register_devices(runtime::endpoint_registry&);
void register_keys_upload(runtime::endpoint_registry&);
void register_keys_query(runtime::endpoint_registry&);
void register_keys_claim(runtime::endpoint_registry&);
void register_keys_changes(runtime::endpoint_registry&);
void register_keys_device_signing(runtime::endpoint_registry&);
void register_keys_signatures(runtime::endpoint_registry&);
void register_dehydrated_device(runtime::endpoint_registry&);
void register_media_config(runtime::endpoint_registry&);
void register_media_upload(runtime::endpoint_registry&);
void register_media_download(runtime::endpoint_registry&);
void register_media_thumbnail(runtime::endpoint_registry&);
void register_media_quarantine(runtime::endpoint_registry&);
void register_preview_url(runtime::endpoint_registry&);
void register_debug(runtime::endpoint_registry&);
void register_create_room(runtime::endpoint_registry&);
void register_membership(runtime::endpoint_registry&);
void register_send(runtime::endpoint_registry&);
void register_profile(runtime::endpoint_registry&);
void register_forget(runtime::endpoint_registry&);
void register_upgrade(runtime::endpoint_registry&);
void register_directory(runtime::endpoint_registry&);
void register_public_rooms(runtime::endpoint_registry&);
void register_relations(runtime::endpoint_registry&);
void register_search(runtime::endpoint_registry&);
void register_timestamp_to_event(runtime::endpoint_registry&);
void register_hierarchy(runtime::endpoint_registry&);
void register_user_directory(runtime::endpoint_registry&);
void register_debug_room(runtime::endpoint_registry&);
void register_cluster_status(runtime::endpoint_registry&);
void register_admin_users(runtime::endpoint_registry&);
void register_admin_rooms(runtime::endpoint_registry&);
void register_admin_register(runtime::endpoint_registry&);
void register_admin_event_reports(runtime::endpoint_registry&);
void register_admin_devices(runtime::endpoint_registry&);
void register_messages(runtime::endpoint_registry&);
void register_room_state(runtime::endpoint_registry&);
void register_filters(runtime::endpoint_registry&);
void register_pushers(runtime::endpoint_registry&);
void register_appservice_ping(runtime::endpoint_registry&);
void register_account_data(runtime::endpoint_registry&);
void register_sync(runtime::endpoint_registry&);
void register_legacy_sync(runtime::endpoint_registry&);
void register_sliding_sync(runtime::endpoint_registry&);
void register_push_rules(runtime::endpoint_registry&);
void register_notifications(runtime::endpoint_registry&);
void register_typing(runtime::endpoint_registry&);
void register_receipts(runtime::endpoint_registry&);
void register_to_device(runtime::endpoint_registry&);
void register_presence(runtime::endpoint_registry&);
void register_room_keys(runtime::endpoint_registry&);
} // namespace myelin::endpoints

namespace myelin::runtime {

void register_all_endpoints(endpoint_registry& r) {
  endpoints::register_versions(r);
  endpoints::register_login(r);
  endpoints::register_registration(r);
  endpoints::register_account(r);
  endpoints::register_logout(r);
  endpoints::register_password(r);
  endpoints::register_openid(r);
  endpoints::register_devices(r);
  endpoints::register_keys_upload(r);
  endpoints::register_keys_query(r);
  endpoints::register_keys_claim(r);
  endpoints::register_keys_changes(r);
  endpoints::register_keys_device_signing(r);
  endpoints::register_keys_signatures(r);
  endpoints::register_dehydrated_device(r);
  endpoints::register_media_config(r);
  endpoints::register_media_upload(r);
  endpoints::register_media_download(r);
  endpoints::register_media_thumbnail(r);
  endpoints::register_media_quarantine(r);
  endpoints::register_preview_url(r);
  endpoints::register_debug(r);
  endpoints::register_create_room(r);
  endpoints::register_membership(r);
  endpoints::register_send(r);
  endpoints::register_profile(r);
  endpoints::register_forget(r);
  endpoints::register_upgrade(r);
  endpoints::register_directory(r);
  endpoints::register_public_rooms(r);
  endpoints::register_relations(r);
  endpoints::register_search(r);
  endpoints::register_timestamp_to_event(r);
  endpoints::register_hierarchy(r);
  endpoints::register_user_directory(r);
  endpoints::register_debug_room(r);
  endpoints::register_cluster_status(r);
  endpoints::register_admin_users(r);
  endpoints::register_admin_rooms(r);
  endpoints::register_admin_register(r);
  endpoints::register_admin_event_reports(r);
  endpoints::register_admin_devices(r);
  endpoints::register_messages(r);
  endpoints::register_room_state(r);
  endpoints::register_filters(r);
  endpoints::register_pushers(r);
  endpoints::register_appservice_ping(r);
  endpoints::register_account_data(r);
  endpoints::register_sync(r);
  endpoints::register_legacy_sync(r);
  endpoints::register_sliding_sync(r);
  endpoints::register_push_rules(r);
  endpoints::register_notifications(r);
  endpoints::register_typing(r);
  endpoints::register_receipts(r);
  endpoints::register_to_device(r);
  endpoints::register_presence(r);
  endpoints::register_room_keys(r);
}

} // namespace myelin::runtime
