#include "storage/media/media_store.hpp"

#include "protocol/identifiers.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace myelin::storage::media {

namespace fs = std::filesystem;

namespace {

constexpr size_t max_media_id_length = 255;
constexpr std::string_view spool_prefix = "upload-";
constexpr size_t spool_random_length = 24;

bool valid_spool_name(std::string_view name) {
  if (name.size() != spool_prefix.size() + spool_random_length || name.substr(0, spool_prefix.size()) != spool_prefix)
    return false;
  for (char c : name.substr(spool_prefix.size()))
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

bool valid_file_name(std::string_view name) {
  if (name.empty() || name.size() > 128 || name[0] == '.') return false;
  for (char c : name)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
          c == '.'))
      return false;
  return true;
}

std::runtime_error io_error(const std::string& what, const fs::path& path) {
  return std::runtime_error(what + " " + path.string() + ": " + std::strerror(errno));
}

// fsync on a directory makes a rename in it durable.
void sync_directory(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

// Moves a finished temporary file into place durably.
void move_into_place(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  if (ec || ::rename(from.c_str(), to.c_str()) != 0)
    throw std::runtime_error("media store: cannot move " + from.string() + " to " + to.string() + ": " +
                             std::strerror(errno));
  sync_directory(to.parent_path());
}

} // namespace

bool valid_media_id(std::string_view id) {
  if (id.empty() || id.size() > max_media_id_length) return false;
  for (char c : id)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return false;
  return true;
}

media_store::media_store(fs::path root) : root_(std::move(root)) {
  std::error_code ec;
  for (const char* sub : {"tmp", "local_content"}) {
    fs::create_directories(root_ / sub, ec);
    if (ec) throw std::runtime_error("media store: cannot create " + (root_ / sub).string() + ": " + ec.message());
  }
  if (::access((root_ / "tmp").c_str(), W_OK) != 0) throw io_error("media store: cannot write to", root_ / "tmp");
}

namespace {
// <root>/<area>/<id[0:2]>/<id[2:4]>/<rest>; short ids (never made by Myelin, but valid) keep their
// whole name under "_".
fs::path sharded(const fs::path& root, const char* area, std::string_view media_id) {
  if (!valid_media_id(media_id)) throw std::invalid_argument("invalid media id");
  std::string id(media_id);
  if (id.size() <= 4) return root / area / "_" / id;
  return root / area / id.substr(0, 2) / id.substr(2, 2) / id.substr(4);
}
} // namespace

fs::path media_store::local_path(std::string_view media_id) const { return sharded(root_, "local_content", media_id); }

namespace {

// A server name is a host ([A-Za-z0-9.-], or an IPv6 literal in brackets) and an optional port:
// nothing that can leave the directory.
std::string checked_origin(std::string_view origin) {
  if (!protocol::is_valid_server_name(origin) || origin.find('/') != std::string_view::npos ||
      origin.find("..") != std::string_view::npos)
    throw std::invalid_argument("invalid origin");
  return std::string(origin);
}

} // namespace

fs::path media_store::remote_path(std::string_view origin, std::string_view media_id) const {
  return sharded(root_ / "remote_content", checked_origin(origin).c_str(), media_id);
}

fs::path media_store::thumbnail_path(std::string_view media_id, std::string_view name) const {
  if (!valid_file_name(name)) throw std::invalid_argument("invalid thumbnail name");
  return sharded(root_, "local_thumbnails", media_id) / std::string(name);
}

fs::path media_store::remote_thumbnail_path(std::string_view origin, std::string_view media_id,
                                            std::string_view name) const {
  if (!valid_file_name(name)) throw std::invalid_argument("invalid thumbnail name");
  return sharded(root_ / "remote_thumbnails", checked_origin(origin).c_str(), media_id) / std::string(name);
}

void media_store::write_file(const fs::path& target, std::string_view bytes) const {
  auto up = begin_upload(bytes.size());
  up.append(bytes);
  auto sealed = up.seal();
  move_into_place(root_ / "tmp" / sealed.spool_name, target);
}

void media_store::adopt(std::string_view spool_name, std::string_view media_id) const {
  if (!valid_spool_name(spool_name)) throw std::invalid_argument("not a spool file name");
  move_into_place(root_ / "tmp" / std::string(spool_name), local_path(media_id));
}

