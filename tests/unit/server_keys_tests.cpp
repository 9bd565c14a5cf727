// storage/tables/server_keys on both databases: what a key document fetched later (from the server,
// or an older one handed over by a notary) may and may not overwrite.
#include <boost/test/unit_test.hpp>

#include "storage/tables/server_keys.hpp"
#include "storage_fixture.hpp"

using namespace myelin;
using namespace myelin::test;
namespace keys = myelin::storage::server_keys;

BOOST_AUTO_TEST_SUITE(server_keys_tests)

BOOST_AUTO_TEST_CASE(retired_keys_stay_retired_and_the_newest_document_stays) {
  for_each_backend([](storage::database& db, storage::dialect) {
    auto store = [&](const std::string& doc, int64_t until, std::vector<keys::stored_key> rows) {
      db.transact([&](storage::connection& c) { keys::store(c, "a.example", doc, until, rows, 1000); });
    };
    keys::key_row current{"K1", 5000, std::nullopt, 0};
    keys::key_row retired{"K1", 3000, 3000, 0};
    keys::key_row next{"K2", 9000, std::nullopt, 0};
    store("{\"doc\":1}", 5000, {{"ed25519:1", current}});
    // The server rotated: key 1 retired at 3000, key 2 current.
    store("{\"doc\":2}", 9000, {{"ed25519:1", retired}, {"ed25519:2", next}});
    // A notary hands over the first document again: it neither un-retires key 1 nor replaces the
    // newer document.
    store("{\"doc\":1}", 5000, {{"ed25519:1", current}});

    auto c = db.acquire();
    auto k1 = keys::get(*c, "a.example", "ed25519:1");
    BOOST_REQUIRE(k1);
    BOOST_TEST(k1->expired_ts.value_or(0) == 3000);
    auto k2 = keys::get(*c, "a.example", "ed25519:2");
    BOOST_REQUIRE(k2);
    BOOST_TEST(k2->valid_until_ts == 9000);
    BOOST_TEST(!k2->expired_ts);
    auto doc = keys::document(*c, "a.example");
    BOOST_REQUIRE(doc);
    BOOST_TEST(doc->document == "{\"doc\":2}");
    BOOST_TEST(doc->valid_until_ts == 9000);
    BOOST_TEST(!keys::get(*c, "b.example", "ed25519:1"));
  });
}

BOOST_AUTO_TEST_SUITE_END()
