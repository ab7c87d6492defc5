// End to end: the real gateway (tests/util/server_process) and real handler processes, all on
// port 0, talking gRPC. Events go in as signed webhooks; what each handler answered is read
// back from the file its test_handler process records to. Every wait is for a condition, with
// a generous safety timeout; nothing asserts on timing.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "protos/switchboard/v1/gateway.grpc.pb.h"
#include "server/verify/signing.h"
#include "tests/util/child_process.h"
#include "tests/util/server_process.h"

namespace switchboard {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAreArray;

constexpr char kSecret[] = "whsec_e2e_delivery";
// A safety net only: conditions normally hold within a second.
constexpr absl::Duration kSafety = absl::Seconds(120);

// One line of a test_handler record file.
struct Record {
  std::string id;
  std::string type;
  int attempt = 0;
  std::string outcome;  // ok | retry | reject
  std::string typed;    // message full name or "-"
  std::string object;   // typed object id or "-"
};

std::vector<Record> ReadRecords(const std::string& path) {
  std::ifstream in(path);
  std::vector<Record> out;
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    if (f.size() < 6) continue;  // a line being written
    Record r;
    r.id = f[0];
    r.type = f[1];
    auto value = [](const std::string& kv) { return kv.substr(kv.find('=') + 1); };
    if (!absl::SimpleAtoi(value(f[2]), &r.attempt)) continue;
    r.outcome = value(f[3]);
    r.typed = value(f[4]);
    r.object = value(f[5]);
    out.push_back(r);
  }
  return out;
}

// ids -> how many times they were answered `outcome`.
std::map<std::string, int> Count(const std::vector<Record>& records,
                                 const std::string& outcome = "ok") {
  std::map<std::string, int> counts;
  for (const Record& r : records) {
    if (r.outcome == outcome) ++counts[r.id];
  }
  return counts;
}

bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout = kSafety) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return true;
}

bool HasAll(const std::map<std::string, int>& counts, const std::vector<std::string>& ids) {
  return std::all_of(ids.begin(), ids.end(),
                     [&](const std::string& id) { return counts.count(id) > 0; });
}

std::string ObjectKind(const std::string& type) { return type.substr(0, type.find('.')); }

std::string ObjectId(const std::string& event_id, const std::string& type) {
  static const std::map<std::string, std::string> kPrefix = {{"payment_intent", "pi_"},
                                                             {"charge", "ch_"},
                                                             {"invoice", "in_"},
                                                             {"customer", "cus_"},
                                                             {"payment_method", "pm_"}};
  auto it = kPrefix.find(ObjectKind(type));
  return absl::StrCat(it == kPrefix.end() ? "obj_" : it->second, event_id.substr(4));
}

// A v1 snapshot event as Stripe sends it (the fields a converter needs; the rest is optional).
std::string EventJson(const std::string& id, const std::string& type, int64_t created) {
  const std::string kind = ObjectKind(type);
  std::string object =
      absl::StrCat(R"({"id":")", ObjectId(id, type), R"(","object":")", kind, R"(")");
  if (kind == "payment_intent" || kind == "charge") {
    absl::StrAppend(&object, R"(,"amount":2000,"currency":"usd")");
  }
  if (kind == "payment_method") absl::StrAppend(&object, R"(,"type":"card","customer":"cus_1")");
  absl::StrAppend(&object, "}");
  return absl::StrCat(R"({"id":")", id, R"(","object":"event","api_version":"2024-06-20",)",
                      R"("created":)", created, R"(,"livemode":false,"pending_webhooks":1,)",
                      R"("request":{"id":null,"idempotency_key":null},"type":")", type,
                      R"(","data":{"object":)", object, "}}");
}

