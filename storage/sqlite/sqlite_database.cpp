// The SQLite backend: the embedded default for a single node. WAL mode lets readers run beside
// the one writer; writers take the write lock up front (BEGIN IMMEDIATE) so two writers never
// deadlock upgrading a read lock, and wait on each other through the busy timeout.
#include <sqlite3.h>

#include <chrono>
#include <semaphore>
#include <unordered_map>

#include "common/metrics.hpp"
#include "storage/backend.hpp"

namespace myelin::storage {
namespace {

// Generated SQL (IN lists of varying length) could otherwise grow the cache without bound.
constexpr size_t max_cached_statements = 256;

// $1 → ?1 outside string literals, quoted identifiers and comments, so one SQL text serves both
// engines. SQLite's ?NNN is the same positional parameter, so numbering is kept as written.
std::string rewrite_placeholders(std::string_view sql) {
  std::string out;
  out.reserve(sql.size());
  for (size_t i = 0; i < sql.size(); ++i) {
    char c = sql[i];
    char close = c == '\'' ? '\'' : c == '"' ? '"' : c == '`' ? '`' : c == '[' ? ']' : 0;
    if (close) {  // a doubled quote closes and reopens, which copies through unchanged
      size_t end = sql.find(close, i + 1);
      end = end == std::string_view::npos ? sql.size() : end + 1;
      out.append(sql.substr(i, end - i));
      i = end - 1;
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      size_t end = sql.find('\n', i);
      end = end == std::string_view::npos ? sql.size() : end;
      out.append(sql.substr(i, end - i));
      i = end - 1;
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      size_t end = sql.find("*/", i + 2);
      end = end == std::string_view::npos ? sql.size() : end + 2;
      out.append(sql.substr(i, end - i));
      i = end - 1;
    } else if (c == '$' && i + 1 < sql.size() && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
      out += '?';
    } else {
      out += c;
    }
  }
  return out;
}

bool is_unique(int rc) { return rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY; }

// database::transact retries on the text "database is locked"; SQLITE_LOCKED's own message
// ("database table is locked") would not match, so both lock errors carry that prefix.
[[noreturn]] void raise(int rc, std::string msg, std::string_view sql = {}) {
  int primary = rc & 0xff;
  if ((primary == SQLITE_BUSY || primary == SQLITE_LOCKED) && msg.find("database is locked") == std::string::npos)
    msg = "database is locked: " + msg;
  if (!sql.empty()) msg += " (in: " + detail::sql_excerpt(sql) + ")";
  throw database_error(std::move(msg), is_unique(rc));
}

class sqlite_connection final : public savepoint_connection {
public:
  sqlite_connection(const std::string& path, int busy_timeout_ms, std::shared_ptr<std::binary_semaphore> write_lock)
      : busy_timeout_(busy_timeout_ms), write_lock_(std::move(write_lock)) {
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
    int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close_v2(db_);
      throw database_error("cannot open SQLite database " + path + ": " + msg);
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, busy_timeout_ms);
    try {
      // Reads map the file instead of copying every page through read() (up to 256 MiB), and each
      // connection keeps 16 MiB of pages: a sync over thousands of rooms spent most of its time in
      // pread() copies with SQLite's 2 MB default (measured in docs/architecture.md, "Sliding sync").
      exec_script("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
                  "PRAGMA mmap_size=268435456; PRAGMA cache_size=-16384;");
    } catch (const database_error& e) {
      sqlite3_close_v2(db_);
      throw database_error("cannot open SQLite database " + path + ": " + e.what());
    }
  }

  ~sqlite_connection() override {
    release_write_lock();
    clear_cache();
    sqlite3_close_v2(db_);
  }

  dialect kind() const override { return dialect::sqlite; }

  result exec(std::string_view sql, const sql_params& params) override {
    metrics::timer timed(query_duration_metric(dialect::sqlite));
    sqlite3_stmt* stmt = prepare(sql);
    // Reset on every exit so a failed statement does not hold a read snapshot or lock open.
    struct resetter {
      sqlite3_stmt* s;
      ~resetter() {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
      }
    } reset_on_exit{stmt};

    int expected = sqlite3_bind_parameter_count(stmt);
    if (static_cast<size_t>(expected) != params.size())
      throw database_error("statement takes " + std::to_string(expected) + " parameters but " +
                           std::to_string(params.size()) + " were given (in: " + detail::sql_excerpt(sql) + ")");
    for (size_t i = 0; i < params.size(); ++i) {
      int rc = bind(stmt, static_cast<int>(i + 1), params[i]);
      if (rc != SQLITE_OK) raise(rc, sqlite3_errmsg(db_), sql);
    }

    result r;
    int cols = sqlite3_column_count(stmt);
    int64_t changes_before = sqlite3_total_changes64(db_);
    for (;;) {
      int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) raise(rc, sqlite3_errmsg(db_), sql);
      auto& cells = r.rows_.emplace_back(cols);
      for (int c = 0; c < cols; ++c) cells[c] = cell(stmt, c);
    }
    // sqlite3_changes() keeps the count of the last INSERT/UPDATE/DELETE, even across SELECTs
    // and DDL; count it only when this statement changed something. A SELECT reports its rows,
    // as PostgreSQL does.
    if (sqlite3_stmt_readonly(stmt)) r.affected_ = static_cast<int64_t>(r.rows_.size());
    else if (sqlite3_total_changes64(db_) != changes_before) r.affected_ = sqlite3_changes64(db_);
    return r;
  }

