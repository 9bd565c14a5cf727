// storage/: the same tests on SQLite and PostgreSQL — migrations, value round trips, placeholder
// rewriting, constraint errors, transactions and savepoints, pool concurrency, the account tables.
// PostgreSQL runs when MYELIN_TEST_PG holds a conninfo (scripts/test-services.sh); each test gets
// a fresh database there, dropped afterwards.
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <limits>
#include <thread>

#include "storage/database.hpp"
#include "storage/migrations.hpp"
#include "storage/tables/accounts.hpp"
#include "tests/unit/backends.hpp"

using namespace myelin::storage;
namespace fs = std::filesystem;

namespace {

using namespace myelin::test;

int64_t count(connection& c, const std::string& sql) { return c.exec(sql)[0].as_int(0); }

} // namespace

BOOST_AUTO_TEST_SUITE(storage_tests)

BOOST_AUTO_TEST_CASE(schema_macros_expand_per_dialect) {
  std::string sql = "id ${BIGSERIAL_PK}, b ${BLOB}, n ${BIGINT}, m ${BLOB}";
  BOOST_TEST(expand_schema_macros(sql, dialect::postgres) == "id BIGSERIAL PRIMARY KEY, b BYTEA, n BIGINT, m BYTEA");
  BOOST_TEST(expand_schema_macros(sql, dialect::sqlite) ==
             "id INTEGER PRIMARY KEY AUTOINCREMENT, b BLOB, n BIGINT, m BLOB");
}

BOOST_AUTO_TEST_CASE(migrations_apply_once) {
  for_each_backend(
      [](database& db, dialect d) {
        BOOST_TEST(schema_version(db) == 0);
        {
          auto c = db.acquire();  // schema_version() looked without creating anything
          auto tables = d == dialect::sqlite
                            ? c->exec("SELECT 1 FROM sqlite_master WHERE name = 'schema_version'")
                            : c->exec("SELECT 1 WHERE to_regclass('schema_version') IS NOT NULL");
          BOOST_TEST(tables.empty());
        }
        std::vector<std::string> seen;
        auto first = apply_migrations(db, all_migrations(), [&](const migration& m) { seen.push_back(m.name); });
        BOOST_TEST(first.from_version == 0);
        BOOST_TEST(first.to_version == all_migrations().back().version);
        BOOST_TEST(first.applied.size() == all_migrations().size());
        BOOST_TEST(seen == first.applied);
        BOOST_TEST(schema_version(db) == all_migrations().back().version);

        seen.clear();
        auto again = apply_migrations(db, all_migrations(), [&](const migration& m) { seen.push_back(m.name); });
        BOOST_TEST(again.applied.empty());
        BOOST_TEST(seen.empty());
        BOOST_TEST(again.from_version == again.to_version);
        BOOST_TEST(again.to_version == all_migrations().back().version);
        auto c = db.acquire();
        BOOST_TEST(count(*c, "SELECT COUNT(*) FROM schema_version") == int64_t(all_migrations().size()));
        BOOST_TEST(count(*c, "SELECT COUNT(*) FROM stream_log") == 0);  // the foundation tables exist
      },
      /*migrate=*/false);
}

BOOST_AUTO_TEST_CASE(failed_migration_names_itself_and_leaves_nothing) {
  for_each_backend([](database& db, dialect) {
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

    std::vector<migration> unordered = {{2, "b", "SELECT 1"}, {1, "a", "SELECT 1"}};
    BOOST_CHECK_THROW(apply_migrations(db, unordered), database_error);
  });
}

