// Shared plumbing of the reproduction examples: the common command line
// (--data --epochs --threads --seed --out --quick), the paper-versus-this-run
// table, results.json, and wall-clock timing.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cae/error.hpp"
#include "cae/io/file.hpp"
#include "cae/io/json.hpp"
#include "cae/parallel.hpp"
#include "cae/random.hpp"

namespace repro {

// A comma-separated list of integers in lo..hi, from the command line option --option.
inline std::vector<int> parse_int_list(const std::string& text, const std::string& option, int lo, int hi) {
  std::vector<int> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < lo || v > hi)
      throw cae::Error(cae::str("--", option, ": '", item, "' is not an integer in ", lo, "..", hi));
    out.push_back(static_cast<int>(v));
  }
  if (out.empty()) throw cae::Error(cae::str("--", option, ": empty list"));
  return out;
}


struct Args {
  std::string program;
  std::string data;       // empty: CAE_DATA or ../shared/data
  std::string out = "out";
  int epochs = -1;        // -1: the mode's default
  int threads = 0;        // 0: OpenMP's default
  std::uint64_t seed = 42;
  bool quick = false;
  std::map<std::string, std::string> extra;  // --name value options a program declares

  int epochs_or(int full_default, int quick_default) const {
    return epochs > 0 ? epochs : (quick ? quick_default : full_default);
  }
  std::string get(const std::string& name, const std::string& fallback) const {
    auto it = extra.find(name);
    return it == extra.end() ? fallback : it->second;
  }
};

// Parses the common options; `extra_options` lists further "--name" options
// (each taking a value) with their help text.
inline Args parse_args(int argc, char** argv, const std::string& description,
                       const std::vector<std::pair<std::string, std::string>>& extra_options = {}) {
  Args a;
  a.program = argv[0];
  auto usage = [&]() {
    std::ostringstream os;
    os << description << "\n\nUsage: " << a.program << " [options]\n"
       << "  --data DIR     dataset root (default: $CAE_DATA, else ../shared/data)\n"
       << "  --out DIR      where figures and results.json go (default: out)\n"
       << "  --epochs N     override the number of epochs\n"
       << "  --threads N    OpenMP threads (default: all cores)\n"
       << "  --seed N       random seed (default: 42)\n"
       << "  --quick        a few-minute smoke run with sanity checks (used by CI)\n";
    for (auto& [name, help] : extra_options) {
      os << "  --" << std::left << std::setw(13) << name;
      if (name.size() >= 13) os << "\n" << std::string(17, ' ');  // too long for the column: help goes below
      os << help << "\n";
    }
    return os.str();
  };
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw cae::Error(cae::str(arg, " needs a value\n\n", usage()));
      return argv[++i];
    };
    auto number = [&](const std::string& v) -> long long {
      char* end = nullptr;
      const long long n = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < 0)
        throw cae::Error(cae::str(arg, ": expected a non-negative integer, got '", v, "'"));
      return n;
    };
    if (arg == "--help" || arg == "-h") {
      std::cout << usage();
      std::exit(0);
    } else if (arg == "--data") {
      a.data = value();
    } else if (arg == "--out") {
      a.out = value();
    } else if (arg == "--epochs") {
      a.epochs = static_cast<int>(number(value()));
    } else if (arg == "--threads") {
      a.threads = static_cast<int>(number(value()));
    } else if (arg == "--seed") {
      a.seed = static_cast<std::uint64_t>(number(value()));
    } else if (arg == "--quick") {
      a.quick = true;
    } else {
      bool known = false;
      for (auto& [name, help] : extra_options)
        if (arg == "--" + name) {
          a.extra[name] = value();
          known = true;
        }
      if (!known) throw cae::Error(cae::str("unknown option ", arg, "\n\n", usage()));
    }
  }
  if (a.threads > 0) cae::set_num_threads(a.threads);
  cae::manual_seed(a.seed);
  std::error_code ec;
  std::filesystem::create_directories(a.out, ec);
  if (!std::filesystem::is_directory(a.out))
    throw cae::Error(cae::str("--out ", a.out, ": cannot create directory",
                              ec ? " (" + ec.message() + ")" : std::string()));
  return a;
}

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  void reset() { start_ = std::chrono::steady_clock::now(); }

 private:
  std::chrono::steady_clock::time_point start_;
};

