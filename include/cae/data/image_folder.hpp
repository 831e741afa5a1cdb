// An image folder as torchvision's ImageFolder reads it: root/<class>/<...>/<file>
// with one sub-folder per class. Classes are the sub-folder names sorted (so
// class indices match torchvision's), files are taken recursively in
// torchvision's order (folders by path, then file names, both sorted), and
// .png, .jpg, .jpeg and .bmp files are decoded (io/image_decode.hpp: the
// content must match the extension), in parallel. A folder reached twice
// through symlinks (a loop) is listed once.
#pragma once

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <sys/stat.h>

#include "cae/data/dataset.hpp"
#include "cae/error.hpp"
#include "cae/io/image.hpp"
#include "cae/tensor.hpp"

namespace cae::data {

struct ImageFolderOptions {
  // 1 (grey) or 3 (RGB) converts every image; 0 keeps the first image's
  // channel count and converts the others to it.
  ImageFolderOptions& channels(int c) {
    channels_ = c;
    return *this;
  }
  int channels() const { return channels_; }

 private:
  int channels_ = 0;
};

// One image file and its class.
struct ImageFile {
  std::string path;
  int label;
};

// Lowercase-extension test, as torchvision's has_file_allowed_extension.
inline bool is_image_file(const std::string& name) {
  std::string lower = name;
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (const char* ext : {".png", ".jpg", ".jpeg", ".bmp"}) {
    const std::string e = ext;
    if (lower.size() >= e.size() && lower.compare(lower.size() - e.size(), e.size(), e) == 0)
      return true;
  }
  return false;
}

// The classes (sorted sub-folder names) and image files of an image folder,
// without decoding anything.
inline std::vector<ImageFile> list_image_folder(const std::string& root,
                                                std::vector<std::string>& class_names) {
  namespace fs = std::filesystem;
  std::error_code ec;
  CAE_CHECK(fs::is_directory(root, ec), IoError, root, ": not a directory (image folder root)");
  class_names.clear();
  for (const fs::directory_entry& e : fs::directory_iterator(root, ec))
    if (e.is_directory(ec)) class_names.push_back(e.path().filename().string());
  CAE_CHECK(!ec, IoError, root, ": cannot list (", ec.message(), ")");
  CAE_CHECK(!class_names.empty(), IoError, root,
            ": no class folders (expected root/<class>/<image files>)");
  std::sort(class_names.begin(), class_names.end());

  std::vector<ImageFile> files;
  std::vector<std::string> empty;
  for (std::size_t c = 0; c < class_names.size(); ++c) {
    const fs::path dir = fs::path(root) / class_names[c];
    std::vector<std::pair<std::string, std::string>> found;  // (folder, file name)
    // Symlinked folders are followed, as torchvision does, but each real
    // folder (device and inode) is listed once: a link back up the tree would
    // otherwise repeat its images until the path grows too long.
    std::set<std::pair<dev_t, ino_t>> visited;
    struct stat st;
    if (::stat(dir.c_str(), &st) == 0) visited.insert({st.st_dev, st.st_ino});
    const auto opts = fs::directory_options::follow_directory_symlink;
    for (fs::recursive_directory_iterator it(dir, opts, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code type_ec;
      if (it->is_directory(type_ec)) {
        if (::stat(it->path().c_str(), &st) != 0 || !visited.insert({st.st_dev, st.st_ino}).second)
          it.disable_recursion_pending();
        continue;
      }
      const std::string name = it->path().filename().string();
      if (is_image_file(name)) found.emplace_back(it->path().parent_path().string(), name);
    }
    CAE_CHECK(!ec, IoError, dir.string(), ": cannot list (", ec.message(), ")");
    std::sort(found.begin(), found.end());
    if (found.empty()) empty.push_back(class_names[c]);
    for (auto& [folder, name] : found)
      files.push_back({(fs::path(folder) / name).string(), static_cast<int>(c)});
  }
  if (!empty.empty()) {
    std::string list;
    for (const std::string& e : empty) list += (list.empty() ? "" : ", ") + e;
    throw IoError(str(root, ": no images (.png, .jpg, .jpeg, .bmp) in the class folder(s) ", list));
  }
  return files;
}

// Decodes every image of an image folder into one Dataset. All images must
// have the same size.
inline Dataset load_image_folder(const std::string& root,
                                 const ImageFolderOptions& options = ImageFolderOptions()) {
  const int channels = options.channels();
  CAE_CHECK(channels == 0 || channels == 1 || channels == 3 || channels == 4, Error, root,
            ": ImageFolderOptions().channels(", channels, ") must be 0, 1, 3 or 4");
  Dataset d;
  const std::vector<ImageFile> files = list_image_folder(root, d.class_names);
  const index_t n = static_cast<index_t>(files.size());

  // The first image fixes the channel count and size every other must match.
  const Tensor<float> first = io::load_image(files[0].path, channels);
  const Shape sample = first.shape();
  d.images.resize(sample.prepend(n));
  const index_t stride = sample.numel();
  d.labels.resize(files.size());

  // Errors inside the parallel loop are kept per file; the first one in file
  // order is thrown, so the message does not depend on thread timing.
  std::vector<std::string> errors(files.size());
#pragma omp parallel for schedule(dynamic, 64)
  for (index_t i = 0; i < n; ++i) {
    const ImageFile& f = files[static_cast<std::size_t>(i)];
    d.labels[static_cast<std::size_t>(i)] = f.label;
    try {
      const Tensor<float> img = i == 0 ? first : io::load_image(f.path, static_cast<int>(sample[0]));
      if (img.shape() != sample) {
        errors[static_cast<std::size_t>(i)] =
            str(f.path, ": image is ", img.dim(2), "x", img.dim(1), " but ", files[0].path, " is ",
                sample[2], "x", sample[1], "; all images of a folder must have the same size");
        continue;
      }
      std::copy(img.begin(), img.end(), d.images.data() + i * stride);
    } catch (const std::exception& e) {
      errors[static_cast<std::size_t>(i)] = e.what();
    }
  }
  for (const std::string& e : errors)
    if (!e.empty()) throw IoError(e);
  return d;
}

}  // namespace cae::data
