// Applies the versioned schema: each migration in its own transaction, recorded in
// schema_version, so a second run does nothing. On PostgreSQL a transaction-scoped advisory lock
// makes nodes that start together take turns, and each re-checks the version under the lock.
#include "storage/migrations.hpp"

#include "common/clock.hpp"
#include "storage/schema/schema.hpp"

namespace myelin::storage {

namespace {

constexpr int64_t migration_lock_key = 0x6d79656c696e;  // "myelin"

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
    s.replace(pos, from.size(), to);
}

bool has_version_table(connection& c) {
  auto r = c.kind() == dialect::sqlite
               ? c.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'")
               : c.exec("SELECT 1 WHERE to_regclass('schema_version') IS NOT NULL");  // honours search_path
  return !r.empty();
}

int current_version(connection& c) {
  if (!has_version_table(c)) return 0;
  auto r = c.exec("SELECT COALESCE(MAX(version), 0) FROM schema_version");
  return static_cast<int>(r[0].as_int(0));
}

// Held until the transaction ends. SQLite needs nothing: BEGIN IMMEDIATE already serialises
// writers, across processes too.
void lock_schema(connection& c) {
  if (c.kind() == dialect::postgres) c.exec("SELECT pg_advisory_xact_lock($1)", {migration_lock_key});
}


} // namespace

const std::vector<migration>& all_migrations() {
  static const std::vector<migration> list = {schema::foundation_migration(), schema::rooms_migration(),
                                                 schema::filters_migration(),
                                                 schema::account_data_migration(),
                                                 schema::receipts_migration(),
                                                 schema::to_device_migration(),
                                                 schema::presence_migration(),
                                                 schema::push_rules_migration(),
                                                 schema::notifications_migration(),
                                                 schema::e2e_keys_migration(),
                                                 schema::room_keys_migration(),
                                                 schema::dehydrated_devices_migration(),
                                                 schema::media_migration(),
                                                 schema::url_cache_migration(),
                                                 schema::sliding_sync_migration(),
                                                 schema::pushers_migration(),
                                                 schema::event_reports_migration(),
                                                 schema::sliding_sync_rooms_migration(),
                                                 schema::pusher_progress_migration(),
                                                 schema::server_keys_migration(),
                                                 schema::registration_tokens_migration(),
                                                 schema::room_moderation_migration(),
                                                 schema::appservices_migration(),
                                                 schema::federation_sender_migration(),
                                                 schema::federation_inbound_migration(),
                                                 schema::federation_events_migration(),
                                                 schema::remote_thumbnails_migration()};
  return list;
}

std::string expand_schema_macros(const std::string& sql, dialect d) {
  std::string out = sql;
  bool pg = d == dialect::postgres;
  replace_all(out, "${BIGSERIAL_PK}", pg ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT");
  replace_all(out, "${BLOB}", pg ? "BYTEA" : "BLOB");
  replace_all(out, "${BIGINT}", "BIGINT");
  return out;
}

int schema_version(database& db) {
  auto c = db.acquire();
  return current_version(*c);
}

migration_report apply_migrations(database& db, const std::vector<migration>& migrations,
                                  const std::function<void(const migration&)>& progress) {
  for (size_t i = 0; i < migrations.size(); ++i)
    if (migrations[i].version <= (i ? migrations[i - 1].version : 0))
      throw database_error("migration " + std::to_string(migrations[i].version) + " (" + migrations[i].name +
                           "): versions must be positive and increasing");

  migration_report report;
  // Created under the lock too: two PostgreSQL sessions running CREATE TABLE IF NOT EXISTS at
  // once can still collide on the catalog's unique index.
  report.from_version = report.to_version = db.transact([](connection& c) {
    lock_schema(c);
    c.exec_script("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                  "name TEXT NOT NULL, applied_ts BIGINT NOT NULL)");
    return current_version(c);
  });

  for (const auto& m : migrations) {
    if (m.version <= report.to_version) continue;
    bool applied = false;
    try {
      applied = db.transact([&](connection& c) {
        lock_schema(c);
        if (current_version(c) >= m.version) return false;  // another node got here first
        c.exec_script(expand_schema_macros(m.sql, c.kind()));
        const std::string& engine_sql = c.kind() == dialect::postgres ? m.postgres_sql : m.sqlite_sql;
        if (!engine_sql.empty()) c.exec_script(expand_schema_macros(engine_sql, c.kind()));
        c.exec("INSERT INTO schema_version (version, name, applied_ts) VALUES ($1, $2, $3)",
               {int64_t(m.version), m.name, now_ms()});
        return true;
      });
    } catch (const database_error& e) {
      throw database_error("migration " + std::to_string(m.version) + " (" + m.name + "): " + e.what(),
                           e.unique_violation());
    }
    report.to_version = m.version;
    if (applied) {
      report.applied.push_back(m.name);
      if (progress) progress(m);
    }
  }
  return report;
}

} // namespace myelin::storage
