#include "server/ingress/webhook_handler.h"

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/base/clock.h"
#include "server/base/status_matchers.h"
#include "server/convert/event_converter.h"
#include "server/metrics/metrics.h"
#include "server/store/memory_event_store.h"
#include "server/store/sqlite_event_store.h"
#include "server/verify/signature_verifier.h"
#include "server/verify/signing.h"

namespace switchboard::server::ingress {
namespace {

using ::switchboard::base::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "whsec_handler_test_secret";
constexpr char kConnectSecret[] = "whsec_connect_secret";
constexpr int64_t kNow = 1700000000;

std::string EventBody(const std::string& id, const std::string& type = "customer.created") {
  return absl::StrCat(R"({"id":")", id, R"(","object":"event","api_version":"2024-06-20",)",
                      R"("created":1700000000,"livemode":false,"pending_webhooks":1,)",
                      R"("request":{"id":null,"idempotency_key":null},"type":")", type,
                      R"(","data":{"object":{"id":"cus_1","object":"customer","email":null}}})");
}

std::unique_ptr<verify::SignatureVerifier> Verifier(std::vector<std::string> secrets) {
  verify::SignatureVerifier::Options options;
  options.secrets = std::move(secrets);
  auto v = verify::SignatureVerifier::Create(options);
  EXPECT_TRUE(v.ok()) << v.status();
  return *std::move(v);
}

class WebhookHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override { Build(&memory_store_); }

  void Build(store::EventStore* store, int64_t max_body = 1 << 20) {
    WebhookHandler::Options options;
    options.endpoints.push_back({"/webhook", Verifier({kSecret, "whsec_old_rotated"})});
    options.endpoints.push_back({"/webhook/connect", Verifier({kConnectSecret})});
    options.max_body_bytes = max_body;
    WebhookHandler::Deps deps;
    deps.store = store;
    deps.converter = &converter_;
    deps.clock = &clock_;
    deps.metrics = &metrics_;
    deps.readiness = [store] { return store->CheckWritable(); };
    auto handler = WebhookHandler::Create(std::move(options), std::move(deps));
    ASSERT_TRUE(handler.ok()) << handler.status();
    handler_ = *std::move(handler);
  }

  // Only 3.18.12.0/24 may send, judged by X-Forwarded-For (trusted: behind a proxy).
  void BuildBehindAProxy() {
    WebhookHandler::Options options;
    options.endpoints.push_back({"/webhook", Verifier({kSecret})});
    options.allowlist = *NetworkAllowlist::Create({"3.18.12.0/24"});
    options.trust_forwarded_for = true;
    WebhookHandler::Deps deps{&memory_store_, &converter_, &clock_, &metrics_, nullptr};
    auto handler = WebhookHandler::Create(std::move(options), std::move(deps));
    ASSERT_TRUE(handler.ok()) << handler.status();
    handler_ = *std::move(handler);
  }

  HttpRequest Signed(const std::string& body, const std::string& secret = kSecret,
                     const std::string& path = "/webhook") {
    HttpRequest r;
    r.method = "POST";
    r.path = path;
    r.body = body;
    r.headers = {{"Content-Type", "application/json; charset=utf-8"},
                 {"Content-Length", std::to_string(body.size())},
                 {"Stripe-Signature", verify::SignatureHeader(secret, kNow, body)}};
    return r;
  }

  int64_t Count(const std::string& outcome, const std::string& endpoint = "/webhook") {
    for (const auto& [labels, value] :
         metrics_.CounterValues("switchboard_webhook_requests_total")) {
      if (labels == metrics::Labels{{"endpoint", endpoint}, {"outcome", outcome}}) return value;
    }
    return 0;
  }

  base::FakeClock clock_{absl::FromUnixSeconds(kNow)};
  metrics::Registry metrics_;
  convert::EventConverter converter_;
  store::MemoryEventStore memory_store_;
  std::unique_ptr<WebhookHandler> handler_;
};

