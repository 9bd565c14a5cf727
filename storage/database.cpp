// Engine-independent parts of the storage interface: row conversions, the pool lease, and
// open_database() choosing a backend.
#include "storage/database.hpp"

#include <charconv>

namespace myelin::storage {

std::unique_ptr<database> open_sqlite(const database_options& options);
std::unique_ptr<database> open_postgres(const database_options& options);

namespace {
const std::string empty_text;
}

int64_t row::as_int(size_t col) const {
  const auto& c = (*cells_)[col];
  if (!c) return 0;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(c->data(), c->data() + c->size(), v);
  if (ec != std::errc()) {
    if (*c == "t" || *c == "true") return 1;  // PostgreSQL booleans
    if (*c == "f" || *c == "false") return 0;
    throw database_error("column " + std::to_string(col) + " is not an integer: '" + *c + "'");
  }
  return v;
}

double row::as_double(size_t col) const {
  const auto& c = (*cells_)[col];
  return c ? std::stod(*c) : 0.0;
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

database::lease database::acquire() { return lease(this, take()); }

std::unique_ptr<database> open_database(const database_options& options) {
  return options.kind == dialect::sqlite ? open_sqlite(options) : open_postgres(options);
}

} // namespace myelin::storage
