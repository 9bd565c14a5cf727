// The media file store (storage/media/media_store): ids that cannot leave the store, files that
// appear only when complete (temp file + rename), the size limit enforced while writing with
// nothing kept, and the sweep of temporary files left behind.
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "protocol/crypto.hpp"
#include "storage/media/media_store.hpp"
#include "storage_fixture.hpp"

namespace fs = std::filesystem;
using namespace myelin;
using storage::media::media_store;

namespace {

struct temp_root {
  fs::path path = fs::temp_directory_path() / ("myelin-media-" + test::unique_suffix());
  ~temp_root() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

size_t files_in(const fs::path& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) ++n;
  return n;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace

BOOST_AUTO_TEST_SUITE(media_store_tests)

BOOST_AUTO_TEST_CASE(media_ids_cannot_leave_the_store) {
  using storage::media::valid_media_id;
  BOOST_CHECK(valid_media_id("AbCdEfGhIjKl_-09"));
  for (const char* bad : {"", "..", "../etc", "a/b", "a.b", "a\\b", "a b", "%2e%2e"}) BOOST_CHECK(!valid_media_id(bad));
  BOOST_CHECK(!valid_media_id(std::string("a\0b", 3)));
  BOOST_CHECK(!valid_media_id(std::string(256, 'a')));
  temp_root root;
  media_store store(root.path);
  BOOST_CHECK_THROW(store.local_path("../x"), std::invalid_argument);
  auto p = store.local_path("AbCdEfGhIjKl");
  BOOST_CHECK_EQUAL(p, root.path / "local_content" / "Ab" / "Cd" / "EfGhIjKl");
  BOOST_CHECK_EQUAL(store.local_path("abc"), root.path / "local_content" / "_" / "abc");
}

BOOST_AUTO_TEST_CASE(a_file_appears_whole_with_its_hash) {
  temp_root root;
  media_store store(root.path);
  std::string content;
  for (int i = 0; i < 3000; ++i) content += static_cast<char>(i * 7);  // binary, with zero bytes
  auto up = store.begin_upload(1 << 20);
  for (size_t at = 0; at < content.size(); at += 1000) {
    up.append(std::string_view(content).substr(at, 1000));
    BOOST_CHECK(!fs::exists(store.local_path("MediaOne1")));  // nothing visible before commit
  }
  BOOST_CHECK_EQUAL(up.size(), content.size());
  auto hash = up.commit("MediaOne1");
  BOOST_CHECK_EQUAL(hash, protocol::sha256_hex(content));
  BOOST_CHECK(read_file(store.local_path("MediaOne1")) == content);
  BOOST_CHECK_EQUAL(files_in(root.path / "tmp"), 0u);
  // A second upload of the same id replaces the file.
  auto again = store.begin_upload(100);
  again.append("new");
  again.commit("MediaOne1");
  BOOST_CHECK_EQUAL(read_file(store.local_path("MediaOne1")), "new");
  BOOST_CHECK(store.remove("MediaOne1"));
  BOOST_CHECK(!store.remove("MediaOne1"));
}

BOOST_AUTO_TEST_CASE(too_large_or_abandoned_uploads_leave_nothing) {
  temp_root root;
  media_store store(root.path);
  {
    auto up = store.begin_upload(10);
    up.append("12345");
    BOOST_CHECK_THROW(up.append("123456"), storage::media::too_large);
    BOOST_CHECK_EQUAL(files_in(root.path / "tmp"), 0u);
    BOOST_CHECK_THROW(up.commit("Big1"), std::logic_error);
  }
  {
    auto up = store.begin_upload(10);
    up.append("abc");
  }  // dropped without commit
  BOOST_CHECK_EQUAL(files_in(root.path), 0u);
}

BOOST_AUTO_TEST_CASE(sweep_removes_only_old_temporary_files) {
  temp_root root;
  media_store store(root.path);
  auto stale = root.path / "tmp" / "upload-stale";
  std::ofstream(stale) << "left by a crash";
  fs::last_write_time(stale, fs::file_time_type::clock::now() - std::chrono::hours(2));
  auto live = store.begin_upload(100);
  live.append("in progress");
  BOOST_CHECK_EQUAL(store.sweep_temporary(std::chrono::hours(1)), 1u);
  BOOST_CHECK(!fs::exists(stale));
  live.commit("StillHere1");
  BOOST_CHECK(fs::exists(store.local_path("StillHere1")));
}

BOOST_AUTO_TEST_SUITE_END()
