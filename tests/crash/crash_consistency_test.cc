// Crash consistency: the real gateway under concurrent load, with a subscribed handler process
// (tests/e2e/test_handler, subscribed to every type), is killed with SIGKILL at random moments and
// restarted on the same data dir. Every event that got a 200 must be stored (read back through
// Gateway.ListEvents), the store must open cleanly every time, and in the end the handler must
// have received every acknowledged event at least once (the gateway redials the handler's
// registered address after each restart).
//
// The short form runs in `bazel test //...`. The long form (more trials, longer load) is:
//   bazel test //tests/crash:crash_consistency_test --test_env=CRASH_TRIALS=200 \
//       --test_env=CRASH_MAX_LOAD_MS=2000 --test_timeout=3600
// The random kill moments come from a seeded generator (CRASH_SEED) so a failure can be replayed.
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "protos/switchboard/v1/gateway.grpc.pb.h"
#include "server/verify/signing.h"
#include "tests/util/child_process.h"
#include "tests/util/list_events.h"
#include "tests/util/server_process.h"

namespace switchboard {
namespace {

constexpr char kSecret[] = "whsec_crash_test";

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

std::set<std::string> StoredIds(int grpc_port) {
  auto gateway = switchboard::v1::Gateway::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", grpc_port), grpc::InsecureChannelCredentials()));
  auto events = testing::ListAllEvents(*gateway, /*page_size=*/1000);
  EXPECT_TRUE(events.ok()) << "ListEvents: " << events.status();
  std::set<std::string> ids;
  if (events.ok()) {
    for (const auto& e : *events) ids.insert(e.id());
  }
  return ids;
}

// id -> times the handler acknowledged it OK, from its record file.
std::map<std::string, int> Delivered(const std::string& record) {
  std::ifstream in(record);
  std::map<std::string, int> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(" outcome=ok ") != std::string::npos) ++out[line.substr(0, line.find(' '))];
  }
  return out;
}

TEST(CrashConsistency, EveryAcknowledgedEventSurvivesSigkillAndIsDelivered) {
  const int trials = EnvInt("CRASH_TRIALS", 6);
  const int max_load_ms = EnvInt("CRASH_MAX_LOAD_MS", 400);
  std::mt19937 rng(EnvInt("CRASH_SEED", 20261128));
  const std::string data_dir = testing::NewTempDir("crash");
  testing::ServerProcess::Options options;
  options.data_dir = data_dir;
  options.env = {{"STRIPE_WEBHOOK_SECRET", kSecret}};

  absl::Mutex mu;
  std::set<std::string> acknowledged;  // every id that got a 200, over all trials
  int64_t next_id = 0;
  const std::string record = data_dir + "/handler.record";
  std::unique_ptr<testing::ChildProcess> handler;
  for (int trial = 0; trial < trials; ++trial) {
    testing::ServerProcess server(options);
    ASSERT_TRUE(server.Start().ok()) << "trial " << trial << ": the store must open cleanly";
    if (handler == nullptr) {
      // Registers once; its subscription and member address live in the gateway's store.
      handler = std::make_unique<testing::ChildProcess>(testing::ChildProcess::Options{
          {"tests/e2e/test_handler", absl::StrCat("--gateway=127.0.0.1:", server.grpc_port()),
           "--subscription=crash", "--types=*", "--start=beginning",
           absl::StrCat("--record=", record)},
          {}});
      ASSERT_TRUE(handler->Start().ok());
      ASSERT_TRUE(handler->WaitForLog("sdk_serving", absl::Seconds(120))) << handler->Log();
    }
    // Everything acknowledged so far, across all earlier crashes, is still there.
    const std::set<std::string> stored = StoredIds(server.grpc_port());
    for (const std::string& id : acknowledged) {
      ASSERT_TRUE(stored.count(id)) << "trial " << trial << ": lost acknowledged event " << id;
    }

    std::atomic<bool> stop{false};
    std::vector<std::thread> senders;
    for (int t = 0; t < 8; ++t) {
      senders.emplace_back([&] {
        httplib::Client client("127.0.0.1", server.http_port());
        client.set_keep_alive(true);
        while (!stop.load()) {
          int64_t n;
          {
            absl::MutexLock lock(&mu);
            n = next_id++;
          }
          const std::string id = absl::StrCat("evt_crash_", n);
          const std::string body = absl::StrCat(
              R"({"id":")", id, R"(","object":"event","api_version":"2024-06-20","created":)",
              1700000000 + n % 1000,
              R"(,"livemode":false,"type":"charge.succeeded","data":{"object":{"id":"ch_)", n,
              R"(","object":"charge","amount":)", n, "}}}");
          httplib::Headers headers = {
              {"Stripe-Signature",
               server::verify::SignatureHeader(kSecret, absl::ToUnixSeconds(absl::Now()), body)}};
          auto res = client.Post("/webhook", headers, body, "application/json");
          if (res && res->status == 200) {
            absl::MutexLock lock(&mu);
            acknowledged.insert(id);
          }
        }
      });
    }
    // Kill at a random moment of the load (not a timing assertion: any moment must be safe).
    absl::SleepFor(absl::Milliseconds(std::uniform_int_distribution<int>(20, max_load_ms)(rng)));
    ASSERT_TRUE(server.Stop(SIGKILL).ok());
    stop.store(true);
    for (auto& s : senders) s.join();
  }

  testing::ServerProcess last(options);
  ASSERT_TRUE(last.Start().ok());
  const std::set<std::string> stored = StoredIds(last.grpc_port());
  int lost = 0;
  for (const std::string& id : acknowledged) lost += stored.count(id) ? 0 : 1;
  EXPECT_EQ(lost, 0);
  EXPECT_GT(acknowledged.size(), 0u);

  // Delivery: wait (a safety net, not a timing assertion) until the handler has every event.
  std::map<std::string, int> delivered;
  int undelivered = 0;
  const absl::Time give_up = absl::Now() + absl::Seconds(180);
  do {
    absl::SleepFor(absl::Milliseconds(100));
    delivered = Delivered(record);
    undelivered = 0;
    for (const std::string& id : acknowledged) undelivered += delivered.count(id) ? 0 : 1;
  } while (undelivered > 0 && absl::Now() < give_up);
  EXPECT_EQ(undelivered, 0) << "acknowledged events never delivered to the handler";
  int64_t redelivered = 0;
  for (const auto& [id, n] : delivered) redelivered += n - 1;
  std::printf(
      "CRASH_RESULT trials=%d acknowledged=%zu stored=%zu lost=%d delivered=%zu "
      "undelivered=%d redelivered=%lld\n",
      trials, acknowledged.size(), stored.size(), lost, delivered.size(), undelivered,
      static_cast<long long>(redelivered));
  EXPECT_EQ(handler->Stop(SIGTERM), 0);
  ASSERT_TRUE(last.Stop(SIGTERM).ok());
}

}  // namespace
}  // namespace switchboard
