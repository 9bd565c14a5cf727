// The storage test harness: runs a test body on SQLite and on PostgreSQL. PostgreSQL runs when
// MYELIN_TEST_PG holds a conninfo (scripts/test-services.sh); each run gets a fresh database there,
// dropped afterwards. MYELIN_REQUIRE_PG=1 makes a missing PostgreSQL a failure.
#pragma once
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string>
#include <utility>

#include "storage/database.hpp"
#include "storage/migrations.hpp"

namespace myelin::test {

using namespace myelin::storage;
namespace fs = std::filesystem;

using body_fn = std::function<void(database&, dialect)>;

inline std::string unique_suffix() {
  static std::atomic<int> counter{0};
  return std::to_string(::getpid()) + "_" + std::to_string(++counter);
}

// Runs the cleanup whatever the body did, so a failing test leaves no database behind.
struct scope_exit {
  std::function<void()> fn;
  ~scope_exit() {
    try {
      fn();
    } catch (const std::exception& e) {
      std::cerr << "unit tests: database cleanup failed: " << e.what() << "\n";
    }
  }
};

inline void run_sqlite(const body_fn& body, bool migrate) {
  auto dir = fs::temp_directory_path() / ("myelin_ut_" + unique_suffix());
  fs::create_directories(dir);
  scope_exit cleanup{[dir] { fs::remove_all(dir); }};
  database_options o;
  o.kind = dialect::sqlite;
  o.sqlite_path = (dir / "test.db").string();
  auto db = open_database(o);
  if (migrate) apply_migrations(*db, all_migrations());
  BOOST_TEST_CONTEXT("backend sqlite") { body(*db, dialect::sqlite); }
}

inline std::unique_ptr<database> open_pg(const std::string& conninfo, size_t pool) {
  database_options o;
  o.kind = dialect::postgres;
  o.postgres_conninfo = conninfo;
  o.pool_size = pool;
  return open_database(o);
}

inline void run_postgres(const body_fn& body, bool migrate) {
  const char* pg = std::getenv("MYELIN_TEST_PG");
  if (!pg || !*pg) {
    const char* required = std::getenv("MYELIN_REQUIRE_PG");
    if (required && std::string(required) == "1")
      BOOST_FAIL("MYELIN_REQUIRE_PG=1 but MYELIN_TEST_PG is not set: the PostgreSQL half cannot run");
    static bool warned = false;
    if (!std::exchange(warned, true))
      std::cerr << "storage_tests: WARNING: MYELIN_TEST_PG is not set; PostgreSQL cases skipped "
                   "(see scripts/test-services.sh)\n";
    BOOST_WARN_MESSAGE(false, "PostgreSQL skipped: MYELIN_TEST_PG is not set");
    return;
  }
  std::string admin = pg;
  std::string name = "myelin_ut_" + unique_suffix();
  open_pg(admin, 1)->acquire()->exec_script("CREATE DATABASE " + name);
  scope_exit cleanup{
      [&] { open_pg(admin, 1)->acquire()->exec_script("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); }};
  auto db = open_pg(admin + " dbname=" + name, 8);  // libpq: the last dbname wins
  if (migrate) apply_migrations(*db, all_migrations());
  BOOST_TEST_CONTEXT("backend postgres") { body(*db, dialect::postgres); }
}

inline void for_each_backend(const body_fn& body, bool migrate = true) {
  run_sqlite(body, migrate);
  run_postgres(body, migrate);
}

} // namespace myelin::test
