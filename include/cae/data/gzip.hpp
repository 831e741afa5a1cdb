// ByteReader: reads an in-memory file front to back, inflating it on the fly
// when it is gzip-compressed (recognized by its content, not its name: a
// browser may have already unpacked a file that is still called .gz).
//
// Decompressing on demand lets a parser read and check a header before it
// decides how much to inflate, so a corrupt header cannot make it allocate
// gigabytes, and a gzip bomb stops as soon as it exceeds what the header
// announced.
#pragma once

#include <algorithm>
#include <climits>
#include <cstring>
#include <string>
#include <utility>

#include <zlib.h>

#include "cae/error.hpp"

namespace cae::data {

class ByteReader {
 public:
  ByteReader(const unsigned char* data, std::size_t size, std::string name)
      : data_(data), size_(size), name_(std::move(name)) {
    gzip_ = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    if (gzip_) {
      // 16 + MAX_WBITS: gzip framing only, with its CRC-32 and length checked.
      CAE_CHECK(inflateInit2(&zs_, 16 + MAX_WBITS) == Z_OK, IoError, name_,
                ": cannot initialize zlib");
    }
  }
  ~ByteReader() {
    if (gzip_) inflateEnd(&zs_);
  }
  ByteReader(const ByteReader&) = delete;
  ByteReader& operator=(const ByteReader&) = delete;

  bool compressed() const { return gzip_; }
  const std::string& name() const { return name_; }
  // Bytes of the (decompressed) content handed out so far.
  std::size_t position() const { return position_; }
  // Bytes left, when that is known without decompressing (raw files only).
  std::size_t raw_remaining() const { return size_ - consumed_; }

  // Copies up to n bytes of content into dst; fewer only at the end of the data.
  std::size_t read(unsigned char* dst, std::size_t n) {
    const std::size_t got = gzip_ ? inflate_into(dst, n) : copy_into(dst, n);
    position_ += got;
    return got;
  }

  // Throws unless the content ends here; `expected` describes what the header
  // promised, for the message.
  void expect_end(const std::string& expected) {
    unsigned char extra[256];
    const std::size_t got = read(extra, sizeof(extra));
    if (got == 0) return;
    if (!gzip_)
      throw IoError(str(name_, ": ", raw_remaining() + got, " unexpected bytes after the ",
                        expected, " (file has ", size_, " bytes)"));
    throw IoError(str(name_, ": the decompressed data is longer than the ", expected));
  }

 private:
  std::size_t copy_into(unsigned char* dst, std::size_t n) {
    const std::size_t k = std::min(n, size_ - consumed_);
    if (k) std::memcpy(dst, data_ + consumed_, k);
    consumed_ += k;
    return k;
  }

  std::size_t inflate_into(unsigned char* dst, std::size_t n) {
    std::size_t produced = 0;
    while (produced < n && !finished_) {
      const std::size_t in_left = size_ - consumed_;
      zs_.next_in = const_cast<unsigned char*>(data_ + consumed_);
      zs_.avail_in = static_cast<uInt>(std::min<std::size_t>(in_left, UINT_MAX));
      zs_.next_out = dst + produced;
      zs_.avail_out = static_cast<uInt>(std::min<std::size_t>(n - produced, UINT_MAX));
      const uInt in_before = zs_.avail_in, out_before = zs_.avail_out;
      const int ret = inflate(&zs_, Z_NO_FLUSH);
      consumed_ += in_before - zs_.avail_in;
      produced += out_before - zs_.avail_out;
      if (ret == Z_STREAM_END) {
        next_member();
      } else if (ret == Z_BUF_ERROR) {
        // No progress possible; with all input used, the stream was cut short.
        CAE_CHECK(consumed_ < size_, IoError, name_,
                  ": truncated gzip data (the compressed stream ends early)");
        throw IoError(str(name_, ": corrupt gzip data (zlib cannot make progress)"));
      } else if (ret != Z_OK) {
        throw IoError(str(name_, ": corrupt gzip data (",
                          zs_.msg ? zs_.msg : zError(ret), ")"));
      }
    }
    return produced;
  }

  // After a gzip member: zero padding ends the file (as gzip(1) and Python
  // accept); anything else must be another member, as `cat a.gz b.gz` makes.
  void next_member() {
    while (consumed_ < size_ && data_[consumed_] == 0) ++consumed_;
    if (consumed_ == size_) {
      finished_ = true;
      return;
    }
    CAE_CHECK(inflateReset(&zs_) == Z_OK, IoError, name_, ": cannot reset zlib");
  }

  const unsigned char* data_;
  std::size_t size_;
  std::string name_;
  bool gzip_ = false;
  bool finished_ = false;
  std::size_t consumed_ = 0;  // input bytes used
  std::size_t position_ = 0;  // output bytes handed out
  z_stream zs_{};
};

}  // namespace cae::data