class E2eTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (auto& h : handlers_) {
      if (h->running()) h->Stop(SIGKILL);
    }
  }

  testing::ServerProcess::Options GatewayOptions() {
    testing::ServerProcess::Options o;
    o.data_dir = data_dir_;
    o.env = {{"STRIPE_WEBHOOK_SECRET", kSecret}};
    return o;
  }

  void StartGateway(std::map<std::string, std::string> extra_env = {}) {
    testing::ServerProcess::Options options = GatewayOptions();
    options.env.insert(extra_env.begin(), extra_env.end());
    gateway_ = std::make_unique<testing::ServerProcess>(options);
    ASSERT_TRUE(gateway_->Start().ok());
    stub_ = switchboard::v1::Gateway::NewStub(
        grpc::CreateChannel(GatewayAddress(), grpc::InsecureChannelCredentials()));
  }

  std::string GatewayAddress() const { return absl::StrCat("127.0.0.1:", gateway_->grpc_port()); }

  // POSTs a signed event; returns the HTTP status.
  int Post(const std::string& id, const std::string& type, int64_t created = 1719834000) {
    httplib::Client client("127.0.0.1", gateway_->http_port());
    const std::string body = EventJson(id, type, created);
    httplib::Headers headers = {
        {"Stripe-Signature",
         server::verify::SignatureHeader(kSecret, absl::ToUnixSeconds(absl::Now()), body)}};
    auto res = client.Post("/webhook", headers, body, "application/json");
    return res ? res->status : -1;
  }

  // Starts a test_handler and waits until it is registered. Returns its record file.
  testing::ChildProcess* StartHandler(const std::string& subscription,
                                      const std::vector<std::string>& types,
                                      const std::string& record,
                                      std::vector<std::string> extra = {},
                                      std::map<std::string, std::string> env = {}) {
    std::vector<std::string> argv = {
        "tests/e2e/test_handler", absl::StrCat("--gateway=", GatewayAddress()),
        absl::StrCat("--subscription=", subscription),
        absl::StrCat("--types=", absl::StrJoin(types, ",")), absl::StrCat("--record=", record)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return StartProcess(std::move(argv), std::move(env), "sdk_serving");
  }

  testing::ChildProcess* StartProcess(std::vector<std::string> argv,
                                      std::map<std::string, std::string> env,
                                      const std::string& ready) {
    handlers_.push_back(std::make_unique<testing::ChildProcess>(
        testing::ChildProcess::Options{std::move(argv), std::move(env)}));
    testing::ChildProcess* h = handlers_.back().get();
    EXPECT_TRUE(h->Start().ok());
    EXPECT_TRUE(h->WaitForLog(ready, kSafety)) << h->Log();
    return h;
  }

  std::string RecordPath(const std::string& name) { return absl::StrCat(data_dir_, "/", name); }

  std::vector<switchboard::v1::DeadLetter> DeadLetters(const std::string& subscription) {
    grpc::ClientContext context;
    switchboard::v1::ListDeadLettersRequest request;
    request.set_subscription(subscription);
    switchboard::v1::ListDeadLettersResponse response;
    grpc::Status status = stub_->ListDeadLetters(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.dead_letters().begin(), response.dead_letters().end()};
  }

  switchboard::v1::Subscription GetSubscription(const std::string& name) {
    grpc::ClientContext context;
    switchboard::v1::ListSubscriptionsResponse response;
    EXPECT_TRUE(stub_->ListSubscriptions(&context, {}, &response).ok());
    for (const auto& s : response.subscriptions()) {
      if (s.name() == name) return s;
    }
    ADD_FAILURE() << "no subscription " << name;
    return {};
  }

  // Runs tools/ctl against the gateway; returns its stdout+stderr and exit code.
  std::pair<std::string, int> Ctl(std::vector<std::string> args,
                                  std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), {"tools/ctl/ctl", absl::StrCat("--gateway=", GatewayAddress())});
    testing::ChildProcess::Finished ctl = testing::RunToExit({std::move(args), std::move(env)});
    return {ctl.output, ctl.exit_code};
  }

  std::string data_dir_ = testing::NewTempDir("e2e");
  std::unique_ptr<testing::ServerProcess> gateway_;
  std::unique_ptr<switchboard::v1::Gateway::Stub> stub_;
  std::vector<std::unique_ptr<testing::ChildProcess>> handlers_;
};

