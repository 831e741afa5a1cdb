// Finding the data sets. The data root is, in this order:
//   1. the --data value a program was given (passed here as `explicit_root`),
//   2. the CAE_DATA environment variable,
//   3. ../shared/data next to the project: relative to the project root (a
//      folder holding include/cae/cae.hpp, found by walking up from the
//      current directory and from the executable), or to the current directory.
// A given --data or CAE_DATA that is not a directory is an error, not a reason
// to look elsewhere. Fashion-MNIST is also found where Debian's
// dataset-fashion-mnist package puts it. Errors list every place looked at.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "cae/error.hpp"

namespace cae::data {

// Folder names under the data root, as scripts/download_data.sh writes them.
inline const char* const kMnistDir = "mnist";
inline const char* const kFashionMnistDir = "fashion-mnist";
inline const char* const kKannadaMnistDir = "kannada-mnist";
inline const char* const kCifar10JpgDir = "cifar10-jpg";
inline const char* const kCifar10BinDir = "cifar-10-batches-bin";

namespace detail {

inline bool is_dir(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::is_directory(p, ec);
}

// Candidate roots, best first, each with how it was chosen; `given` is true
// when the user named one (then it is the only candidate).
struct RootCandidates {
  std::vector<std::string> paths;
  std::vector<std::string> notes;
  bool given = false;
};

inline RootCandidates root_candidates(const std::string& explicit_root) {
  namespace fs = std::filesystem;
  RootCandidates c;
  if (!explicit_root.empty()) {
    c.paths = {explicit_root};
    c.notes = {"--data " + explicit_root};
    c.given = true;
    return c;
  }
  const char* env = std::getenv("CAE_DATA");
  if (env && *env) {
    c.paths = {env};
    c.notes = {str("CAE_DATA=", env)};
    c.given = true;
    return c;
  }
  auto add = [&](const fs::path& p, const std::string& note) {
    const std::string s = p.lexically_normal().string();
    for (const std::string& q : c.paths)
      if (q == s) return;
    c.paths.push_back(s);
    c.notes.push_back(note);
  };
  std::error_code ec;
  std::vector<fs::path> starts;
  const fs::path cwd = fs::current_path(ec);
  if (!ec) starts.push_back(cwd);
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) starts.push_back(exe.parent_path());
  for (const fs::path& start : starts)
    for (fs::path dir = start; !dir.empty(); dir = dir.parent_path()) {
      std::error_code exists_ec;
      if (fs::exists(dir / "include" / "cae" / "cae.hpp", exists_ec))
        add(dir / ".." / "shared" / "data", "../shared/data from the project root " + dir.string());
      if (dir == dir.parent_path()) break;
    }
  if (!cwd.empty()) add(cwd / ".." / "shared" / "data", "../shared/data from the current directory");
  return c;
}

inline std::string looked_at(const std::vector<std::string>& paths,
                             const std::vector<std::string>& notes) {
  std::string s;
  for (std::size_t i = 0; i < paths.size(); ++i)
    s += "\n  " + paths[i] + " (" + notes[i] + "): missing";
  return s;
}

}  // namespace detail

// The data root (see the top of this file).
inline std::string data_root(const std::string& explicit_root = "") {
  const detail::RootCandidates c = detail::root_candidates(explicit_root);
  for (const std::string& p : c.paths)
    if (detail::is_dir(p)) return p;
  if (c.given) throw IoError(str(c.notes[0], ": not a directory"));
  throw IoError(str("no data directory found; looked at:", detail::looked_at(c.paths, c.notes),
                    "\n  (--data not given, CAE_DATA not set)\n"
                    "Give --data DIR or set CAE_DATA=DIR; scripts/download_data.sh DIR fetches the "
                    "data sets."));
}

// The folder of one data set, e.g. dataset_dir(kMnistDir, args.data): the
// first <root>/<name> that exists among the candidate roots, then, for
// Fashion-MNIST, /usr/share/datasets/fashion-mnist.
inline std::string dataset_dir(const std::string& name, const std::string& explicit_root = "") {
  const detail::RootCandidates c = detail::root_candidates(explicit_root);
  if (c.given)
    CAE_CHECK(detail::is_dir(c.paths[0]), IoError, c.notes[0], ": not a directory");
  std::vector<std::string> paths, notes;
  for (std::size_t i = 0; i < c.paths.size(); ++i) {
    paths.push_back((std::filesystem::path(c.paths[i]) / name).string());
    notes.push_back(c.notes[i]);
  }
  if (name == kFashionMnistDir) {
    paths.push_back("/usr/share/datasets/fashion-mnist");
    notes.push_back("Debian's dataset-fashion-mnist package");
  }
  for (const std::string& p : paths)
    if (detail::is_dir(p)) return p;
  throw IoError(str("data set '", name, "' not found; looked at:", detail::looked_at(paths, notes),
                    c.given ? "" : "\n  (--data not given, CAE_DATA not set)",
                    "\nGive --data DIR or set CAE_DATA=DIR to the folder holding ", name,
                    "/; scripts/download_data.sh DIR fetches the data sets."));
}

}  // namespace cae::data
