// Internal to //server/convert: parses an untrusted request body into a RapidJSON DOM under the
// rules of DESIGN.md §1.3, so code walking the DOM (the Struct builder, and later the typed
// walker) can trust its shape and only has to check JSON types.
//
// What ParseJson guarantees for a document it accepts:
//   - it is exactly one JSON value (RFC 8259), with nothing but whitespace after it; a UTF-8 byte
//     order mark is not accepted;
//   - every string and key is valid UTF-8 after unescaping (RapidJSON's own validation lets an
//     escaped lone low surrogate such as `\udc00` through; it is rejected here) and may contain
//     NUL bytes (`\u0000`), so always use GetStringLength(), never strlen();
//   - containers nest at most `max_depth` deep, the top-level value counting as depth 1, so a
//     recursive walk is bounded; the parse itself is iterative (no recursion on input depth);
//   - numbers are typed by their text, not by RapidJSON's parser: an integer that fits int64 is
//     Int64, a larger one that fits uint64 is Uint64, anything else (fractions, exponents,
//     integers beyond uint64) is a correctly rounded double, ±infinity when outside the double
//     range (`1e400`). So IsInt64() is true exactly for the integers an int64 can hold, and no
//     number makes the parse fail.
//
// Example:
//   ParsedJson parsed;
//   RETURN_IF_ERROR(ParseJson(body, ParseOptions{}, &parsed));
//   if (!parsed.root().IsObject()) return absl::InvalidArgumentError("not an object");
//
// Thread-safety: ParseJson is thread-safe; a ParsedJson belongs to one thread at a time.
#ifndef SWITCHBOARD_SERVER_CONVERT_JSON_PARSE_H_
#define SWITCHBOARD_SERVER_CONVERT_JSON_PARSE_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "rapidjson/allocators.h"
#include "rapidjson/document.h"

namespace switchboard::server::convert::internal {

struct ParseOptions {
  // Maximum container nesting, the top-level value counting as depth 1.
  int max_depth = 32;
};

// A parsed document and the storage it points into. The DOM is parsed in situ: its strings point
// into a private copy of the body, so the ParsedJson must outlive every Value taken from it.
// Not copyable or movable (the document points at members of this object). Small documents
// live entirely in an inline pool: keep it on the stack of the thread that parses.
class ParsedJson {
 public:
  ParsedJson();
  ParsedJson(const ParsedJson&) = delete;
  ParsedJson& operator=(const ParsedJson&) = delete;

  // The top-level value; kNullType until a successful ParseJson.
  const rapidjson::Value& root() const { return document_; }

 private:
  friend absl::Status ParseJson(absl::string_view text, const ParseOptions& options,
                                ParsedJson* out);

  // Sized so a typical 2-8 KB Stripe event's DOM needs no heap chunk.
  static constexpr size_t kInlinePoolBytes = 8 * 1024;
  // Heap chunks for larger documents.
  static constexpr size_t kPoolChunkBytes = 32 * 1024;

  std::string buffer_;  // The body, NUL-terminated, unescaped in place by the parser.
  alignas(std::max_align_t) char inline_pool_[kInlinePoolBytes];
  rapidjson::MemoryPoolAllocator<> allocator_;
  rapidjson::Document document_;
};

// Parses `text` into `*out`.
// Returns OK, or InvalidArgument with a short message that names the problem and its byte offset
// but never quotes the input: not JSON (RapidJSON's error), bytes after the value, invalid UTF-8,
// an escaped lone surrogate, nesting deeper than `options.max_depth`, a body of 4 GiB or more.
// REQUIRES: `out` was not used by an earlier ParseJson; options.max_depth >= 1.
absl::Status ParseJson(absl::string_view text, const ParseOptions& options, ParsedJson* out);

}  // namespace switchboard::server::convert::internal

#endif  // SWITCHBOARD_SERVER_CONVERT_JSON_PARSE_H_