TEST_F(E2eTest, TwoHandlersEachReceiveExactlyTheirEventsTyped) {
  StartGateway();
  const std::string pay = RecordPath("pay"), bill = RecordPath("bill");
  StartHandler("payments", {"payment_intent.succeeded"}, pay);
  StartHandler("billing", {"invoice.paid", "charge.succeeded"}, bill);

  std::vector<std::string> pay_ids, bill_ids;
  for (int i = 0; i < 5; ++i) {
    pay_ids.push_back(absl::StrCat("evt_pi", i));
    ASSERT_EQ(Post(pay_ids.back(), "payment_intent.succeeded"), 200);
    bill_ids.push_back(absl::StrCat("evt_in", i));
    ASSERT_EQ(Post(bill_ids.back(), "invoice.paid"), 200);
    bill_ids.push_back(absl::StrCat("evt_ch", i));
    ASSERT_EQ(Post(bill_ids.back(), "charge.succeeded"), 200);
    // Nobody subscribed to these.
    ASSERT_EQ(Post(absl::StrCat("evt_cu", i), "customer.created"), 200);
    ASSERT_EQ(Post(absl::StrCat("evt_pc", i), "payment_intent.created"), 200);
  }
  ASSERT_TRUE(WaitFor([&] {
    return HasAll(Count(ReadRecords(pay)), pay_ids) && HasAll(Count(ReadRecords(bill)), bill_ids);
  })) << "payments got "
      << ReadRecords(pay).size() << ", billing " << ReadRecords(bill).size();

  std::vector<std::string> got_pay, got_bill;
  for (const auto& r : ReadRecords(pay)) {
    got_pay.push_back(r.id);
    EXPECT_EQ(r.type, "payment_intent.succeeded");
    EXPECT_EQ(r.typed, "stripe.v1.PaymentIntent") << r.id;
    EXPECT_EQ(r.object, ObjectId(r.id, r.type));
  }
  for (const auto& r : ReadRecords(bill)) {
    got_bill.push_back(r.id);
    EXPECT_EQ(r.typed, r.type == "invoice.paid" ? "stripe.v1.Invoice" : "stripe.v1.Charge") << r.id;
    EXPECT_EQ(r.object, ObjectId(r.id, r.type));
  }
  EXPECT_THAT(got_pay, UnorderedElementsAreArray(pay_ids));
  EXPECT_THAT(got_bill, UnorderedElementsAreArray(bill_ids));
}

TEST_F(E2eTest, PaymentsHandlerBinaryLogsTheSampleLine) {
  StartGateway();
  testing::ChildProcess* payments =
      StartProcess({"handlers/payments/payments", absl::StrCat("--gateway=", GatewayAddress())}, {},
                   "sdk_serving");
  ASSERT_EQ(Post("evt_sample1", "payment_intent.succeeded"), 200);
  EXPECT_TRUE(payments->WaitForLog(
      "PaymentIntent for 2000 usd was successful (pi_sample1, event evt_sample1)", kSafety))
      << payments->Log();
  EXPECT_EQ(payments->Stop(SIGTERM), 0);
  EXPECT_THAT(payments->Log(), HasSubstr("sdk_stopped subscription=payments ok=1"));
}

TEST_F(E2eTest, StoppedHandlerReceivesItsBacklogWhenItComesBack) {
  StartGateway();
  const std::string record = RecordPath("backlog");
  testing::ChildProcess* h = StartHandler("backlog", {"customer.created"}, record);
  ASSERT_EQ(Post("evt_before", "customer.created"), 200);
  ASSERT_TRUE(WaitFor([&] { return Count(ReadRecords(record)).count("evt_before") > 0; }));
  ASSERT_EQ(h->Stop(SIGTERM), 0) << "a drained handler exits 0";

  std::vector<std::string> backlog;
  for (int i = 0; i < 10; ++i) {
    backlog.push_back(absl::StrCat("evt_backlog", i));
    ASSERT_EQ(Post(backlog.back(), "customer.created"), 200);
  }
  EXPECT_EQ(GetSubscription("backlog").members_size(), 0) << "SIGTERM unsubscribed the member";
  for (const auto& r : ReadRecords(record)) EXPECT_EQ(r.id, "evt_before");

  StartHandler("backlog", {"customer.created"}, record);
  ASSERT_TRUE(WaitFor([&] { return HasAll(Count(ReadRecords(record)), backlog); }));
  for (const auto& [id, n] : Count(ReadRecords(record))) EXPECT_EQ(n, 1) << id;
}