  void exec_script(std::string_view sql) override {
    char* err = nullptr;
    std::string text(sql);
    int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errstr(rc);
      sqlite3_free(err);
      raise(rc, std::move(msg), sql);  // extended result codes are on: rc tells UNIQUE from others
    }
  }

  // Writers of this process queue on a semaphore before BEGIN IMMEDIATE: SQLite allows one
  // writer at a time, and its busy handler would otherwise make the others sleep and retry (1, 2,
  // 5, 10 … ms), which several stream writers under load turn into idle time. The wait is bounded
  // by the busy timeout like SQLite's own; other processes still meet the busy handler. (A
  // semaphore, not a mutex: a transaction may be finished on another thread than it began.)
  void begin() override {
    if (in_transaction()) throw database_error("begin() inside a transaction; use a savepoint");
    if (!write_lock_->try_acquire_for(std::chrono::milliseconds(busy_timeout_)))
      throw database_error("database is locked: another writer of this process held it for " +
                           std::to_string(busy_timeout_) + " ms");
    write_held_ = true;
    try {
      exec_script("BEGIN IMMEDIATE");
    } catch (...) {
      release_write_lock();
      throw;
    }
  }
  void commit() override {
    exec_script("COMMIT");  // on failure the caller rolls back, which releases the lock
    release_write_lock();
  }
  // SQLite rolls some failures (SQLITE_FULL, I/O errors) back by itself; rolling back again is
  // then a no-op rather than an error.
  void rollback() override {
    struct release_on_exit {
      sqlite_connection* self;
      ~release_on_exit() { self->release_write_lock(); }
    } release{this};
    if (in_transaction()) exec_script("ROLLBACK");
  }
  bool in_transaction() const override { return !sqlite3_get_autocommit(db_); }


private:
  sqlite3_stmt* prepare(std::string_view sql) {
    std::string key(sql);
    if (auto it = statements_.find(key); it != statements_.end()) return it->second;
    if (statements_.size() >= max_cached_statements) clear_cache();
    std::string text = rewrite_placeholders(sql);
    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v3(db_, text.c_str(), static_cast<int>(text.size()), SQLITE_PREPARE_PERSISTENT,
                                &stmt, &tail);
    if (rc != SQLITE_OK) raise(rc, sqlite3_errmsg(db_), sql);
    if (!stmt) raise(SQLITE_MISUSE, "empty statement", sql);
    // prepare compiles only the first statement; a second one would be silently ignored.
    // (A tail of comments and whitespace prepares to no statement at all.)
    if (tail && *tail) {
      sqlite3_stmt* extra = nullptr;
      int extra_rc = sqlite3_prepare_v2(db_, tail, -1, &extra, nullptr);
      if (extra_rc != SQLITE_OK || extra) {
        sqlite3_finalize(extra);
        sqlite3_finalize(stmt);
        raise(SQLITE_MISUSE, "exec() runs one statement; use exec_script() for several", sql);
      }
    }
    statements_.emplace(std::move(key), stmt);
    return stmt;
  }

  void clear_cache() {
    for (auto& [_, stmt] : statements_) sqlite3_finalize(stmt);
    statements_.clear();
  }

  static int bind(sqlite3_stmt* stmt, int i, const sql_value& v) {
    return std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::nullptr_t>) return sqlite3_bind_null(stmt, i);
          else if constexpr (std::is_same_v<T, int64_t>) return sqlite3_bind_int64(stmt, i, x);
          else if constexpr (std::is_same_v<T, double>) return sqlite3_bind_double(stmt, i, x);
          else if constexpr (std::is_same_v<T, std::string>)
            return sqlite3_bind_text64(stmt, i, x.data(), x.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
          else  // data() is never null, so an empty blob stays an empty blob rather than NULL
            return sqlite3_bind_blob64(stmt, i, x.bytes.data(), x.bytes.size(), SQLITE_TRANSIENT);
        },
        v);
  }

  static std::optional<std::string> cell(sqlite3_stmt* stmt, int c) {
    switch (sqlite3_column_type(stmt, c)) {
      case SQLITE_NULL: return std::nullopt;
      case SQLITE_INTEGER: return std::to_string(sqlite3_column_int64(stmt, c));
      // SQLite's own text for a REAL has 15 significant digits, which does not round-trip.
      case SQLITE_FLOAT: return detail::format_double(sqlite3_column_double(stmt, c));
      case SQLITE_BLOB: {
        auto* p = static_cast<const char*>(sqlite3_column_blob(stmt, c));
        int n = sqlite3_column_bytes(stmt, c);
        return p ? std::string(p, n) : std::string();
      }
      default: {
        auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
        int n = sqlite3_column_bytes(stmt, c);
        return p ? std::string(p, n) : std::string();
      }
    }
  }

  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
  int busy_timeout_;
  std::shared_ptr<std::binary_semaphore> write_lock_;
  bool write_held_ = false;

  void release_write_lock() {
    if (write_held_) {
      write_held_ = false;
      write_lock_->release();
    }
  }
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
    return std::make_unique<sqlite_connection>(options_.sqlite_path, options_.busy_timeout_ms, write_lock_);
  }

private:
  database_options options_;
  std::shared_ptr<std::binary_semaphore> write_lock_ = std::make_shared<std::binary_semaphore>(1);
};

} // namespace

std::unique_ptr<database> open_sqlite(const database_options& options) {
  return std::make_unique<sqlite_database>(options);
}

} // namespace myelin::storage
