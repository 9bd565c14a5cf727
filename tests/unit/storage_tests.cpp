// storage/: the same tests on SQLite and PostgreSQL — migrations, value round trips, constraint
// errors, transactions and savepoints, pool concurrency, the account tables.
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <thread>

#include "protocol/crypto.hpp"
#include "storage/database.hpp"
#include "storage/migrations.hpp"
#include "storage/tables/accounts.hpp"

using namespace myelin::storage;
namespace fs = std::filesystem;

namespace {

// A fresh database of each kind; PostgreSQL only when the test services run (MYELIN_TEST_PG).
struct backend {
  std::string name;
  std::function<std::unique_ptr<database>()> open;
  std::function<void()> cleanup;
};

std::vector<backend> backends() {
  std::vector<backend> out;
  auto dir = fs::temp_directory_path() / ("myelin-st-" + std::to_string(::getpid()) + "-" +
                                          myelin::protocol::random_alnum(6));
  fs::create_directories(dir);
  out.push_back({"sqlite",
                 [dir] {
                   database_options o;
                   o.kind = dialect::sqlite;
                   o.sqlite_path = (dir / "t.db").string();
                   o.pool_size = 4;
                   return open_database(o);
                 },
                 [dir] { fs::remove_all(dir); }});
  const char* pg = std::getenv("MYELIN_TEST_PG");
  if (!pg) {
    const char* req = std::getenv("MYELIN_REQUIRE_PG");
    if (req && std::string(req) == "1") BOOST_FAIL("MYELIN_TEST_PG is not set but PostgreSQL tests are required");
    BOOST_TEST_MESSAGE("PostgreSQL tests skipped: MYELIN_TEST_PG is not set");
    return out;
  }
  std::string admin = pg;
  std::string db_name = "myelin_ut_" + std::to_string(::getpid()) + "_" +
                        [] { std::string s = myelin::protocol::random_alnum(6); for (auto& c : s) c = std::tolower(c); return s; }();
  out.push_back({"postgres",
                 [admin, db_name] {
                   database_options o;
                   o.kind = dialect::postgres;
                   o.postgres_conninfo = admin;
                   o.pool_size = 1;
                   open_database(o)->acquire()->exec_script("CREATE DATABASE " + db_name);
                   o.postgres_conninfo = admin + " dbname=" + db_name;
                   o.pool_size = 8;
                   return open_database(o);
                 },
                 [admin, db_name] {
                   database_options o;
                   o.kind = dialect::postgres;
                   o.postgres_conninfo = admin;
                   o.pool_size = 1;
                   open_database(o)->acquire()->exec_script("DROP DATABASE IF EXISTS " + db_name + " WITH (FORCE)");
                 }});
  return out;
}

void for_each_backend(const std::function<void(database&, const std::string&)>& body) {
  myelin::protocol::crypto_init();
  for (auto& b : backends()) {
    BOOST_TEST_CONTEXT("backend " << b.name) {
      {
        auto db = b.open();
        apply_migrations(*db, all_migrations());
        body(*db, b.name);
      }
      b.cleanup();
    }
  }
}

} // namespace

BOOST_AUTO_TEST_SUITE(storage_tests)

BOOST_AUTO_TEST_CASE(migrations_apply_once) {
  for_each_backend([](database& db, const std::string&) {
    BOOST_TEST(schema_version(db) == all_migrations().back().version);
    auto again = apply_migrations(db, all_migrations());
    BOOST_TEST(again.applied.empty());
    BOOST_TEST(again.from_version == again.to_version);
    auto c = db.acquire();
    BOOST_TEST(c->exec("SELECT COUNT(*) FROM schema_version")[0].as_int(0) == int64_t(all_migrations().size()));
  });
}

BOOST_AUTO_TEST_CASE(failed_migration_names_itself_and_leaves_nothing) {
  for_each_backend([](database& db, const std::string&) {
    std::vector<migration> bad = all_migrations();
    bad.push_back({999, "broken", "CREATE TABLE half_done (x INTEGER); CREATE TABLE oops ("});
    try {
      apply_migrations(db, bad);
      BOOST_FAIL("expected the broken migration to fail");
    } catch (const database_error& e) {
      BOOST_TEST(std::string(e.what()).find("migration 999 (broken)") != std::string::npos, e.what());
    }
    BOOST_TEST(schema_version(db) == all_migrations().back().version);
    auto c = db.acquire();
    BOOST_CHECK_THROW(c->exec("SELECT COUNT(*) FROM half_done"), database_error);
  });
}