TEST_F(E2eTest, RetriedTwiceThenDeliveredOnTheThirdAttempt) {
  StartGateway();
  const std::string record = RecordPath("retry");
  StartHandler("retry", {"invoice.paid"}, record,
               {"--retry=evt_flaky:2", "--initial_backoff=50ms", "--max_backoff=200ms"});
  ASSERT_EQ(Post("evt_flaky", "invoice.paid"), 200);
  ASSERT_TRUE(WaitFor([&] { return Count(ReadRecords(record)).count("evt_flaky") > 0; }));
  std::vector<std::string> seen;
  for (const auto& r : ReadRecords(record)) {
    seen.push_back(absl::StrCat(r.id, " ", r.attempt, " ", r.outcome));
  }
  EXPECT_THAT(seen, ElementsAre("evt_flaky 1 retry", "evt_flaky 2 retry", "evt_flaky 3 ok"));
}

TEST_F(E2eTest, RejectedEventIsDeadLetteredAndRedriveDeliversIt) {
  StartGateway();
  const std::string record = RecordPath("dead");
  StartHandler("dead", {"invoice.paid"}, record, {"--reject=evt_poison:1"});
  ASSERT_EQ(Post("evt_poison", "invoice.paid"), 200);
  ASSERT_TRUE(WaitFor([&] { return DeadLetters("dead").size() == 1; }));
  const switchboard::v1::DeadLetter dead = DeadLetters("dead")[0];
  EXPECT_EQ(dead.event_id(), "evt_poison");
  EXPECT_EQ(dead.event_type(), "invoice.paid");
  EXPECT_EQ(dead.attempts(), 1);
  EXPECT_THAT(dead.last_error(), HasSubstr("told to reject"));

  // Through the admin tool, as an operator would.
  auto [list, list_exit] = Ctl({"dead", "list", "dead"});
  EXPECT_EQ(list_exit, 0) << list;
  EXPECT_THAT(list, HasSubstr("evt_poison"));
  auto [redrive, redrive_exit] = Ctl({"dead", "redrive", "dead", "--ids=evt_poison"});
  EXPECT_EQ(redrive_exit, 0) << redrive;
  EXPECT_THAT(redrive, HasSubstr("redriven 1"));

  ASSERT_TRUE(WaitFor([&] { return Count(ReadRecords(record)).count("evt_poison") > 0; }));
  std::vector<std::string> seen;
  for (const auto& r : ReadRecords(record)) {
    seen.push_back(absl::StrCat(r.id, " ", r.attempt, " ", r.outcome));
  }
  EXPECT_THAT(seen, ElementsAre("evt_poison 1 reject", "evt_poison 1 ok"));
  EXPECT_TRUE(DeadLetters("dead").empty());
}

TEST_F(E2eTest, ReplayResendsATimeRange) {
  StartGateway();
  const std::string record = RecordPath("replay");
  StartHandler("replay", {"customer.created"}, record);
  ASSERT_EQ(Post("evt_t1", "customer.created", 1700000000), 200);
  ASSERT_EQ(Post("evt_t2", "customer.created", 1700000100), 200);
  ASSERT_EQ(Post("evt_t3", "customer.created", 1700000200), 200);
  ASSERT_TRUE(WaitFor([&] {
    return HasAll(Count(ReadRecords(record)), {"evt_t1", "evt_t2", "evt_t3"});
  }));

  grpc::ClientContext context;
  switchboard::v1::ReplayRequest request;
  request.set_subscription("replay");
  request.mutable_created_after()->set_seconds(1700000100);   // inclusive
  request.mutable_created_before()->set_seconds(1700000201);  // exclusive
  switchboard::v1::ReplayResponse response;
  grpc::Status status = stub_->Replay(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.scheduled(), 2);

  ASSERT_TRUE(WaitFor([&] {
    auto c = Count(ReadRecords(record));
    return c["evt_t2"] == 2 && c["evt_t3"] == 2;
  }));
  EXPECT_EQ(Count(ReadRecords(record))["evt_t1"], 1);
}

