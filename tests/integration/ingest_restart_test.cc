// The ingest path end to end with the real binary: signed events POSTed over HTTP are stored,
// survive a SIGTERM and a restart on the same data dir, and read back through Gateway.GetEvent
// byte for byte. Ports are 0; the data dir is fresh.
#include <signal.h>

#include <atomic>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "protos/grpc/health/v1/health.grpc.pb.h"
#include "protos/switchboard/v1/gateway.grpc.pb.h"
#include "server/verify/signing.h"
#include "tests/testdata/example_events.h"
#include "tests/util/list_events.h"
#include "tests/util/server_process.h"

namespace switchboard {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;

constexpr char kSecret[] = "whsec_integration_current";
constexpr char kOldSecret[] = "whsec_integration_previous";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Sent {
  std::string id;
  std::string body;
};

// The example events from the test data, plus synthetic ones with unique ids.
std::vector<Sent> EventsToSend() {
  std::vector<Sent> out;
  for (const std::string& file : testdata::ExampleEventFiles()) {
    std::string body = testdata::ReadExampleEvent(file);
    const size_t at = body.find("\"id\": \"");
    const size_t end = body.find('"', at + 7);
    out.push_back({body.substr(at + 7, end - at - 7), body});
  }
  for (int i = 0; i < 60; ++i) {
    std::string id = absl::StrCat("evt_integration_", i);
    out.push_back(
        {id, absl::StrCat(
                 R"({"id":")", id, R"(","object":"event","api_version":"2024-06-20","created":)",
                 1700000000 + i, R"(,"livemode":false,"pending_webhooks":1,"request":null,)",
                 R"("type":"payment_intent.succeeded","data":{"object":)", R"({"id":"pi_)", i,
                 R"(","object":"payment_intent","amount":2000}}})")});
  }
  return out;
}

int Post(httplib::Client& client, const std::string& body, const std::string& secret) {
  httplib::Headers headers = {
      {"Stripe-Signature",
       server::verify::SignatureHeader(secret, absl::ToUnixSeconds(absl::Now()), body)}};
  auto res = client.Post("/webhook", headers, body, "application/json; charset=utf-8");
  return res ? res->status : -1;
}

class IngestRestartTest : public ::testing::Test {
 protected:
  testing::ServerProcess::Options Options() {
    testing::ServerProcess::Options o;
    o.data_dir = data_dir_;
    o.env = {{"STRIPE_WEBHOOK_SECRET", absl::StrCat(kSecret, ",", kOldSecret)}};
    return o;
  }
  std::string data_dir_ = testing::NewTempDir("ingest_restart");
};

