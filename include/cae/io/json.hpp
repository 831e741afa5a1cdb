// A small JSON value with a strict parser and a writer: enough for safetensors
// headers, fixture metadata, results.json and training histories.
#pragma once

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "cae/error.hpp"

namespace cae::json {

class Value;
namespace detail {
class Parser;
}
using Array = std::vector<Value>;
using Object = std::map<std::string, Value>;

class Value {
 public:
  Value() : v_(nullptr) {}
  Value(std::nullptr_t) : v_(nullptr) {}
  Value(bool b) : v_(b) {}
  Value(double d) : v_(d) {}
  Value(int i) : v_(static_cast<double>(i)), integer_(true) {}
  Value(long i) : v_(static_cast<double>(i)), integer_(true) {}
  Value(long long i) : v_(static_cast<double>(i)), integer_(true) {}
  Value(unsigned long i) : v_(static_cast<double>(i)), integer_(true) {}
  Value(unsigned long long i) : v_(static_cast<double>(i)), integer_(true) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(Array a) : v_(std::make_shared<Array>(std::move(a))) {}
  Value(Object o) : v_(std::make_shared<Object>(std::move(o))) {}

  bool is_null() const { return std::holds_alternative<std::nullptr_t>(v_); }
  bool is_bool() const { return std::holds_alternative<bool>(v_); }
  bool is_number() const { return std::holds_alternative<double>(v_); }
  bool is_string() const { return std::holds_alternative<std::string>(v_); }
  bool is_array() const { return std::holds_alternative<std::shared_ptr<Array>>(v_); }
  bool is_object() const { return std::holds_alternative<std::shared_ptr<Object>>(v_); }
  // A number written without fraction or exponent ("42", not "42.0" or "4.2e1"),
  // or made from an integer type; file formats that need exact integers ask this.
  bool is_integer() const { return is_number() && integer_; }

  bool as_bool() const { return get<bool>("a boolean"); }
  double as_number() const { return get<double>("a number"); }
  const std::string& as_string() const { return get<std::string>("a string"); }
  const Array& as_array() const { return *get<std::shared_ptr<Array>>("an array"); }
  const Object& as_object() const { return *get<std::shared_ptr<Object>>("an object"); }
  Array& as_array() { return *get<std::shared_ptr<Array>>("an array"); }
  Object& as_object() { return *get<std::shared_ptr<Object>>("an object"); }

  bool contains(const std::string& key) const {
    return is_object() && as_object().count(key) > 0;
  }
  const Value& operator[](const std::string& key) const {
    const Object& o = as_object();
    auto it = o.find(key);
    CAE_CHECK(it != o.end(), Error, "json: missing key \"", key, "\"");
    return it->second;
  }
  Value& operator[](const std::string& key) {
    if (is_null()) v_ = std::make_shared<Object>();
    return as_object()[key];
  }

  std::string dump(int indent = -1) const {
    std::string out;
    write(out, indent, 0);
    return out;
  }

 private:
  template <typename U>
  const U& get(const char* what) const {
    CAE_CHECK(std::holds_alternative<U>(v_), Error, "json: value is not ", what);
    return std::get<U>(v_);
  }
  template <typename U>
  U& get(const char* what) {
    CAE_CHECK(std::holds_alternative<U>(v_), Error, "json: value is not ", what);
    return std::get<U>(v_);
  }

  static void write_string(std::string& out, const std::string& s) {
    out += '"';
    for (unsigned char c : s) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
          } else {
            out += static_cast<char>(c);
          }
      }
    }
    out += '"';
  }

  void write(std::string& out, int indent, int depth) const {
    auto newline = [&](int d) {
      if (indent >= 0) out += "\n" + std::string(static_cast<std::size_t>(indent * d), ' ');
    };
    if (is_null()) {
      out += "null";
    } else if (is_bool()) {
      out += as_bool() ? "true" : "false";
    } else if (is_number()) {
      const double d = as_number();
      if (!std::isfinite(d)) {
        out += "null";  // JSON has no NaN or infinity
      } else if (d == std::floor(d) && std::abs(d) < 1e15) {
        out += std::to_string(static_cast<long long>(d));
      } else {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.9g", d);
        out += buf;
      }
    } else if (is_string()) {
      write_string(out, as_string());
    } else if (is_array()) {
      const Array& a = as_array();
      out += '[';
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (i) out += ',';
        newline(depth + 1);
        a[i].write(out, indent, depth + 1);
      }
      if (!a.empty()) newline(depth);
      out += ']';
    } else {
      const Object& o = as_object();
      out += '{';
      bool first = true;
      for (auto& [k, v] : o) {
        if (!first) out += ',';
        first = false;
        newline(depth + 1);
        write_string(out, k);
        out += indent >= 0 ? ": " : ":";
        v.write(out, indent, depth + 1);
      }
      if (!o.empty()) newline(depth);
      out += '}';
    }
  }

  std::variant<std::nullptr_t, bool, double, std::string, std::shared_ptr<Array>,
               std::shared_ptr<Object>>
      v_;
  bool integer_ = false;

  friend class detail::Parser;
};