TEST_F(E2eTest, TwoInstancesShareOneSubscription) {
  StartGateway();
  const std::string a = RecordPath("shared_a"), b = RecordPath("shared_b");
  // Each call takes a moment, so deliveries overlap and the gateway spreads them.
  StartHandler("shared", {"customer.created"}, a, {"--delay=20ms", "--workers=1"});
  StartHandler("shared", {"customer.created"}, b, {"--delay=20ms", "--workers=1"});
  ASSERT_TRUE(WaitFor([&] { return GetSubscription("shared").members_size() == 2; }));

  std::vector<std::string> ids;
  for (int i = 0; i < 40; ++i) {
    ids.push_back(absl::StrCat("evt_shared", i));
    ASSERT_EQ(Post(ids.back(), "customer.created"), 200);
  }
  auto both = [&] {
    std::vector<Record> all = ReadRecords(a);
    for (const auto& r : ReadRecords(b)) all.push_back(r);
    return all;
  };
  ASSERT_TRUE(WaitFor([&] { return HasAll(Count(both()), ids); }));
  for (const auto& [id, n] : Count(both())) EXPECT_EQ(n, 1) << id << " delivered twice";
  EXPECT_GT(ReadRecords(a).size(), 0u) << "instance a got nothing";
  EXPECT_GT(ReadRecords(b).size(), 0u) << "instance b got nothing";
}

TEST_F(E2eTest, ARollingDeployLosesNoEventOfANewType) {
  // v1 handles customer.created; v2 also invoice.paid. During the deploy both run, and a v1
  // instance restarts: it must neither narrow the subscription back (the cursor would skip
  // invoice.paid for good) nor ack an invoice.paid it cannot handle (it answers RETRY, and the
  // retry reaches v2).
  StartGateway();
  const std::string v1 = RecordPath("rolling_v1"), v2 = RecordPath("rolling_v2");
  const std::vector<std::string> fast_retries = {"--initial_backoff=10ms", "--max_backoff=50ms"};
  testing::ChildProcess* old_instance =
      StartHandler("rolling", {"customer.created"}, v1, fast_retries);
  StartHandler("rolling", {"customer.created", "invoice.paid"}, v2, fast_retries);
  ASSERT_EQ(old_instance->Stop(SIGTERM), 0);
  StartHandler("rolling", {"customer.created"}, v1, fast_retries);  // v1 again, after v2
  ASSERT_TRUE(WaitFor([&] { return GetSubscription("rolling").members_size() == 2; }));
  EXPECT_THAT(GetSubscription("rolling").event_types(),
              ::testing::UnorderedElementsAre("customer.created", "invoice.paid"));

  std::vector<std::string> invoices, customers;
  for (int i = 0; i < 20; ++i) {
    invoices.push_back(absl::StrCat("evt_rolling_inv", i));
    ASSERT_EQ(Post(invoices.back(), "invoice.paid"), 200);
    customers.push_back(absl::StrCat("evt_rolling_cus", i));
    ASSERT_EQ(Post(customers.back(), "customer.created"), 200);
  }
  auto handled = [&] {
    std::vector<Record> all = ReadRecords(v1);
    for (const auto& r : ReadRecords(v2)) all.push_back(r);
    return Count(all);
  };
  ASSERT_TRUE(WaitFor([&] { return HasAll(handled(), invoices) && HasAll(handled(), customers); }));
  for (const auto& [id, n] : handled()) EXPECT_EQ(n, 1) << id << " handled twice";
  for (const Record& r : ReadRecords(v1)) EXPECT_NE(r.type, "invoice.paid") << r.id;
  EXPECT_TRUE(DeadLetters("rolling").empty());
}