TEST_F(IngestRestartTest, EveryAcknowledgedEventSurvivesARestart) {
  const std::vector<Sent> events = EventsToSend();
  ASSERT_THAT(events, SizeIs(::testing::Gt(80)));

  testing::ServerProcess first(Options());
  ASSERT_TRUE(first.Start().ok());

  // Several senders at once, as Stripe does, so batches share commits.
  absl::Mutex mu;
  std::vector<const Sent*> acknowledged;
  std::atomic<int> next{0};
  std::vector<std::thread> senders;
  for (int t = 0; t < 8; ++t) {
    senders.emplace_back([&, t] {
      httplib::Client client("127.0.0.1", first.http_port());
      client.set_keep_alive(true);
      for (int i = next++; i < static_cast<int>(events.size()); i = next++) {
        // Alternate secrets: both are active during a rotation.
        int status = Post(client, events[i].body, (i + t) % 2 ? kSecret : kOldSecret);
        EXPECT_EQ(status, 200) << events[i].id;
        if (status == 200) {
          absl::MutexLock lock(&mu);
          acknowledged.push_back(&events[i]);
        }
      }
    });
  }
  for (auto& s : senders) s.join();
  ASSERT_EQ(acknowledged.size(), events.size());

  {
    httplib::Client client("127.0.0.1", first.http_port());
    EXPECT_EQ(Post(client, events[0].body, kSecret), 200);  // a duplicate is still a 200
    EXPECT_EQ(Post(client, events[1].body, "whsec_attacker"), 400);
    auto health = client.Get("/healthz");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
    EXPECT_EQ(client.Get("/metrics")->status, 404);  // metrics stay off the public port
    httplib::Client ops("127.0.0.1", first.ops_port());
    auto metrics = ops.Get("/metrics");
    ASSERT_TRUE(metrics);
    EXPECT_THAT(metrics->body, HasSubstr("switchboard_webhook_requests_total{endpoint=\"/webhook\","
                                         "outcome=\"duplicate\"} 1"));
    EXPECT_THAT(metrics->body,
                ContainsRegex("switchboard_store_file_bytes\\{file=\"events.db\"\\} [1-9]"));
    EXPECT_THAT(metrics->body, ContainsRegex("switchboard_store_disk_free_bytes [1-9]"));
    EXPECT_EQ(ops.Get("/readyz")->status, 200);
  }
  ASSERT_TRUE(first.Stop(SIGTERM).ok()) << "graceful shutdown must exit 0";
  EXPECT_THAT(first.Log(), Not(HasSubstr(kSecret)));
  EXPECT_THAT(first.Log(), Not(HasSubstr(kOldSecret)));

  testing::ServerProcess second(Options());
  ASSERT_TRUE(second.Start().ok());
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", second.grpc_port()),
                                     grpc::InsecureChannelCredentials());
  auto gateway = switchboard::v1::Gateway::NewStub(channel);
  for (const Sent* sent : acknowledged) {
    grpc::ClientContext context;
    switchboard::v1::GetEventRequest request;
    request.set_id(sent->id);
    switchboard::v1::Event event;
    grpc::Status status = gateway->GetEvent(&context, request, &event);
    ASSERT_TRUE(status.ok()) << sent->id << ": " << status.error_message();
    EXPECT_EQ(event.raw_json(), sent->body) << sent->id;
    EXPECT_EQ(event.id(), sent->id);
    EXPECT_EQ(event.endpoint(), "/webhook");
    EXPECT_GT(event.sequence(), 0);
  }

  // Paging through ListEvents sees each event exactly once.
  auto all = testing::ListAllEvents(*gateway, /*page_size=*/17);
  ASSERT_TRUE(all.ok()) << all.status();
  std::set<std::string> listed;
  for (const auto& e : *all) {
    EXPECT_TRUE(e.raw_json().empty());
    EXPECT_TRUE(listed.insert(e.id()).second) << "listed twice: " << e.id();
  }
  EXPECT_EQ(listed.size(), events.size());

  {
    grpc::ClientContext context;
    switchboard::v1::Stats stats;
    ASSERT_TRUE(gateway->GetStats(&context, {}, &stats).ok());
    EXPECT_EQ(stats.events_stored(), static_cast<int64_t>(events.size()));
  }
  {
    grpc::ClientContext context;
    switchboard::v1::GetEventRequest request;
    request.set_id("evt_never_sent");
    switchboard::v1::Event event;
    EXPECT_EQ(gateway->GetEvent(&context, request, &event).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  {
    auto health = grpc::health::v1::Health::NewStub(channel);
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, {}, &response).ok());
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }
  ASSERT_TRUE(second.Stop(SIGTERM).ok());
}

