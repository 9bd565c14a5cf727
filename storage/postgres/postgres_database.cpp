// The PostgreSQL backend (libpqxx 6.4): the production and cluster database. One pool per node,
// connections opened lazily up to the pool size, each statement prepared once per connection.
#include <pqxx/pqxx>

#include <cctype>
#include <unordered_map>

#include "common/metrics.hpp"
#include "storage/backend.hpp"

namespace myelin::storage {
namespace {

constexpr pqxx::oid bytea_oid = 17;
constexpr size_t max_cached_statements = 256;  // see the SQLite backend: generated IN lists

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

// Every parameter travels as text (or NULL) and PostgreSQL infers its type from the statement,
// so one prepared statement serves any mix of values; a blob is bytea's hex input form.
std::vector<std::optional<std::string>> to_text_params(const sql_params& params, std::string_view sql) {
  std::vector<std::optional<std::string>> out;
  out.reserve(params.size());
  for (const auto& v : params) {
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::nullptr_t>) {
            out.emplace_back(std::nullopt);
          } else if constexpr (std::is_same_v<T, int64_t>) {
            out.emplace_back(std::to_string(x));
          } else if constexpr (std::is_same_v<T, double>) {
            out.emplace_back(detail::format_double(x));
          } else if constexpr (std::is_same_v<T, std::string>) {
            // libpq passes text parameters as C strings: a NUL would silently truncate the value.
            if (x.find('\0') != std::string::npos)
              throw database_error("text parameter " + std::to_string(out.size() + 1) +
                                   " contains a NUL byte; pass binary data as a blob (in: " +
                                   detail::sql_excerpt(sql) + ")");
            out.emplace_back(x);
          } else {
            out.emplace_back(hex_bytea(x.bytes));
          }
        },
        v);
  }
  return out;
}