TEST_F(E2eTest, PythonHandlerBuiltFromTheProtosReceivesEvents) {
  StartGateway();
  const std::string record = RecordPath("python");
  char cwd[4096];
  ASSERT_NE(::getcwd(cwd, sizeof(cwd)), nullptr);
  testing::ChildProcess* py =
      StartProcess({"/usr/bin/python3", "tests/e2e/python_handler.py",
                    absl::StrCat("--gateway=", GatewayAddress()), "--subscription=python",
                    "--types=payment_intent.*", absl::StrCat("--record=", record)},
                   {{"PYTHONPATH", absl::StrCat(cwd, "/tests/e2e/py")}}, "python_handler ready");
  ASSERT_EQ(Post("evt_py1", "payment_intent.succeeded"), 200);
  ASSERT_EQ(Post("evt_py2", "payment_intent.canceled"), 200);
  ASSERT_EQ(Post("evt_py3", "invoice.paid"), 200);  // not subscribed
  ASSERT_EQ(Post("evt_py4", "payment_intent.created"), 200);

  auto lines = [&] {
    std::ifstream in(record);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  };
  ASSERT_TRUE(WaitFor([&] { return lines().size() >= 3; }));
  EXPECT_THAT(lines(),
              UnorderedElementsAreArray(
                  {"evt_py1 payment_intent.succeeded attempt=1 subscription=python object=pi_py1",
                   "evt_py2 payment_intent.canceled attempt=1 subscription=python object=pi_py2",
                   "evt_py4 payment_intent.created attempt=1 subscription=python object=pi_py4"}));
  EXPECT_EQ(py->Stop(SIGTERM), 0) << py->Log();
  EXPECT_EQ(GetSubscription("python").members_size(), 0);
}

TEST_F(E2eTest, WithGatewayTokensHandlersAndCtlSendTheirs) {
  const std::map<std::string, std::string> token = {{"SWITCHBOARD_GATEWAY_TOKEN", "tok_e2e"}};
  StartGateway(token);
  const std::string record = RecordPath("token");

  // Without the token the handler cannot register, and says why.
  testing::ChildProcess refused(
      {{"tests/e2e/test_handler", absl::StrCat("--gateway=", GatewayAddress()),
        "--subscription=token", "--types=invoice.paid", absl::StrCat("--record=", record)},
       {{"SWITCHBOARD_GATEWAY_TOKEN", ""}}});
  ASSERT_TRUE(refused.Start().ok());
  EXPECT_TRUE(refused.WaitForLog("UNAUTHENTICATED", kSafety)) << refused.Log();
  refused.WaitForLog("\x01never", kSafety);  // until it exits
  EXPECT_EQ(refused.Stop(0), 1);

  StartHandler("token", {"invoice.paid"}, record, {}, token);
  ASSERT_EQ(Post("evt_tok", "invoice.paid"), 200);
  ASSERT_TRUE(WaitFor([&] { return Count(ReadRecords(record)).count("evt_tok") > 0; }));

  auto [denied, denied_exit] = Ctl({"subs", "list"}, {{"SWITCHBOARD_GATEWAY_TOKEN", ""}});
  EXPECT_EQ(denied_exit, 1);
  EXPECT_THAT(denied, HasSubstr("UNAUTHENTICATED"));
  auto [list, list_exit] = Ctl({"subs", "list"}, token);
  EXPECT_EQ(list_exit, 0) << list;
  EXPECT_THAT(list, HasSubstr("token "));
  // Neither the gateway nor the handlers (refused or registered) ever log a configured secret.
  for (const std::string& log : {gateway_->Log(), refused.Log(), handlers_.back()->Log()}) {
    EXPECT_THAT(log, ::testing::Not(HasSubstr("tok_e2e")));
    EXPECT_THAT(log, ::testing::Not(HasSubstr(kSecret)));
  }
}

