#include "server/convert/json_parse.h"

#include <cstdint>
#include <cstring>
#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "rapidjson/error/en.h"
#include "rapidjson/reader.h"

namespace switchboard::server::convert::internal {
namespace {

// In situ (strings stay in our buffer), no recursion on input depth, and numbers handed to us as
// text so that none of them can fail or lose information inside RapidJSON. UTF-8 is checked by
// CheckUtf8 on every string and key after unescaping (raw bytes outside strings are syntax
// errors anyway), which also catches what RapidJSON's kParseValidateEncodingFlag would: that
// flag decoded every character a second time (~15% of a parse, measured).
constexpr unsigned kParseFlags = rapidjson::kParseInsituFlag | rapidjson::kParseIterativeFlag |
                                 rapidjson::kParseNumbersAsStringsFlag;

enum class Problem { kNone, kTooDeep, kLoneSurrogate, kInvalidUtf8, kBadNumber };

// Validates UTF-8 after unescaping: invalid raw bytes and escaped lone surrogates (`\udc00`,
// which RapidJSON encodes as ED B0 80) fail here.
Problem CheckUtf8(const char* s, size_t n) {
  const auto* p = reinterpret_cast<const unsigned char*>(s);
  size_t i = 0;
  while (i < n) {
    // Fast path: eight ASCII bytes at a time.
    if (i + 8 <= n) {
      uint64_t word;
      std::memcpy(&word, p + i, sizeof(word));
      if ((word & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    auto cont = [&](size_t k, unsigned char lo, unsigned char hi) {
      return i + k < n && p[i + k] >= lo && p[i + k] <= hi;
    };
    if (c >= 0xC2 && c <= 0xDF) {
      if (!cont(1, 0x80, 0xBF)) return Problem::kInvalidUtf8;
      i += 2;
    } else if (c == 0xED) {
      if (cont(1, 0xA0, 0xBF)) return Problem::kLoneSurrogate;
      if (!cont(1, 0x80, 0x9F) || !cont(2, 0x80, 0xBF)) return Problem::kInvalidUtf8;
      i += 3;
    } else if (c >= 0xE0 && c <= 0xEF) {
      if (!cont(1, c == 0xE0 ? 0xA0 : 0x80, 0xBF) || !cont(2, 0x80, 0xBF)) {
        return Problem::kInvalidUtf8;
      }
      i += 3;
    } else if (c >= 0xF0 && c <= 0xF4) {
      const unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
      const unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
      if (!cont(1, lo, hi) || !cont(2, 0x80, 0xBF) || !cont(3, 0x80, 0xBF)) {
        return Problem::kInvalidUtf8;
      }
      i += 4;
    } else {
      return Problem::kInvalidUtf8;
    }
  }
  return Problem::kNone;
}

bool IsNumberChar(char c) {
  return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

// The maximal run of number characters starting at `offset`.
absl::string_view NumberTokenAt(absl::string_view text, size_t offset) {
  size_t end = offset;
  while (end < text.size() && IsNumberChar(text[end])) ++end;
  return text.substr(offset, end - offset);
}

// RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool IsJsonNumber(absl::string_view s) {
  size_t p = 0;
  auto digit = [&s](size_t k) { return k < s.size() && s[k] >= '0' && s[k] <= '9'; };
  if (p < s.size() && s[p] == '-') ++p;
  if (p < s.size() && s[p] == '0') {
    ++p;
  } else if (digit(p)) {
    while (digit(p)) ++p;
  } else {
    return false;
  }
  if (p < s.size() && s[p] == '.') {
    ++p;
    if (!digit(p)) return false;
    while (digit(p)) ++p;
  }
  if (p < s.size() && (s[p] == 'e' || s[p] == 'E')) {
    ++p;
    if (p < s.size() && (s[p] == '+' || s[p] == '-')) ++p;
    if (!digit(p)) return false;
    while (digit(p)) ++p;
  }
  return p == s.size();
}

// RapidJSON 1.1 refuses numbers beyond the double range (`1e400`, a 400-digit integer) even when
// asked for numbers as strings. After such a refusal the body is parsed once more with every
// number token outside strings replaced by `0` and spaces (same length, so offsets hold); the
// handler then reads each number's original text from the body. Only tokens that are valid JSON
// numbers are replaced, so this never turns invalid JSON into valid JSON.
void NeutralizeNumbers(std::string* buffer) {
  std::string& b = *buffer;
  size_t i = 0;
  while (i < b.size()) {
    const char c = b[i];
    if (c == '"') {
      for (++i; i < b.size(); ++i) {
        if (b[i] == '\\') {
          ++i;
        } else if (b[i] == '"') {
          break;
        }
      }
      ++i;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      const absl::string_view token = NumberTokenAt(b, i);
      if (IsJsonNumber(token)) {
        b[i] = '0';
        std::memset(&b[i + 1], ' ', token.size() - 1);
      }
      i += token.size();
    } else {
      ++i;
    }
  }
}

// Forwards SAX events to the Document, enforcing the depth limit and UTF-8, and typing numbers
// from their text.
class CheckingHandler {
 public:
  CheckingHandler(rapidjson::Document* document, int max_depth, const char* buffer,
                  absl::string_view original_text, bool numbers_neutralized)
      : document_(document),
        max_depth_(max_depth),
        buffer_(buffer),
        original_text_(original_text),
        numbers_neutralized_(numbers_neutralized) {}

  Problem problem() const { return problem_; }

  bool Null() { return document_->Null(); }
  bool Bool(bool b) { return document_->Bool(b); }
  // With kParseNumbersAsStringsFlag RapidJSON reports every number through RawNumber; these are
  // here because the handler concept requires them.
  bool Int(int i) { return document_->Int(i); }
  bool Uint(unsigned u) { return document_->Uint(u); }
  bool Int64(int64_t i) { return document_->Int64(i); }
  bool Uint64(uint64_t u) { return document_->Uint64(u); }
  bool Double(double d) { return document_->Double(d); }

  bool RawNumber(const char* str, rapidjson::SizeType length, bool /*copy*/) {
    absl::string_view text(str, length);
    if (numbers_neutralized_) {
      // In situ, `str` points at the token's start in our copy of the body.
      text = NumberTokenAt(original_text_, static_cast<size_t>(str - buffer_));
    }
    int64_t i;
    if (absl::SimpleAtoi(text, &i)) return document_->Int64(i);
    uint64_t u;
    if (!text.empty() && text[0] != '-' && absl::SimpleAtoi(text, &u)) {
      return document_->Uint64(u);
    }
    double d;  // Correctly rounded; ±inf beyond the double range.
    if (absl::SimpleAtod(text, &d)) return document_->Double(d);
    return Fail(Problem::kBadNumber);
  }

  bool String(const char* str, rapidjson::SizeType length, bool copy) {
    const Problem p = CheckUtf8(str, length);
    if (p != Problem::kNone) return Fail(p);
    return document_->String(str, length, copy);
  }

  bool Key(const char* str, rapidjson::SizeType length, bool copy) {
    const Problem p = CheckUtf8(str, length);
    if (p != Problem::kNone) return Fail(p);
    return document_->Key(str, length, copy);
  }

  bool StartObject() {
    if (++depth_ > max_depth_) return Fail(Problem::kTooDeep);
    return document_->StartObject();
  }
  bool EndObject(rapidjson::SizeType member_count) {
    --depth_;
    return document_->EndObject(member_count);
  }
  bool StartArray() {
    if (++depth_ > max_depth_) return Fail(Problem::kTooDeep);
    return document_->StartArray();
  }
  bool EndArray(rapidjson::SizeType element_count) {
    --depth_;
    return document_->EndArray(element_count);
  }

 private:
  bool Fail(Problem p) {
    problem_ = p;
    return false;
  }

  rapidjson::Document* document_;
  const int max_depth_;
  const char* buffer_;
  absl::string_view original_text_;
  const bool numbers_neutralized_;
  int depth_ = 0;
  Problem problem_ = Problem::kNone;
};

struct Attempt {
  rapidjson::ParseResult result;
  Problem problem = Problem::kNone;
  size_t consumed = 0;  // Bytes the reader consumed, trailing whitespace included.
};

// Generator for Document::Populate (which installs the root value when we return true).
class Generator {
 public:
  Generator(std::string* buffer, absl::string_view original_text, bool numbers_neutralized,
            int max_depth)
      : buffer_(buffer),
        original_text_(original_text),
        numbers_neutralized_(numbers_neutralized),
        max_depth_(max_depth) {}

  bool operator()(rapidjson::Document& document) {
    CheckingHandler handler(&document, max_depth_, buffer_->data(), original_text_,
                            numbers_neutralized_);
    rapidjson::InsituStringStream stream(&(*buffer_)[0]);
    rapidjson::Reader reader;
    attempt_.result = reader.Parse<kParseFlags>(stream, handler);
    attempt_.problem = handler.problem();
    attempt_.consumed = stream.Tell();
    return !attempt_.result.IsError();
  }

  const Attempt& attempt() const { return attempt_; }

 private:
  std::string* buffer_;
  absl::string_view original_text_;
  bool numbers_neutralized_;
  int max_depth_;
  Attempt attempt_;
};

Attempt ParseOnce(absl::string_view text, int max_depth, bool neutralize_numbers,
                  std::string* buffer, rapidjson::Document* document) {
  buffer->assign(text.data(), text.size());
  if (neutralize_numbers) NeutralizeNumbers(buffer);
  // RapidJSON stops at the first NUL. Four of them: with kParseValidateEncodingFlag (no longer
  // used) its UTF-8 validation took the continuation bytes of a lead byte without looking, so a
  // body ending in 0xF0 read 3 bytes past one terminator (found by the fuzzer). The padding
  // stays, so a flag change can never bring that back.
  buffer->append(4, '\0');
  Generator generator(buffer, text, neutralize_numbers, max_depth);
  document->Populate(generator);
  return generator.attempt();
}

}  // namespace

ParsedJson::ParsedJson()
    : allocator_(inline_pool_, sizeof(inline_pool_), kPoolChunkBytes), document_(&allocator_) {}

absl::Status ParseJson(absl::string_view text, const ParseOptions& options, ParsedJson* out) {
  if (text.size() >= std::numeric_limits<rapidjson::SizeType>::max()) {
    return absl::InvalidArgumentError("body is too large to parse");
  }
  if (absl::StartsWith(text, "\xEF\xBB\xBF")) {
    return absl::InvalidArgumentError(
        "body is not valid JSON: it starts with a UTF-8 byte order mark");
  }
  Attempt attempt = ParseOnce(text, options.max_depth, /*neutralize_numbers=*/false, &out->buffer_,
                              &out->document_);
  if (attempt.result.Code() == rapidjson::kParseErrorNumberTooBig) {
    out->allocator_.Clear();
    attempt = ParseOnce(text, options.max_depth, /*neutralize_numbers=*/true, &out->buffer_,
                        &out->document_);
  }

  const size_t offset = attempt.result.IsError() ? attempt.result.Offset() : attempt.consumed;
  switch (attempt.problem) {
    case Problem::kNone:
      break;
    case Problem::kTooDeep:
      return absl::InvalidArgumentError(absl::StrCat(
          "JSON nesting is deeper than ", options.max_depth, " levels (at offset ", offset, ")"));
    case Problem::kLoneSurrogate:
      return absl::InvalidArgumentError(
          absl::StrCat("a string contains a UTF-16 surrogate without its pair (escaped, or as raw "
                       "bytes; at offset ",
                       offset, ")"));
    case Problem::kInvalidUtf8:
      return absl::InvalidArgumentError(
          absl::StrCat("a string is not valid UTF-8 (at offset ", offset, ")"));
    case Problem::kBadNumber:
      return absl::InvalidArgumentError(
          absl::StrCat("body is not valid JSON: invalid number (at offset ", offset, ")"));
  }
  if (attempt.result.IsError()) {
    return absl::InvalidArgumentError(
        absl::StrCat("body is not valid JSON: ",
                     absl::StripSuffix(rapidjson::GetParseError_En(attempt.result.Code()), "."),
                     " (at offset ", offset, ")"));
  }
  // RapidJSON stops at a NUL byte as if the input ended there.
  if (attempt.consumed != text.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "body is not valid JSON: unexpected data after the top-level value (at offset ",
        attempt.consumed, ")"));
  }
  return absl::OkStatus();
}

}  // namespace switchboard::server::convert::internal