void media_store::discard_spool(std::string_view spool_name) const {
  if (!valid_spool_name(spool_name)) return;
  std::error_code ec;
  fs::remove(root_ / "tmp" / std::string(spool_name), ec);
}

media_store::upload media_store::begin_upload(uint64_t max_size) const {
  auto path = root_ / "tmp" / (std::string(spool_prefix) + protocol::random_alnum(spool_random_length));
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw io_error("media store: cannot create", path);
  return upload(*this, std::move(path), fd, max_size);
}

media_store::upload::upload(const media_store& store, fs::path temp_path, int fd, uint64_t max_size)
    : store_(&store), temp_path_(std::move(temp_path)), fd_(fd), max_size_(max_size),
      hash_(std::make_unique<protocol::sha256_stream>()) {}

media_store::upload::upload(upload&& o) noexcept
    : store_(o.store_), temp_path_(std::move(o.temp_path_)), fd_(o.fd_), max_size_(o.max_size_), size_(o.size_),
      hash_(std::move(o.hash_)) {
  o.fd_ = -1;
  o.temp_path_.clear();
}

media_store::upload& media_store::upload::operator=(upload&& o) noexcept {
  if (this != &o) {
    discard();
    store_ = o.store_;
    temp_path_ = std::move(o.temp_path_);
    fd_ = o.fd_;
    max_size_ = o.max_size_;
    size_ = o.size_;
    hash_ = std::move(o.hash_);
    o.fd_ = -1;
    o.temp_path_.clear();
  }
  return *this;
}

media_store::upload::~upload() { discard(); }

void media_store::upload::discard() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!temp_path_.empty()) {
    std::error_code ec;
    fs::remove(temp_path_, ec);
    temp_path_.clear();
  }
}

void media_store::upload::append(std::string_view bytes) {
  if (fd_ < 0) throw std::logic_error("media upload already finished");
  if (size_ + bytes.size() > max_size_) {
    discard();
    throw too_large("upload larger than " + std::to_string(max_size_) + " bytes");
  }
  hash_->update(bytes);
  while (!bytes.empty()) {
    ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      auto err = io_error("media store: cannot write", temp_path_);
      discard();
      throw err;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
    size_ += static_cast<uint64_t>(n);
  }
}

media_store::upload::sealed media_store::upload::seal() {
  if (fd_ < 0) throw std::logic_error("media upload already finished");
  if (::fsync(fd_) != 0) {
    auto err = io_error("media store: cannot flush", temp_path_);
    discard();
    throw err;
  }
  ::close(fd_);
  fd_ = -1;
  sealed out{temp_path_.filename().string(), size_, hash_->hex()};
  temp_path_.clear();  // the file stays: its owner adopts or discards it
  return out;
}

std::string media_store::upload::commit(std::string_view media_id) {
  if (fd_ < 0) throw std::logic_error("media upload already finished");
  auto target = store_->local_path(media_id);
  auto temp = temp_path_;
  auto done = seal();
  try {
    move_into_place(temp, target);
  } catch (...) {
    std::error_code ec;
    fs::remove(temp, ec);
    throw;
  }
  return done.sha256;
}

bool media_store::remove(std::string_view media_id) const {
  std::error_code ec;
  return fs::remove(local_path(media_id), ec);
}

void media_store::remove_thumbnails(std::string_view media_id) const {
  std::error_code ec;
  fs::remove_all(sharded(root_, "local_thumbnails", media_id), ec);
}

void media_store::remove_remote(std::string_view origin, std::string_view media_id) const {
  std::error_code ec;
  fs::remove(remote_path(origin, media_id), ec);
  fs::remove_all(sharded(root_ / "remote_thumbnails", checked_origin(origin).c_str(), media_id), ec);
}

size_t media_store::sweep_temporary(std::chrono::seconds age) const {
  size_t removed = 0;
  std::error_code ec;
  auto cutoff = fs::file_time_type::clock::now() - age;
  for (const auto& entry : fs::directory_iterator(root_ / "tmp", ec)) {
    std::error_code e2;
    if (entry.is_regular_file(e2) && entry.last_write_time(e2) < cutoff && fs::remove(entry.path(), e2)) ++removed;
  }
  return removed;
}

} // namespace myelin::storage::media