// Server messages span lines ("ERROR:  …\nDETAIL:  …\n"); logs want one line.
std::string one_line(const char* what) {
  std::string out;
  for (const char* p = what; *p; ++p) out += *p == '\n' || *p == '\t' ? ' ' : *p;
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// The connection string without its password, for error messages: keyword=value form (values
// possibly quoted) or a postgres:// URI (password in the userinfo or the query string).
std::string redact_conninfo(std::string_view s) {
  std::string out;
  if (s.rfind("postgresql://", 0) == 0 || s.rfind("postgres://", 0) == 0) {
    out = std::string(s);
    size_t start = out.find("://") + 3;
    size_t at = out.find('@', start);
    size_t end = out.find_first_of("/?", start);
    if (at != std::string::npos && at < end) {
      size_t colon = out.find(':', start);
      if (colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
    for (size_t p = out.find("password=", start); p != std::string::npos; p = out.find("password=", p + 1)) {
      if (out[p - 1] != '?' && out[p - 1] != '&') continue;
      size_t v = p + 9, e = out.find('&', v);
      out.replace(v, (e == std::string::npos ? out.size() : e) - v, "***");
    }
    return out;
  }
  size_t i = 0;
  auto skip_ws = [&] {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  };
  while (true) {
    skip_ws();
    if (i >= s.size()) break;
    size_t k = i;
    while (i < s.size() && s[i] != '=' && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    std::string key(s.substr(k, i - k));
    skip_ws();
    if (i < s.size() && s[i] == '=') ++i;
    skip_ws();
    size_t v = i;
    if (i < s.size() && s[i] == '\'') {
      for (++i; i < s.size() && s[i] != '\''; ++i)
        if (s[i] == '\\') ++i;
      if (i < s.size()) ++i;
    } else {
      while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    }
    if (!out.empty()) out += ' ';
    out += key + "=" + (key == "password" ? std::string("***") : std::string(s.substr(v, i - v)));
  }
  return out;
}

class postgres_connection final : public savepoint_connection {
public:
  explicit postgres_connection(const std::string& conninfo) try : conn_(conninfo) {
    // CREATE … IF NOT EXISTS and friends would otherwise print NOTICEs on stderr.
    conn_.set_variable("client_min_messages", "warning");
  } catch (const std::exception& e) {
    throw database_error("cannot connect to PostgreSQL (" + redact_conninfo(conninfo) +
                         "): " + one_line(e.what()));
  }

  dialect kind() const override { return dialect::postgres; }

  result exec(std::string_view sql, const sql_params& params) override {
    metrics::timer timed(query_duration_metric(dialect::postgres));
    auto values = to_text_params(params, sql);
    const std::string& name = prepared_name(sql);
    return run(sql, [&](pqxx::transaction_base& t) {
      return t.exec_prepared(name, pqxx::prepare::make_dynamic_params(values));
    });
  }

  void exec_script(std::string_view sql) override {
    run(sql, [&](pqxx::transaction_base& t) { return t.exec(std::string(sql)); });
  }

  void begin() override {
    if (txn_) throw database_error("begin() inside a transaction; use a savepoint");
    guard({}, [&] { txn_ = std::make_unique<pqxx::work>(conn_); });
    aborted_ = false;
  }

  void commit() override {
    if (!txn_) throw database_error("commit() without a transaction");
    auto t = std::move(txn_);  // whatever happens, the transaction is over
    if (aborted_) {
      // PostgreSQL answers COMMIT of a failed transaction with a silent ROLLBACK; say so instead.
      guard({}, [&] { t->abort(); });
      throw database_error("commit of a transaction in which a statement failed: rolled back");
    }
    guard({}, [&] { t->commit(); });
  }

  void rollback() override {
    auto t = std::move(txn_);
    if (t) guard({}, [&] { t->abort(); });
  }

  bool in_transaction() const override { return txn_ != nullptr; }

  void rollback_to_savepoint(std::string_view name) override {
    savepoint_connection::rollback_to_savepoint(name);
    aborted_ = false;  // the failed statement was after the savepoint, or this would have failed
  }

  // A connection that broke is dropped by the pool rather than handed to the next caller.
  bool usable() const { return !broken_ && conn_.is_open(); }

private:

  template <class Fn>
  auto guard(std::string_view sql, Fn&& fn) -> decltype(fn()) {
    auto where = [&] { return sql.empty() ? std::string() : " (in: " + detail::sql_excerpt(sql) + ")"; };
    try {
      return fn();
    } catch (const pqxx::unique_violation& e) {
      throw database_error(one_line(e.what()) + where(), true);
    } catch (const pqxx::serialization_failure& e) {
      // database::transact retries on these words; keep them even if the server's messages are
      // translated.
      throw database_error(one_line(e.what()) + " [could not serialize]" + where());
    } catch (const pqxx::deadlock_detected& e) {
      throw database_error(one_line(e.what()) + " [deadlock detected]" + where());
    } catch (const pqxx::sql_error& e) {
      throw database_error(one_line(e.what()) + " [SQLSTATE " + e.sqlstate() + "]" + where());
    } catch (const pqxx::broken_connection& e) {
      // libpqxx also reports protocol errors (SQLSTATE class 08, e.g. a wrong parameter count)
      // this way while the connection is fine; only a closed one is dropped from the pool.
      broken_ = !conn_.is_open();
      throw database_error(std::string(broken_ ? "PostgreSQL connection lost: " : "") + one_line(e.what()) +
                           where());
    } catch (const pqxx::in_doubt_error& e) {
      broken_ = true;
      throw database_error("PostgreSQL commit outcome unknown: " + one_line(e.what()));
    } catch (const std::exception& e) {  // usage and conversion errors
      throw database_error(one_line(e.what()) + where());
    }
  }

  result run(std::string_view sql, const std::function<pqxx::result(pqxx::transaction_base&)>& fn) {
    pqxx::result pr;
    try {
      pr = guard(sql, [&] {
        if (txn_) return fn(*txn_);
        pqxx::nontransaction t(conn_);
        return fn(t);
      });
    } catch (const database_error&) {
      if (txn_) aborted_ = true;
      throw;
    }
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
        if (is_bytea[c]) cells[c] = pqxx::binarystring(f).str();  // either bytea_output form
        else cells[c] = std::string(f.c_str(), f.size());
      }
    }
    return r;
  }

  // libpqxx registers the statement here and prepares it on the server at first use.
  const std::string& prepared_name(std::string_view sql) {
    std::string text(sql);
    if (auto it = statements_.find(text); it != statements_.end()) return it->second;
    if (statements_.size() >= max_cached_statements && !txn_) {
      for (const auto& entry : statements_) guard({}, [&] { conn_.unprepare(entry.second); });
      statements_.clear();
    }
    std::string name = "myelin_" + std::to_string(++statement_counter_);
    guard(sql, [&] { conn_.prepare(name, text); });
    return statements_.emplace(std::move(text), std::move(name)).first->second;
  }

  pqxx::connection conn_;
  std::unique_ptr<pqxx::work> txn_;
  bool aborted_ = false;  // a statement failed inside txn_ and no savepoint rollback undid it
  bool broken_ = false;
  uint64_t statement_counter_ = 0;
  std::unordered_map<std::string, std::string> statements_;  // SQL text → prepared name
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
  bool reusable(connection& c) const override { return static_cast<postgres_connection&>(c).usable(); }

private:
  database_options options_;
};

} // namespace

std::unique_ptr<database> open_postgres(const database_options& options) {
  return std::make_unique<postgres_database>(options);
}

} // namespace myelin::storage
