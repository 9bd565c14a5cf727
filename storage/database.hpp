// The storage engine interface: one SQL dialect-neutral API over PostgreSQL (libpqxx) and SQLite.
//
// SQL is written once with PostgreSQL-style positional placeholders ($1, $2 …); the SQLite backend
// rewrites them to ?1, ?2. Values travel as `sql_value` (null, integer, real, text, blob). Every call
// here BLOCKS: call it only from a blocking-pool thread or a detached writer actor, never from the
// actor scheduler or an Asio thread.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace myelin::metrics {
class histogram;
}

namespace myelin::storage {

enum class dialect { sqlite, postgres };

struct blob {
  std::string bytes;
};

using sql_value = std::variant<std::nullptr_t, int64_t, double, std::string, blob>;
using sql_params = std::vector<sql_value>;

// An optional as a parameter: NULL when empty.
inline sql_value nullable(const std::optional<std::string>& v) { return v ? sql_value(*v) : sql_value(nullptr); }
inline sql_value nullable(const std::optional<int64_t>& v) { return v ? sql_value(*v) : sql_value(nullptr); }

// A database error. `unique_violation` lets callers map a constraint failure to a Matrix error
// (e.g. M_USER_IN_USE) without parsing engine-specific messages.
class database_error : public std::runtime_error {
public:
  database_error(std::string msg, bool unique_violation = false)
      : std::runtime_error(std::move(msg)), unique_violation_(unique_violation) {}
  bool unique_violation() const noexcept { return unique_violation_; }

private:
  bool unique_violation_;
};

// One result row; cells are kept as (is_null, text) pairs and converted on access.
class row {
public:
  row(const std::vector<std::optional<std::string>>* cells) : cells_(cells) {}
  bool is_null(size_t col) const { return !(*cells_)[col].has_value(); }
  int64_t as_int(size_t col) const;                     // 0 when NULL
  double as_double(size_t col) const;                   // 0 when NULL
  const std::string& as_text(size_t col) const;         // "" when NULL; blobs as raw bytes
  std::optional<std::string> opt_text(size_t col) const;
  std::optional<int64_t> opt_int(size_t col) const;
  size_t size() const { return cells_->size(); }

private:
  const std::vector<std::optional<std::string>>* cells_;
};

class result {
public:
  size_t size() const { return rows_.size(); }
  bool empty() const { return rows_.empty(); }
  row operator[](size_t i) const { return row(&rows_[i]); }
  int64_t affected_rows() const { return affected_; }

  // Used by backends to build a result.
  std::vector<std::vector<std::optional<std::string>>> rows_;
  int64_t affected_ = 0;
};

// A single connection. Not thread-safe: one user at a time (the pool guarantees that).
class connection {
public:
  virtual ~connection() = default;
  virtual dialect kind() const = 0;
  // Runs one statement. Statements are prepared and cached per connection by their SQL text.
  virtual result exec(std::string_view sql, const sql_params& params = {}) = 0;
  // Runs a script of several statements without parameters (migrations).
  virtual void exec_script(std::string_view sql) = 0;
  virtual void begin() = 0;
  virtual void commit() = 0;
  virtual void rollback() = 0;
  virtual bool in_transaction() const = 0;
  // Savepoints let a group commit isolate one failing write from the others in its batch.
  virtual void savepoint(std::string_view name) = 0;
  virtual void release_savepoint(std::string_view name) = 0;
  virtual void rollback_to_savepoint(std::string_view name) = 0;
};

// A pool of connections to one database. Thread-safe.
class database {
public:
  virtual ~database() = default;
  virtual dialect kind() const = 0;

  class lease {
  public:
    lease(database* owner, std::unique_ptr<connection> c) : owner_(owner), conn_(std::move(c)) {}
    lease(lease&&) noexcept = default;
    lease& operator=(lease&&) noexcept;  // gives back the connection it held first
    ~lease();
    connection& operator*() const { return *conn_; }
    connection* operator->() const { return conn_.get(); }

  private:
    database* owner_;
    std::unique_ptr<connection> conn_;
  };

  // Borrows a connection, waiting if all are in use. A connection left inside a transaction is
  // rolled back when returned.
  lease acquire();

  // Runs fn inside a transaction on a pooled connection; commits when fn returns, rolls back if it
  // throws (and rethrows). Retries fn on SQLite "database is locked" / PostgreSQL serialization
  // failures up to a few times.
  template <class Fn>
  auto transact(Fn&& fn) -> decltype(fn(std::declval<connection&>()));

  // Pool statistics for metrics and tests.
  virtual size_t pool_size() const = 0;
  virtual size_t idle_connections() const = 0;

protected:
  virtual std::unique_ptr<connection> take() = 0;
  virtual void give_back(std::unique_ptr<connection> c) = 0;
  friend class lease;
};

struct database_options {
  dialect kind = dialect::sqlite;
  std::string sqlite_path;          // file path, or ":memory:" (then pool size is forced to 1)
  std::string postgres_conninfo;    // libpq connection string, e.g. "host=/tmp/pg dbname=myelin"
  size_t pool_size = 8;             // PostgreSQL: max connections; SQLite: reader+writer connections
  int busy_timeout_ms = 10000;      // SQLite busy timeout
};

// The per-statement latency histogram of an engine (the backends time every exec into it).
metrics::histogram& query_duration_metric(dialect d);

// Opens a database (creating the SQLite file if needed) and returns its pool.
// Throws database_error with a clear message if it cannot connect.
std::unique_ptr<database> open_database(const database_options& options);

// ---- inline template ----
template <class Fn>
auto database::transact(Fn&& fn) -> decltype(fn(std::declval<connection&>())) {
  for (int attempt = 0;; ++attempt) {
    auto c = acquire();
    try {
      c->begin();  // inside the try: on SQLite a lock conflict surfaces here (BEGIN IMMEDIATE)
      if constexpr (std::is_void_v<decltype(fn(*c))>) {
        fn(*c);
        c->commit();
        return;
      } else {
        auto r = fn(*c);
        c->commit();
        return r;
      }
    } catch (const database_error& e) {
      if (c->in_transaction()) c->rollback();
      std::string_view what = e.what();
      bool retryable = what.find("database is locked") != std::string_view::npos ||
                       what.find("could not serialize") != std::string_view::npos ||
                       what.find("deadlock detected") != std::string_view::npos;
      if (!retryable || attempt >= 4) throw;
    } catch (...) {
      if (c->in_transaction()) c->rollback();
      throw;
    }
  }
}

} // namespace myelin::storage
