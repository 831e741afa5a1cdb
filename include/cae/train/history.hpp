// History: per-epoch training statistics, saved as CSV and JSON.
#pragma once

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "cae/io/file.hpp"
#include "cae/io/json.hpp"

namespace cae::train {

constexpr double kNotMeasured = std::numeric_limits<double>::quiet_NaN();

struct EpochStats {
  int epoch = 0;                        // 1-based
  double train_loss = kNotMeasured;
  double test_loss = kNotMeasured;
  double train_accuracy = kNotMeasured;  // fraction in [0, 1], classification only
  double test_accuracy = kNotMeasured;
  double lr = kNotMeasured;
  double seconds = 0;                   // wall time of the training pass
  double images_per_second = 0;
};

class History {
 public:
  std::vector<EpochStats> epochs;

  void add(const EpochStats& e) { epochs.push_back(e); }
  bool empty() const { return epochs.empty(); }
  const EpochStats& last() const { return epochs.back(); }
  // Mean training-pass wall time per epoch (0 before the first epoch).
  double mean_epoch_seconds() const {
    double total = 0;
    for (const auto& e : epochs) total += e.seconds;
    return epochs.empty() ? 0 : total / static_cast<double>(epochs.size());
  }

  // Columns: epoch,train_loss,test_loss,train_acc,test_acc,lr,seconds,images_per_s.
  // Values not measured are left empty, which spreadsheets and pandas read as missing.
  std::string csv() const {
    std::string out = "epoch,train_loss,test_loss,train_acc,test_acc,lr,seconds,images_per_s\n";
    for (const auto& e : epochs) {
      out += std::to_string(e.epoch);
      for (double v : {e.train_loss, e.test_loss, e.train_accuracy, e.test_accuracy, e.lr,
                       e.seconds, e.images_per_second})
        out += "," + number(v);
      out += "\n";
    }
    return out;
  }
  json::Value to_json() const {
    json::Array arr;
    for (const auto& e : epochs) {
      arr.push_back(json::Value(json::Object{
          {"epoch", json::Value(e.epoch)},
          {"train_loss", json::Value(e.train_loss)},
          {"test_loss", json::Value(e.test_loss)},
          {"train_acc", json::Value(e.train_accuracy)},
          {"test_acc", json::Value(e.test_accuracy)},
          {"lr", json::Value(e.lr)},
          {"seconds", json::Value(e.seconds)},
          {"images_per_s", json::Value(e.images_per_second)}}));
    }
    return json::Value(std::move(arr));
  }
  static History from_json(const json::Value& v) {
    History h;
    auto num = [](const json::Value& o, const char* k) {
      return o.contains(k) && o[k].is_number() ? o[k].as_number() : kNotMeasured;
    };
    for (const auto& o : v.as_array()) {
      EpochStats e;
      // Casting a missing (NaN) or out-of-range epoch to int is undefined behaviour.
      const double epoch = num(o, "epoch");
      CAE_CHECK(epoch >= 0 && epoch <= 1e9 && epoch == std::floor(epoch), Error, "history entry ",
                h.epochs.size(), ": \"epoch\" is missing or not a whole number in [0, 1e9]");
      e.epoch = static_cast<int>(epoch);
      e.train_loss = num(o, "train_loss");
      e.test_loss = num(o, "test_loss");
      e.train_accuracy = num(o, "train_acc");
      e.test_accuracy = num(o, "test_acc");
      e.lr = num(o, "lr");
      e.seconds = num(o, "seconds");
      e.images_per_second = num(o, "images_per_s");
      h.add(e);
    }
    return h;
  }

  void save_csv(const std::string& path) const { io::write_file_atomic(path, csv()); }
  void save_json(const std::string& path) const {
    io::write_file_atomic(path, to_json().dump(2) + "\n");
  }

 private:
  static std::string number(double v) {
    if (!std::isfinite(v)) return "";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.8g", v);
    return buf;
  }
};

}  // namespace cae::train
