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
  // Where another server's media is cached: <root>/remote_content/<origin>/<sharded id>. Throws
  // std::invalid_argument for an invalid id or an origin that is not a server name.
  std::filesystem::path remote_path(std::string_view origin, std::string_view media_id) const;

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
    // Flushes to disk and leaves the file in tmp under its spool name (the gateway spools upload
    // bodies this way; the media group adopts the file once it has checked the request).
    struct sealed {
      std::string spool_name;  // file name inside <root>/tmp
      uint64_t size = 0;
      std::string sha256;      // hex
    };
    sealed seal();

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

  // Moves a sealed spool file (a name from upload::seal, never a client's) into place as the media
  // id's file. Throws std::invalid_argument for a name that is not a spool file name, and
  // std::runtime_error when the file is missing (swept) or cannot be moved.
  void adopt(std::string_view spool_name, std::string_view media_id) const;
  // Deletes a spool file that will not be adopted (the request failed); quiet when already gone.
  void discard_spool(std::string_view spool_name) const;

  // Where a thumbnail of a local media id lives: <root>/local_thumbnails/<sharded id>/<name>,
  // e.g. name "320-240-scale.jpg". Throws std::invalid_argument for an invalid id or a name
  // with anything but [A-Za-z0-9._-].
  std::filesystem::path thumbnail_path(std::string_view media_id, std::string_view name) const;
  // The same for another server's cached media: <root>/remote_thumbnails/<origin>/<sharded id>/<name>.
  std::filesystem::path remote_thumbnail_path(std::string_view origin, std::string_view media_id,
                                              std::string_view name) const;
  // Writes a whole small file (a thumbnail) atomically: temp file, fsync, rename.
  void write_file(const std::filesystem::path& target, std::string_view bytes) const;

  // Deletes a local media file; false when there was none.
  bool remove(std::string_view media_id) const;
  // Deletes another server's cached file and its thumbnails; quiet when already gone.
  void remove_remote(std::string_view origin, std::string_view media_id) const;
  // Deletes every thumbnail of a local media id (its thumbnail directory); quiet when none.
  void remove_thumbnails(std::string_view media_id) const;
  // Deletes temporary files older than `age` (left by a crash or a killed upload); returns how many.
  size_t sweep_temporary(std::chrono::seconds age) const;

private:
  std::filesystem::path root_;
};

} // namespace myelin::storage::media