TEST_F(IngestRestartTest, WithoutASecretItUsesAStoredDevelopmentSecretNotNoSecret) {
  testing::ServerProcess::Options o;
  o.data_dir = data_dir_;
  testing::ServerProcess server(o);
  ASSERT_TRUE(server.Start().ok());
  httplib::Client client("127.0.0.1", server.http_port());
  const Sent event = EventsToSend().back();
  // Unsigned and wrongly signed requests are refused...
  auto unsigned_res = client.Post("/webhook", event.body, "application/json");
  ASSERT_TRUE(unsigned_res);
  EXPECT_EQ(unsigned_res->status, 400);
  // ...and the generated secret, read from the data dir as tools/trigger does, is accepted.
  std::string secret = ReadFile(data_dir_ + "/dev_webhook_secret");
  secret.erase(secret.find_last_not_of("\n") + 1);
  ASSERT_THAT(secret, ::testing::StartsWith("whsec_dev_"));
  EXPECT_EQ(Post(client, event.body, secret), 200);
  EXPECT_THAT(server.Log(), Not(HasSubstr(secret)));
  EXPECT_THAT(server.Log(), HasSubstr("dev_webhook_secret"));
  ASSERT_TRUE(server.Stop(SIGTERM).ok());
}

TEST_F(IngestRestartTest, AStoreAtItsConfiguredSizeCapAnswers503AndReadyzTurns503) {
  const std::string config = data_dir_ + "/../capped.textproto";
  std::ofstream(config) << "store { max_size_bytes: 131072 }\n";
  testing::ServerProcess::Options o = Options();
  o.extra_flags = {absl::StrCat("--config=", config)};
  testing::ServerProcess server(o);
  ASSERT_TRUE(server.Start().ok()) << server.Log();
  httplib::Client client("127.0.0.1", server.http_port());
  int status = 200;
  int stored = 0;
  for (int i = 0; i < 200 && status == 200; ++i) {
    const std::string id = absl::StrCat("evt_cap_", i);
    status =
        Post(client,
             absl::StrCat(
                 R"({"id":")", id, R"(","object":"event","created":1700000000,"livemode":false,)",
                 R"("type":"charge.succeeded","data":{"object":{"id":"ch_1",)",
                 R"("object":"charge","description":")", std::string(4000, 'x'), R"("}}})"),
             kSecret);
    if (status == 200) ++stored;
  }
  EXPECT_EQ(status, 503);
  EXPECT_GT(stored, 0);
  httplib::Client ops("127.0.0.1", server.ops_port());
  EXPECT_EQ(ops.Get("/readyz")->status, 503);
  EXPECT_THAT(ops.Get("/metrics")->body, HasSubstr("switchboard_store_max_bytes 131072"));
  ASSERT_TRUE(server.Stop(SIGTERM).ok());
}

TEST_F(IngestRestartTest, RefusesToOpenTheGatewayApiOffLoopbackWithoutAuthentication) {
  testing::ServerProcess::Options o;
  o.data_dir = data_dir_;
  o.env = {{"STRIPE_WEBHOOK_SECRET", kSecret}};
  o.extra_flags = {"--grpc_addr=0.0.0.0:0"};
  testing::ServerProcess open(o);
  EXPECT_FALSE(open.Start().ok());
  EXPECT_THAT(open.Log(), HasSubstr("allow_unauthenticated_grpc"));
  EXPECT_FALSE(open.Stop(SIGTERM).ok());  // it had exited with an error

  // A token closes it; the opt-out is the other way in.
  o.env["SWITCHBOARD_GATEWAY_TOKEN"] = "tok_integration";
  testing::ServerProcess with_token(o);
  ASSERT_TRUE(with_token.Start().ok()) << with_token.Log();
  ASSERT_TRUE(with_token.Stop(SIGTERM).ok());
  o.env.erase("SWITCHBOARD_GATEWAY_TOKEN");
  o.extra_flags.push_back("--allow_unauthenticated_grpc");
  testing::ServerProcess opted_out(o);
  ASSERT_TRUE(opted_out.Start().ok()) << opted_out.Log();
  ASSERT_TRUE(opted_out.Stop(SIGTERM).ok());
}

