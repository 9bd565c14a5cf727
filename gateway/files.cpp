#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <cstring>

#include "gateway/detail_files.hpp"

namespace myelin::gateway::detail {

file_source::~file_source() {
  if (fd >= 0) ::close(fd);
}

bool file_source::open(const std::string& path) {
  fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat sb {};
  if (::fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    ::close(fd);
    fd = -1;
    errno = errno ? errno : EINVAL;
    return false;
  }
  size = static_cast<uint64_t>(sb.st_size);
  return true;
}

void file_source::read_at(uint64_t offset, size_t max, std::string& out) const {
  out.resize(max);
  size_t got = 0;
  while (got < max) {
    ssize_t n = ::pread(fd, out.data() + got, max - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error(std::string("read failed: ") + std::strerror(errno));
    if (n == 0) break;  // the file shrank: send what there is, the length check fails the response
    got += static_cast<size_t>(n);
  }
  out.resize(got);
}

} // namespace myelin::gateway::detail
