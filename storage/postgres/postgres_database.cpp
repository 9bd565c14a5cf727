// The PostgreSQL backend (libpqxx 6): the production and cluster database. One pool per node,
// shared by all its groups, with each statement prepared once per connection.
#include <pqxx/pqxx>

#include <sstream>
#include <unordered_map>

#include "storage/pool.hpp"

namespace myelin::storage {
namespace {

constexpr pqxx::oid bytea_oid = 17;

std::string hex_bytea(const std::string& bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out = "\\x";
  out.reserve(2 + bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string unhex_bytea(std::string_view text) {
  if (text.size() < 2 || text[0] != '\\' || text[1] != 'x') return std::string(text);
  auto nibble = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  std::string out;
  out.reserve((text.size() - 2) / 2);
  for (size_t i = 2; i + 1 < text.size(); i += 2) out += static_cast<char>(nibble(text[i]) << 4 | nibble(text[i + 1]));
  return out;
}

// Parameters travel as text (or NULL); PostgreSQL infers each one's type from the statement.
std::vector<std::optional<std::string>> to_text_params(const sql_params& params) {
  std::vector<std::optional<std::string>> out;
  out.reserve(params.size());
  for (const auto& v : params) {
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::nullptr_t>) out.emplace_back(std::nullopt);
          else if constexpr (std::is_same_v<T, int64_t>) out.emplace_back(std::to_string(x));
          else if constexpr (std::is_same_v<T, double>) out.emplace_back(pqxx::to_string(x));
          else if constexpr (std::is_same_v<T, std::string>) out.emplace_back(x);
          else out.emplace_back(hex_bytea(x.bytes));
        },
        v);
  }
  return out;
}

// The connection string without its password, for error messages.
std::string redact(const std::string& conninfo) {
  std::string out;
  std::istringstream in(conninfo);
  std::string part;
  while (in >> part) {
    if (part.rfind("password=", 0) == 0) part = "password=***";
    out += (out.empty() ? "" : " ") + part;
  }
  return out;
}

class postgres_connection final : public connection {
public:
  explicit postgres_connection(const std::string& conninfo) try : conn_(conninfo) {
  } catch (const std::exception& e) {
    throw database_error("cannot connect to PostgreSQL (" + redact(conninfo) + "): " + e.what());
  }

  dialect kind() const override { return dialect::postgres; }

  result exec(std::string_view sql, const sql_params& params) override {
    const std::string& name = prepared_name(sql);
    auto values = to_text_params(params);
    return run([&](pqxx::transaction_base& t) {
      return t.exec_prepared(name, pqxx::prepare::make_dynamic_params(values));
    });
  }

  void exec_script(std::string_view sql) override {
    run([&](pqxx::transaction_base& t) { return t.exec(std::string(sql)); });
  }

  void begin() override {
    guard([&] { txn_ = std::make_unique<pqxx::work>(conn_); });
  }
  void commit() override {
    auto t = std::move(txn_);
    guard([&] { t->commit(); });
  }
  void rollback() override {
    auto t = std::move(txn_);
    if (t) guard([&] { t->abort(); });
  }
  bool in_transaction() const override { return txn_ != nullptr; }
  void savepoint(std::string_view name) override { exec_script("SAVEPOINT " + std::string(name)); }
  void release_savepoint(std::string_view name) override { exec_script("RELEASE SAVEPOINT " + std::string(name)); }
  void rollback_to_savepoint(std::string_view name) override {
    exec_script("ROLLBACK TO SAVEPOINT " + std::string(name));
  }

private:
  template <class Fn>
  static auto guard(Fn&& fn) -> decltype(fn()) {
    try {
      return fn();
    } catch (const pqxx::unique_violation& e) {
      throw database_error(e.what(), true);
    } catch (const pqxx::sql_error& e) {
      throw database_error(std::string(e.what()) + " [" + e.sqlstate() + "]");
    } catch (const pqxx::failure& e) {
      throw database_error(e.what());
    }
  }

  result run(const std::function<pqxx::result(pqxx::transaction_base&)>& fn) {
    pqxx::result pr = guard([&] {
      if (txn_) return fn(*txn_);
      pqxx::nontransaction t(conn_);
      return fn(t);
    });
    result r;
    r.affected_ = static_cast<int64_t>(pr.affected_rows());
    const auto cols = pr.columns();
    std::vector<bool> is_bytea(cols);
    for (pqxx::row::size_type c = 0; c < cols; ++c) is_bytea[c] = pr.column_type(c) == bytea_oid;
    r.rows_.reserve(pr.size());
    for (const auto& prow : pr) {
      auto& cells = r.rows_.emplace_back(cols);
      for (pqxx::row::size_type c = 0; c < cols; ++c) {
        const auto& f = prow[c];
        if (f.is_null()) continue;
        std::string_view text(f.c_str(), f.size());
        cells[c] = is_bytea[c] ? unhex_bytea(text) : std::string(text);
      }
    }
    return r;
  }

  const std::string& prepared_name(std::string_view sql) {
    auto it = statements_.find(std::string(sql));
    if (it != statements_.end()) return it->second;
    std::string name = "s" + std::to_string(statements_.size());
    std::string text(sql);
    guard([&] { conn_.prepare(name, text); });
    return statements_.emplace(std::move(text), std::move(name)).first->second;
  }

  pqxx::connection conn_;
  std::unique_ptr<pqxx::work> txn_;
  std::unordered_map<std::string, std::string> statements_;
};

class postgres_database final : public pooled_database {
public:
  explicit postgres_database(const database_options& o) : pooled_database(o.pool_size), options_(o) {
    give_back(take());  // fail at startup if the server cannot be reached
  }
  dialect kind() const override { return dialect::postgres; }

protected:
  std::unique_ptr<connection> open_connection() override {
    return std::make_unique<postgres_connection>(options_.postgres_conninfo);
  }

private:
  database_options options_;
};

} // namespace

std::unique_ptr<database> open_postgres(const database_options& options) {
  return std::make_unique<postgres_database>(options);
}

} // namespace myelin::storage
