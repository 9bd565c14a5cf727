// Thumbnails of uploaded images (the media repository's thumbnail endpoints), made with libvips.
// Only JPEG, PNG, GIF and WebP are ever decoded — never SVG, PDF or anything else libvips could
// open — and an image whose header claims more than `max_pixels` is refused before any pixel is
// decoded. libvips stays behind this header: only imaging/*.cpp include its headers.
//
// Every call reads files and spends CPU: call it from the blocking pool, never from an actor
// scheduler or Asio thread. Calls are thread-safe; each runs single-threaded inside libvips (the
// pool provides the parallelism).
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"  // thumbnail_size

namespace myelin::imaging {

// The file is not an image we thumbnail: corrupt or truncated, of a format we do not decode, or
// too large. The message says which, for the log; clients only learn that no thumbnail exists.
struct image_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The header says more pixels than allowed (the spec's 413 "too large to thumbnail").
struct image_too_large : image_error {
  using image_error::image_error;
};

// Starts libvips once per process (later calls return at once): no operation cache (memory stays
// bounded), one worker thread per pipeline, every loader but the four formats blocked, and
// libvips' log messages routed to Myelin's log. probe() and make_thumbnail() call it themselves.
void init();

// Whether a content type (parameters such as "; charset=" ignored, case-insensitive) names a
// format we thumbnail: image/jpeg (or the common image/jpg), image/png, image/gif, image/webp.
bool thumbnailable(std::string_view content_type);
// Whether it names a format that can move (GIF, WebP): only those have animated thumbnails.
bool animatable(std::string_view content_type);

struct image_info {
  int width = 0;   // one frame, as displayed (EXIF orientation applied)
  int height = 0;
  bool animated = false;  // more than one frame
  int pages = 1;
  std::string content_type;  // what the file really is, whatever it was uploaded as
};

// Reads the header only. Throws image_error for an unknown or unreadable format, and
// image_too_large when width × height exceeds max_pixels.
image_info probe(const std::string& path, uint64_t max_pixels);

using myelin::thumbnail_size;

// The configured size that serves a request for width × height with `method` (Synapse's rule): the
// smallest of that method at least as large in both dimensions, else the largest of that method;
// sizes of the other method only when none of this one is configured. Throws
// std::invalid_argument when `sizes` is empty.
const thumbnail_size& choose_size(const std::vector<thumbnail_size>& sizes, int width, int height,
                                  std::string_view method);

struct thumbnail {
  std::string bytes;
  std::string content_type;  // image/jpeg, image/png or image/webp
  int width = 0;   // the thumbnail's real size (one frame)
  int height = 0;
  bool animated = false;
};

// Makes a thumbnail of the image file at `path`, never larger than the source:
//  - "scale": fits inside size.width × size.height, keeping the aspect ratio;
//  - "crop": exactly size.width × size.height cut from the centre after scaling; a source smaller
//    than that gives the largest centred region of that aspect ratio instead.
// JPEG sources give JPEG, others PNG; with `animated` and an animated GIF/WebP source, an animated
// WebP of every frame (static when the frames together exceed max_pixels).
// Throws image_error when `source_content_type` is not thumbnailable, the file is not a sound image
// of one of the four formats; image_too_large when it is larger than max_pixels.
thumbnail make_thumbnail(const std::string& path, std::string_view source_content_type, const thumbnail_size& size,
                         bool animated, uint64_t max_pixels);

// The file extension for a thumbnail's content type: "jpg", "png", "webp" ("bin" otherwise).
std::string_view file_extension(std::string_view content_type);

} // namespace myelin::imaging
