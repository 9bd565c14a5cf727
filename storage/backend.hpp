// What the SQLite and PostgreSQL backends share (private to storage/): the connection pool and a
// few text helpers defined in storage/database.cpp, so both engines format values, name
// savepoints and quote SQL in error messages the same way.
#pragma once
#include <condition_variable>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "storage/database.hpp"

namespace myelin::storage {

namespace detail {

// Shortest decimal text that reads back as the same double ("inf", "-inf", "nan" for the rest).
std::string format_double(double v);

// "SAVEPOINT x" / "RELEASE SAVEPOINT x" / "ROLLBACK TO SAVEPOINT x" with x quoted as an
// identifier: both engines accept the same syntax, and a caller-chosen name cannot inject SQL.
std::string savepoint_sql(std::string_view verb, std::string_view name);

// The start of a statement, for error messages (statements can be long; parameters never appear).
std::string sql_excerpt(std::string_view sql);

} // namespace detail

// Savepoints are the same SQL on both engines and need a transaction on both (outside one,
// SQLite would silently start one): one implementation serves both backends.
class savepoint_connection : public connection {
public:
  void savepoint(std::string_view name) override { run_savepoint("SAVEPOINT", name); }
  void release_savepoint(std::string_view name) override { run_savepoint("RELEASE SAVEPOINT", name); }
  void rollback_to_savepoint(std::string_view name) override { run_savepoint("ROLLBACK TO SAVEPOINT", name); }

private:
  void run_savepoint(std::string_view verb, std::string_view name) {
    if (!in_transaction()) throw database_error("savepoints need a transaction (call begin() first)");
    exec_script(detail::savepoint_sql(verb, name));
  }
};

// The pool: idle connections are reused, new ones opened lazily up to the limit, and callers
// wait when all are in use. A connection the backend judges unusable (reusable() == false) is
// dropped on return, which frees its slot for a fresh one.
class pooled_database : public database {
public:
  explicit pooled_database(size_t max_connections) : max_(max_connections ? max_connections : 1) {}
  size_t pool_size() const override { return max_; }
  size_t idle_connections() const override {
    std::lock_guard lock(mu_);
    return idle_.size();
  }

protected:
  virtual std::unique_ptr<connection> open_connection() = 0;
  virtual bool reusable(connection&) const { return true; }

  std::unique_ptr<connection> take() override {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !idle_.empty() || open_ < max_; });
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
    ++open_;
    lock.unlock();  // connecting can take a while; other callers may use idle connections meanwhile
    try {
      return open_connection();
    } catch (...) {
      lock.lock();
      --open_;
      lock.unlock();
      cv_.notify_one();
      throw;
    }
  }

  void give_back(std::unique_ptr<connection> c) override {
    if (c && !reusable(*c)) c.reset();
    {
      std::lock_guard lock(mu_);
      if (c) idle_.push_back(std::move(c));
      else --open_;
    }
    cv_.notify_one();
  }

private:
  size_t max_;
  size_t open_ = 0;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<connection>> idle_;
};

} // namespace myelin::storage
