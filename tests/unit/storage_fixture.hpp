// The storage test fixture: runs a test body on SQLite (a fresh file) and on PostgreSQL (a fresh
// database, when MYELIN_TEST_PG holds a conninfo; scripts/test-services.sh), migrated unless told
// otherwise. Shared by the test files that touch the database.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "storage/database.hpp"

namespace myelin::test {

using body_fn = std::function<void(storage::database&, storage::dialect)>;

// A name part unique within this run of the tests.
std::string unique_suffix();

// Runs the cleanup whatever the body did, so a failing test leaves no database behind.
struct scope_exit {
  std::function<void()> fn;
  ~scope_exit();
};

void run_sqlite(const body_fn& body, bool migrate);
std::unique_ptr<storage::database> open_pg(const std::string& conninfo, size_t pool);
// Skipped with a warning without MYELIN_TEST_PG (a failure when MYELIN_REQUIRE_PG=1).
void run_postgres(const body_fn& body, bool migrate);
void for_each_backend(const body_fn& body, bool migrate = true);

// The first column of the first row as an integer.
int64_t count(storage::connection& c, const std::string& sql);

} // namespace myelin::test
