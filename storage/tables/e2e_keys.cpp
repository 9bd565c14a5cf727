#include "storage/tables/e2e_keys.hpp"

#include <boost/json.hpp>
#include <map>
#include <set>
#include <tuple>

#include "storage/tables/in_list.hpp"

namespace myelin::storage::e2e_keys {

namespace {

// Runs `sql_prefix IN (…) sql_suffix` over chunks of `values`, the IN list starting at parameter
// `first_param` after `leading` parameters; calls on_row for each result row.
template <class OnRow>
void over_chunks(connection& c, const std::vector<std::string>& values, const std::string& sql_prefix,
                 const std::string& sql_suffix, const sql_params& leading, OnRow&& on_row) {
  for_each_chunk(values, [&](std::vector<std::string> chunk) {
    sql_params params = leading;
    std::string sql = sql_prefix + "(" + in_list(leading.size() + 1, chunk) + ")" + sql_suffix;
    params.insert(params.end(), chunk.begin(), chunk.end());
    auto r = c.exec(sql, params);
    for (size_t i = 0; i < r.size(); ++i) on_row(r[i]);
  });
}

// Rows per multi-row statement: a few hundred parameters, well inside both engines' limits.
constexpr size_t rows_per_statement = 128;

// Row counts are padded to a power of two (repeating the last row, which changes nothing for an
// IN list or an INSERT … DO NOTHING), so a handful of statement texts stay prepared.
size_t padded(size_t n) {
  size_t p = 1;
  while (p < n) p *= 2;
  return p;
}

// Runs `statement(rows, params)` over the claims that have no key yet, in chunks: rows is
// "($1, $2, $3), …" (user, device, algorithm per row); the statement returns (user, device,
// algorithm, key_id, key_json) for the claims it satisfied, which get their key.
template <class Statement>
void for_open_claims(std::vector<device_claim>& claims, Statement&& statement) {
  std::vector<device_claim*> open;
  for (auto& cl : claims)
    if (!cl.key) open.push_back(&cl);
  for (size_t start = 0; start < open.size(); start += rows_per_statement) {
    size_t n = std::min(rows_per_statement, open.size() - start);
    std::map<std::tuple<std::string, std::string, std::string>, device_claim*> by_key;
    sql_params params;
    std::string rows;
    for (size_t i = 0; i < padded(n); ++i) {
      auto* cl = open[start + std::min(i, n - 1)];
      by_key[{cl->user_id, cl->device_id, cl->algorithm}] = cl;
      size_t p = params.size() + 1;
      rows += (i ? ", ($" : "($") + std::to_string(p) + ", $" + std::to_string(p + 1) + ", $" + std::to_string(p + 2) + ")";
      params.insert(params.end(), {cl->user_id, cl->device_id, cl->algorithm});
    }
    auto r = statement(rows, params);
    for (size_t i = 0; i < r.size(); ++i)
      if (auto it = by_key.find({r[i].as_text(0), r[i].as_text(1), r[i].as_text(2)}); it != by_key.end())
        it->second->key = key_entry{r[i].as_text(2), r[i].as_text(3), r[i].as_text(4)};
  }
}

} // namespace

std::optional<std::string> device_keys(connection& c, const std::string& user_id, const std::string& device_id) {
  auto r = c.exec("SELECT key_json FROM e2e_device_keys WHERE user_id = $1 AND device_id = $2", {user_id, device_id});
  if (r.empty()) return std::nullopt;
  return r[0].as_text(0);
}

std::vector<device_keys_row> device_keys_of_users(connection& c, const std::vector<std::string>& user_ids) {
  std::vector<device_keys_row> out;
  over_chunks(c, user_ids,
              "SELECT k.user_id, k.device_id, k.key_json, d.display_name FROM e2e_device_keys k "
              "JOIN devices d ON d.user_id = k.user_id AND d.device_id = k.device_id WHERE k.user_id IN ",
              " ORDER BY k.user_id, k.device_id", {}, [&](const row& r) {
                out.push_back({r.as_text(0), r.as_text(1), r.as_text(2), r.opt_text(3)});
              });
  return out;
}

void put_device_keys(connection& c, const std::string& user_id, const std::string& device_id,
                     const std::string& key_json, int64_t now_ms) {
  c.exec("INSERT INTO e2e_device_keys (user_id, device_id, key_json, added_ts) VALUES ($1, $2, $3, $4) "
         "ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = excluded.key_json, added_ts = excluded.added_ts",
         {user_id, device_id, key_json, now_ms});
}

boost::json::object one_time_key_counts_json(connection& c, const std::string& user_id, const std::string& device_id) {
  boost::json::object counts{{"signed_curve25519", 0}};
  for (const auto& [algorithm, n] : one_time_key_counts(c, user_id, device_id)) counts[algorithm] = n;
  return counts;
}

std::optional<key_entry> put_one_time_keys(connection& c, const std::string& user_id, const std::string& device_id,
                                           const std::vector<key_entry>& keys, int64_t now_ms) {
  for (size_t start = 0; start < keys.size(); start += rows_per_statement) {
    size_t n = std::min(rows_per_statement, keys.size() - start);
    // $1 user, $2 device, $3 time; then (algorithm, key_id, key_json) per row.
    sql_params params{user_id, device_id, now_ms};
    std::string rows;
    for (size_t i = 0; i < padded(n); ++i) {
      const auto& k = keys[start + std::min(i, n - 1)];  // padding repeats the last key: a no-op
      size_t p = params.size() + 1;
      rows += (i ? ", ($1, $2, $" : "($1, $2, $") + std::to_string(p) + ", $" + std::to_string(p + 1) + ", $" +
              std::to_string(p + 2) + ", $3)";
      params.insert(params.end(), {k.algorithm, k.key_id, k.key_json});
    }
    auto inserted = c.exec("INSERT INTO e2e_one_time_keys (user_id, device_id, algorithm, key_id, key_json, added_ts) "
                           "VALUES " + rows + " ON CONFLICT DO NOTHING RETURNING algorithm, key_id",
                           params);
    if (static_cast<size_t>(inserted.size()) == n) continue;
    // Some ids were there already: a retried upload is fine, other content under an id is not.
    std::set<std::pair<std::string, std::string>> fresh;
    for (size_t i = 0; i < inserted.size(); ++i) fresh.emplace(inserted[i].as_text(0), inserted[i].as_text(1));
    for (size_t i = start; i < start + n; ++i) {
      const auto& k = keys[i];
      if (fresh.erase({k.algorithm, k.key_id})) continue;  // inserted by this statement (once)
      auto r = c.exec("SELECT key_json FROM e2e_one_time_keys WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 "
                      "AND key_id = $4",
                      {user_id, device_id, k.algorithm, k.key_id});
      if (!r.empty() && r[0].as_text(0) != k.key_json) return k;
    }
  }
  return std::nullopt;
}

std::map<std::string, int64_t> one_time_key_counts(connection& c, const std::string& user_id,
                                                   const std::string& device_id) {
  auto r = c.exec("SELECT algorithm, COUNT(*) FROM e2e_one_time_keys WHERE user_id = $1 AND device_id = $2 "
                  "GROUP BY algorithm",
                  {user_id, device_id});
  std::map<std::string, int64_t> out;
  for (size_t i = 0; i < r.size(); ++i) out[r[i].as_text(0)] = r[i].as_int(1);
  return out;
}

void take_one_time_keys(connection& c, std::vector<device_claim>& claims) {
  for_open_claims(claims, [&](const std::string& rows, const sql_params& params) {
    // Per device the first key id in index order, found by a LIMIT 1 index probe (a MIN over a
    // GROUP BY read every key of every device — and the dead rows of keys claimed before).
    // VALUES columns are column1… in both engines.
    return c.exec("DELETE FROM e2e_one_time_keys WHERE (user_id, device_id, algorithm, key_id) IN ("
                  "SELECT v.column1, v.column2, v.column3, (SELECT k.key_id FROM e2e_one_time_keys k "
                  "WHERE k.user_id = v.column1 AND k.device_id = v.column2 AND k.algorithm = v.column3 "
                  "ORDER BY k.key_id LIMIT 1) FROM (VALUES " + rows + ") AS v) "
                  "RETURNING user_id, device_id, algorithm, key_id, key_json",
                  params);
  });
}

void put_fallback_key(connection& c, const std::string& user_id, const std::string& device_id, const key_entry& k) {
  c.exec("INSERT INTO e2e_fallback_keys (user_id, device_id, algorithm, key_id, key_json, used) "
         "VALUES ($1, $2, $3, $4, $5, 0) ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET "
         "key_id = excluded.key_id, key_json = excluded.key_json, used = CASE WHEN "
         "e2e_fallback_keys.key_id = excluded.key_id AND e2e_fallback_keys.key_json = excluded.key_json "
         "THEN e2e_fallback_keys.used ELSE 0 END",
         {user_id, device_id, k.algorithm, k.key_id, k.key_json});
}

void use_fallback_keys(connection& c, std::vector<device_claim>& claims) {
  for_open_claims(claims, [&](const std::string& rows, const sql_params& params) {
    return c.exec("UPDATE e2e_fallback_keys SET used = 1 WHERE (user_id, device_id, algorithm) IN (VALUES " + rows +
                      ") RETURNING user_id, device_id, algorithm, key_id, key_json",
                  params);
  });
}

std::vector<std::string> unused_fallback_key_types(connection& c, const std::string& user_id,
                                                   const std::string& device_id) {
  auto r = c.exec("SELECT algorithm FROM e2e_fallback_keys WHERE user_id = $1 AND device_id = $2 AND used = 0 "
                  "ORDER BY algorithm",
                  {user_id, device_id});
  std::vector<std::string> out;
  for (size_t i = 0; i < r.size(); ++i) out.push_back(r[i].as_text(0));
  return out;
}

void delete_device_keys(connection& c, const std::string& user_id, const std::vector<std::string>& device_ids) {
  for (const char* table : {"e2e_device_keys", "e2e_one_time_keys", "e2e_fallback_keys"})
    over_chunks(c, device_ids, std::string("DELETE FROM ") + table + " WHERE user_id = $1 AND device_id IN ", "",
                {user_id}, [](const row&) {});
  over_chunks(c, device_ids, "DELETE FROM e2e_signatures WHERE target_user_id = $1 AND target_key_id IN ", "",
              {user_id}, [](const row&) {});
}

std::map<std::string, std::vector<std::string>> orphaned_devices(connection& c) {
  auto r = c.exec("SELECT user_id, device_id FROM e2e_device_keys k WHERE NOT EXISTS (SELECT 1 FROM devices d "
                  "WHERE d.user_id = k.user_id AND d.device_id = k.device_id) "
                  "UNION SELECT user_id, device_id FROM e2e_one_time_keys k WHERE NOT EXISTS (SELECT 1 FROM devices d "
                  "WHERE d.user_id = k.user_id AND d.device_id = k.device_id) "
                  "UNION SELECT user_id, device_id FROM e2e_fallback_keys k WHERE NOT EXISTS (SELECT 1 FROM devices d "
                  "WHERE d.user_id = k.user_id AND d.device_id = k.device_id)");
  std::map<std::string, std::vector<std::string>> out;
  for (size_t i = 0; i < r.size(); ++i) out[r[i].as_text(0)].push_back(r[i].as_text(1));
  return out;
}

std::optional<cross_signing_row> cross_signing_key(connection& c, const std::string& user_id,
                                                   const std::string& key_type) {
  auto r = c.exec("SELECT public_key, key_json FROM e2e_cross_signing_keys WHERE user_id = $1 AND key_type = $2",
                  {user_id, key_type});
  if (r.empty()) return std::nullopt;
  return cross_signing_row{user_id, key_type, r[0].as_text(0), r[0].as_text(1)};
}

std::vector<cross_signing_row> cross_signing_keys_of_users(connection& c, const std::vector<std::string>& user_ids) {
  std::vector<cross_signing_row> out;
  over_chunks(c, user_ids, "SELECT user_id, key_type, public_key, key_json FROM e2e_cross_signing_keys WHERE user_id IN ",
              " ORDER BY user_id, key_type", {}, [&](const row& r) {
                out.push_back({r.as_text(0), r.as_text(1), r.as_text(2), r.as_text(3)});
              });
  return out;
}

void put_cross_signing_key(connection& c, const cross_signing_row& k, int64_t now_ms) {
  c.exec("INSERT INTO e2e_cross_signing_keys (user_id, key_type, public_key, key_json, added_ts) "
         "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, key_type) DO UPDATE SET public_key = excluded.public_key, "
         "key_json = excluded.key_json, added_ts = excluded.added_ts",
         {k.user_id, k.key_type, k.public_key, k.key_json, now_ms});
}

void put_signature(connection& c, const signature_row& s) {
  c.exec("INSERT INTO e2e_signatures (target_user_id, target_key_id, signer_user_id, signer_key_id, signature) "
         "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (target_user_id, target_key_id, signer_user_id, signer_key_id) "
         "DO UPDATE SET signature = excluded.signature",
         {s.target_user_id, s.target_key_id, s.signer_user_id, s.signer_key_id, s.signature});
}

std::vector<signature_row> signatures_for(connection& c, const std::vector<std::string>& target_user_ids,
                                          const std::string& viewer) {
  std::vector<signature_row> out;
  over_chunks(c, target_user_ids,
              "SELECT target_user_id, target_key_id, signer_user_id, signer_key_id, signature FROM e2e_signatures "
              "WHERE (signer_user_id = target_user_id OR signer_user_id = $1) AND target_user_id IN ",
              "", {viewer}, [&](const row& r) {
                out.push_back({r.as_text(0), r.as_text(1), r.as_text(2), r.as_text(3), r.as_text(4)});
              });
  return out;
}

} // namespace myelin::storage::e2e_keys
