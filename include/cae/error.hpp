// Exceptions thrown by cae. Every check on user input throws; none is assert-only.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace cae {

// Base class of everything cae throws, so callers can catch one type.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// A tensor shape or layer configuration that cannot work.
class ShapeError : public Error {
 public:
  using Error::Error;
};

// A file that is missing, truncated, corrupt or of the wrong kind.
class IoError : public Error {
 public:
  using Error::Error;
};

namespace detail {
inline void append_all(std::ostringstream&) {}
template <typename A, typename... Rest>
void append_all(std::ostringstream& os, A&& a, Rest&&... rest) {
  os << std::forward<A>(a);
  append_all(os, std::forward<Rest>(rest)...);
}
}  // namespace detail

// Builds a message from streamable pieces: cae::str("layer ", name, ": got ", shape).
template <typename... Args>
std::string str(Args&&... args) {
  std::ostringstream os;
  detail::append_all(os, std::forward<Args>(args)...);
  return os.str();
}

}  // namespace cae

// Throws ExceptionType with the streamed message when cond is false.
#define CAE_CHECK(cond, ExceptionType, ...)                         \
  do {                                                              \
    if (!(cond)) throw ExceptionType(::cae::str(__VA_ARGS__));      \
  } while (0)
