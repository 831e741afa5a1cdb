// libFuzzer target: image-folder listing and loading (data::list_image_folder,
// data::load_image_folder) on a folder tree built from the input: folders,
// image and non-image files, FIFOs, and symlinks to anything in the tree
// (".", "..", other folders, files, missing targets, so loops and dangling
// links), under odd names. Each input must list and load, or throw cae::Error;
// a hang, a crash, or more samples than files x classes (a loop followed) is
// a failure. Symlink targets stay inside the tree, so nothing outside the
// temporary folder is ever listed.
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#define CAE_MAX_IMAGE_PIXELS (1LL << 22)
#include "cae/data/image_folder.hpp"

namespace fs = std::filesystem;

namespace {

struct Input {
  const std::uint8_t* p;
  std::size_t n;
  std::uint8_t byte() {
    if (!n) return 0;
    --n;
    return *p++;
  }
  bool done() const { return n == 0; }
};

// A name of 1 to 12 bytes without '/' or NUL; "." and ".." become "d".
std::string name_from(Input& in) {
  static const char* const exts[] = {".png", ".jpg", ".JPEG", ".bmp", ".txt", ""};
  const int len = 1 + in.byte() % 8;
  std::string s;
  for (int i = 0; i < len; ++i) {
    char c = static_cast<char>(in.byte());
    if (c == '/' || c == '\0') c = '_';
    s += c;
  }
  if (s == "." || s == "..") s = "d";
  return s + exts[in.byte() % 6];
}

// A tiny valid image of each format, so loading goes past the decoders' first checks.
std::string tiny_image(int kind) {
  static const unsigned char png[] = {0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49,
                                      0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00,
                                      0x00, 0x00, 0x00, 0x3a, 0x7e, 0x9b, 0x55, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44,
                                      0x41, 0x54, 0x08, 0xd7, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0xe2,
                                      0x21, 0xbc, 0x33, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42,
                                      0x60, 0x82};
  static const unsigned char bmp[] = {'B', 'M', 58, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0, 40, 0, 0, 0, 1, 0,
                                      0, 0, 1, 0, 0, 0, 1, 0, 24, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0,
                                      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 20, 30, 0};
  if (kind == 0) return std::string(reinterpret_cast<const char*>(png), sizeof png);
  return std::string(reinterpret_cast<const char*>(bmp), sizeof bmp);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 512) return 0;  // a tree of at most a few dozen entries
  char tmpl[] = "/tmp/cae_fuzz_folder_XXXXXX";
  if (!::mkdtemp(tmpl)) return 0;
  const fs::path base = tmpl, root = base / "root";
  fs::create_directory(root);
  std::vector<fs::path> dirs{root};   // folders made so far, relative parents for new entries
  std::vector<fs::path> nodes{root};  // everything made, as symlink targets
  int file_like = 0;
  Input in{data, size};
  const int channels = in.byte() % 5;
  while (!in.done() && nodes.size() < 48) {
    const int op = in.byte() % 6;
    const fs::path parent = dirs[in.byte() % dirs.size()];
    const fs::path path = parent / name_from(in);
    std::error_code ec;
    if (fs::symlink_status(path, ec).type() != fs::file_type::not_found) continue;
    switch (op) {
      case 0:
      case 1:
        if (fs::create_directory(path, ec)) dirs.push_back(path);
        break;
      case 2: {  // file: a tiny image, or raw input bytes
        std::ofstream out(path, std::ios::binary);
        const int kind = in.byte() % 3;
        if (kind < 2) {
          out << tiny_image(kind);
        } else {
          const std::size_t len = in.byte() % 64;
          for (std::size_t i = 0; i < len; ++i) out.put(static_cast<char>(in.byte()));
        }
        ++file_like;
        break;
      }
      case 3:
        ::mkfifo(path.c_str(), 0600);
        ++file_like;
        break;
      default: {  // symlink, relative, to a node of the tree, ".", "..", or nothing
        const int pick = in.byte();
        std::string target;
        if (pick % 8 == 0) {
          target = ".";
        } else if (pick % 8 == 1) {
          target = "..";
        } else if (pick % 8 == 2) {
          target = "missing";
        } else {
          const fs::path to = nodes[static_cast<std::size_t>(pick) % nodes.size()];
          target = fs::relative(to, parent, ec).string();
          if (ec || target.empty()) target = ".";
        }
        fs::create_symlink(target, path, ec);
        ++file_like;
        break;
      }
    }
    if (fs::symlink_status(path, ec).type() != fs::file_type::not_found) nodes.push_back(path);
  }
  try {
    std::vector<std::string> classes;
    const auto files = cae::data::list_image_folder(root.string(), classes);
    for (const auto& f : files)
      if (f.label < 0 || static_cast<std::size_t>(f.label) >= classes.size()) __builtin_trap();
    // Each file-like entry sits in one real folder, and a class lists each
    // real folder at most once, however many links lead to it.
    if (files.size() > static_cast<std::size_t>(file_like) * classes.size()) __builtin_trap();
    const cae::data::Dataset d =
        cae::data::load_image_folder(root.string(), cae::data::ImageFolderOptions().channels(channels == 2 ? 0 : channels));
    if (d.size() != static_cast<cae::index_t>(files.size())) __builtin_trap();
  } catch (const cae::Error&) {
  }
  std::error_code ec;
  fs::remove_all(base, ec);
  return 0;
}
