// Interoperability with the official stripe-node package (pinned in third_party/stripe_node):
//   - headers from stripe.webhooks.generateTestHeaderString verify with our SignatureVerifier;
//   - headers from our SignatureHeader pass stripe.webhooks.constructEvent;
//   - a tampered body is rejected by both.
// Needs `node` and third_party/stripe_node/node_modules (tools/setup.sh runs `npm ci` there); when
// they are missing the test fails and says so: it never skips.
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "server/verify/signature_verifier.h"
#include "server/verify/signing.h"

namespace switchboard::server::verify {
namespace {

constexpr char kScript[] = "tests/stripe_node_compat/compat.js";
constexpr char kPackageJson[] = "third_party/stripe_node/package.json";
constexpr char kPackageLock[] = "third_party/stripe_node/package-lock.json";
constexpr char kSetupHint[] =
    "run tools/setup.sh (it installs nodejs/npm and runs `npm ci` in third_party/stripe_node)";

constexpr char kSecret[] = "whsec_compat_0123456789abcdefghijklmnop";
constexpr char kOtherSecret[] = "whsec_compat_rotated_secret";

struct NodeRequest {
  std::string op;  // "sign" or "construct"
  std::string secret;
  std::string payload;
  int64_t timestamp = 0;  // sign
  std::string header;     // construct
  int64_t tolerance = 300;
  int64_t received_at_ms = 0;
};

struct NodeResult {
  std::string header;  // sign
  bool ok = false;     // construct
  std::string error_type;
  std::string message;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string Str(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject()) return "";
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsString()) return "";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

std::string ShellQuote(absl::string_view s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The real directory of third_party/stripe_node: the runfile is a symlink into the source tree,
// where node_modules sits beside package.json (node_modules itself is not a Bazel input).
std::string StripeNodeDir() {
  char real[PATH_MAX];
  if (realpath(kPackageJson, real) == nullptr) return "";
  std::string path = real;
  return path.substr(0, path.rfind('/'));
}

// The stripe version package-lock.json pins.
std::string PinnedStripeVersion() {
  rapidjson::Document lock;
  const std::string text = ReadFile(kPackageLock);
  lock.Parse(text.c_str());
  if (lock.HasParseError() || !lock.IsObject()) return "";
  auto packages = lock.FindMember("packages");
  if (packages == lock.MemberEnd() || !packages->value.IsObject()) return "";
  auto stripe = packages->value.FindMember("node_modules/stripe");
  if (stripe == packages->value.MemberEnd()) return "";
  return Str(stripe->value, "version");
}

// Runs compat.js on `requests`; any failure to run it is a test failure with setup advice.
void RunStripeNode(const std::vector<NodeRequest>& requests, std::vector<NodeResult>* results) {
  const std::string dir = StripeNodeDir();
  ASSERT_FALSE(dir.empty()) << "cannot resolve " << kPackageJson << " in the runfiles";
  ASSERT_EQ(access((dir + "/node_modules/stripe/package.json").c_str(), R_OK), 0)
      << "stripe-node is not installed in " << dir << "/node_modules: " << kSetupHint;
  const std::string pinned = PinnedStripeVersion();
  ASSERT_FALSE(pinned.empty()) << "no stripe version in " << kPackageLock;

  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartArray();
  for (const NodeRequest& r : requests) {
    w.StartObject();
    w.Key("op");
    w.String(r.op.c_str());
    w.Key("secret");
    w.String(r.secret.c_str());
    w.Key("payload_base64");
    w.String(absl::Base64Escape(r.payload).c_str());
    w.Key("timestamp");
    w.Int64(r.timestamp);
    w.Key("header");
    w.String(r.header.c_str());
    w.Key("tolerance");
    w.Int64(r.tolerance);
    w.Key("received_at_ms");
    w.Int64(r.received_at_ms);
    w.EndObject();
  }
  w.EndArray();
  const char* tmp = getenv("TEST_TMPDIR");
  const std::string tmpdir = tmp != nullptr ? tmp : "/tmp";
  const std::string requests_path = tmpdir + "/stripe_node_requests.json";
  const std::string stderr_path = tmpdir + "/stripe_node_stderr.txt";
  {
    std::ofstream out(requests_path, std::ios::binary | std::ios::trunc);
    out << buffer.GetString();
    ASSERT_TRUE(out.good());
  }

  const std::string command =
      absl::StrCat("node ", ShellQuote(kScript), " ", ShellQuote(dir), " ",
                   ShellQuote(requests_path), " 2>", ShellQuote(stderr_path));
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr) << "popen failed";
  std::string output;
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof(chunk), pipe)) > 0) output.append(chunk, n);
  const int status = pclose(pipe);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "`" << command << "` failed (exit " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1)
      << "; 127 means node is not on PATH: " << kSetupHint << "):\n"
      << ReadFile(stderr_path);

  rapidjson::Document doc;
  doc.Parse(output.c_str());
  ASSERT_FALSE(doc.HasParseError()) << "compat.js printed: " << output;
  ASSERT_EQ(Str(doc, "stripe_version"), pinned)
      << "node_modules holds a different stripe than package-lock.json pins: delete " << dir
      << "/node_modules and " << kSetupHint;
  auto list = doc.FindMember("results");
  ASSERT_TRUE(list != doc.MemberEnd() && list->value.IsArray());
  ASSERT_EQ(list->value.Size(), requests.size());
  for (const rapidjson::Value& r : list->value.GetArray()) {
    NodeResult result;
    result.header = Str(r, "header");
    auto ok = r.FindMember("ok");
    result.ok = ok != r.MemberEnd() && ok->value.IsBool() && ok->value.GetBool();
    result.error_type = Str(r, "error_type");
    result.message = Str(r, "message");
    results->push_back(std::move(result));
  }
}