BOOST_AUTO_TEST_CASE(values_round_trip) {
  for_each_backend([](database& db, dialect d) {
    auto c = db.acquire();
    c->exec_script(expand_schema_macros(
        "CREATE TABLE vals (k INTEGER PRIMARY KEY, i BIGINT, r DOUBLE PRECISION, s TEXT, b ${BLOB})", d));
    const std::string insert = "INSERT INTO vals (k, i, r, s, b) VALUES ($1, $2, $3, $4, $5)";
    const std::string bytes("\0\x01\xff\xfe binary \x80\0\xc3\x28", 16);  // NULs, invalid UTF-8
    const std::string unicode = "日本語 ✓ 🎉 \"quotes\" 'single' $1 \\ back";
    const double tricky = 0.1 + 0.2;  // needs 17 significant digits
    c->exec(insert, {int64_t(1), std::numeric_limits<int64_t>::max(), tricky, unicode, blob{bytes}});
    c->exec(insert, {int64_t(2), std::numeric_limits<int64_t>::min(), -1e300, std::string(), blob{}});
    c->exec(insert, {int64_t(3), nullptr, nullptr, nullptr, nullptr});

    auto r = c->exec("SELECT i, r, s, b FROM vals ORDER BY k");
    BOOST_REQUIRE(r.size() == 3u);
    BOOST_TEST(r[0].size() == 4u);
    BOOST_TEST(r[0].as_int(0) == std::numeric_limits<int64_t>::max());
    BOOST_TEST(r[0].as_double(1) == tricky);
    BOOST_TEST(r[0].as_text(2) == unicode);
    BOOST_TEST(r[0].as_text(3) == bytes);
    BOOST_TEST(r[0].as_text(3).size() == bytes.size());
    BOOST_TEST(*r[0].opt_int(0) == std::numeric_limits<int64_t>::max());

    BOOST_TEST(r[1].as_int(0) == std::numeric_limits<int64_t>::min());
    BOOST_TEST(r[1].as_double(1) == -1e300);
    BOOST_TEST(!r[1].is_null(2));  // empty is not NULL, for text and blobs alike
    BOOST_TEST(r[1].as_text(2).empty());
    BOOST_TEST(!r[1].is_null(3));
    BOOST_TEST((r[1].opt_text(3) == std::optional<std::string>("")));

    for (size_t col = 0; col < 4; ++col) BOOST_TEST(r[2].is_null(col));
    BOOST_TEST(r[2].as_int(0) == 0);
    BOOST_TEST(r[2].as_double(1) == 0.0);
    BOOST_TEST(r[2].as_text(2).empty());
    BOOST_TEST(!r[2].opt_int(0).has_value());
    BOOST_TEST(!r[2].opt_text(3).has_value());

    // Parameters bind as values, never as SQL.
    std::string hostile = "x'); DROP TABLE vals; --";
    c->exec("UPDATE vals SET s = $1 WHERE k = $2", {hostile, int64_t(3)});
    BOOST_TEST(c->exec("SELECT s FROM vals WHERE k = 3")[0].as_text(0) == hostile);
    BOOST_TEST(c->exec("SELECT k FROM vals WHERE b = $1", {blob{bytes}})[0].as_int(0) == 1);

    // Integral values that come back as reals ("3.0" from PostgreSQL numeric) read as integers.
    BOOST_TEST(c->exec("SELECT CAST(3 AS NUMERIC(5, 1))")[0].as_int(0) == 3);
    BOOST_TEST(c->exec("SELECT CAST(3 AS DOUBLE PRECISION)")[0].as_int(0) == 3);
    BOOST_CHECK_THROW(c->exec("SELECT 'abc'")[0].as_int(0), database_error);

    if (d == dialect::postgres) {
      // libpq would truncate the C string silently; the backend refuses instead.
      BOOST_CHECK_THROW(c->exec(insert, {int64_t(4), nullptr, nullptr, std::string("a\0b", 3), nullptr}),
                        database_error);
      BOOST_TEST(c->exec("SELECT 1 = 1")[0].as_int(0) == 1);
    }
  });
}