namespace detail {
class Parser {
 public:
  Parser(const std::string& text, const std::string& source) : s_(text), source_(source) {}

  Value parse_document() {
    Value v = parse_value(0);
    skip_ws();
    if (pos_ != s_.size()) fail("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw IoError(str(source_, ": invalid JSON at byte ", pos_, ": ", what));
  }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' ||
                                s_[pos_] == '\t'))
      ++pos_;
  }
  char peek() {
    skip_ws();
    if (pos_ >= s_.size()) fail("unexpected end");
    return s_[pos_];
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }
  bool consume_literal(const char* lit) {
    std::size_t n = std::char_traits<char>::length(lit);
    if (s_.compare(pos_, n, lit) == 0) {
      pos_ += n;
      return true;
    }
    return false;
  }

  Value parse_value(int depth) {
    if (depth > 64) fail("nesting deeper than 64");
    const char c = peek();
    if (c == '{') return parse_object(depth);
    if (c == '[') return parse_array(depth);
    if (c == '"') return Value(parse_string());
    if (consume_literal("true")) return Value(true);
    if (consume_literal("false")) return Value(false);
    if (consume_literal("null")) return Value(nullptr);
    return parse_number();
  }

  Value parse_object(int depth) {
    expect('{');
    Object o;
    if (peek() == '}') {
      ++pos_;
      return Value(std::move(o));
    }
    for (;;) {
      if (peek() != '"') fail("expected a string key");
      const std::size_t key_at = pos_;
      std::string key = parse_string();
      expect(':');
      // RFC 8259 leaves duplicate keys to the reader; silently keeping one of
      // them lets two readers of one file see different data, so cae refuses.
      if (o.count(key)) {
        pos_ = key_at;
        fail("duplicate key \"" + key + "\"");
      }
      o[key] = parse_value(depth + 1);
      const char c = peek();
      ++pos_;
      if (c == '}') break;
      if (c != ',') fail("expected ',' or '}'");
    }
    return Value(std::move(o));
  }

  Value parse_array(int depth) {
    expect('[');
    Array a;
    if (peek() == ']') {
      ++pos_;
      return Value(std::move(a));
    }
    for (;;) {
      a.push_back(parse_value(depth + 1));
      const char c = peek();
      ++pos_;
      if (c == ']') break;
      if (c != ',') fail("expected ',' or ']'");
    }
    return Value(std::move(a));
  }

  std::string parse_string() {
    expect('"');
    std::string out;
    for (;;) {
      if (pos_ >= s_.size()) fail("unterminated string");
      const char c = s_[pos_++];
      if (c == '"') break;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size()) fail("unterminated escape");
      const char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          if (pos_ + 4 > s_.size()) fail("short \\u escape");
          unsigned code = 0;
          for (int i = 0; i < 4; ++i) {
            const char h = s_[pos_++];
            code <<= 4;
            if (h >= '0' && h <= '9') code |= static_cast<unsigned>(h - '0');
            else if (h >= 'a' && h <= 'f') code |= static_cast<unsigned>(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F') code |= static_cast<unsigned>(h - 'A' + 10);
            else fail("bad hex digit in \\u escape");
          }
          // Encode as UTF-8 (surrogate pairs are kept as two code points).
          if (code < 0x80) {
            out += static_cast<char>(code);
          } else if (code < 0x800) {
            out += static_cast<char>(0xC0 | (code >> 6));
            out += static_cast<char>(0x80 | (code & 0x3F));
          } else {
            out += static_cast<char>(0xE0 | (code >> 12));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (code & 0x3F));
          }
          break;
        }
        default: fail("bad escape");
      }
    }
    return out;
  }

  Value parse_number() {
    skip_ws();
    const std::size_t start = pos_;
    if (pos_ < s_.size() && (s_[pos_] == '-' || s_[pos_] == '+')) ++pos_;
    bool digits = false;
    while (pos_ < s_.size() &&
           (std::isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '.' ||
            s_[pos_] == 'e' || s_[pos_] == 'E' || s_[pos_] == '-' || s_[pos_] == '+')) {
      digits = digits || std::isdigit(static_cast<unsigned char>(s_[pos_]));
      ++pos_;
    }
    if (!digits) fail("expected a value");
    const std::string tok = s_.substr(start, pos_ - start);
    char* end = nullptr;
    const double d = std::strtod(tok.c_str(), &end);
    if (end != tok.c_str() + tok.size()) fail("malformed number '" + tok + "'");
    Value v(d);
    v.integer_ = tok.find_first_of(".eE+") == std::string::npos;
    return v;
  }

  const std::string& s_;
  std::string source_;
  std::size_t pos_ = 0;
};
}  // namespace detail

// Parses text; `source` names the file in error messages.
inline Value parse(const std::string& text, const std::string& source = "json") {
  return detail::Parser(text, source).parse_document();
}

}  // namespace cae::json
