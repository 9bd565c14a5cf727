// Thumbnails with libvips. vips_thumbnail_source does the heavy part — shrink-on-load (a JPEG is
// decoded at 1/2, 1/4 or 1/8 scale straight from the file), then a high-quality resize — so a
// 4000×3000 photo costs a fraction of a full decode. Cropping is done here rather than by
// vips_thumbnail's own crop, which in this libvips (8.14) cuts across the frames of an animation.
#include "imaging/thumbnailer.hpp"

#include <vips/vips.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>

#include "common/log.hpp"

namespace myelin::imaging {

namespace {

// ---- ownership of libvips objects: every path, error or not, releases them ----

struct object_unref {
  void operator()(gpointer p) const {
    if (p) g_object_unref(p);
  }
};
using image_ptr = std::unique_ptr<VipsImage, object_unref>;
using source_ptr = std::unique_ptr<VipsSource, object_unref>;

struct g_deleter {
  void operator()(gpointer p) const { g_free(p); }
};

// Throws image_error with libvips' own explanation appended (and its error buffer cleared, so a
// message never leaks into the next request's error).
[[noreturn]] void fail(const std::string& what) {
  std::unique_ptr<char, g_deleter> detail(vips_error_buffer_copy());
  std::string msg = what;
  if (detail && *detail) {
    std::string_view d = detail.get();
    while (!d.empty() && std::isspace(static_cast<unsigned char>(d.back()))) d.remove_suffix(1);
    msg += ": ";
    msg += d;
  }
  throw image_error(msg);
}

// ---- the formats we decode ----

struct format {
  const char* loader;  // libvips loader class; its File/Buffer/Source variants are subclasses
  std::string_view content_type;
};
// GIF's loader is libnsgif's in this libvips. Everything else — SVG, PDF, HEIF, ImageMagick (which
// itself reads dozens of formats) — stays blocked: untrusted uploads never reach those decoders.
constexpr format decoded_formats[] = {{"VipsForeignLoadJpeg", "image/jpeg"},
                                      {"VipsForeignLoadPng", "image/png"},
                                      {"VipsForeignLoadNsgif", "image/gif"},
                                      {"VipsForeignLoadWebp", "image/webp"}};

const format* format_of_loader(std::string_view loader) {
  for (const auto& f : decoded_formats)
    if (loader.starts_with(f.loader)) return &f;
  return nullptr;
}

// Loader options for every decode: stop on real errors and on truncation (not on warnings, which
// many camera JPEGs carry), instead of serving a half-grey image.
constexpr const char* strict = "fail_on=error";
constexpr const char* strict_all_frames = "fail_on=error,n=-1";

// "Image/PNG ; x=y" → "image/png"
std::string essence(std::string_view content_type) {
  std::string_view type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && std::isspace(static_cast<unsigned char>(type.back()))) type.remove_suffix(1);
  while (!type.empty() && std::isspace(static_cast<unsigned char>(type.front()))) type.remove_prefix(1);
  std::string lower(type);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower;
}

std::once_flag init_once;
bool can_save_webp = false;

void log_vips_message(const gchar* domain, GLogLevelFlags level, const gchar* message, gpointer) {
  // libvips warns about every oddity of every upload: the client's doing, not the operator's.
  static const logger log("imaging");
  log.debug("libvips", {{"message", message ? message : ""}});
}

source_ptr open_source(const std::string& path) {
  source_ptr source(vips_source_new_from_file(path.c_str()));
  if (!source) fail("cannot open the image");
  return source;
}

// The file's format, sniffed from its bytes (never taken from the client's content type).
const format& sniff(VipsSource* source) {
  const char* loader = vips_foreign_find_load_source(source);
  if (!loader) fail("not an image in a known format");
  const format* f = format_of_loader(loader);
  if (!f) {
    vips_error_clear();
    throw image_error(std::string("not a format we thumbnail (") + loader + ")");
  }
  return *f;
}

struct header {
  const format* fmt = nullptr;
  image_info info;
};

header read_header(VipsSource* source, uint64_t max_pixels) {
  header h;
  h.fmt = &sniff(source);
  // Header only: libvips decodes pixels lazily, and these are never asked for.
  image_ptr image(vips_image_new_from_source(source, strict, "access", VIPS_ACCESS_SEQUENTIAL, nullptr));
  if (!image) fail("cannot read the image header");
  auto& info = h.info;
  info.width = vips_image_get_width(image.get());
  info.height = vips_image_get_height(image.get());  // one frame: only the first was opened
  info.pages = std::max(1, vips_image_get_n_pages(image.get()));
  info.animated = info.pages > 1;
  info.content_type = std::string(h.fmt->content_type);
  if (vips_image_get_orientation_swap(image.get())) std::swap(info.width, info.height);
  if (info.width <= 0 || info.height <= 0) throw image_error("image has no pixels");
  const uint64_t pixels = static_cast<uint64_t>(info.width) * static_cast<uint64_t>(info.height);
  if (pixels > max_pixels)
    throw image_too_large("image too large: " + std::to_string(info.width) + "x" + std::to_string(info.height) +
                      " is more than " + std::to_string(max_pixels) + " pixels");
  return h;
}

// The region a crop keeps, before any scaling: the requested size when the source covers it, else
// the largest region of the requested aspect ratio the source holds (never upscale).
std::pair<int, int> crop_region(int src_w, int src_h, int want_w, int want_h) {
  if (src_w >= want_w && src_h >= want_h) return {want_w, want_h};
  const int64_t w = std::min<int64_t>(src_w, int64_t{src_h} * want_w / want_h);
  const int64_t h = std::min<int64_t>(src_h, int64_t{src_w} * want_h / want_w);
  return {static_cast<int>(std::max<int64_t>(w, 1)), static_cast<int>(std::max<int64_t>(h, 1))};
}

// Cuts a w×h centred region out of every frame of `in` (frames stacked vertically, page-height
// apart, as libvips keeps animations), keeping the frames' order and timing.
image_ptr crop_frames(VipsImage* in, int w, int h) {
  const int page_h = vips_image_get_page_height(in);
  const int pages = in->Ysize / page_h;
  w = std::min(w, in->Xsize);  // the resize may round the uncropped side one pixel short
  h = std::min(h, page_h);
  const int left = (in->Xsize - w) / 2;
  const int top = (page_h - h) / 2;

  std::vector<image_ptr> frames;
  frames.reserve(pages);
  for (int i = 0; i < pages; ++i) {
    VipsImage* frame = nullptr;
    if (vips_extract_area(in, &frame, left, i * page_h + top, w, h, nullptr)) fail("cannot crop the image");
    frames.emplace_back(frame);
  }
  if (pages == 1) return std::move(frames.front());

  std::vector<VipsImage*> raw;
  for (auto& f : frames) raw.push_back(f.get());
  VipsImage* joined = nullptr;
  if (vips_arrayjoin(raw.data(), &joined, pages, "across", 1, nullptr)) fail("cannot crop the image");
  image_ptr out(joined);
  // A fresh copy before changing metadata: images in a pipeline may be shared.
  VipsImage* copy = nullptr;
  if (vips_copy(out.get(), &copy, nullptr)) fail("cannot crop the image");
  out.reset(copy);
  vips_image_set_int(out.get(), VIPS_META_PAGE_HEIGHT, h);
  return out;
}

std::string take_buffer(void* buf, size_t len) {
  std::unique_ptr<void, g_deleter> owned(buf);
  return std::string(static_cast<const char*>(buf), len);
}

} // namespace

