// The migrations, one function each, in storage/schema/NNNN_name.cpp.
#pragma once
#include "storage/migrations.hpp"

namespace myelin::storage::schema {
migration foundation_migration();
migration rooms_migration();
migration filters_migration();
migration account_data_migration();
migration receipts_migration();        // 0005
migration to_device_migration();       // 0006
migration presence_migration();        // 0007
migration push_rules_migration();      // 0008
migration notifications_migration();   // 0009
migration e2e_keys_migration();        // 0010
migration room_keys_migration();       // 0011
migration dehydrated_devices_migration(); // 0012
migration media_migration();           // 0013
migration url_cache_migration();       // 0014
migration sliding_sync_migration();    // 0015
migration pushers_migration();         // 0016
migration event_reports_migration();   // 0017
migration sliding_sync_rooms_migration(); // 0018
migration pusher_progress_migration();   // 0019
migration server_keys_migration();       // 0020
migration registration_tokens_migration(); // 0021
migration room_moderation_migration();     // 0022
migration appservices_migration();          // 0023
migration federation_sender_migration();    // 0024
migration federation_inbound_migration();   // 0025
migration federation_events_migration();     // 0026
migration remote_thumbnails_migration();     // 0027
}