TEST_F(IngestRestartTest, ASecondGatewayOnTheSameDataDirOrPortsIsRefused) {
  testing::ServerProcess first(Options());
  ASSERT_TRUE(first.Start().ok()) << first.Log();

  // The same data dir: both would deliver every stored event.
  testing::ServerProcess same_dir(Options());
  EXPECT_FALSE(same_dir.Start().ok());
  EXPECT_THAT(same_dir.Log(), HasSubstr("another gateway uses --data_dir"));
  EXPECT_THAT(same_dir.Log(), HasSubstr(absl::StrCat("pid ", first.pid())));
  EXPECT_FALSE(same_dir.Stop(SIGTERM).ok());  // it had exited with an error

  // The same HTTP or gRPC port with a data dir of its own: it would take a share of the traffic.
  for (const std::string& flag : {absl::StrCat("--http_addr=127.0.0.1:", first.http_port()),
                                  absl::StrCat("--grpc_addr=127.0.0.1:", first.grpc_port())}) {
    testing::ServerProcess::Options o = Options();
    o.data_dir = testing::NewTempDir("ingest_restart_intruder");
    o.extra_flags = {flag};
    testing::ServerProcess intruder(o);
    EXPECT_FALSE(intruder.Start().ok()) << flag;
    EXPECT_THAT(intruder.Log(), HasSubstr("cannot bind")) << flag;
    EXPECT_FALSE(intruder.Stop(SIGTERM).ok()) << flag;
  }

  // The first is untouched; once it has stopped, the data dir is free again.
  httplib::Client client("127.0.0.1", first.http_port());
  EXPECT_EQ(Post(client, EventsToSend().back().body, kSecret), 200);
  ASSERT_TRUE(first.Stop(SIGTERM).ok());
  testing::ServerProcess after(Options());
  ASSERT_TRUE(after.Start().ok()) << after.Log();
  ASSERT_TRUE(after.Stop(SIGTERM).ok());
}

TEST_F(IngestRestartTest, ANegativeToleranceIsRefusedNotTakenAsNoCheck) {
  const std::string config = data_dir_ + "/../negative_tolerance.textproto";
  std::ofstream(config) << "tolerance_seconds: -1\n";
  const std::string flagfile = data_dir_ + "/../negative_tolerance.flags";
  std::ofstream(flagfile) << "--tolerance=-5\n";
  // Every spelling abseil takes counts as given: a single dash and a flag file too.
  for (const std::string& flag : {std::string("--tolerance=-5"), std::string("-tolerance=-5"),
                                  "--flagfile=" + flagfile, "--config=" + config}) {
    testing::ServerProcess::Options o = Options();
    o.extra_flags = {flag};
    testing::ServerProcess server(o);
    EXPECT_FALSE(server.Start().ok()) << flag;
    EXPECT_THAT(server.Log(), HasSubstr("must not be negative")) << flag;
    EXPECT_FALSE(server.Stop(SIGTERM).ok()) << flag;
  }
  testing::ServerProcess::Options o = Options();
  o.extra_flags = {"--tolerance=0"};
  testing::ServerProcess server(o);
  ASSERT_TRUE(server.Start().ok()) << server.Log();
  EXPECT_THAT(server.Log(), HasSubstr("tolerance_seconds=0"));
  ASSERT_TRUE(server.Stop(SIGTERM).ok());
}

TEST_F(IngestRestartTest, RelativePathsUnderBazelRunMeanTheDirectoryTheCommandRanIn) {
  // `bazel run` starts the binary elsewhere and says where the user was.
  const std::string user_dir = testing::NewTempDir("ingest_restart_cwd");
  std::ofstream(user_dir + "/relative.textproto") << "tolerance_seconds: 7\n";
  testing::ServerProcess::Options o = Options();
  o.env["BUILD_WORKING_DIRECTORY"] = user_dir;
  o.extra_flags = {"--config=relative.textproto"};
  testing::ServerProcess server(o);
  ASSERT_TRUE(server.Start().ok()) << server.Log();
  EXPECT_THAT(server.Log(), HasSubstr("tolerance_seconds=7"));
  ASSERT_TRUE(server.Stop(SIGTERM).ok());
}

}  // namespace
}  // namespace switchboard