void init() {
  std::call_once(init_once, [] {
    if (VIPS_INIT("myelin")) fail("cannot start libvips");
    vips_concurrency_set(1);    // the blocking pool runs thumbnails side by side
    vips_cache_set_max(0);      // no operation cache: it would hold decoded images between requests
    vips_cache_set_max_files(0);
    vips_operation_block_set("VipsForeignLoad", TRUE);
    for (const auto& f : decoded_formats) vips_operation_block_set(f.loader, FALSE);
    can_save_webp = vips_type_find("VipsOperation", "webpsave_buffer") != 0;
    g_log_set_handler("VIPS",
                      static_cast<GLogLevelFlags>(G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO |
                                                  G_LOG_LEVEL_DEBUG),
                      log_vips_message, nullptr);
  });
}

bool thumbnailable(std::string_view content_type) {
  // image/jpg is not registered but common (Synapse accepts it too); the bytes decide anyway.
  static constexpr std::string_view types[] = {"image/jpeg", "image/jpg", "image/png", "image/gif", "image/webp"};
  auto type = essence(content_type);
  return std::find(std::begin(types), std::end(types), type) != std::end(types);
}

bool animatable(std::string_view content_type) {
  auto type = essence(content_type);
  return type == "image/gif" || type == "image/webp";
}

