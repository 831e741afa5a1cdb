// History: per-epoch training statistics, saved as CSV and JSON.
//
// A statistic is either measured (any double, NaN and infinities included:
// a diverged loss is recorded as what it was) or not measured (no test set,
// no accuracy asked for), which is kNotMeasured. In JSON, not measured is
// null and a non-finite measurement is the string "nan", "inf" or "-inf"; in
// CSV, not measured is an empty cell and the others are written as nan, inf,
// -inf (which pandas and strtod read back).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "cae/error.hpp"
#include "cae/io/file.hpp"
#include "cae/io/json.hpp"

namespace cae::train {

// The value of a statistic that was not measured: a quiet NaN with a payload
// that arithmetic does not produce (NaNs computed by the hardware carry payload
// 0, as do std::nan("") and the NaNs of usual data files), so measured() tells
// it apart from a NaN that training produced, while code that tests
// std::isfinite() before printing keeps working. Arithmetic on it keeps the
// payload, so a quantity derived from an unmeasured one stays unmeasured.
constexpr double kNotMeasured = __builtin_nan("0xca3e0001");

// Whether v holds a measurement (possibly NaN or infinite) rather than kNotMeasured.
inline bool measured(double v) {
  std::uint64_t bits, sentinel;
  std::memcpy(&bits, &v, sizeof bits);
  std::memcpy(&sentinel, &kNotMeasured, sizeof sentinel);
  return bits != sentinel;
}

struct EpochStats {
  int epoch = 0;                        // 1-based
  double train_loss = kNotMeasured;
  double test_loss = kNotMeasured;
  double train_accuracy = kNotMeasured;  // fraction in [0, 1], classification only
  double test_accuracy = kNotMeasured;
  double lr = kNotMeasured;             // at the start of the epoch
  double seconds = 0;                   // wall time of the training pass ("train_seconds" in files)
  double test_seconds = kNotMeasured;   // wall time of the test pass and validate_with
  double images_per_second = 0;         // of the training pass
};

class History {
 public:
  std::vector<EpochStats> epochs;
  // Why fit() ended before its last epoch (an early stop, a callback's
  // request); empty when it ran every epoch. Not saved in the files.
  std::string stop_reason;

  void add(const EpochStats& e) { epochs.push_back(e); }
  bool empty() const { return epochs.empty(); }
  const EpochStats& last() const { return epochs.back(); }
  // The statistics of epoch `epoch` (1-based, as EpochStats::epoch), or nullptr.
  const EpochStats* find(int epoch) const {
    for (const auto& e : epochs)
      if (e.epoch == epoch) return &e;
    return nullptr;
  }
  // Mean training-pass wall time per epoch (0 before the first epoch).
  double mean_epoch_seconds() const {
    double total = 0;
    for (const auto& e : epochs) total += e.seconds;
    return epochs.empty() ? 0 : total / static_cast<double>(epochs.size());
  }

  // Columns: epoch,train_loss,test_loss,train_acc,test_acc,lr,train_seconds,
  // test_seconds,images_per_s. Values not measured are left empty, which
  // spreadsheets and pandas read as missing.
  std::string csv() const {
    std::string out =
        "epoch,train_loss,test_loss,train_acc,test_acc,lr,train_seconds,test_seconds,images_per_s\n";
    for (const auto& e : epochs) {
      out += std::to_string(e.epoch);
      for (double v : {e.train_loss, e.test_loss, e.train_accuracy, e.test_accuracy, e.lr,
                       e.seconds, e.test_seconds, e.images_per_second})
        out += "," + csv_number(v);
      out += "\n";
    }
    return out;
  }
  json::Value to_json() const {
    json::Array arr;
    for (const auto& e : epochs) {
      arr.push_back(json::Value(json::Object{
          {"epoch", json::Value(e.epoch)},
          {"train_loss", json_number(e.train_loss)},
          {"test_loss", json_number(e.test_loss)},
          {"train_acc", json_number(e.train_accuracy)},
          {"test_acc", json_number(e.test_accuracy)},
          {"lr", json_number(e.lr)},
          {"train_seconds", json_number(e.seconds)},
          {"test_seconds", json_number(e.test_seconds)},
          {"images_per_s", json_number(e.images_per_second)}}));
    }
    return json::Value(std::move(arr));
  }
  // Reads to_json()'s output, and that of older versions ("seconds" for
  // "train_seconds", no "test_seconds"). Throws Error naming the entry for an
  // epoch that is missing, not an integer, or out of range, and for a value
  // that is neither a number, null nor one of "nan", "inf", "-inf".
  static History from_json(const json::Value& v) {
    History h;
    CAE_CHECK(v.is_array(), Error, "history: expected a JSON array of epochs");
    std::size_t index = 0;
    for (const auto& o : v.as_array()) {
      ++index;
      CAE_CHECK(o.is_object(), Error, "history entry ", index, ": expected a JSON object");
      auto num = [&](const char* k) {
        if (!o.contains(k) || o[k].is_null()) return kNotMeasured;
        const json::Value& x = o[k];
        if (x.is_number()) return x.as_number();
        if (x.is_string()) {
          const std::string& s = x.as_string();
          if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
          if (s == "inf") return std::numeric_limits<double>::infinity();
          if (s == "-inf") return -std::numeric_limits<double>::infinity();
        }
        throw Error(str("history entry ", index, ": \"", k, "\" is ", x.dump(),
                        ", expected a number, null, \"nan\", \"inf\" or \"-inf\""));
      };
      EpochStats e;
      // Checked before the cast: a NaN or out-of-range double cast to int is undefined.
      const double epoch = o.contains("epoch") && o["epoch"].is_number() ? o["epoch"].as_number()
                                                                        : kNotMeasured;
      CAE_CHECK(epoch >= 1 && epoch <= std::numeric_limits<int>::max() && epoch == std::floor(epoch),
                Error, "history entry ", index, ": \"epoch\" must be an integer >= 1, got ",
                o.contains("epoch") ? o["epoch"].dump() : std::string("nothing"));
      e.epoch = static_cast<int>(epoch);
      e.train_loss = num("train_loss");
      e.test_loss = num("test_loss");
      e.train_accuracy = num("train_acc");
      e.test_accuracy = num("test_acc");
      e.lr = num("lr");
      e.seconds = num(o.contains("train_seconds") ? "train_seconds" : "seconds");
      if (!measured(e.seconds)) e.seconds = 0;
      e.test_seconds = num("test_seconds");
      e.images_per_second = num("images_per_s");
      if (!measured(e.images_per_second)) e.images_per_second = 0;
      h.add(e);
    }
    return h;
  }

  void save_csv(const std::string& path) const { io::write_file_atomic(path, csv()); }
  void save_json(const std::string& path) const {
    io::write_file_atomic(path, to_json().dump(2) + "\n");
  }

 private:
  static const char* non_finite_name(double v) {
    return std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf";
  }
  static std::string csv_number(double v) {
    if (!measured(v)) return "";
    if (!std::isfinite(v)) return non_finite_name(v);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.8g", v);
    return buf;
  }
  static json::Value json_number(double v) {
    if (!measured(v)) return json::Value(nullptr);
    if (!std::isfinite(v)) return json::Value(non_finite_name(v));
    return json::Value(v);
  }
};

}  // namespace cae::train
