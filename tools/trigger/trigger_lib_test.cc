#include "tools/trigger/trigger_lib.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "rapidjson/document.h"
#include "server/base/status_matchers.h"
#include "server/verify/signature_verifier.h"

namespace switchboard::tools::trigger {
namespace {

using ::switchboard::base::StatusIs;
using ::switchboard::server::verify::SignatureVerifier;
using ::switchboard::server::verify::VerifyResult;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

std::string TempPath(absl::string_view name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

void WriteFile(const std::string& path, absl::string_view contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  ASSERT_TRUE(out.good()) << path;
}

std::unique_ptr<SignatureVerifier> Verifier(const std::string& secret) {
  SignatureVerifier::Options options;
  options.secrets = {secret};
  return *SignatureVerifier::Create(options);
}

const rapidjson::Value* Member(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(name);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

std::string StringMember(const rapidjson::Value& obj, const char* name) {
  const rapidjson::Value* v = Member(obj, name);
  return v != nullptr && v->IsString() ? std::string(v->GetString(), v->GetStringLength()) : "";
}

// --- The command line -----------------------------------------------------------------------

TEST(CheckInvocation, AcceptsOneKnownTypeWithAnyCountOrAFileOnce) {
  EXPECT_OK(CheckInvocation({{"invoice.paid"}, "", 1}));
  EXPECT_OK(CheckInvocation({{"invoice.paid"}, "", 50}));
  EXPECT_OK(CheckInvocation({{}, "event.json", 1}));
}

// A file is sent byte for byte, so every copy has the same id: the gateway would store it once
// and answer 200 to each, and the tool would report N successes for one event.
TEST(CheckInvocation, RefusesACountAboveOneWithAFile) {
  const absl::Status status = CheckInvocation({{}, "event.json", 3});
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(status.message()), HasSubstr("--count=3 with --file"));
}

TEST(CheckInvocation, RefusesAMissingOrUnknownTypeAndACountBelowOne) {
  for (const Invocation& bad : std::vector<Invocation>{
           {{}, "", 1},
           {{"invoice.paid", "charge.succeeded"}, "", 1},
           {{"invoice.paid"}, "event.json", 1},
           {{"invoice.paid"}, "", 0},
           {{}, "event.json", -1},
       }) {
    EXPECT_THAT(CheckInvocation(bad), StatusIs(absl::StatusCode::kInvalidArgument))
        << bad.args.size() << " args, file '" << bad.file << "', count " << bad.count;
  }
  const absl::Status unknown = CheckInvocation({{"no.such.event"}, "", 1});
  EXPECT_THAT(unknown, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(unknown.message()),
              HasSubstr("no example event of type 'no.such.event'"));
  EXPECT_THAT(std::string(unknown.message()), HasSubstr("\n  invoice.paid"));
}

// --- Example events -------------------------------------------------------------------------

TEST(KnownEventTypes, CoversTheCommonTypesSortedAndUnique) {
  const std::vector<std::string> types = KnownEventTypes();
  for (const char* want :
       {"payment_intent.succeeded", "payment_intent.created", "payment_intent.payment_failed",
        "payment_method.attached", "charge.succeeded", "charge.refunded", "customer.created",
        "customer.updated", "customer.subscription.created", "invoice.paid",
        "invoice.payment_failed", "checkout.session.completed"}) {
    EXPECT_THAT(types, Contains(want));
  }
  EXPECT_TRUE(std::is_sorted(types.begin(), types.end()));
  EXPECT_EQ(std::set<std::string>(types.begin(), types.end()).size(), types.size());
}

TEST(BuildExampleEvent, EveryExampleIsAStripeEventOfItsType) {
  absl::BitGen gen;
  for (const std::string& type : KnownEventTypes()) {
    SCOPED_TRACE(type);
    ASSERT_OK_AND_ASSIGN(std::string body,
                         BuildExampleEvent(type, "evt_TestEventId000000000001", kNow, gen));
    EXPECT_THAT(body, Not(HasSubstr("{{")));
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseValidateEncodingFlag>(body.data(), body.size());
    ASSERT_FALSE(doc.HasParseError()) << "offset " << doc.GetErrorOffset();
    ASSERT_TRUE(doc.IsObject());
    EXPECT_EQ(StringMember(doc, "object"), "event");
    EXPECT_EQ(StringMember(doc, "id"), "evt_TestEventId000000000001");
    EXPECT_EQ(StringMember(doc, "type"), type);
    EXPECT_EQ(StringMember(doc, "api_version"), "2024-06-20");
    const rapidjson::Value* created = Member(doc, "created");
    ASSERT_TRUE(created != nullptr && created->IsInt64());
    EXPECT_EQ(created->GetInt64(), 1700000000);
    const rapidjson::Value* livemode = Member(doc, "livemode");
    ASSERT_TRUE(livemode != nullptr && livemode->IsBool());
    EXPECT_FALSE(livemode->GetBool());
    const rapidjson::Value* data = Member(doc, "data");
    ASSERT_TRUE(data != nullptr && data->IsObject());
    const rapidjson::Value* object = Member(*data, "object");
    ASSERT_TRUE(object != nullptr && object->IsObject());
    EXPECT_FALSE(StringMember(*object, "id").empty());
    EXPECT_FALSE(StringMember(*object, "object").empty());
    if (absl::EndsWith(type, ".updated") || type == "charge.refunded") {
      const rapidjson::Value* previous = Member(*data, "previous_attributes");
      ASSERT_TRUE(previous != nullptr && previous->IsObject());
      EXPECT_GT(previous->MemberCount(), 0u);
    }
  }
}

TEST(BuildExampleEvent, GivesEachEventFreshObjectIds) {
  absl::BitGen gen;
  ASSERT_OK_AND_ASSIGN(std::string a, BuildExampleEvent("customer.created", "evt_1", kNow, gen));
  ASSERT_OK_AND_ASSIGN(std::string b, BuildExampleEvent("customer.created", "evt_1", kNow, gen));
  rapidjson::Document da, db;
  da.Parse(a.c_str());
  db.Parse(b.c_str());
  ASSERT_TRUE(da.IsObject() && db.IsObject());
  EXPECT_NE(StringMember(da["data"]["object"], "id"), StringMember(db["data"]["object"], "id"));
}

TEST(BuildExampleEvent, UnknownTypeIsNotFound) {
  absl::BitGen gen;
  EXPECT_THAT(BuildExampleEvent("no.such.event", "evt_1", kNow, gen),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST(NewEventId, IsEvtPrefixedAlphanumericAndFresh) {
  absl::BitGen gen;
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = NewEventId(gen);
    ASSERT_EQ(id.size(), 28u);
    ASSERT_TRUE(absl::StartsWith(id, "evt_"));
    for (char c : id.substr(4)) ASSERT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 1000u);
}

// --- Signing --------------------------------------------------------------------------------

TEST(SignRequest, ProducesAHeaderTheVerifierAccepts) {
  absl::BitGen gen;
  ASSERT_OK_AND_ASSIGN(std::string body, BuildExampleEvent("invoice.paid", "evt_1", kNow, gen));
  const SignedRequest request = SignRequest("whsec_trigger_test", body, kNow);
  EXPECT_EQ(request.body, body);
  EXPECT_TRUE(absl::StartsWith(request.signature_header, "t=1700000000,v1="));
  EXPECT_EQ(Verifier("whsec_trigger_test")->Verify(request.signature_header, request.body, kNow),
            VerifyResult::kOk);
  EXPECT_EQ(Verifier("whsec_other")->Verify(request.signature_header, request.body, kNow),
            VerifyResult::kSignatureMismatch);
}

// --- Secrets --------------------------------------------------------------------------------

TEST(ResolveSecret, UsesTheFirstEntryOfTheEnvironmentVariable) {
  SecretSources sources;
  sources.data_dir = TempPath("no_dev_secret_here");
  sources.env = "whsec_new,whsec_old";
  ASSERT_OK_AND_ASSIGN(Secret secret, ResolveSecret(sources));
  EXPECT_EQ(secret.value, "whsec_new");
  EXPECT_EQ(secret.source, "STRIPE_WEBHOOK_SECRET");

  sources.env = " whsec_spaced , whsec_old";
  ASSERT_OK_AND_ASSIGN(secret, ResolveSecret(sources));
  EXPECT_EQ(secret.value, "whsec_spaced");

  // Empty entries are skipped, as the gateway skips them.
  sources.env = ",whsec_old";
  ASSERT_OK_AND_ASSIGN(secret, ResolveSecret(sources));
  EXPECT_EQ(secret.value, "whsec_old");

  // No entry at all: as if unset.
  sources.env = " , ";
  EXPECT_FALSE(ResolveSecret(sources).ok());
}

TEST(ResolveSecret, AnExplicitSecretFileBeatsTheEnvironmentLikeTheServer) {
  const std::string file = TempPath("secret_env_test");
  WriteFile(file, "whsec_from_file\n");
  SecretSources sources;
  sources.env = "whsec_from_env";
  sources.secret_file = file;
  ASSERT_OK_AND_ASSIGN(Secret secret, ResolveSecret(sources));
  EXPECT_EQ(secret.value, "whsec_from_file");
}

TEST(ResolveSecret, ReadsTheSecretFileWithoutItsNewline) {
  const std::string file = TempPath("secret_file_test");
  WriteFile(file, "whsec_from_file\n");
  SecretSources sources;
  sources.secret_file = file;
  sources.data_dir = TempPath("no_such_dir");
  ASSERT_OK_AND_ASSIGN(Secret secret, ResolveSecret(sources));
  EXPECT_EQ(secret.value, "whsec_from_file");
  EXPECT_EQ(secret.source, file);

  // A secrets file listing a rotation signs with its first secret.
  WriteFile(file, "whsec_newest\nwhsec_older\n");
  ASSERT_OK_AND_ASSIGN(secret, ResolveSecret(sources));
  EXPECT_EQ(secret.value, "whsec_newest");

  // The gateway's own secrets file, comments and all, reads the same here.
  WriteFile(file, "# rotated 2026-11-01\nwhsec_newest, whsec_older\n");
  ASSERT_OK_AND_ASSIGN(secret, ResolveSecret(sources));
  EXPECT_EQ(secret.value, "whsec_newest");

  sources.secret_file = TempPath("missing_secret_file");
  EXPECT_THAT(ResolveSecret(sources), StatusIs(absl::StatusCode::kNotFound));

  WriteFile(file, "\n \n");
  sources.secret_file = file;
  EXPECT_THAT(ResolveSecret(sources), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ResolveSecret, FallsBackToTheGatewaysDevelopmentSecret) {
  const std::string data_dir = TempPath("");
  WriteFile(absl::StrCat(data_dir, "/dev_webhook_secret"), "whsec_dev_generated\n");
  SecretSources sources;
  sources.data_dir = data_dir;
  ASSERT_OK_AND_ASSIGN(Secret secret, ResolveSecret(sources));
  EXPECT_EQ(secret.value, "whsec_dev_generated");
  EXPECT_THAT(secret.source, HasSubstr("dev_webhook_secret"));
}

TEST(ResolveSecret, ExplainsHowToProvideASecretWhenThereIsNone) {
  SecretSources sources;
  sources.data_dir = TempPath("empty_data_dir");
  absl::StatusOr<Secret> secret = ResolveSecret(sources);
  EXPECT_THAT(secret, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(secret.status().message()), HasSubstr("STRIPE_WEBHOOK_SECRET"));
  EXPECT_THAT(std::string(secret.status().message()),
              HasSubstr("empty_data_dir/dev_webhook_secret"));
}

TEST(DefaultDataDir, UsesTheWorkspaceUnderBazelRun) {
  EXPECT_EQ(DefaultDataDir("/home/me/switchboard"), "/home/me/switchboard/.switchboard");
  EXPECT_EQ(DefaultDataDir(nullptr), "./.switchboard");
  EXPECT_EQ(DefaultDataDir(""), "./.switchboard");
}

// --- HTTP -----------------------------------------------------------------------------------

TEST(ParseUrl, SplitsSchemeHostPortFromPath) {
  ASSERT_OK_AND_ASSIGN(Url url, ParseUrl("http://127.0.0.1:4242/webhook"));
  EXPECT_EQ(url.scheme_host_port, "http://127.0.0.1:4242");
  EXPECT_EQ(url.path, "/webhook");
  ASSERT_OK_AND_ASSIGN(url, ParseUrl("https://example.com"));
  EXPECT_EQ(url.scheme_host_port, "https://example.com");
  EXPECT_EQ(url.path, "/");
  ASSERT_OK_AND_ASSIGN(url, ParseUrl("http://localhost:8080/hooks/stripe?x=1"));
  EXPECT_EQ(url.path, "/hooks/stripe?x=1");
  ASSERT_OK_AND_ASSIGN(url, ParseUrl("http://localhost?x=1"));
  EXPECT_EQ(url.path, "/?x=1");
}

TEST(ParseUrl, RejectsWhatItCannotPost) {
  for (absl::string_view bad : {"", "127.0.0.1:4242/webhook", "ftp://host/x", "http:///x"}) {
    EXPECT_THAT(ParseUrl(bad), StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
}

// A stand-in endpoint that checks what the gateway checks first: method, path, signature.
class FakeEndpoint {
 public:
  explicit FakeEndpoint(const std::string& secret) : verifier_(Verifier(secret)) {
    server_.Post("/webhook", [this](const httplib::Request& req, httplib::Response& res) {
      content_type_ = req.get_header_value("Content-Type");
      const VerifyResult result =
          verifier_->Verify(req.get_header_value("Stripe-Signature"), req.body, absl::Now());
      res.status = result == VerifyResult::kOk ? 200 : 400;
      res.set_content(
          result == VerifyResult::kOk ? R"({"received":true})" : R"({"error":"bad signature"})",
          "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // httplib 0.11 has no wait_until_ready; stop() before the loop runs would be lost.
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeEndpoint() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_, "/webhook"); }
  const std::string& content_type() const { return content_type_; }

 private:
  std::unique_ptr<SignatureVerifier> verifier_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::string content_type_;
};

TEST(PostWebhook, DeliversASignedEventAndReturnsTheResponse) {
  FakeEndpoint endpoint("whsec_post_test");
  ASSERT_OK_AND_ASSIGN(Url url, ParseUrl(endpoint.url()));
  absl::BitGen gen;
  const absl::Time now = absl::Now();  // the endpoint checks against its own clock
  ASSERT_OK_AND_ASSIGN(std::string body,
                       BuildExampleEvent("charge.succeeded", NewEventId(gen), now, gen));

  ASSERT_OK_AND_ASSIGN(HttpResponse ok, PostWebhook(url, SignRequest("whsec_post_test", body, now),
                                                    absl::Seconds(5)));
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, R"({"received":true})");
  EXPECT_THAT(endpoint.content_type(), HasSubstr("application/json"));

  ASSERT_OK_AND_ASSIGN(HttpResponse rejected,
                       PostWebhook(url, SignRequest("whsec_wrong", body, now), absl::Seconds(5)));
  EXPECT_EQ(rejected.status, 400);
}

TEST(PostWebhook, ReportsUnavailableWhenNothingListens) {
  // A port the kernel gives us, bound but never listened on, for the whole POST: connecting is
  // refused at once, and no other process can take the port in the meantime (as it could if we
  // released it first).
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const Url url{absl::StrCat("http://127.0.0.1:", ntohs(addr.sin_port)), "/webhook"};
  const absl::StatusOr<HttpResponse> response =
      PostWebhook(url, SignRequest("whsec_x", "{}", kNow), absl::Seconds(2));
  ::close(fd);
  EXPECT_THAT(response, StatusIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace switchboard::tools::trigger
