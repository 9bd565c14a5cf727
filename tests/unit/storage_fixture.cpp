// The storage test fixture (see storage_fixture.hpp).
#include "storage_fixture.hpp"

#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "storage/migrations.hpp"

namespace myelin::test {

using namespace storage;
namespace fs = std::filesystem;

std::string unique_suffix() {
  static std::atomic<int> counter{0};
  return std::to_string(::getpid()) + "_" + std::to_string(++counter);
}

scope_exit::~scope_exit() {
  try {
    fn();
  } catch (const std::exception& e) {
    std::cerr << "storage tests: cleanup failed: " << e.what() << "\n";
  }
}

void run_sqlite(const body_fn& body, bool migrate) {
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

std::unique_ptr<database> open_pg(const std::string& conninfo, size_t pool) {
  database_options o;
  o.kind = dialect::postgres;
  o.postgres_conninfo = conninfo;
  o.pool_size = pool;
  return open_database(o);
}

void run_postgres(const body_fn& body, bool migrate) {
  const char* pg = std::getenv("MYELIN_TEST_PG");
  if (!pg || !*pg) {
    const char* required = std::getenv("MYELIN_REQUIRE_PG");
    if (required && std::string(required) == "1")
      BOOST_FAIL("MYELIN_REQUIRE_PG=1 but MYELIN_TEST_PG is not set: the PostgreSQL half cannot run");
    static bool warned = false;
    if (!std::exchange(warned, true))
      std::cerr << "storage tests: WARNING: MYELIN_TEST_PG is not set; PostgreSQL cases skipped "
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

void for_each_backend(const body_fn& body, bool migrate) {
  run_sqlite(body, migrate);
  run_postgres(body, migrate);
}

int64_t count(connection& c, const std::string& sql) { return c.exec(sql)[0].as_int(0); }

} // namespace myelin::test
