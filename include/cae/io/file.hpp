// Whole-file reading with clear errors, and atomic writing.
//
// Reading accepts only regular files: a directory, FIFO, socket or device,
// a dangling symlink or a symlink loop gives an IoError naming the path and
// what it is (a FIFO is opened non-blocking, so it cannot hang the reader).
//
// Writing is atomic and safe in a shared directory: the data goes to a new
// temporary file "<path>.tmp.<pid>.<16 random hex digits>" in the target's
// directory, created with O_CREAT | O_EXCL | O_NOFOLLOW (so a planted file or
// symlink of that name is never written through), is flushed to disk, and is
// renamed over the target; then the directory is flushed too, so the rename
// itself survives a power cut. A crash or kill mid-save leaves the previous
// file intact; the temporaries of saves whose process has died are removed by
// the next save of the same path. Saves of one path from several threads of a
// process take turns; saves from several processes each replace the file
// whole, the last rename winning. A symlink at the target path is replaced
// by the new file (the file it pointed to is left as it was), as mv does.
#pragma once

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <random>
#include <string>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "cae/error.hpp"

namespace cae::io {

namespace detail {

// What a non-regular file is, for error messages.
inline const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

// Closes a file descriptor on every path out of a function.
struct FdGuard {
  int fd;
  explicit FdGuard(int f) : fd(f) {}
  ~FdGuard() {
    if (fd >= 0) ::close(fd);
  }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
};

// Why `path` could not be opened, in words: a dangling symlink says where it points.
inline std::string open_failure(const std::string& path, int err) {
  struct stat st;
  if (err == ENOENT && ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
    char target[4096];
    const ssize_t n = ::readlink(path.c_str(), target, sizeof target - 1);
    const std::string to = n > 0 ? std::string(target, static_cast<std::size_t>(n)) : "?";
    return str(path, ": cannot open: it is a symbolic link to '", to, "', which does not exist");
  }
  if (err == ELOOP) return str(path, ": cannot open: symbolic link loop (", std::strerror(err), ")");
  return str(path, ": cannot open (", std::strerror(err), ")");
}

}  // namespace detail

inline std::vector<unsigned char> read_file(const std::string& path) {
  // O_NONBLOCK: opening a FIFO would otherwise wait for a writer forever.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) throw IoError(detail::open_failure(path, errno));
  detail::FdGuard guard(fd);
  struct stat st;
  CAE_CHECK(::fstat(fd, &st) == 0, IoError, path, ": cannot stat (", std::strerror(errno), ")");
  if (!S_ISREG(st.st_mode)) {
    std::string hint;
    if (S_ISDIR(st.st_mode))
      hint = " (some downloads, e.g. Kaggle's MNIST, unpack each file into a folder of the same name: "
             "give the file inside it)";
    throw IoError(str(path, ": cannot read: it is ", detail::file_kind(st.st_mode), ", not a regular file",
                      hint));
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  std::vector<unsigned char> bytes;
  try {
    bytes.resize(static_cast<std::size_t>(size));
  } catch (const std::bad_alloc&) {
    throw IoError(str(path, ": file of ", size, " bytes does not fit in memory"));
  } catch (const std::length_error&) {
    throw IoError(str(path, ": file of ", size, " bytes does not fit in memory"));
  }
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    CAE_CHECK(n >= 0, IoError, path, ": read failed (", std::strerror(errno), ")");
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  CAE_CHECK(got == bytes.size(), IoError, path, ": read ", got, " of ", size,
            " bytes (the file shrank while it was read)");
  return bytes;
}

// True when something is at `path`: a file, or anything read_file will then
// name (a folder, a FIFO, a dangling symlink).
inline bool file_exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

namespace detail {

// One mutex per target path, so that two threads saving the same file take turns.
inline std::mutex& save_lock(const std::string& path) {
  static std::mutex registry_mutex;
  static std::map<std::string, std::unique_ptr<std::mutex>> registry;
  std::lock_guard<std::mutex> lock(registry_mutex);
  auto& m = registry[path];
  if (!m) m = std::make_unique<std::mutex>();
  return *m;
}

inline void split_path(const std::string& path, std::string& dir, std::string& base) {
  const std::size_t slash = path.find_last_of('/');
  dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  base = slash == std::string::npos ? path : path.substr(slash + 1);
}

inline std::string random_hex16() {
  std::random_device rd;  // getrandom(2) on Linux
  const std::uint64_t r = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(r));
  return buf;
}

// Removes "<base>.tmp.<pid>.<hex>" regular files in `dir` whose process no
// longer exists: what a kill -9 mid-save leaves. Returns how many; best
// effort (a directory that cannot be listed is left alone).
inline int remove_stale_temporaries(const std::string& dir, const std::string& base) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return 0;
  const std::string prefix = base + ".tmp.";
  int removed = 0;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = name.substr(prefix.size());
    const std::size_t dot = rest.find('.');
    if (dot == std::string::npos || dot == 0 || dot > 10 || rest.size() - dot - 1 != 16) continue;
    if (rest.find_first_not_of("0123456789") != dot) continue;
    const long pid = std::strtol(rest.substr(0, dot).c_str(), nullptr, 10);
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to judge
    const std::string full = dir + "/" + name;
    struct stat st;
    if (::lstat(full.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::unlink(full.c_str()) == 0) ++removed;
  }
  ::closedir(d);
  return removed;
}

}  // namespace detail

inline void write_file_atomic(const std::string& path, const void* data, std::size_t size) {
  std::lock_guard<std::mutex> lock(detail::save_lock(path));
  std::string dir, base;
  detail::split_path(path, dir, base);
  CAE_CHECK(!base.empty() && base != "." && base != "..", IoError, path, ": not a file name to save to");
  detail::remove_stale_temporaries(dir, base);

  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 16 && fd < 0; ++attempt) {
    tmp = path + ".tmp." + std::to_string(::getpid()) + "." + detail::random_hex16();
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 && errno != EEXIST) break;
  }
  CAE_CHECK(fd >= 0, IoError, path, ": cannot create temporary file ", tmp, " (", std::strerror(errno), ")");
  const char* p = static_cast<const char*>(data);
  std::size_t left = size;
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : ENOSPC;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw IoError(str(path, ": write failed (", std::strerror(err), ")"));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    throw IoError(str(path, ": flushing to disk failed (", std::strerror(err), ")"));
  }
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw IoError(str(path, ": flushing to disk failed (", std::strerror(err), ")"));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw IoError(str(path, ": cannot replace file (", std::strerror(err), ")"));
  }
  // The rename is only durable once the directory entry is on disk.
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    const int rc = ::fsync(dfd);
    const int err = errno;
    ::close(dfd);
    // Some file systems cannot fsync a directory (EINVAL); the data itself is on disk.
    CAE_CHECK(rc == 0 || err == EINVAL || err == EROFS, IoError, path,
              ": saved, but flushing its directory to disk failed (", std::strerror(err), ")");
  }
}

inline void write_file_atomic(const std::string& path, const std::string& text) {
  write_file_atomic(path, text.data(), text.size());
}

}  // namespace cae::io