// The paper's numbers next to this run's, printed as a table and kept for results.json.
class Report {
 public:
  explicit Report(std::string experiment) { root_["experiment"] = cae::json::Value(std::move(experiment)); }

  // A row: what is measured, the paper's value (nullopt if the paper gives none), ours.
  void compare(const std::string& what, std::optional<double> paper, double ours,
               const std::string& unit = "") {
    rows_.push_back({what, paper, ours, unit});
  }
  // Any extra value for results.json (curves, settings, timings).
  cae::json::Value& operator[](const std::string& key) { return root_[key]; }

  std::string table() const {
    std::ostringstream os;
    std::size_t w = 20;
    for (auto& r : rows_) w = std::max(w, r.what.size() + 2);
    os << std::left << std::setw(static_cast<int>(w)) << "quantity" << std::right << std::setw(14)
       << "paper" << std::setw(14) << "this run" << "\n"
       << std::string(w + 28, '-') << "\n";
    for (auto& r : rows_) {
      os << std::left << std::setw(static_cast<int>(w)) << r.what << std::right << std::setw(14)
         << (r.paper ? fmt(*r.paper) : std::string("-")) << std::setw(14) << fmt(r.ours) << " "
         << r.unit << "\n";
    }
    return os.str();
  }

  void save(const std::string& path) {
    cae::json::Array rows;
    for (auto& r : rows_) {
      cae::json::Object o{{"quantity", cae::json::Value(r.what)},
                          {"this_run", cae::json::Value(r.ours)},
                          {"unit", cae::json::Value(r.unit)}};
      o["paper"] = r.paper ? cae::json::Value(*r.paper) : cae::json::Value(nullptr);
      rows.push_back(cae::json::Value(std::move(o)));
    }
    root_["comparison"] = cae::json::Value(std::move(rows));
    cae::io::write_file_atomic(path, root_.dump(2) + "\n");
  }

 private:
  static std::string fmt(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, std::abs(v) >= 1000 || v == std::floor(v) ? "%.0f" : "%.4g", v);
    return buf;
  }
  struct Row {
    std::string what;
    std::optional<double> paper;
    double ours;
    std::string unit;
  };
  std::vector<Row> rows_;
  cae::json::Value root_;
};

// One line saying how a run differs from the protocol it reproduces, e.g.
// "reduced against the paper: 4000 training images (paper: 60000), 1 epochs
// (paper: 20)", or that it does not differ; each item is {what, the paper's
// value (or the full mode's where the paper gives none, said in `what`), this run's}.
struct Setting {
  std::string what;
  double paper, ours;
};

inline std::string reduced_against_paper(const std::vector<Setting>& settings) {
  std::string changed;
  for (const Setting& s : settings)
    if (s.paper != s.ours) {
      char buf[200];
      std::snprintf(buf, sizeof buf, "%s%.0f %s (paper: %.0f)", changed.empty() ? "" : ", ", s.ours, s.what.c_str(),
                    s.paper);
      changed += buf;
    }
  return changed.empty() ? "the paper's protocol: nothing reduced" : "reduced against the paper: " + changed;
}

// A --quick sanity assertion: prints and exits non-zero when it fails, so CI notices.
inline void sanity(bool ok, const std::string& what) {
  std::printf("sanity check: %-60s %s\n", what.c_str(), ok ? "ok" : "FAILED");
  if (!ok) {
    std::fflush(stdout);
    std::exit(3);
  }
}

// Runs an example's body and turns exceptions into a one-line error and exit
// status 2, instead of an abort.
template <typename Body>
int run_main(Body body) {
  try {
    return body();
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
}

}  // namespace repro