BOOST_AUTO_TEST_CASE(placeholders_and_returning) {
  for_each_backend([](database& db, dialect) {
    auto c = db.acquire();
    // '$1' in a literal, "$2" in an identifier and $3 in comments stay as written (SQLite rewrites
    // only real placeholders); out-of-order and repeated placeholders bind by number.
    auto r = c->exec(
        "SELECT '$1 is not a parameter' AS \"$2x\", CAST($2 AS TEXT), CAST($1 AS TEXT) || CAST($1 AS TEXT) "
        "-- and $3 is a comment\n /* nor $4 */",
        {std::string("a"), std::string("b")});
    BOOST_REQUIRE(r.size() == 1u);
    BOOST_TEST(r[0].as_text(0) == "$1 is not a parameter");
    BOOST_TEST(r[0].as_text(1) == "b");
    BOOST_TEST(r[0].as_text(2) == "aa");
    BOOST_TEST(c->exec("SELECT 'it''s $1', CAST($1 AS TEXT)", {std::string("y")})[0].as_text(1) == "y");

    // Parameter count mismatches are errors on both engines, not silent NULLs.
    BOOST_CHECK_THROW(c->exec("SELECT CAST($1 AS TEXT), CAST($2 AS TEXT)", {std::string("only one")}),
                      database_error);
    // exec() is one statement; several need exec_script().
    BOOST_CHECK_THROW(c->exec("SELECT 1; SELECT 2"), database_error);

    // RETURNING, with the generated key of ${BIGSERIAL_PK}.
    const std::string ins =
        "INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts) VALUES ($1, $2, $3, $4) "
        "RETURNING id, token_hash";
    auto a = c->exec(ins, {std::string("h1"), std::string("@u:t"), std::string("D"), int64_t(1)});
    auto b = c->exec(ins, {std::string("h2"), std::string("@u:t"), nullptr, int64_t(2)});
    BOOST_REQUIRE(a.size() == 1u);
    BOOST_TEST(a[0].as_text(1) == "h1");
    BOOST_TEST(b[0].as_int(0) > a[0].as_int(0));
    BOOST_TEST(a.affected_rows() == 1);

    auto upd = c->exec("UPDATE access_tokens SET valid_until_ms = $1 WHERE user_id = $2",
                       {int64_t(9), std::string("@u:t")});
    BOOST_TEST(upd.affected_rows() == 2);
    BOOST_TEST(c->exec("UPDATE access_tokens SET valid_until_ms = 1 WHERE user_id = 'nobody'").affected_rows() == 0);
    auto del = c->exec("DELETE FROM access_tokens WHERE token_hash = $1 RETURNING user_id", {std::string("h2")});
    BOOST_TEST(del.size() == 1u);
    BOOST_TEST(del[0].as_text(0) == "@u:t");
    BOOST_TEST(c->exec("SELECT * FROM access_tokens").affected_rows() == 1);
  });
}

BOOST_AUTO_TEST_CASE(unique_violation_is_flagged) {
  for_each_backend([](database& db, dialect) {
    auto c = db.acquire();
    auto expect_error = [&](const std::string& sql, const sql_params& p, bool unique) {
      try {
        c->exec(sql, p);
        BOOST_ERROR("expected an error from: " << sql);
      } catch (const database_error& e) {
        BOOST_TEST(e.unique_violation() == unique, e.what());
      }
    };
    c->exec("INSERT INTO users (user_id, created_ts) VALUES ($1, 1)", {std::string("@a:t")});
    expect_error("INSERT INTO users (user_id, created_ts) VALUES ($1, 1)", {std::string("@a:t")}, true);  // PK
    c->exec("INSERT INTO access_tokens (token_hash, user_id, created_ts) VALUES ('dup', '@a:t', 1)");
    expect_error("INSERT INTO access_tokens (token_hash, user_id, created_ts) VALUES ($1, '@b:t', 1)",
                 {std::string("dup")}, true);  // UNIQUE
    expect_error("INSERT INTO users (user_id, created_ts) VALUES ($1, NULL)", {std::string("@n:t")}, false);
    expect_error("SELECT nonsense FROM nowhere", {}, false);
    // The connection is still usable afterwards.
    BOOST_TEST(count(*c, "SELECT COUNT(*) FROM users") == 1);
  });
}

