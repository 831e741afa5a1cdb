// Whole-file reading with clear errors, and atomic writing: the data goes to a
// temporary file in the same directory, is flushed to disk, and is renamed over
// the target, so a crash or kill mid-save leaves the previous file intact.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "cae/error.hpp"

namespace cae::io {

inline std::vector<unsigned char> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  CAE_CHECK(in.good(), IoError, path, ": cannot open (", std::strerror(errno), ")");
  const std::streamoff size = in.tellg();
  CAE_CHECK(size >= 0, IoError, path, ": cannot determine size (is it a directory?)");
  std::vector<unsigned char> bytes(static_cast<std::size_t>(size));
  in.seekg(0);
  if (size > 0) in.read(reinterpret_cast<char*>(bytes.data()), size);
  CAE_CHECK(in.good() || in.eof(), IoError, path, ": read failed");
  CAE_CHECK(in.gcount() == size, IoError, path, ": read ", in.gcount(), " of ", size, " bytes");
  return bytes;
}

inline bool file_exists(const std::string& path) {
  std::ifstream in(path);
  return in.good();
}

inline void write_file_atomic(const std::string& path, const void* data, std::size_t size) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  CAE_CHECK(fd >= 0, IoError, path, ": cannot create temporary file ", tmp, " (",
            std::strerror(errno), ")");
  const char* p = static_cast<const char*>(data);
  std::size_t left = size;
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw IoError(str(path, ": write failed (", std::strerror(err), ")"));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw IoError(str(path, ": flushing to disk failed (", std::strerror(err), ")"));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw IoError(str(path, ": cannot replace file (", std::strerror(err), ")"));
  }
}

inline void write_file_atomic(const std::string& path, const std::string& text) {
  write_file_atomic(path, text.data(), text.size());
}

}  // namespace cae::io
