// Versioned schema. Each migration has one SQL script written once; a few ${MACROS} expand per
// dialect (see expand_schema_macros). Migrations run at start, in order, each in a transaction,
// and record themselves in schema_version, so running them twice is a no-op. On PostgreSQL an
// advisory lock keeps two nodes starting together from racing.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "storage/database.hpp"

namespace myelin::storage {

struct migration {
  int version;
  std::string name;
  std::string sql;  // statements separated by ';', with ${BIGSERIAL_PK}, ${BLOB}, ${BIGINT} macros
  // Statements for one engine only, run after `sql` (full-text search differs the most).
  std::string postgres_sql = {};
  std::string sqlite_sql = {};
};

// The project's migrations in order (storage/schema/*.cpp contribute them).
const std::vector<migration>& all_migrations();

// ${BIGSERIAL_PK} → "BIGSERIAL PRIMARY KEY" | "INTEGER PRIMARY KEY AUTOINCREMENT"
// ${BLOB}         → "BYTEA" | "BLOB"
std::string expand_schema_macros(const std::string& sql, dialect d);

struct migration_report {
  int from_version = 0;
  int to_version = 0;
  std::vector<std::string> applied;  // names
};

// Applies every migration newer than the database's version. `progress` is called once per
// migration applied (for startup logs). Throws database_error naming the migration that failed.
migration_report apply_migrations(database& db, const std::vector<migration>& migrations,
                                  const std::function<void(const migration&)>& progress = {});

// Current schema version (0 for an empty database).
int schema_version(database& db);

} // namespace myelin::storage