TEST_F(WebhookHandlerTest, StoresAVerifiedEventThenAnswers200) {
  const std::string body = EventBody("evt_1");
  HttpResponse response = handler_->Handle(Signed(body));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "{\"received\":true}\n");
  ASSERT_OK_AND_ASSIGN(store::EventRecord stored, memory_store_.Get("evt_1"));
  EXPECT_EQ(stored.raw_json, body);
  EXPECT_EQ(stored.type, "customer.created");
  EXPECT_EQ(stored.object_id, "cus_1");
  EXPECT_EQ(stored.endpoint, "/webhook");
  EXPECT_EQ(stored.received_at, absl::FromUnixSeconds(kNow));
  EXPECT_EQ(stored.created, absl::FromUnixSeconds(1700000000));
  EXPECT_EQ(Count("stored"), 1);
}

TEST_F(WebhookHandlerTest, DuplicateEventIdAnswers200AndIsStoredOnce) {
  ASSERT_EQ(handler_->Handle(Signed(EventBody("evt_dup"))).status, 200);
  // Stripe's "Resend" reuses the id (the body may differ, e.g. pending_webhooks).
  HttpResponse again = handler_->Handle(Signed(EventBody("evt_dup", "customer.updated")));
  EXPECT_EQ(again.status, 200);
  EXPECT_THAT(again.body, HasSubstr("duplicate"));
  ASSERT_OK_AND_ASSIGN(auto stats, memory_store_.Stats());
  EXPECT_EQ(stats.events, 1);
  ASSERT_OK_AND_ASSIGN(store::EventRecord stored, memory_store_.Get("evt_dup"));
  EXPECT_EQ(stored.type, "customer.created");
  EXPECT_EQ(Count("duplicate"), 1);
}

TEST_F(WebhookHandlerTest, OnStoredRunsForNewEventsOnly) {
  WebhookHandler::Options options;
  options.endpoints.push_back({"/webhook", Verifier({kSecret})});
  int stored = 0;
  WebhookHandler::Deps deps;
  deps.store = &memory_store_;
  deps.converter = &converter_;
  deps.clock = &clock_;
  deps.metrics = &metrics_;
  deps.on_stored = [&stored] { ++stored; };
  ASSERT_OK_AND_ASSIGN(auto handler, WebhookHandler::Create(std::move(options), std::move(deps)));
  ASSERT_EQ(handler->Handle(Signed(EventBody("evt_new"))).status, 200);
  EXPECT_EQ(stored, 1);
  ASSERT_EQ(handler->Handle(Signed(EventBody("evt_new"))).status, 200);  // a duplicate
  EXPECT_EQ(handler->Handle(Signed("{}")).status, 400);
  EXPECT_EQ(stored, 1);
}

TEST_F(WebhookHandlerTest, AcceptsEitherSecretDuringRotation) {
  EXPECT_EQ(handler_->Handle(Signed(EventBody("evt_a"), "whsec_old_rotated")).status, 200);
  EXPECT_EQ(handler_->Handle(Signed(EventBody("evt_b"), kSecret)).status, 200);
}

TEST_F(WebhookHandlerTest, EachEndpointUsesOnlyItsOwnSecrets) {
  EXPECT_EQ(
      handler_->Handle(Signed(EventBody("evt_c1"), kConnectSecret, "/webhook/connect")).status,
      200);
  EXPECT_EQ(handler_->Handle(Signed(EventBody("evt_c2"), kSecret, "/webhook/connect")).status, 400);
  EXPECT_EQ(handler_->Handle(Signed(EventBody("evt_c3"), kConnectSecret, "/webhook")).status, 400);
  ASSERT_OK_AND_ASSIGN(store::EventRecord stored, memory_store_.Get("evt_c1"));
  EXPECT_EQ(stored.endpoint, "/webhook/connect");
}