BOOST_AUTO_TEST_CASE(values_round_trip) {
  for_each_backend([](database& db, const std::string& name) {
    auto c = db.acquire();
    c->exec_script("CREATE TABLE t (i BIGINT, r DOUBLE PRECISION, s TEXT, b " +
                   std::string(name == "sqlite" ? "BLOB" : "BYTEA") + ")");
    std::string bytes("\0\x01\xff\xfe binary \x80", 13);
    std::string unicode = "日本語 ✓ \"quotes\" 'single' $1 \\ back";
    c->exec("INSERT INTO t (i, r, s, b) VALUES ($1, $2, $3, $4)",
            {int64_t(9007199254740993LL), 2.5, unicode, blob{bytes}});
    c->exec("INSERT INTO t (i, r, s, b) VALUES ($1, $2, $3, $4)", {nullptr, nullptr, nullptr, nullptr});
    auto r = c->exec("SELECT i, r, s, b FROM t ORDER BY i NULLS LAST");
    BOOST_REQUIRE(r.size() == 2u);
    BOOST_TEST(r[0].as_int(0) == 9007199254740993LL);
    BOOST_TEST(r[0].as_double(1) == 2.5);
    BOOST_TEST(r[0].as_text(2) == unicode);
    BOOST_TEST(r[0].as_text(3) == bytes);
    for (size_t col = 0; col < 4; ++col) BOOST_TEST(r[1].is_null(col));
    BOOST_TEST(!r[1].opt_int(0).has_value());
    BOOST_TEST(r[1].as_text(2).empty());
    // A placeholder-looking string literal is left alone.
    auto lit = c->exec("SELECT '$1 is not a parameter', $1", {std::string("x")});
    BOOST_TEST(lit[0].as_text(0) == "$1 is not a parameter");
    BOOST_TEST(lit[0].as_text(1) == "x");
    auto ret = c->exec("INSERT INTO t (i) VALUES ($1) RETURNING i", {int64_t(-5)});
    BOOST_TEST(ret[0].as_int(0) == -5);
    BOOST_TEST(c->exec("UPDATE t SET s = 'y' WHERE i IS NULL").affected_rows() == 1);
  });
}

BOOST_AUTO_TEST_CASE(unique_violation_is_flagged) {
  for_each_backend([](database& db, const std::string&) {
    auto c = db.acquire();
    c->exec("INSERT INTO users (user_id, created_ts) VALUES ($1, 1)", {std::string("@a:t")});
    try {
      c->exec("INSERT INTO users (user_id, created_ts) VALUES ($1, 1)", {std::string("@a:t")});
      BOOST_FAIL("expected a unique violation");
    } catch (const database_error& e) {
      BOOST_TEST(e.unique_violation());
    }
    try {
      c->exec("SELECT nonsense FROM nowhere");
      BOOST_FAIL("expected an error");
    } catch (const database_error& e) {
      BOOST_TEST(!e.unique_violation());
    }
  });
}

BOOST_AUTO_TEST_CASE(transactions_and_savepoints) {
  for_each_backend([](database& db, const std::string&) {
    {
      auto c = db.acquire();
      c->begin();
      c->exec("INSERT INTO users (user_id, created_ts) VALUES ('@gone:t', 1)");
      c->rollback();
      BOOST_TEST(c->exec("SELECT COUNT(*) FROM users WHERE user_id = '@gone:t'")[0].as_int(0) == 0);
      c->begin();
      c->exec("INSERT INTO users (user_id, created_ts) VALUES ('@kept:t', 1)");
      c->savepoint("sp");
      c->exec("INSERT INTO users (user_id, created_ts) VALUES ('@undone:t', 1)");
      c->rollback_to_savepoint("sp");
      c->release_savepoint("sp");
      c->commit();
      BOOST_TEST(c->exec("SELECT COUNT(*) FROM users WHERE user_id IN ('@kept:t', '@undone:t')")[0].as_int(0) == 1);
      // A lease returned mid-transaction is rolled back.
      c->begin();
      c->exec("INSERT INTO users (user_id, created_ts) VALUES ('@abandoned:t', 1)");
    }
    auto c = db.acquire();
    BOOST_TEST(!c->in_transaction());
    BOOST_TEST(c->exec("SELECT COUNT(*) FROM users WHERE user_id = '@abandoned:t'")[0].as_int(0) == 0);
    BOOST_CHECK_THROW(db.transact([](connection& t) {
      t.exec("INSERT INTO users (user_id, created_ts) VALUES ('@thrown:t', 1)");
      throw std::runtime_error("boom");
    }),
                      std::runtime_error);
    BOOST_TEST(c->exec("SELECT COUNT(*) FROM users WHERE user_id = '@thrown:t'")[0].as_int(0) == 0);
    auto n = db.transact([](connection& t) {
      t.exec("INSERT INTO users (user_id, created_ts) VALUES ('@committed:t', 1)");
      return 7;
    });
    BOOST_TEST(n == 7);
    BOOST_TEST(c->exec("SELECT COUNT(*) FROM users WHERE user_id = '@committed:t'")[0].as_int(0) == 1);
  });
}