image_info probe(const std::string& path, uint64_t max_pixels) {
  init();
  auto source = open_source(path);
  return read_header(source.get(), max_pixels).info;
}

const thumbnail_size& choose_size(const std::vector<thumbnail_size>& sizes, int width, int height,
                                  std::string_view method) {
  if (sizes.empty()) throw std::invalid_argument("no thumbnail sizes configured");
  const bool have_method =
      std::any_of(sizes.begin(), sizes.end(), [&](const thumbnail_size& s) { return s.method == method; });
  auto area = [](const thumbnail_size& s) { return int64_t{s.width} * s.height; };
  const thumbnail_size* fitting = nullptr;  // smallest that covers the request
  const thumbnail_size* largest = nullptr;
  for (const auto& s : sizes) {
    if (have_method && s.method != method) continue;
    if (s.width >= width && s.height >= height && (!fitting || area(s) < area(*fitting))) fitting = &s;
    if (!largest || area(s) > area(*largest)) largest = &s;
  }
  return fitting ? *fitting : *largest;
}

thumbnail make_thumbnail(const std::string& path, std::string_view source_content_type, const thumbnail_size& size,
                         bool animated, uint64_t max_pixels) {
  if (!thumbnailable(source_content_type))
    throw image_error("cannot thumbnail content of type '" + std::string(source_content_type) + "'");
  if (size.width <= 0 || size.height <= 0) throw std::invalid_argument("thumbnail size must be positive");
  init();
  auto source = open_source(path);
  const header h = read_header(source.get(), max_pixels);
  const auto& info = h.info;

  // Every frame only when asked, when there are several, when the result can be saved animated,
  // and when all frames together stay within the pixel budget (a 2000-frame GIF is a bomb too).
  const bool all_frames = animated && info.animated && can_save_webp &&
                          static_cast<uint64_t>(info.width) * info.height * info.pages <= max_pixels;
  const bool crop = size.method == "crop";

  // Target box for vips_thumbnail, which fits the image inside it and never enlarges (size=down).
  // For a crop, the box leaves the uncropped side unbounded, so the image covers the crop region.
  int box_w = size.width, box_h = size.height;
  std::pair<int, int> region;
  if (crop) {
    region = crop_region(info.width, info.height, size.width, size.height);
    const bool width_binds = int64_t{region.first} * info.height >= int64_t{region.second} * info.width;
    box_w = width_binds ? region.first : VIPS_MAX_COORD;
    box_h = width_binds ? VIPS_MAX_COORD : region.second;
  }

  VipsImage* raw = nullptr;
  if (vips_thumbnail_source(source.get(), &raw, box_w, "height", box_h, "size", VIPS_SIZE_DOWN, "option_string",
                            all_frames ? strict_all_frames : strict, nullptr))
    fail("cannot decode the image");
  image_ptr image(raw);
  if (crop) image = crop_frames(image.get(), region.first, region.second);

  thumbnail out;
  out.width = image->Xsize;
  out.height = vips_image_get_page_height(image.get());
  out.animated = image->Ysize > out.height;

  // Decoding happens here, as the saver pulls pixels: a corrupt body fails now, not above.
  void* buf = nullptr;
  size_t len = 0;
  int rc = 0;
  if (out.animated) {
    out.content_type = "image/webp";
    rc = vips_webpsave_buffer(image.get(), &buf, &len, "Q", 80, "strip", TRUE, nullptr);
  } else if (h.fmt->content_type == "image/jpeg") {
    out.content_type = "image/jpeg";
    rc = vips_jpegsave_buffer(image.get(), &buf, &len, "Q", 80, "strip", TRUE, "optimize_coding", TRUE, nullptr);
  } else {
    out.content_type = "image/png";
    rc = vips_pngsave_buffer(image.get(), &buf, &len, "strip", TRUE, "compression", 6, nullptr);
  }
  if (rc) {
    g_free(buf);
    fail("cannot decode the image");
  }
  out.bytes = take_buffer(buf, len);
  return out;
}

std::string_view file_extension(std::string_view content_type) {
  if (content_type == "image/jpeg") return "jpg";
  if (content_type == "image/png") return "png";
  if (content_type == "image/webp") return "webp";
  if (content_type == "image/gif") return "gif";
  return "bin";
}

} // namespace myelin::imaging