BOOST_AUTO_TEST_CASE(transactions_and_savepoints) {
  for_each_backend([](database& db, dialect) {
    const std::string ins = "INSERT INTO users (user_id, created_ts) VALUES ($1, 1)";
    auto has = [&](connection& c, const std::string& id) {
      return count(c, "SELECT COUNT(*) FROM users WHERE user_id = '" + id + "'") == 1;
    };
    {
      auto c = db.acquire();
      c->begin();
      BOOST_TEST(c->in_transaction());
      c->exec(ins, {std::string("@gone:t")});
      c->rollback();
      BOOST_TEST(!c->in_transaction());
      BOOST_TEST(!has(*c, "@gone:t"));

      c->begin();
      c->exec(ins, {std::string("@kept:t")});
      c->savepoint("sp");
      c->exec(ins, {std::string("@undone:t")});
      c->rollback_to_savepoint("sp");
      c->release_savepoint("sp");
      // A failing write isolated by a savepoint (the group-commit pattern) spares the others.
      c->savepoint("one write");
      BOOST_CHECK_THROW(c->exec(ins, {std::string("@kept:t")}), database_error);
      c->rollback_to_savepoint("one write");
      c->exec(ins, {std::string("@after:t")});
      c->commit();
      BOOST_TEST(!c->in_transaction());
      BOOST_TEST(has(*c, "@kept:t"));
      BOOST_TEST(!has(*c, "@undone:t"));
      BOOST_TEST(has(*c, "@after:t"));

      BOOST_CHECK_THROW(c->savepoint("outside"), database_error);

      // A lease returned mid-transaction is rolled back.
      c->begin();
      c->exec(ins, {std::string("@abandoned:t")});
    }
    auto c = db.acquire();
    BOOST_TEST(!c->in_transaction());
    BOOST_TEST(!has(*c, "@abandoned:t"));
  });
}

BOOST_AUTO_TEST_CASE(transact_commits_or_rolls_back) {
  for_each_backend([](database& db, dialect) {
    const std::string ins = "INSERT INTO users (user_id, created_ts) VALUES ($1, 1)";
    BOOST_CHECK_THROW(db.transact([&](connection& t) {
      t.exec(ins, {std::string("@thrown:t")});
      throw std::runtime_error("boom");
    }),
                      std::runtime_error);
    auto n = db.transact([&](connection& t) {
      t.exec(ins, {std::string("@committed:t")});
      return 7;
    });
    BOOST_TEST(n == 7);
    // A database error that is not a lock conflict is not retried.
    int attempts = 0;
    BOOST_CHECK_THROW(db.transact([&](connection& t) {
      ++attempts;
      t.exec(ins, {std::string("@committed:t")});
    }),
                      database_error);
    BOOST_TEST(attempts == 1);
    auto c = db.acquire();
    BOOST_TEST(count(*c, "SELECT COUNT(*) FROM users WHERE user_id = '@thrown:t'") == 0);
    BOOST_TEST(count(*c, "SELECT COUNT(*) FROM users WHERE user_id = '@committed:t'") == 1);
    BOOST_TEST(db.idle_connections() <= db.pool_size());
  });
}

BOOST_AUTO_TEST_CASE(postgres_refuses_to_commit_a_failed_transaction) {
  // PostgreSQL turns COMMIT of a transaction with a failed statement into a silent ROLLBACK;
  // the backend reports it. (SQLite only undoes the failed statement, so it has nothing to report.)
  run_postgres(
      [](database& db, dialect) {
        auto c = db.acquire();
        c->begin();
        c->exec("INSERT INTO users (user_id, created_ts) VALUES ('@lost:t', 1)");
        BOOST_CHECK_THROW(c->exec("SELECT nonsense FROM nowhere"), database_error);
        BOOST_CHECK_THROW(c->commit(), database_error);
        BOOST_TEST(!c->in_transaction());
        BOOST_TEST(count(*c, "SELECT COUNT(*) FROM users WHERE user_id = '@lost:t'") == 0);
      },
      true);
}