TEST_F(E2eTest, DeliversOverTlsToAHandlerThatRequiresIt) {
  // The gateway verifies the handler's certificate (handler_tls.ca_file); the handler serves
  // only TLS. The test certificate is for 127.0.0.1, the handler's advertised address.
  const std::string config = RecordPath("tls.textproto");
  std::ofstream(config) << "handler_tls { ca_file: \"tests/testdata/tls/test_server.crt\" }\n";
  testing::ServerProcess::Options options = GatewayOptions();
  options.extra_flags.push_back(absl::StrCat("--config=", config));
  gateway_ = std::make_unique<testing::ServerProcess>(options);
  ASSERT_TRUE(gateway_->Start().ok());
  stub_ = switchboard::v1::Gateway::NewStub(
      grpc::CreateChannel(GatewayAddress(), grpc::InsecureChannelCredentials()));

  const std::string record = RecordPath("tls");
  StartHandler("tls", {"invoice.paid"}, record,
               {"--tls_cert_file=tests/testdata/tls/test_server.crt",
                "--tls_key_file=tests/testdata/tls/test_server.key"});
  ASSERT_EQ(Post("evt_tls", "invoice.paid"), 200);
  ASSERT_TRUE(WaitFor([&] { return Count(ReadRecords(record)).count("evt_tls") > 0; }));
}

// A gateway restart in the middle of delivery: every event acknowledged with 200 reaches the
// handler, and the only ones sent twice are those whose acks were not yet committed.
class GatewayRestartTest : public E2eTest, public ::testing::WithParamInterface<int> {};

TEST_P(GatewayRestartTest, LosesNothingAcknowledgedAndResendsOnlyUnflushedAcks) {
  const int signal = GetParam();
  constexpr int kMaxInFlight = 4;
  StartGateway();
  const std::string record = RecordPath("restart");
  StartHandler("restart", {"customer.created"}, record,
               // 50 events/s: the 40 events left when the stop comes take ~0.8 s, a wide margin
               // for a slow machine to stop the gateway mid-delivery.
               {absl::StrCat("--max_in_flight=", kMaxInFlight), "--workers=2", "--delay=40ms"});

  std::vector<std::string> acked;
  for (int i = 0; i < 80; ++i) {
    const std::string id = absl::StrCat("evt_r", i);
    ASSERT_EQ(Post(id, "customer.created"), 200);
    acked.push_back(id);
  }
  // Stop the gateway in the middle of delivering them.
  ASSERT_TRUE(WaitFor([&] { return Count(ReadRecords(record)).size() >= 40; }));
  if (signal == SIGTERM) {
    ASSERT_TRUE(gateway_->Stop(SIGTERM).ok()) << "graceful shutdown exits 0";
  } else {
    ASSERT_TRUE(gateway_->Stop(SIGKILL).ok());
  }
  const std::map<std::string, int> before = Count(ReadRecords(record));
  ASSERT_LT(before.size(), acked.size()) << "the restart must come mid-delivery";

  StartGateway();  // same data dir, new ports; it dials the handler's registered address
  for (int i = 80; i < 100; ++i) {
    const std::string id = absl::StrCat("evt_r", i);
    ASSERT_EQ(Post(id, "customer.created"), 200);
    acked.push_back(id);
  }
  ASSERT_TRUE(WaitFor([&] { return HasAll(Count(ReadRecords(record)), acked); }))
      << "lost: some acknowledged events never reached the handler";

  int duplicates = 0;
  for (const auto& [id, n] : Count(ReadRecords(record))) duplicates += n - 1;
  // SIGTERM commits every ack it received, so only deliveries in flight at the stop come
  // again. After SIGKILL, acks since the last progress commit (every 50 ms) come again too;
  // the bound is loose but far below the 40+ events acked before the kill, so a gateway that
  // lost its progress would fail it.
  const int bound = signal == SIGTERM ? kMaxInFlight : kMaxInFlight + 20;
  std::cerr << "restart: " << before.size() << " of 80 delivered before the stop, " << duplicates
            << " re-sent (bound " << bound << ")\n";
  EXPECT_LE(duplicates, bound) << "re-sent more than the unflushed acks";
}

INSTANTIATE_TEST_SUITE_P(Signals, GatewayRestartTest, ::testing::Values(SIGTERM, SIGKILL),
                         [](const auto& info) {
                           return std::string(info.param == SIGTERM ? "Sigterm" : "Sigkill");
                         });

}  // namespace
}  // namespace switchboard
