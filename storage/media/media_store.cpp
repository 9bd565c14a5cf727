#include "storage/media/media_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace myelin::storage::media {

namespace fs = std::filesystem;

namespace {

constexpr size_t max_media_id_length = 255;

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

fs::path media_store::local_path(std::string_view media_id) const {
  if (!valid_media_id(media_id)) throw std::invalid_argument("invalid media id");
  // Short ids (never made by Myelin, but valid) keep their whole name in the last part.
  std::string id(media_id);
  if (id.size() <= 4) return root_ / "local_content" / "_" / id;
  return root_ / "local_content" / id.substr(0, 2) / id.substr(2, 2) / id.substr(4);
}

media_store::upload media_store::begin_upload(uint64_t max_size) const {
  auto path = root_ / "tmp" / ("upload-" + protocol::random_alnum(24));
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

std::string media_store::upload::commit(std::string_view media_id) {
  if (fd_ < 0) throw std::logic_error("media upload already finished");
  auto target = store_->local_path(media_id);
  if (::fsync(fd_) != 0) {
    auto err = io_error("media store: cannot flush", temp_path_);
    discard();
    throw err;
  }
  ::close(fd_);
  fd_ = -1;
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  if (ec || ::rename(temp_path_.c_str(), target.c_str()) != 0) {
    auto err = io_error("media store: cannot move the upload to", target);
    discard();
    throw err;
  }
  temp_path_.clear();
  sync_directory(target.parent_path());
  return hash_->hex();
}

bool media_store::remove(std::string_view media_id) const {
  std::error_code ec;
  return fs::remove(local_path(media_id), ec);
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