TEST_F(WebhookHandlerTest, BadSignatureIs400WithTheReasonAndStoresNothing) {
  HttpRequest request = Signed(EventBody("evt_bad"), "whsec_wrong");
  HttpResponse response = handler_->Handle(request);
  EXPECT_EQ(response.status, 400);
  EXPECT_THAT(response.body, HasSubstr("signature_mismatch"));
  EXPECT_THAT(response.body, Not(HasSubstr("whsec")));
  EXPECT_THAT(memory_store_.Get("evt_bad"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(Count("signature_mismatch"), 1);
}

TEST_F(WebhookHandlerTest, MissingSignatureHeaderIs400) {
  HttpRequest request = Signed(EventBody("evt_nohdr"));
  request.headers.pop_back();
  HttpResponse response = handler_->Handle(request);
  EXPECT_EQ(response.status, 400);
  EXPECT_THAT(response.body, HasSubstr("no_header"));
}

TEST_F(WebhookHandlerTest, TimestampOutsideToleranceIs400) {
  const std::string body = EventBody("evt_old");
  HttpRequest request = Signed(body);
  request.headers.back().second = verify::SignatureHeader(kSecret, kNow - 301, body);
  EXPECT_THAT(handler_->Handle(request).body, HasSubstr("timestamp_too_old"));
  request.headers.back().second = verify::SignatureHeader(kSecret, kNow + 301, body);
  EXPECT_THAT(handler_->Handle(request).body, HasSubstr("timestamp_in_future"));
}

TEST_F(WebhookHandlerTest, SignedBodiesThatAreNotEventsAre400) {
  for (const std::string& body :
       {std::string("not json"), std::string("[]"),
        std::string(R"({"id":"x","object":"customer"})"), std::string(R"({"object":"event"})")}) {
    HttpResponse response = handler_->Handle(Signed(body));
    EXPECT_EQ(response.status, 400) << body;
  }
  ASSERT_OK_AND_ASSIGN(auto stats, memory_store_.Stats());
  EXPECT_EQ(stats.events, 0);
}

TEST_F(WebhookHandlerTest, HostileJsonIsAnsweredWithoutCrashing) {
  std::string deep =
      R"({"id":"evt_deep","object":"event","type":"x","created":1,"data":{"object":)";
  for (int i = 0; i < 100000; ++i) deep += "[";
  EXPECT_EQ(handler_->Handle(Signed(deep)).status, 400);
  std::string surrogate = EventBody("evt_sur");
  surrogate.replace(surrogate.find("cus_1"), 5, "\\udc00");
  EXPECT_EQ(handler_->Handle(Signed(surrogate)).status, 400);
  // Numbers too large for int64 inside the object are kept (the raw bytes are the truth).
  std::string huge = EventBody("evt_huge");
  huge.replace(huge.find("\"email\":null"), 12,
               "\"a\":18446744073709551616,\"b\":1180591620717411303424");
  EXPECT_EQ(handler_->Handle(Signed(huge)).status, 200);
}

TEST_F(WebhookHandlerTest, ChunkedBodyIs411BeforeTheBodyIsRead) {
  HttpRequest r = Signed(EventBody("evt_chunked"));
  r.headers = {{"Transfer-Encoding", "chunked"}};
  std::optional<HttpResponse> early = handler_->CheckHeaders(r);
  ASSERT_TRUE(early);
  EXPECT_EQ(early->status, 411);
  EXPECT_TRUE(early->close_connection);
}

TEST_F(WebhookHandlerTest, MissingContentLengthIs411) {
  HttpRequest r = Signed(EventBody("evt_nolen"));
  r.headers = {{"Stripe-Signature", "t=1,v1=00"}};
  EXPECT_EQ(handler_->CheckHeaders(r)->status, 411);
}

TEST_F(WebhookHandlerTest, AnyContentEncodingIs415) {
  HttpRequest r = Signed(EventBody("evt_gz"));
  r.headers.push_back({"Content-Encoding", "gzip"});
  EXPECT_EQ(handler_->CheckHeaders(r)->status, 415);
}

TEST_F(WebhookHandlerTest, NonJsonContentTypeIs415) {
  HttpRequest r = Signed(EventBody("evt_form"));
  r.headers[0].second = "application/x-www-form-urlencoded";
  EXPECT_EQ(handler_->Handle(r).status, 415);
}

TEST_F(WebhookHandlerTest, BodyOverTheCapIs413) {
  Build(&memory_store_, /*max_body=*/64);
  HttpRequest r = Signed(EventBody("evt_big"));
  EXPECT_EQ(handler_->CheckHeaders(r)->status, 413);  // from Content-Length, before reading
  r.headers[1].second = "10";                         // a lying Content-Length
  EXPECT_EQ(handler_->Handle(r).status, 413);
}

TEST_F(WebhookHandlerTest, InvalidContentLengthIs400) {
  HttpRequest r = Signed(EventBody("evt_len"));
  for (const char* bad : {"-1", "abc", "1e3", "", "99999999999999999999999"}) {
    r.headers[1].second = bad;
    EXPECT_EQ(handler_->CheckHeaders(r)->status, 400) << bad;
  }
}

TEST_F(WebhookHandlerTest, WrongMethodIs405AndUnknownPathIs404) {
  HttpRequest r = Signed(EventBody("evt_m"));
  r.method = "GET";
  HttpResponse response = handler_->Handle(r);
  EXPECT_EQ(response.status, 405);
  r.method = "POST";
  r.path = "/nope";
  EXPECT_EQ(handler_->Handle(r).status, 404);
  EXPECT_EQ(Count("method_not_allowed"), 1);
  EXPECT_EQ(Count("not_found", "-"), 1);
}

TEST_F(WebhookHandlerTest, StoreFailureIs503AndTheEventIsNotLost) {
  memory_store_.SetFailAppends(absl::UnavailableError("disk on fire"));
  const std::string body = EventBody("evt_503");
  HttpResponse response = handler_->Handle(Signed(body));
  EXPECT_EQ(response.status, 503);
  EXPECT_THAT(response.body, Not(HasSubstr("disk on fire")));
  // Stripe retries; once the store is back the same event is stored.
  memory_store_.SetFailAppends(absl::OkStatus());
  EXPECT_EQ(handler_->Handle(Signed(body)).status, 200);
  EXPECT_OK(memory_store_.Get("evt_503"));
}

TEST_F(WebhookHandlerTest, AllowListRefusesOtherSourcesWith403) {
  ASSERT_NO_FATAL_FAILURE(BuildBehindAProxy());
  WebhookHandler* handler = handler_.get();
  HttpRequest request = Signed(EventBody("evt_allow"));
  request.remote_addr = "127.0.0.1";  // the proxy
  request.headers.push_back({"X-Forwarded-For", "6.6.6.6, 3.18.12.63"});
  EXPECT_EQ(handler->Handle(request).status, 200);
  request.headers.back().second = "3.18.12.63, 6.6.6.6";  // the proxy saw 6.6.6.6
  HttpResponse refused = handler->Handle(Signed(EventBody("evt_deny")));
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(handler->Handle(request).status, 403);
  EXPECT_EQ(Count("forbidden"), 2);
}

// A proxy that appends its own X-Forwarded-For line leaves the client's line first: the client
// could forge an allowed address there. The last entry of the last line decides.
TEST_F(WebhookHandlerTest, AllowListJudgesTheLastEntryOfTheLastForwardedForLine) {
  ASSERT_NO_FATAL_FAILURE(BuildBehindAProxy());
  WebhookHandler* handler = handler_.get();

  HttpRequest forged = Signed(EventBody("evt_forged"));
  forged.remote_addr = "127.0.0.1";                             // the proxy
  forged.headers.push_back({"X-Forwarded-For", "3.18.12.63"});  // sent by the client
  forged.headers.push_back({"x-forwarded-for", "6.6.6.6"});     // appended by the proxy
  EXPECT_EQ(handler->Handle(forged).status, 403);

  HttpRequest real = Signed(EventBody("evt_real"));
  real.remote_addr = "127.0.0.1";
  real.headers.push_back({"X-Forwarded-For", "6.6.6.6, 10.0.0.1"});
  real.headers.push_back({"X-Forwarded-For", " 3.18.12.63 "});
  EXPECT_EQ(handler->Handle(real).status, 200);

  // A last line that is empty names nobody: refused, not judged by an earlier line.
  HttpRequest empty_last = Signed(EventBody("evt_empty_last"));
  empty_last.remote_addr = "127.0.0.1";
  empty_last.headers.push_back({"X-Forwarded-For", "3.18.12.63"});
  empty_last.headers.push_back({"X-Forwarded-For", ""});
  EXPECT_EQ(handler->Handle(empty_last).status, 403);
  EXPECT_EQ(Count("forbidden"), 2);
  EXPECT_EQ(Count("stored"), 1);
}

TEST(HttpRequest, CombinedHeaderJoinsEveryLineInOrder) {
  HttpRequest r;
  r.headers = {{"X-Forwarded-For", "1.1.1.1, 2.2.2.2"},
               {"Host", "x"},
               {"x-forwarded-for", "3.3.3.3"},
               {"X-FORWARDED-FOR", ""}};
  EXPECT_EQ(r.CombinedHeader("X-Forwarded-For"), "1.1.1.1, 2.2.2.2,3.3.3.3,");
  EXPECT_EQ(r.CombinedHeader("Host"), "x");
  EXPECT_EQ(r.CombinedHeader("Stripe-Signature"), std::nullopt);
}

TEST_F(WebhookHandlerTest, HealthAndReadiness) {
  HttpRequest r;
  r.method = "GET";
  r.path = "/healthz";
  EXPECT_EQ(handler_->Handle(r).status, 200);
  r.path = "/readyz";
  EXPECT_EQ(handler_->Handle(r).status, 200);
  memory_store_.SetFailAppends(absl::ResourceExhaustedError("sqlite: INSERT INTO events: full"));
  const HttpResponse not_ready = handler_->Handle(r);
  EXPECT_EQ(not_ready.status, 503);
  // The public listener says no more: the reason names SQL and files.
  EXPECT_EQ(not_ready.body, "not ready\n");
}

TEST(HealthResponse, TheOpsListenerGivesTheReason) {
  HttpRequest r;
  r.method = "GET";
  r.path = "/readyz";
  auto failing = [] { return absl::UnavailableError("event store writer stalled"); };
  EXPECT_EQ(HealthResponse(HealthDetail::kReason, r, failing).body,
            "not ready: event store writer stalled\n");
  EXPECT_EQ(HealthResponse(HealthDetail::kNone, r, failing).body, "not ready\n");
  EXPECT_EQ(HealthResponse(HealthDetail::kNone, r, nullptr).body, "ready\n");
}

// The real store: a full disk (simulated with SQLite's max_page_count, since tests run as root
// and a read-only directory proves nothing) answers 503, and every 200 is readable afterwards.
TEST(WebhookHandlerSqlite, FullDiskAnswers503AndEvery200IsDurable) {
  const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/full_disk";
  store::SqliteEventStore::Options store_options;
  store_options.path = dir + "/events.db";
  store_options.max_size_bytes = 64 * 1024;
  auto sqlite = store::SqliteEventStore::Open(store_options);
  ASSERT_OK(sqlite);
  base::FakeClock clock(absl::FromUnixSeconds(kNow));
  metrics::Registry registry;
  convert::EventConverter converter;
  WebhookHandler::Options options;
  options.endpoints.push_back({"/webhook", Verifier({kSecret})});
  WebhookHandler::Deps deps{sqlite->get(), &converter, &clock, &registry, nullptr};
  ASSERT_OK_AND_ASSIGN(auto handler, WebhookHandler::Create(std::move(options), std::move(deps)));

  std::vector<std::string> acknowledged;
  int rejected = 0;
  for (int i = 0; i < 200 && rejected == 0; ++i) {
    std::string body = EventBody(absl::StrCat("evt_fill_", i));
    body.insert(body.size() - 3, absl::StrCat(",\"pad\":\"", std::string(2000, 'p'), "\""));
    HttpRequest r;
    r.method = "POST";
    r.path = "/webhook";
    r.body = body;
    r.headers = {{"Content-Length", std::to_string(body.size())},
                 {"Stripe-Signature", verify::SignatureHeader(kSecret, kNow, body)}};
    HttpResponse response = handler->Handle(r);
    if (response.status == 200) {
      acknowledged.push_back(absl::StrCat("evt_fill_", i));
    } else {
      EXPECT_EQ(response.status, 503);
      ++rejected;
    }
  }
  ASSERT_EQ(rejected, 1) << "the database never filled up";
  ASSERT_FALSE(acknowledged.empty());
  (*sqlite)->Close();
  store_options.max_size_bytes = 0;
  ASSERT_OK_AND_ASSIGN(auto reopened, store::SqliteEventStore::Open(store_options));
  for (const std::string& id : acknowledged) EXPECT_OK(reopened->Get(id)) << id;
}

}  // namespace
}  // namespace switchboard::server::ingress
