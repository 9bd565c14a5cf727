// Media files on disk (the media group, issue 6): one file per local media id under
// <root>/local_content/<id[0:2]>/<id[2:4]>/<rest of id>, so no directory grows past a few thousand
// entries. A file is written through a temporary file in <root>/tmp (same file system) and renamed
// into place only once complete and flushed: a crash never leaves a half file where readers look,
// and a temporary file left by one is swept later. Metadata (type, name, size, owner, quarantine)
// belongs to the database, not to this store.
//
// Every call here blocks on the file system: call it from the blocking pool, never from an actor
// scheduler or Asio thread.
#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "protocol/crypto.hpp"

namespace myelin::storage::media {

// Media ids Myelin makes and accepts: 1–255 of [A-Za-z0-9_-] — no '/', '.', '\0' or anything
// else that could leave the store's directories.
bool valid_media_id(std::string_view id);

// An upload went past its size limit; nothing of it is kept.
struct too_large : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class media_store {
public:
  // Creates <root>/tmp and <root>/local_content if needed; throws std::runtime_error naming the
  // path when the root cannot be made or written.
  explicit media_store(std::filesystem::path root);

  const std::filesystem::path& root() const { return root_; }
  // Where a local media id's file lives. Throws std::invalid_argument for an invalid id.
  std::filesystem::path local_path(std::string_view media_id) const;

  // A file being written as its bytes arrive. commit() makes it the media id's file; an upload
  // destroyed without commit() leaves nothing behind.
  class upload {
  public:
    upload(upload&&) noexcept;
    upload& operator=(upload&&) noexcept;
    ~upload();
    // Appends bytes; throws too_large (and drops the file) once the total passes the limit.
    void append(std::string_view bytes);
    uint64_t size() const { return size_; }
    // Flushes to disk and renames into place (replacing any file of that id). Returns the
    // content's SHA-256 (hex). The upload is finished afterwards.
    std::string commit(std::string_view media_id);

  private:
    friend class media_store;
    upload(const media_store& store, std::filesystem::path temp_path, int fd, uint64_t max_size);
    void discard() noexcept;

    const media_store* store_ = nullptr;
    std::filesystem::path temp_path_;
    int fd_ = -1;
    uint64_t max_size_ = 0;
    uint64_t size_ = 0;
    std::unique_ptr<protocol::sha256_stream> hash_;
  };
  upload begin_upload(uint64_t max_size) const;

  // Deletes a local media file; false when there was none.
  bool remove(std::string_view media_id) const;
  // Deletes temporary files older than `age` (left by a crash or a killed upload); returns how many.
  size_t sweep_temporary(std::chrono::seconds age) const;

private:
  std::filesystem::path root_;
};

} // namespace myelin::storage::media