BOOST_AUTO_TEST_CASE(pool_under_concurrent_writers) {
  for_each_backend([](database& db, const std::string&) {
    constexpr int threads = 8, per_thread = 100;
    std::vector<std::thread> ts;
    std::atomic<int> failures{0};
    for (int t = 0; t < threads; ++t)
      ts.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i) {
          try {
            db.transact([&](connection& c) {
              c.exec("INSERT INTO users (user_id, created_ts) VALUES ($1, $2)",
                     {"@p" + std::to_string(t) + "_" + std::to_string(i) + ":t", int64_t(i)});
            });
          } catch (const std::exception&) {
            ++failures;
          }
        }
      });
    for (auto& t : ts) t.join();
    BOOST_TEST(failures.load() == 0);
    auto c = db.acquire();
    BOOST_TEST(c->exec("SELECT COUNT(*) FROM users WHERE user_id LIKE '@p%'")[0].as_int(0) == threads * per_thread);
  });
}

BOOST_AUTO_TEST_CASE(account_tables) {
  for_each_backend([](database& db, const std::string&) {
    namespace a = myelin::storage::accounts;
    db.transact([](connection& c) {
      a::insert_user(c, {"@u:t", std::string("hash"), false, false, false, 5});
      a::upsert_device(c, {"@u:t", "D1", std::string("Phone"), std::nullopt, std::string("1.2.3.4"), std::nullopt});
      a::upsert_device(c, {"@u:t", "D2", std::nullopt, std::nullopt, std::nullopt, std::nullopt});
      a::insert_access_token(c, "h1", "@u:t", "D1", std::nullopt, false);
      a::insert_access_token(c, "h2", "@u:t", "D2", int64_t(99), false);
    });
    auto c = db.acquire();
    auto u = a::get_user(*c, "@u:t");
    BOOST_REQUIRE(u);
    BOOST_TEST(*u->password_hash == "hash");
    BOOST_TEST(!a::get_user(*c, "@nobody:t"));
    // Re-upserting keeps the display name when none is given.
    a::upsert_device(*c, {"@u:t", "D1", std::nullopt, std::nullopt, std::string("5.6.7.8"), std::nullopt});
    auto d1 = a::get_device(*c, "@u:t", "D1");
    BOOST_TEST(*d1->display_name == "Phone");
    BOOST_TEST(*d1->last_seen_ip == "5.6.7.8");
    BOOST_TEST(a::list_devices(*c, "@u:t").size() == 2u);
    BOOST_TEST(a::set_device_display_name(*c, "@u:t", "D2", std::string("Tablet")));
    BOOST_TEST(!a::set_device_display_name(*c, "@u:t", "NOPE", std::string("x")));
    auto hashes = a::delete_tokens_for_devices(*c, "@u:t", {"D1"});
    BOOST_TEST(hashes == std::vector<std::string>{"h1"});
    auto deleted = a::delete_devices(*c, "@u:t", {"D1", "NOPE"});
    BOOST_TEST(deleted == std::vector<std::string>{"D1"});
    BOOST_TEST(a::delete_tokens_for_user(*c, "@u:t") == std::vector<std::string>{"h2"});
    a::set_deactivated(*c, "@u:t");
    u = a::get_user(*c, "@u:t");
    BOOST_TEST(u->deactivated);
    BOOST_TEST(!u->password_hash);
  });
}

BOOST_AUTO_TEST_CASE(unreachable_database_is_a_clear_error) {
  database_options o;
  o.kind = dialect::postgres;
  o.postgres_conninfo = "host=/nonexistent-dir-for-test dbname=x password=secret connect_timeout=2";
  try {
    open_database(o);
    BOOST_FAIL("expected a connection error");
  } catch (const database_error& e) {
    std::string what = e.what();
    BOOST_TEST(what.find("cannot connect to PostgreSQL") != std::string::npos, what);
    BOOST_TEST(what.find("secret") == std::string::npos, what);  // the password never reaches a log
  }
  o.kind = dialect::sqlite;
  o.sqlite_path = "/nonexistent-dir-for-test/x.db";
  BOOST_CHECK_THROW(open_database(o), database_error);
}

BOOST_AUTO_TEST_SUITE_END()
