// Engine-independent parts of the storage interface: row conversions, the pool lease,
// open_database() choosing a backend, and the text helpers both backends share (backend.hpp).
#include "storage/database.hpp"

#include <charconv>
#include <cmath>

#include "common/metrics.hpp"
#include "storage/backend.hpp"

namespace myelin::storage {

std::unique_ptr<database> open_sqlite(const database_options& options);
std::unique_ptr<database> open_postgres(const database_options& options);

namespace {

const std::string empty_text;

bool parse_double(const std::string& s, double& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

[[noreturn]] void not_a(const char* what, size_t col, const std::string& text) {
  std::string shown = text.size() > 40 ? text.substr(0, 40) + "…" : text;
  throw database_error("column " + std::to_string(col) + " is not " + what + ": '" + shown + "'");
}

} // namespace

int64_t row::as_int(size_t col) const {
  const auto& c = (*cells_)[col];
  if (!c) return 0;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(c->data(), c->data() + c->size(), v);
  if (ec == std::errc() && p == c->data() + c->size()) return v;
  if (*c == "t" || *c == "true") return 1;  // PostgreSQL booleans
  if (*c == "f" || *c == "false") return 0;
  // An integral value that came back as a real ("3.0": SQLite arithmetic, PostgreSQL numeric).
  double d = 0;
  if (ec != std::errc::result_out_of_range && parse_double(*c, d) && std::isfinite(d) &&
      d == std::trunc(d) && std::fabs(d) < 9.2e18)
    return static_cast<int64_t>(d);
  not_a("an integer", col, *c);
}

double row::as_double(size_t col) const {
  const auto& c = (*cells_)[col];
  if (!c) return 0.0;
  double d = 0;
  if (!parse_double(*c, d)) not_a("a number", col, *c);
  return d;
}

const std::string& row::as_text(size_t col) const {
  const auto& c = (*cells_)[col];
  return c ? *c : empty_text;
}

std::optional<std::string> row::opt_text(size_t col) const { return (*cells_)[col]; }

std::optional<int64_t> row::opt_int(size_t col) const {
  if (is_null(col)) return std::nullopt;
  return as_int(col);
}

database::lease::~lease() {
  if (!conn_ || !owner_) return;
  try {
    if (conn_->in_transaction()) conn_->rollback();
  } catch (...) {
    conn_.reset();  // a connection that cannot roll back is not returned to the pool
  }
  owner_->give_back(std::move(conn_));
}

database::lease& database::lease::operator=(lease&& other) noexcept {
  if (this != &other) {
    lease old(std::move(*this));  // its destructor rolls back and returns the previous connection
    owner_ = other.owner_;
    conn_ = std::move(other.conn_);
  }
  return *this;
}

namespace {
metrics::histogram& pool_wait_metric() {
  static auto& h = metrics::registry::global()
                       .histograms("myelin_db_pool_wait_seconds", "Time spent waiting for a pooled database connection.", {})
                       .with({});
  return h;
}
} // namespace

metrics::histogram& query_duration_metric(dialect d) {
  static auto& f = metrics::registry::global().histograms(
      "myelin_db_query_duration_seconds", "Time to run one SQL statement, by database engine.", {"engine"});
  static auto& sqlite = f.with({"sqlite"});
  static auto& postgres = f.with({"postgres"});
  return d == dialect::sqlite ? sqlite : postgres;
}

database::lease database::acquire() {
  metrics::timer waited(pool_wait_metric());
  return lease(this, take());
}

std::unique_ptr<database> open_database(const database_options& options) {
  switch (options.kind) {
    case dialect::sqlite: return open_sqlite(options);
    case dialect::postgres: return open_postgres(options);
  }
  throw database_error("unknown database kind");
}

namespace detail {

std::string format_double(double v) {
  // PostgreSQL's float8 input wants these spellings; std::from_chars reads them back too.
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[32];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, p);
}

std::string savepoint_sql(std::string_view verb, std::string_view name) {
  std::string out(verb);
  out += " \"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string sql_excerpt(std::string_view sql) {
  constexpr size_t limit = 160;
  std::string out;
  bool space = false;
  for (char c : sql) {
    bool ws = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (ws) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
    if (out.size() >= limit) {
      out += "…";
      break;
    }
  }
  return out;
}

} // namespace detail

} // namespace myelin::storage
