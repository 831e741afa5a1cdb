// A module's state_dict (its parameters, then its buffers, under PyTorch's
// state_dict names) and its exchange with PyTorch through safetensors files:
//
//   save_safetensors(model, "model.safetensors");   // torch: load_file + load_state_dict
//   load_safetensors(model, "model.safetensors");   // torch: save_file(model.state_dict())
//
// Loading checks every name and shape before it changes anything, so a file
// for another architecture leaves the model as it was and throws IoError naming
// the file and the first tensor that does not fit.
#pragma once

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cae/error.hpp"
#include "cae/io/safetensors.hpp"
#include "cae/module.hpp"

namespace cae::io {

template <typename T>
struct NamedTensor {
  std::string name;
  Tensor<T>* value;
};

// The module's parameters then its buffers, by state_dict name.
template <typename T>
std::vector<NamedTensor<T>> state_dict(Module<T>& module) {
  std::vector<NamedTensor<T>> out;
  for (auto& p : module.parameters()) out.push_back({p.name, p.value});
  for (auto& b : module.buffers()) out.push_back({b.name, b.value});
  std::set<std::string> seen;
  for (const auto& t : out)
    CAE_CHECK(seen.insert(t.name).second, Error, "state_dict: two tensors are named '", t.name,
              "'");
  return out;
}

namespace detail {

struct TensorInfo {
  std::string name;
  Shape shape;
};

// PyTorch's BatchNorm keeps an integer step counter that only matters for
// momentum=None; a file from PyTorch may carry it when the cae model does not.
inline bool ignorable_extra(const std::string& name) {
  const std::string key = "num_batches_tracked";
  return name == key ||
         (name.size() > key.size() && name.compare(name.size() - key.size() - 1, std::string::npos,
                                                   "." + key) == 0);
}

inline std::string list_names(const std::vector<std::string>& names, std::size_t limit = 6) {
  std::string s;
  for (std::size_t i = 0; i < names.size() && i < limit; ++i) s += (i ? ", '" : "'") + names[i] + "'";
  if (names.size() > limit) s += str(", ... (", names.size() - limit, " more)");
  return s;
}

// Throws IoError naming `path` and the first tensor in `expected` (in its
// order) that `found` lacks or shapes differently, else the first tensor of
// `found` that `expected` lacks. `what` says whose tensors these are ("model").
inline void check_tensors_match(const std::string& path, const std::string& what,
                                const std::vector<TensorInfo>& expected,
                                const std::vector<TensorInfo>& found) {
  std::map<std::string, Shape> in_file;
  for (const auto& t : found) in_file[t.name] = t.shape;
  std::set<std::string> wanted;
  for (const auto& t : expected) wanted.insert(t.name);
  std::vector<std::string> unexpected;
  for (const auto& t : found)
    if (!wanted.count(t.name) && !ignorable_extra(t.name)) unexpected.push_back(t.name);

  for (const auto& t : expected) {
    auto it = in_file.find(t.name);
    if (it == in_file.end()) {
      throw IoError(str(path, ": ", what, " tensor '", t.name, "' (shape ", t.shape,
                        ") is missing from the file",
                        unexpected.empty() ? std::string()
                                           : "; the file has tensors the " + what +
                                                 " lacks: " + list_names(unexpected)));
    }
    CAE_CHECK(it->second == t.shape, IoError, path, ": ", what, " tensor '", t.name,
              "' has shape ", t.shape, " but the file has shape ", it->second);
  }
  if (!unexpected.empty()) {
    const std::string& first = unexpected.front();
    throw IoError(str(path, ": the file has tensor '", first, "' (shape ", in_file[first],
                      ") that the ", what, " does not have (unexpected: ", list_names(unexpected),
                      ")"));
  }
}

template <typename T>
std::vector<TensorInfo> infos(const std::vector<NamedTensor<T>>& tensors) {
  std::vector<TensorInfo> out;
  for (const auto& t : tensors) out.push_back({t.name, t.value->shape()});
  return out;
}

}  // namespace detail

// Writes the module's state_dict as a safetensors file (F32 for float models,
// F64 for double, F16 or BF16 on request; BatchNorm counters as I64, as
// PyTorch does), atomically. torch: model.load_state_dict(load_file(path)).
template <typename T>
void save_safetensors(Module<T>& module, const std::string& path,
                      const std::map<std::string, std::string>& metadata = {},
                      safetensors::StoreAs store = safetensors::StoreAs::Native) {
  std::vector<std::pair<std::string, const Tensor<T>*>> tensors;
  for (const auto& t : state_dict(module)) tensors.push_back({t.name, t.value});
  safetensors::save<T>(path, tensors, metadata, store);
}

// Reads a safetensors state_dict (e.g. torch's save_file(model.state_dict()))
// into the module; any floating (F16 and BF16 too) or integer dtype is converted to T. Nothing
// changes unless every name and shape matches.
template <typename T>
void load_safetensors(Module<T>& module, const std::string& path) {
  const safetensors::File file = safetensors::File::load(path);
  const auto expected = state_dict(module);
  std::vector<detail::TensorInfo> found;
  for (const auto& name : file.names()) found.push_back({name, file.entry(name).shape});
  detail::check_tensors_match(path, "model", detail::infos(expected), found);
  for (const auto& t : expected) *t.value = file.get<T>(t.name);
}

}  // namespace cae::io
