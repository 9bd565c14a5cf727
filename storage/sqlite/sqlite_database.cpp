// The SQLite backend: the embedded default for a single node. WAL mode lets readers run beside
// the one writer; writers take the write lock up front (BEGIN IMMEDIATE) so two writers never
// deadlock upgrading a read lock, and wait on each other through the busy timeout.
#include <sqlite3.h>

#include <unordered_map>

#include "storage/pool.hpp"

namespace myelin::storage {
namespace {

// $1 → ?1, outside quoted literals and identifiers, so one SQL text serves both engines.
std::string rewrite_placeholders(std::string_view sql) {
  std::string out;
  out.reserve(sql.size());
  char quote = 0;
  for (size_t i = 0; i < sql.size(); ++i) {
    char c = sql[i];
    if (quote) {
      if (c == quote) quote = 0;
      out += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      out += c;
    } else if (c == '$' && i + 1 < sql.size() && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
      out += '?';
    } else {
      out += c;
    }
  }
  return out;
}

class sqlite_connection final : public connection {
public:
  sqlite_connection(const std::string& path, int busy_timeout_ms) {
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
    if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
      std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw database_error("cannot open SQLite database " + path + ": " + msg);
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, busy_timeout_ms);
    exec_script("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
  }

  ~sqlite_connection() override {
    for (auto& [_, stmt] : statements_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
  }

  dialect kind() const override { return dialect::sqlite; }

  result exec(std::string_view sql, const sql_params& params) override {
    sqlite3_stmt* stmt = prepare(sql);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    for (size_t i = 0; i < params.size(); ++i) bind(stmt, static_cast<int>(i + 1), params[i]);
    result r;
    int cols = sqlite3_column_count(stmt);
    for (;;) {
      int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) {
        sqlite3_reset(stmt);
        fail(rc, sql);
      }
      auto& cells = r.rows_.emplace_back(cols);
      for (int c = 0; c < cols; ++c) {
        switch (sqlite3_column_type(stmt, c)) {
          case SQLITE_NULL: break;
          case SQLITE_BLOB: {
            auto* p = static_cast<const char*>(sqlite3_column_blob(stmt, c));
            cells[c] = std::string(p ? p : "", sqlite3_column_bytes(stmt, c));
            break;
          }
          default: {
            auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
            cells[c] = std::string(p ? p : "", sqlite3_column_bytes(stmt, c));
          }
        }
      }
    }
    r.affected_ = sqlite3_changes(db_);
    sqlite3_reset(stmt);
    return r;
  }

  void exec_script(std::string_view sql) override {
    char* err = nullptr;
    std::string text(sql);
    int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errstr(rc);
      sqlite3_free(err);
      throw database_error(msg, is_unique(rc));
    }
  }

  void begin() override {
    exec_script("BEGIN IMMEDIATE");
    in_txn_ = true;
  }
  void commit() override {
    exec_script("COMMIT");
    in_txn_ = false;
  }
  void rollback() override {
    in_txn_ = false;
    exec_script("ROLLBACK");
  }
  bool in_transaction() const override { return in_txn_ && !sqlite3_get_autocommit(db_); }
  void savepoint(std::string_view name) override { exec_script("SAVEPOINT " + std::string(name)); }
  void release_savepoint(std::string_view name) override { exec_script("RELEASE SAVEPOINT " + std::string(name)); }
  void rollback_to_savepoint(std::string_view name) override {
    exec_script("ROLLBACK TO SAVEPOINT " + std::string(name));
  }

private:
  static bool is_unique(int rc) {
    return rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY;
  }

  [[noreturn]] void fail(int rc, std::string_view sql) {
    std::string msg = sqlite3_errmsg(db_);
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) msg = "database is locked: " + msg;
    throw database_error(msg + " (in: " + std::string(sql.substr(0, 120)) + ")", is_unique(rc));
  }

  sqlite3_stmt* prepare(std::string_view sql) {
    auto it = statements_.find(std::string(sql));
    if (it != statements_.end()) return it->second;
    std::string text = rewrite_placeholders(sql);
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(db_, text.c_str(), static_cast<int>(text.size()), &stmt, nullptr);
    if (rc != SQLITE_OK) fail(rc, sql);
    statements_.emplace(std::string(sql), stmt);
    return stmt;
  }

  static void bind(sqlite3_stmt* stmt, int i, const sql_value& v) {
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::nullptr_t>) sqlite3_bind_null(stmt, i);
          else if constexpr (std::is_same_v<T, int64_t>) sqlite3_bind_int64(stmt, i, x);
          else if constexpr (std::is_same_v<T, double>) sqlite3_bind_double(stmt, i, x);
          else if constexpr (std::is_same_v<T, std::string>)
            sqlite3_bind_text(stmt, i, x.data(), static_cast<int>(x.size()), SQLITE_TRANSIENT);
          else sqlite3_bind_blob(stmt, i, x.bytes.data(), static_cast<int>(x.bytes.size()), SQLITE_TRANSIENT);
        },
        v);
  }

  sqlite3* db_ = nullptr;
  bool in_txn_ = false;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

class sqlite_database final : public pooled_database {
public:
  explicit sqlite_database(const database_options& o)
      : pooled_database(o.sqlite_path == ":memory:" ? 1 : o.pool_size), options_(o) {
    // Open one connection now so a bad path fails at startup, not at the first request.
    give_back(take());
  }
  dialect kind() const override { return dialect::sqlite; }

protected:
  std::unique_ptr<connection> open_connection() override {
    return std::make_unique<sqlite_connection>(options_.sqlite_path, options_.busy_timeout_ms);
  }

private:
  database_options options_;
};

} // namespace

std::unique_ptr<database> open_sqlite(const database_options& options) {
  return std::make_unique<sqlite_database>(options);
}

} // namespace myelin::storage
