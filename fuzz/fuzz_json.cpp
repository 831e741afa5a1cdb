// libFuzzer target: cae's JSON reader (safetensors headers, checkpoint
// metadata) and History::from_json, which reads the history stored in a
// checkpoint when a run resumes. Every input must parse or throw cae::Error,
// and what cae writes it must read back: a parsed document dumped (compact and
// indented) parses again to the same dump, and a history that loads writes
// JSON that loads to the same history.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cae/io/json.hpp"
#include "cae/train/history.hpp"

namespace {

// dump(parse(text)) must be a fixed point: the first dump may normalise
// (numbers to 9 significant digits, non-finite to null), the second may not.
void check_round_trip(const cae::json::Value& v) {
  const std::string compact = v.dump();
  const std::string again = cae::json::parse(compact, "fuzz round trip").dump();
  if (again != compact) __builtin_trap();
  if (cae::json::parse(v.dump(2), "fuzz indented round trip").dump() != compact) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  cae::json::Value v;
  try {
    v = cae::json::parse(text, "fuzz.json");
  } catch (const cae::Error&) {
    return 0;
  }
  check_round_trip(v);
  try {
    const cae::train::History h = cae::train::History::from_json(v);
    const std::string written = h.to_json().dump();
    const cae::train::History back = cae::train::History::from_json(cae::json::parse(written, "fuzz history"));
    if (back.epochs.size() != h.epochs.size() || back.to_json().dump() != written) __builtin_trap();
    (void)h.csv();
  } catch (const cae::Error&) {
  }
  return 0;
}