// Bodies of the kinds Stripe sends: compact, pretty-printed (~3 KB), non-ASCII UTF-8.
std::vector<std::string> Payloads() {
  std::string pretty =
      "{\n  \"id\": \"evt_1CompatTest\",\n  \"object\": \"event\",\n  \"data\": {\n"
      "    \"object\": {\n      \"object\": \"charge\",\n      \"metadata\": {\n";
  for (int i = 0; i < 80; ++i)
    absl::StrAppend(&pretty, "        \"k", i, "\": \"value ", i, "\",\n");
  pretty += "        \"last\": \"x\"\n      }\n    }\n  },\n  \"type\": \"charge.succeeded\"\n}\n";
  return {
      R"({"id":"evt_1","object":"event","type":"customer.created"})",
      pretty,
      "{\"id\":\"evt_2\",\"object\":\"event\",\"data\":{\"object\":{\"name\":\"Zo\xc3\xab "
      "\xe2\x98\x95 "
      "\xe6\x9d\xb1\xe4\xba\xac\",\"note\":\"caf\\u00e9\"}}}",
  };
}

std::string Tamper(std::string payload) {
  payload[payload.size() / 2] ^= 0x01;
  return payload;
}

TEST(StripeNodeCompat, StripeNodeHeadersVerifyWithSignatureVerifier) {
  const std::vector<int64_t> timestamps = {1700000000, 2200000000, 1};
  std::vector<NodeRequest> requests;
  for (const std::string& payload : Payloads()) {
    for (int64_t t : timestamps) {
      NodeRequest r;
      r.op = "sign";
      r.secret = kSecret;
      r.payload = payload;
      r.timestamp = t;
      requests.push_back(r);
    }
  }
  std::vector<NodeResult> results;
  ASSERT_NO_FATAL_FAILURE(RunStripeNode(requests, &results));

  SignatureVerifier::Options options;
  options.secrets = {kSecret};
  auto verifier = *SignatureVerifier::Create(options);
  options.secrets = {kOtherSecret};
  auto other = *SignatureVerifier::Create(options);
  for (size_t i = 0; i < requests.size(); ++i) {
    const NodeRequest& r = requests[i];
    const std::string& header = results[i].header;
    SCOPED_TRACE(absl::StrCat("request ", i, " header ", header));
    const absl::Time now = absl::FromUnixSeconds(r.timestamp);
    EXPECT_EQ(verifier->Verify(header, r.payload, now), VerifyResult::kOk);
    EXPECT_EQ(verifier->Verify(header, Tamper(r.payload), now), VerifyResult::kSignatureMismatch);
    EXPECT_EQ(verifier->Verify(header, r.payload + " ", now), VerifyResult::kSignatureMismatch);
    EXPECT_EQ(other->Verify(header, r.payload, now), VerifyResult::kSignatureMismatch);
    // Same algorithm, same bytes: the headers are identical.
    EXPECT_EQ(header, SignatureHeader(kSecret, r.timestamp, r.payload));
  }
}

TEST(StripeNodeCompat, OurHeadersPassStripeNodeConstructEvent) {
  constexpr int64_t kT = 1700000000;
  enum class Want { kOk, kRejected };
  std::vector<NodeRequest> requests;
  std::vector<Want> wants;
  auto add = [&](absl::string_view secret, std::string header, std::string payload,
                 int64_t received_at, Want want) {
    NodeRequest r;
    r.op = "construct";
    r.secret = std::string(secret);
    r.header = std::move(header);
    r.payload = std::move(payload);
    r.received_at_ms = received_at * 1000;
    requests.push_back(std::move(r));
    wants.push_back(want);
  };
  for (const std::string& payload : Payloads()) {
    const std::string header = SignatureHeader(kSecret, kT, payload);
    add(kSecret, header, payload, kT, Want::kOk);
    add(kSecret, header, Tamper(payload), kT, Want::kRejected);
    add(kSecret, header, payload + "\n", kT, Want::kRejected);
    add(kOtherSecret, header, payload, kT, Want::kRejected);
    // Both sides accept an age equal to the default tolerance and reject one second more.
    add(kSecret, header, payload, kT + 300, Want::kOk);
    add(kSecret, header, payload, kT + 301, Want::kRejected);
    // A rotation header (one v1 per secret) passes with either secret.
    const std::string rotation =
        absl::StrCat(header, ",v1=", ComputeSignature(kOtherSecret, kT, payload));
    add(kSecret, rotation, payload, kT, Want::kOk);
    add(kOtherSecret, rotation, payload, kT, Want::kOk);
  }
  std::vector<NodeResult> results;
  ASSERT_NO_FATAL_FAILURE(RunStripeNode(requests, &results));
  for (size_t i = 0; i < requests.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("request ", i, " header ", requests[i].header));
    if (wants[i] == Want::kOk) {
      EXPECT_TRUE(results[i].ok) << results[i].error_type << ": " << results[i].message;
    } else {
      EXPECT_FALSE(results[i].ok);
      EXPECT_EQ(results[i].error_type, "StripeSignatureVerificationError") << results[i].message;
    }
  }
}

}  // namespace
}  // namespace switchboard::server::verify
