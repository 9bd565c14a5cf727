// The migrations, one function each, in storage/schema/NNNN_name.cpp.
#pragma once
#include "storage/migrations.hpp"

namespace myelin::storage::schema {
migration foundation_migration();
migration rooms_migration();
migration filters_migration();
migration account_data_migration();
migration receipts_migration();
migration to_device_migration();
migration presence_migration();
}
