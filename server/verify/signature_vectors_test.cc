// Runs every case of tests/testdata/signature_vectors.json (the verifier's spec) through
// SignatureVerifier and checks `expect` and `error_kind`.
#include <cstdint>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "server/verify/signature_verifier.h"

namespace switchboard::server::verify {
namespace {

constexpr char kVectorsPath[] = "tests/testdata/signature_vectors.json";
constexpr size_t kExpectedCases = 100;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

absl::string_view StringOf(const rapidjson::Value& v) {
  return absl::string_view(v.GetString(), v.GetStringLength());
}

// Fetches object member `name` as a string; fails the test if it is missing or not a string.
bool GetString(const rapidjson::Value& obj, const char* name, std::string* out) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsString()) {
    ADD_FAILURE() << "member '" << name << "' missing or not a string";
    return false;
  }
  *out = std::string(StringOf(it->value));
  return true;
}

bool GetInt64(const rapidjson::Value& obj, const char* name, int64_t* out) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsInt64()) {
    ADD_FAILURE() << "member '" << name << "' missing or not an integer";
    return false;
  }
  *out = it->value.GetInt64();
  return true;
}

void RunCase(const rapidjson::Value& c, std::set<std::string>* names) {
  ASSERT_TRUE(c.IsObject());
  std::string name;
  ASSERT_TRUE(GetString(c, "name", &name));
  SCOPED_TRACE("vector " + name);
  EXPECT_TRUE(names->insert(name).second) << "duplicate vector name";

  SignatureVerifier::Options options;
  auto secrets = c.FindMember("secrets");
  ASSERT_TRUE(secrets != c.MemberEnd() && secrets->value.IsArray());
  for (const rapidjson::Value& s : secrets->value.GetArray()) {
    ASSERT_TRUE(s.IsString());
    options.secrets.emplace_back(StringOf(s));
  }
  int64_t now = 0, tolerance = 0;
  ASSERT_TRUE(GetInt64(c, "now", &now));
  ASSERT_TRUE(GetInt64(c, "tolerance", &tolerance));
  options.tolerance = absl::Seconds(tolerance);

  // The body: `payload` as UTF-8, or `payload_hex` when the bytes are not valid UTF-8.
  std::string body;
  auto payload = c.FindMember("payload");
  ASSERT_TRUE(payload != c.MemberEnd());
  if (payload->value.IsNull()) {
    std::string hex;
    ASSERT_TRUE(GetString(c, "payload_hex", &hex));
    body = absl::HexStringToBytes(hex);
    ASSERT_EQ(body.size() * 2, hex.size());
  } else {
    ASSERT_TRUE(payload->value.IsString());
    body = std::string(StringOf(payload->value));
  }

  // A null header is an absent header, which the HTTP layer passes as empty.
  std::string header;
  auto header_it = c.FindMember("header");
  ASSERT_TRUE(header_it != c.MemberEnd());
  if (!header_it->value.IsNull()) {
    ASSERT_TRUE(header_it->value.IsString());
    header = std::string(StringOf(header_it->value));
  }

  std::string expect;
  ASSERT_TRUE(GetString(c, "expect", &expect));
  std::string want_kind = "ok";
  if (expect == "error") {
    ASSERT_TRUE(GetString(c, "error_kind", &want_kind));
  } else {
    ASSERT_EQ(expect, "ok");
    auto kind = c.FindMember("error_kind");
    EXPECT_TRUE(kind == c.MemberEnd() || kind->value.IsNull());
  }

  absl::StatusOr<std::unique_ptr<SignatureVerifier>> verifier = SignatureVerifier::Create(options);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  const VerifyResult result = (*verifier)->Verify(header, body, absl::FromUnixSeconds(now));
  EXPECT_EQ(std::string(VerifyResultName(result)), want_kind);
  EXPECT_EQ(result == VerifyResult::kOk, expect == "ok");
}

TEST(SignatureVectors, EveryVectorGivesItsExpectedResult) {
  const std::string json = ReadFile(kVectorsPath);
  ASSERT_FALSE(json.empty()) << "cannot read " << kVectorsPath << " (runfiles)";
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
  ASSERT_FALSE(doc.HasParseError())
      << rapidjson::GetParseError_En(doc.GetParseError()) << " at " << doc.GetErrorOffset();
  ASSERT_TRUE(doc.IsArray());
  ASSERT_EQ(doc.Size(), kExpectedCases);
  std::set<std::string> names;
  for (const rapidjson::Value& c : doc.GetArray()) RunCase(c, &names);
  EXPECT_EQ(names.size(), kExpectedCases);
}

}  // namespace
}  // namespace switchboard::server::verify