BOOST_AUTO_TEST_CASE(postgres_serialization_failures_are_retried) {
  run_postgres(
      [](database& db, dialect) {
        db.acquire()->exec("INSERT INTO stream_positions (stream, writer, position) VALUES ('s', 'w', 1)");
        int attempts = 0;
        auto final_position = db.transact([&](connection& c) {
          ++attempts;
          c.exec_script("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
          auto before = c.exec("SELECT position FROM stream_positions WHERE stream = 's'")[0].as_int(0);
          if (attempts == 1)  // another writer moves the row after our snapshot was taken
            db.acquire()->exec("UPDATE stream_positions SET position = position + 10 WHERE stream = 's'");
          c.exec("UPDATE stream_positions SET position = $1 WHERE stream = 's'", {before + 1});
          return before + 1;
        });
        BOOST_TEST(attempts == 2);
        BOOST_TEST(final_position == 12);
        BOOST_TEST(count(*db.acquire(), "SELECT position FROM stream_positions WHERE stream = 's'") == 12);
      },
      true);
}

BOOST_AUTO_TEST_CASE(pool_under_concurrent_writers) {
  for_each_backend([](database& db, dialect) {
    constexpr int threads = 8, per_thread = 200;
    std::vector<std::thread> ts;
    std::atomic<int> failures{0};
    std::string first_failure;
    std::mutex mu;
    for (int t = 0; t < threads; ++t)
      ts.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i) {
          try {
            db.transact([&](connection& c) {
              c.exec("INSERT INTO users (user_id, created_ts) VALUES ($1, $2)",
                     {"@p" + std::to_string(t) + "_" + std::to_string(i) + ":t", int64_t(i)});
              // A read inside the writer's transaction, as the stream writers do.
              c.exec("SELECT COUNT(*) FROM users WHERE created_ts = $1", {int64_t(i)});
            });
          } catch (const std::exception& e) {
            std::lock_guard lock(mu);
            if (failures++ == 0) first_failure = e.what();
          }
        }
      });
    for (auto& t : ts) t.join();
    BOOST_TEST(failures.load() == 0, first_failure);
    auto c = db.acquire();
    BOOST_TEST(count(*c, "SELECT COUNT(*) FROM users WHERE user_id LIKE '@p%'") == threads * per_thread);
    BOOST_TEST(db.pool_size() == 8u);
    BOOST_TEST(db.idle_connections() <= db.pool_size());
  });
}

BOOST_AUTO_TEST_CASE(sqlite_settings_and_lock_conflicts) {
  auto dir = fs::temp_directory_path() / ("myelin_ut_" + unique_suffix());
  fs::create_directories(dir);
  scope_exit cleanup{[dir] { fs::remove_all(dir); }};
  database_options o;
  o.sqlite_path = (dir / "locks.db").string();
  o.pool_size = 3;
  o.busy_timeout_ms = 150;
  auto db = open_database(o);
  apply_migrations(*db, all_migrations());
  {
    auto c = db->acquire();
    BOOST_TEST(c->exec("PRAGMA journal_mode")[0].as_text(0) == "wal");
    BOOST_TEST(c->exec("PRAGMA synchronous")[0].as_int(0) == 1);  // NORMAL
    BOOST_TEST(c->exec("PRAGMA foreign_keys")[0].as_int(0) == 1);
    BOOST_TEST(c->exec("PRAGMA busy_timeout")[0].as_int(0) == 150);
  }

  // A writer holds the lock: a second writer gives up after the busy timeout with the message
  // database::transact retries on, and transact() gets through once the lock is released.
  auto holder = db->acquire();
  holder->begin();
  holder->exec("INSERT INTO users (user_id, created_ts) VALUES ('@holder:t', 1)");
  {
    auto other = db->acquire();
    try {
      other->begin();
      BOOST_ERROR("expected a lock conflict");
    } catch (const database_error& e) {
      BOOST_TEST(std::string(e.what()).find("database is locked") != std::string::npos, e.what());
    }
    BOOST_TEST(!other->in_transaction());
    // Readers are not blocked by the writer (WAL), and do not see its uncommitted row.
    BOOST_TEST(count(*other, "SELECT COUNT(*) FROM users") == 0);
  }
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    holder->commit();
  });
  int attempts = 0;
  try {
    db->transact([&](connection& c) {
      ++attempts;
      c.exec("INSERT INTO users (user_id, created_ts) VALUES ('@waiter:t', 1)");
    });
  } catch (const std::exception& e) {
    BOOST_ERROR("transact did not get through: " << e.what());
  }
  release.join();
  BOOST_TEST(attempts == 1);  // the conflicts happened in begin(), before fn ran
  auto c = db->acquire();
  BOOST_TEST(count(*c, "SELECT COUNT(*) FROM users") == 2);
}

BOOST_AUTO_TEST_CASE(postgres_pool_replaces_a_lost_connection) {
  run_postgres(
      [](database& db, dialect) {
        int64_t victim_pid = 0;
        {
          auto victim = db.acquire();
          victim_pid = victim->exec("SELECT pg_backend_pid()")[0].as_int(0);
          auto killer = db.acquire();
          BOOST_TEST(killer->exec("SELECT pg_terminate_backend(CAST($1 AS INTEGER))", {victim_pid})[0].as_int(0) == 1);
          for (int i = 0; i < 100 && count(*killer, "SELECT COUNT(*) FROM pg_stat_activity WHERE pid = " +
                                                         std::to_string(victim_pid)) > 0;
               ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
          BOOST_CHECK_THROW(victim->exec("SELECT 1"), database_error);
        }
        // Every connection the pool now hands out works.
        std::vector<database::lease> all;
        for (size_t i = 0; i < db.pool_size(); ++i) {
          all.push_back(db.acquire());
          BOOST_TEST(all.back()->exec("SELECT pg_backend_pid()")[0].as_int(0) != victim_pid);
        }
      },
      true);
}

BOOST_AUTO_TEST_CASE(lease_reassignment_returns_the_connection) {
  auto dir = fs::temp_directory_path() / ("myelin_ut_" + unique_suffix());
  fs::create_directories(dir);
  scope_exit cleanup{[dir] { fs::remove_all(dir); }};
  database_options o;
  o.sqlite_path = (dir / "lease.db").string();
  o.pool_size = 2;
  auto db = open_database(o);
  {
    auto a = db->acquire();
    auto b = db->acquire();
    BOOST_TEST(db->idle_connections() == 0u);
    a = std::move(b);
    BOOST_TEST(db->idle_connections() == 1u);
    auto c = db->acquire();  // would block forever if the slot had leaked
  }
  BOOST_TEST(db->idle_connections() == 2u);

  o.sqlite_path = ":memory:";
  o.pool_size = 8;
  auto mem = open_database(o);
  BOOST_TEST(mem->pool_size() == 1u);  // each :memory: connection would be its own database
}

BOOST_AUTO_TEST_CASE(account_tables) {
  for_each_backend([](database& db, dialect) {
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
  for (std::string conninfo : {"host=/nonexistent-dir-for-test dbname=x password=secret connect_timeout=2",
                               "host=/nonexistent-dir-for-test password = 'se cret' dbname=x",
                               "postgresql://me:secret@/x?host=/nonexistent-dir-for-test"}) {
    o.postgres_conninfo = conninfo;
    try {
      open_database(o);
      BOOST_ERROR("expected a connection error for " << conninfo);
    } catch (const database_error& e) {
      std::string what = e.what();
      BOOST_TEST(what.find("cannot connect to PostgreSQL") != std::string::npos, what);
      BOOST_TEST(what.find("nonexistent-dir-for-test") != std::string::npos, what);
      BOOST_TEST(what.find("secret") == std::string::npos, what);  // the password never reaches a log
      BOOST_TEST(what.find("se cret") == std::string::npos, what);
    }
  }
  o.kind = dialect::sqlite;
  o.sqlite_path = "/nonexistent-dir-for-test/x.db";
  BOOST_CHECK_THROW(open_database(o), database_error);
}

BOOST_AUTO_TEST_SUITE_END()
