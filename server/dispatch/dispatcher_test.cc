#include "server/dispatch/dispatcher.h"

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/base/clock.h"
#include "server/base/status_matchers.h"
#include "server/convert/event_converter.h"
#include "server/dispatch/event_proto.h"
#include "server/dispatch/fake_handler_connection.h"
#include "server/metrics/metrics.h"
#include "server/store/memory_event_store.h"

namespace switchboard::server::dispatch {
namespace {

using ::switchboard::base::StatusIs;
using ::switchboard::v1::Ack;
using ::switchboard::v1::Delivery;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class FixedRandom final : public RandomSource {
 public:
  double Uniform() override { return value; }
  double value = 0.5;
};

// Forwards to a MemoryEventStore and remembers how many events List handed out, to prove the
// dispatcher's memory bound.
class CountingEventStore final : public store::EventStore {
 public:
  explicit CountingEventStore(store::MemoryEventStore* inner) : inner_(inner) {}
  absl::StatusOr<store::AppendResult> Append(const store::EventRecord& r) override {
    return inner_->Append(r);
  }
  absl::StatusOr<store::EventRecord> Get(absl::string_view id) override {
    ++gets;
    return inner_->Get(id);
  }
  absl::StatusOr<std::vector<store::EventRecord>> List(const store::EventQuery& q) override {
    if (on_list) {
      // Runs once (it may call back into the dispatcher, which lists too).
      std::function<void()> hook = std::move(on_list);
      on_list = nullptr;
      hook();
    }
    auto r = inner_->List(q);
    ++lists;
    last_after = q.after_sequence;
    if (r.ok()) listed += static_cast<int64_t>(r->size());
    max_limit = std::max(max_limit, q.limit);
    return r;
  }
  absl::StatusOr<store::StoreStats> Stats() override { return inner_->Stats(); }
  absl::StatusOr<int64_t> DeleteReceivedBefore(absl::Time t) override {
    return inner_->DeleteReceivedBefore(t);
  }
  absl::Status CheckWritable() override { return inner_->CheckWritable(); }
  void Close() override { inner_->Close(); }

  int64_t listed = 0;
  int64_t lists = 0;
  int64_t gets = 0;
  int max_limit = 0;
  int64_t last_after = -1;  // after_sequence of the last List
  // Called at the start of the next List, once.
  std::function<void()> on_list;

 private:
  store::MemoryEventStore* inner_;
};

// The delivery state of a log far longer than a test could append: kLength events, one per
// sequence, all matching every pattern, the first kOld of them received before any cutoff asked
// about. Subscriptions, progress, retries and dead letters are kept by `state`.
class LongLogDeliveryStore final : public store::DeliveryStore {
 public:
  static constexpr int64_t kLength = 3000000;
  static constexpr int64_t kOld = 2500000;

  explicit LongLogDeliveryStore(store::MemoryEventStore* state) : state_(state) {}
  absl::Status PutSubscription(const store::SubscriptionRecord& r) override {
    return state_->PutSubscription(r);
  }
  absl::Status DeleteSubscription(absl::string_view name) override {
    return state_->DeleteSubscription(name);
  }
  absl::StatusOr<std::vector<store::SubscriptionRecord>> ListSubscriptions() override {
    return state_->ListSubscriptions();
  }
  absl::Status CommitProgress(const store::ProgressBatch& batch) override {
    return state_->CommitProgress(batch);
  }
  absl::StatusOr<std::vector<store::RetryRecord>> ListRetries(absl::string_view subscription,
                                                              absl::Time due_before,
                                                              int limit) override {
    return state_->ListRetries(subscription, due_before, limit);
  }
  absl::StatusOr<std::vector<store::RetryRecord>> ListRetriesAfter(absl::string_view subscription,
                                                                   int64_t after_sequence,
                                                                   int limit) override {
    return state_->ListRetriesAfter(subscription, after_sequence, limit);
  }
  absl::StatusOr<std::vector<store::DeadLetterRecord>> ListDeadLetters(
      absl::string_view subscription, int64_t after_sequence, int limit) override {
    return state_->ListDeadLetters(subscription, after_sequence, limit);
  }
  absl::StatusOr<int64_t> LastSequence() override { return kLength; }
  absl::StatusOr<int64_t> LastSequenceReceivedBefore(absl::Time) override { return kOld; }
  absl::StatusOr<int64_t> CountAfter(const std::vector<std::string>& types, int64_t cursor,
                                     int64_t cap) override {
    return CountBetween(types, cursor, kLength, cap);
  }
  absl::StatusOr<int64_t> CountBetween(const std::vector<std::string>&, int64_t after_sequence,
                                       int64_t up_to_sequence, int64_t limit) override {
    const int64_t n =
        std::min(up_to_sequence, kLength) - std::clamp<int64_t>(after_sequence, 0, kLength);
    return std::clamp<int64_t>(n, 0, limit);
  }

 private:
  store::MemoryEventStore* const state_;
};

class DispatcherTest : public ::testing::Test {
 protected:
  const absl::Time kStart = absl::FromUnixSeconds(1700000000);

  DispatcherTest() : clock_(kStart), events_(&store_) {}
  ~DispatcherTest() override { dispatcher_.reset(); }

  void Create(Dispatcher::Options options = {}) {
    dispatcher_.reset();
    Dispatcher::Deps deps;
    deps.events = &events_;
    deps.delivery = &store_;
    deps.converter = &converter_;
    deps.connections = &connections_;
    deps.clock = &clock_;
    deps.random = &random_;
    deps.metrics = &metrics_;
    auto d = Dispatcher::Create(std::move(options), deps);
    ASSERT_OK(d.status());
    dispatcher_ = *std::move(d);
  }

  // Appends an event received now; returns its id.
  std::string Append(const std::string& type, const std::string& object_id = "obj_1",
                     bool livemode = false, const std::string& account = "") {
    const std::string id = absl::StrCat("evt_", ++next_event_);
    store::EventRecord r;
    r.id = id;
    r.type = type;
    r.object_id = object_id;
    r.created = kStart;
    r.received_at = clock_.Now();
    r.endpoint = "/webhook";
    r.livemode = livemode;
    r.account = account;
    r.raw_json = absl::StrCat(R"({"id":")", id, R"(","object":"event","type":")", type,
                              R"(","created":1700000000,"livemode":)", livemode ? "true" : "false",
                              account.empty() ? "" : absl::StrCat(R"(,"account":")", account, "\""),
                              R"(,"data":{"object":{"id":")", object_id,
                              R"(","object":"payment_intent"}}})");
    auto appended = store_.Append(r);
    EXPECT_OK(appended.status());
    if (dispatcher_) dispatcher_->Notify();
    return id;
  }

  static switchboard::v1::Subscription Spec(const std::string& name,
                                            std::vector<std::string> types = {"*"},
                                            int max_in_flight = 0) {
    switchboard::v1::Subscription s;
    s.set_name(name);
    for (const auto& t : types) s.add_event_types(t);
    s.set_max_in_flight(max_in_flight);
    s.mutable_start()->set_beginning(true);
    return s;
  }

  FakeHandlerConnection* Subscribe(const switchboard::v1::Subscription& spec,
                                   const std::string& member) {
    auto s = dispatcher_->Subscribe(spec, member);
    EXPECT_OK(s.status());
    return connections_.Get(member);
  }

  // Subscribe, then the member's stream comes up.
  FakeHandlerConnection* SubscribeUp(const switchboard::v1::Subscription& spec,
                                     const std::string& member) {
    FakeHandlerConnection* h = Subscribe(spec, member);
    if (h != nullptr) h->Up();
    return h;
  }

  // One pass at the clock's time; returns when the next is due (a monotonic time).
  absl::Time Pass() { return dispatcher_->ProcessDue(Dispatcher::Instant::Of(clock_)); }

  // One pass sends what is due to `h`; it rejects all of it; the next pass dead-letters it.
  void RejectEverythingSent(FakeHandlerConnection* h) {
    Pass();
    for (const Delivery& d : h->TakeSent()) h->Ack(d.delivery_id(), Ack::REJECT);
    Pass();
  }

  // Subscription "s" (`spec` with max_attempts 1, so a counted failure is a dead letter) with
  // one delivery written to its member and a second queued unsent behind it: the member's
  // handler stopped reading.
  struct WrittenAndQueued {
    FakeHandlerConnection* h = nullptr;
    std::string written;    // event id of the delivery the handler received
    std::string queued;     // event id of the one still queued unsent
    std::string queued_id;  // its delivery id
  };
  void WriteOneQueueOne(switchboard::v1::Subscription spec, WrittenAndQueued* out) {
    Create();
    out->written = Append("a.b");
    spec.mutable_retry_policy()->set_max_attempts(1);
    out->h = Subscribe(spec, "h1:1");
    out->h->Up();
    Pass();
    ASSERT_EQ(out->h->TakeSent().size(), 1u);
    out->h->Stall();
    out->queued = Append("a.b");
    Pass();
    ASSERT_EQ(out->h->queued().size(), 1u);
    out->queued_id = out->h->queued()[0];
  }
  // Once `h` reads again, `queued` arrives as its first attempt and is acked; only `written`
  // ended as a dead letter.
  void ExpectQueuedArrivesAsFirstAttempt(const WrittenAndQueued& w) {
    std::vector<Delivery> sent = w.h->TakeSent();
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].event().id(), w.queued);
    EXPECT_EQ(sent[0].attempt(), 1);
    w.h->Ack(sent[0].delivery_id(), Ack::OK);
    Pass();
    std::vector<store::DeadLetterRecord> dead = DeadLetters("s");
    ASSERT_EQ(dead.size(), 1u);
    EXPECT_EQ(dead[0].event_id, w.written);
    EXPECT_TRUE(Retries("s").empty());
    EXPECT_EQ(StoredCursor("s"), 2);
  }

  static std::vector<std::string> Ids(const std::vector<Delivery>& ds) {
    std::vector<std::string> out;
    for (const Delivery& d : ds) out.push_back(d.event().id());
    return out;
  }

  std::vector<store::RetryRecord> Retries(const std::string& sub) {
    EXPECT_OK(dispatcher_->FlushProgress());
    auto r = store_.ListRetries(sub, absl::InfiniteFuture(), 1000);
    EXPECT_OK(r.status());
    return r.ok() ? *r : std::vector<store::RetryRecord>{};
  }

  std::vector<store::DeadLetterRecord> DeadLetters(const std::string& sub) {
    auto r = dispatcher_->ListDeadLetters(sub, 0, 1000);
    EXPECT_OK(r.status());
    return r.ok() ? *r : std::vector<store::DeadLetterRecord>{};
  }

  int64_t StoredCursor(const std::string& sub) {
    auto subs = store_.ListSubscriptions();
    EXPECT_OK(subs.status());
    for (const auto& s : *subs) {
      if (s.name == sub) return s.cursor;
    }
    ADD_FAILURE() << "no stored subscription " << sub;
    return -1;
  }

  switchboard::v1::Subscription Listed(const std::string& sub) {
    auto subs = dispatcher_->ListSubscriptions();
    EXPECT_OK(subs.status());
    for (const auto& s : *subs) {
      if (s.name() == sub) return s;
    }
    ADD_FAILURE() << "no subscription " << sub;
    return {};
  }

  base::FakeClock clock_;
  store::MemoryEventStore store_;
  CountingEventStore events_;
  convert::EventConverter converter_;
  FakeHandlerConnectionFactory connections_;
  FixedRandom random_;
  metrics::Registry metrics_;
  std::unique_ptr<Dispatcher> dispatcher_;
  int next_event_ = 0;
};

TEST_F(DispatcherTest, DeliversMatchingEventsInStoreOrder) {
  Create();
  const std::string a = Append("payment_intent.created");
  Append("charge.succeeded");
  const std::string b = Append("payment_intent.succeeded");
  FakeHandlerConnection* h = Subscribe(Spec("billing", {"payment_intent.*"}), "h1:1");
  ASSERT_NE(h, nullptr);
  h->Up();
  Pass();
  std::vector<Delivery> sent = h->TakeSent();
  EXPECT_THAT(Ids(sent), ElementsAre(a, b));
  EXPECT_EQ(sent[0].attempt(), 1);
  EXPECT_EQ(sent[0].subscription(), "billing");
  EXPECT_EQ(sent[0].event().type(), "payment_intent.created");
  EXPECT_EQ(sent[0].event().sequence(), 1);
  EXPECT_EQ(sent[0].event().endpoint(), "/webhook");
  EXPECT_FALSE(sent[0].event().raw_json().empty());
  EXPECT_NE(sent[0].delivery_id(), sent[1].delivery_id());
}

TEST_F(DispatcherTest, TypedMissesAreCountedWhenAnEventIsConvertedForDelivery) {
  Create();
  // A payment_intent whose amount is a string and whose amount_received exceeds int64.
  store::EventRecord r;
  r.id = "evt_miss";
  r.type = "payment_intent.succeeded";
  r.object_id = "pi_1";
  r.created = kStart;
  r.received_at = kStart;
  r.endpoint = "/webhook";
  r.raw_json = absl::StrCat(
      R"({"id":"evt_miss","object":"event","api_version":"2024-06-20","created":1700000000,)",
      R"("livemode":false,"type":"payment_intent.succeeded","data":{"object":{"id":"pi_1",)",
      R"("object":"payment_intent","amount":"4900","amount_received":1180591620717411303424,)",
      R"("currency":"usd"}}})");
  ASSERT_OK(store_.Append(r).status());
  auto misses = [this] {
    int64_t n = -1;
    for (const auto& [labels, value] :
         metrics_.CounterValues("switchboard_convert_typed_misses_total")) {
      n = value;
    }
    return n;
  };
  EXPECT_EQ(misses(), 0);  // the series exists from the start
  FakeHandlerConnection* a = Subscribe(Spec("a"), "h1:1");
  FakeHandlerConnection* b = Subscribe(Spec("b"), "h2:1");
  a->Up();
  b->Up();
  Pass();
  ASSERT_EQ(a->TakeSent().size(), 1u);
  std::vector<Delivery> sent = b->TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_THAT(sent[0].event().data().typed_misses(), ElementsAre("amount", "amount_received"));
  EXPECT_EQ(misses(), 2);  // one conversion for both subscriptions
}

TEST_F(DispatcherTest, NewSubscriptionStartsNowByDefault) {
  Create();
  Append("a.b");
  auto spec = Spec("s");
  spec.clear_start();
  FakeHandlerConnection* h = Subscribe(spec, "h1:1");
  const std::string later = Append("a.b");
  h->Up();
  Pass();
  EXPECT_THAT(Ids(h->TakeSent()), ElementsAre(later));
}

TEST_F(DispatcherTest, StartsFromAGivenTime) {
  Create();
  Append("a.b");
  clock_.Advance(absl::Minutes(1));
  const std::string second = Append("a.b");
  auto spec = Spec("s");
  *spec.mutable_start()->mutable_time() = ToProtoTime(kStart + absl::Seconds(30));
  FakeHandlerConnection* h = SubscribeUp(spec, "h1:1");
  Pass();
  EXPECT_THAT(Ids(h->TakeSent()), ElementsAre(second));
}

TEST_F(DispatcherTest, FiltersByLivemodeAndAccount) {
  Create();
  Append("a.b", "o", /*livemode=*/false, "acct_1");
  const std::string want = Append("a.b", "o", /*livemode=*/true, "acct_1");
  Append("a.b", "o", /*livemode=*/true, "acct_2");
  Append("a.b", "o", /*livemode=*/true, "");
  auto spec = Spec("s");
  spec.set_livemode(true);
  spec.add_accounts("acct_1");
  FakeHandlerConnection* h = SubscribeUp(spec, "h1:1");
  Pass();
  EXPECT_THAT(Ids(h->TakeSent()), ElementsAre(want));
  ASSERT_OK(dispatcher_->FlushProgress());
  EXPECT_EQ(StoredCursor("s"), 1);  // held below the unacked event, not the skipped ones
}

TEST_F(DispatcherTest, WindowLimitsInFlightDeliveries) {
  Create();
  for (int i = 0; i < 5; ++i) Append("a.b");
  FakeHandlerConnection* h = SubscribeUp(Spec("s", {"*"}, /*max_in_flight=*/2), "h1:1");
  Pass();
  std::vector<Delivery> sent = h->TakeSent();
  ASSERT_EQ(sent.size(), 2u);
  Pass();
  EXPECT_TRUE(h->TakeSent().empty());
  h->Ack(sent[1].delivery_id(), Ack::OK);
  Pass();
  EXPECT_THAT(Ids(h->TakeSent()), ElementsAre("evt_3"));
  EXPECT_EQ(Listed("s").stats().in_flight(), 2);
}

TEST_F(DispatcherTest, SpreadsDeliveriesOverMembers) {
  Create();
  for (int i = 0; i < 6; ++i) Append("a.b");
  FakeHandlerConnection* h1 = Subscribe(Spec("s", {"*"}, 6), "h1:1");
  FakeHandlerConnection* h2 = Subscribe(Spec("s", {"*"}, 6), "h2:1");
  h1->Up();
  h2->Up();
  Pass();
  EXPECT_EQ(h1->TakeSent().size(), 3u);
  EXPECT_EQ(h2->TakeSent().size(), 3u);
}

TEST_F(DispatcherTest, AcksAdvanceALowWatermarkCursorCommittedInBatches) {
  Create();
  for (int i = 0; i < 3; ++i) Append("a.b");
  FakeHandlerConnection* h = SubscribeUp(Spec("s"), "h1:1");
  Pass();
  std::vector<Delivery> sent = h->TakeSent();
  ASSERT_EQ(sent.size(), 3u);
  h->Ack(sent[1].delivery_id(), Ack::OK);  // the second first: the cursor cannot pass the first
  Pass();
  ASSERT_OK(dispatcher_->FlushProgress());
  EXPECT_EQ(StoredCursor("s"), 0);
  h->Ack(sent[0].delivery_id(), Ack::OK);
  Pass();
  EXPECT_EQ(StoredCursor("s"), 0);  // not committed until the next flush
  ASSERT_OK(dispatcher_->FlushProgress());
  EXPECT_EQ(StoredCursor("s"), 2);
  h->Ack(sent[2].delivery_id(), Ack::OK);
  Pass();
  ASSERT_OK(dispatcher_->FlushProgress());
  EXPECT_EQ(StoredCursor("s"), 3);
  EXPECT_EQ(Listed("s").stats().delivered(), 3);
}

TEST_F(DispatcherTest, RetryUsesExponentialBackoffWithFullJitter) {
  Create();
  Append("a.b");
  FakeHandlerConnection* h = SubscribeUp(Spec("s"), "h1:1");
  Pass();
  random_.value = 0.5;
  h->Ack(h->TakeSent()[0].delivery_id(), Ack::RETRY, "db busy");
  Pass();
  std::vector<store::RetryRecord> r = Retries("s");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].attempts, 1);
  EXPECT_EQ(r[0].next_at, kStart + absl::Milliseconds(500));  // 0.5 * 1 s
  EXPECT_THAT(r[0].last_error, HasSubstr("db busy"));
  EXPECT_EQ(StoredCursor("s"), 1);  // parked: the cursor moved past it

  clock_.Advance(absl::Milliseconds(499));
  Pass();
  EXPECT_TRUE(h->TakeSent().empty());
  clock_.Advance(absl::Milliseconds(1));
  Pass();
  std::vector<Delivery> again = h->TakeSent();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].attempt(), 2);

  random_.value = 0.999999;  // the top of the second ceiling, 2 s
  h->Ack(again[0].delivery_id(), Ack::RETRY);
  Pass();
  r = Retries("s");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].attempts, 2);
  EXPECT_GT(r[0].next_at, clock_.Now() + absl::Milliseconds(1990));
  EXPECT_LE(r[0].next_at, clock_.Now() + absl::Seconds(2));
  EXPECT_EQ(r[0].first_attempt_at, kStart);

  random_.value = 0.0;  // full jitter can retry at once
  clock_.Advance(absl::Seconds(2));
  Pass();
  again = h->TakeSent();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].attempt(), 3);
  h->Ack(again[0].delivery_id(), Ack::RETRY);
  Pass();  // parked and, due at once, sent again in the same pass
  again = h->TakeSent();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].attempt(), 4);
  r = Retries("s");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].attempts, 3);
  EXPECT_EQ(r[0].next_at, clock_.Now());
  h->Ack(again[0].delivery_id(), Ack::OK);
  Pass();
  EXPECT_TRUE(Retries("s").empty());
  EXPECT_EQ(Listed("s").stats().retries(), 3);
}

TEST_F(DispatcherTest, BackoffIsCappedAtMaxBackoff) {
  Create();
  Append("a.b");
  auto spec = Spec("s");
  *spec.mutable_retry_policy()->mutable_max_backoff() = ToProtoDuration(absl::Seconds(3));
  FakeHandlerConnection* h = SubscribeUp(spec, "h1:1");
  random_.value = 0.999999;
  for (int attempt = 1; attempt <= 5; ++attempt) {
    clock_.Advance(absl::Seconds(10));
    Pass();
    std::vector<Delivery> sent = h->TakeSent();
    ASSERT_EQ(sent.size(), 1u) << attempt;
    EXPECT_EQ(sent[0].attempt(), attempt);
    h->Ack(sent[0].delivery_id(), Ack::RETRY);
    Pass();
    std::vector<store::RetryRecord> r = Retries("s");
    ASSERT_EQ(r.size(), 1u);
    EXPECT_LE(r[0].next_at - clock_.Now(), absl::Seconds(3));
  }
}

TEST_F(DispatcherTest, RetryAfterIsHonouredAsAMinimum) {
  Create();
  Append("a.b");
  FakeHandlerConnection* h = SubscribeUp(Spec("s"), "h1:1");
  Pass();
  random_.value = 0.0;
  h->Ack(h->TakeSent()[0].delivery_id(), Ack::RETRY, "rate limited", absl::Minutes(5));
  Pass();
  std::vector<store::RetryRecord> r = Retries("s");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].next_at, kStart + absl::Minutes(5));
  clock_.Advance(absl::Minutes(4));
  Pass();
  EXPECT_TRUE(h->TakeSent().empty());
  clock_.Advance(absl::Minutes(1));
  Pass();
  EXPECT_EQ(h->TakeSent().size(), 1u);
}

TEST_F(DispatcherTest, UnspecifiedOutcomeCountsAsRetry) {
  Create();
  Append("a.b");
  FakeHandlerConnection* h = SubscribeUp(Spec("s"), "h1:1");
  Pass();
  Ack ack;
  ack.set_delivery_id(h->TakeSent()[0].delivery_id());  // outcome left UNSPECIFIED
  h->RawAck(ack);
  Pass();
  std::vector<store::RetryRecord> r = Retries("s");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].attempts, 1);
  EXPECT_TRUE(DeadLetters("s").empty());
  EXPECT_EQ(Listed("s").stats().delivered(), 0);
}

TEST_F(DispatcherTest, RejectMovesTheEventToDeadLetters) {
  Create();
  const std::string id = Append("a.b");
  Append("a.b");
  FakeHandlerConnection* h = SubscribeUp(Spec("s"), "h1:1");
  Pass();
  std::vector<Delivery> sent = h->TakeSent();
  h->Ack(sent[0].delivery_id(), Ack::REJECT, "unknown customer");
  h->Ack(sent[1].delivery_id(), Ack::OK);
  Pass();
  std::vector<store::DeadLetterRecord> dead = DeadLetters("s");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].event_id, id);
  EXPECT_EQ(dead[0].event_type, "a.b");
  EXPECT_EQ(dead[0].attempts, 1);
  EXPECT_THAT(dead[0].last_error, HasSubstr("unknown customer"));
  EXPECT_TRUE(Retries("s").empty());
  EXPECT_EQ(StoredCursor("s"), 2);
  EXPECT_EQ(Listed("s").stats().dead_letters(), 1);
}

TEST_F(DispatcherTest, MaxAttemptsExhaustionDeadLetters) {
  Create();
  Append("a.b");
  auto spec = Spec("s");
  spec.mutable_retry_policy()->set_max_attempts(2);
  FakeHandlerConnection* h = SubscribeUp(spec, "h1:1");
  random_.value = 0.0;
  Pass();
  h->Ack(h->TakeSent()[0].delivery_id(), Ack::RETRY);
  Pass();
  Pass();
  std::vector<Delivery> sent = h->TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].attempt(), 2);
  h->Ack(sent[0].delivery_id(), Ack::RETRY, "still busy");
  Pass();
  std::vector<store::DeadLetterRecord> dead = DeadLetters("s");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].attempts, 2);
  EXPECT_THAT(dead[0].last_error, HasSubstr("still busy"));
  EXPECT_TRUE(Retries("s").empty());
  Pass();
  EXPECT_TRUE(h->TakeSent().empty());
}

TEST_F(DispatcherTest, MaxAgeExhaustionDeadLetters) {
  Create();
  Append("a.b");
  auto spec = Spec("s");
  *spec.mutable_retry_policy()->mutable_max_age() = ToProtoDuration(absl::Seconds(10));
  *spec.mutable_retry_policy()->mutable_initial_backoff() = ToProtoDuration(absl::Seconds(1));
  FakeHandlerConnection* h = SubscribeUp(spec, "h1:1");
  Pass();
  h->Ack(h->TakeSent()[0].delivery_id(), Ack::RETRY);
  Pass();
  clock_.Advance(absl::Seconds(11));
  Pass();
  std::vector<Delivery> sent = h->TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  h->Ack(sent[0].delivery_id(), Ack::RETRY);
  Pass();
  std::vector<store::DeadLetterRecord> dead = DeadLetters("s");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].attempts, 2);
  EXPECT_THAT(dead[0].last_error, HasSubstr("exhausted"));
}

TEST_F(DispatcherTest, AParkedRetryFallsDueWhenTheWallClockReachesItsNextAt) {
  Create();
  Append("a.b");
  auto spec = Spec("s");
  *spec.mutable_retry_policy()->mutable_initial_backoff() = ToProtoDuration(absl::Seconds(10));
  FakeHandlerConnection* h = SubscribeUp(spec, "h1:1");
  Pass();
  h->Ack(h->TakeSent()[0].delivery_id(), Ack::RETRY);
  Pass();
  std::vector<store::RetryRecord> r = Retries("s");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].first_attempt_at, kStart);  // stored: wall times
  const absl::Time next_at = r[0].next_at;
  ASSERT_GT(next_at, clock_.Now());
  // The worker sleeps until the wall clock should read next_at...
  EXPECT_EQ(Pass(), clock_.Monotonic() + (next_at - clock_.Now()));
  // ...but the retry is stored, so the wall clock decides: stepped to just before next_at,
  // nothing is sent; stepped to next_at, it is due, with no monotonic time passed.
  clock_.Set(next_at - absl::Milliseconds(1));
  Pass();
  EXPECT_TRUE(h->TakeSent().empty());
  clock_.Set(next_at);
  Pass();
  std::vector<Delivery> sent = h->TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].attempt(), 2);
}

TEST_F(DispatcherTest, AckTimeoutCountsAnAttemptAndALateAckIsIgnored) {
  Create();
  Append("a.b");
  auto spec = Spec("s");
  *spec.mutable_delivery_timeout() = ToProtoDuration(absl::Seconds(5));
  FakeHandlerConnection* h = SubscribeUp(spec, "h1:1");
  EXPECT_EQ(Pass(), clock_.Monotonic() + absl::Seconds(5));
  const std::string late = h->TakeSent()[0].delivery_id();
  clock_.Advance(absl::Seconds(5));
  Pass();
  std::vector<store::RetryRecord> r = Retries("s");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].attempts, 1);
  EXPECT_THAT(r[0].last_error, HasSubstr("delivery_timeout"));
  EXPECT_THAT(h->withdrawn(), ElementsAre(late));  // dropped if still queued in the outbox
  h->Ack(late, Ack::OK);
  Pass();
  EXPECT_EQ(Retries("s").size(), 1u);
  EXPECT_THAT(metrics_.Render(), HasSubstr("switchboard_delivery_unknown_acks_total 1"));
}

TEST_F(DispatcherTest, DeliveryTimeoutCountsFromTheSendAfterEncodingNotFromThePassStart) {
  Create();
  Append("a.b");
  auto spec = Spec("s");
  *spec.mutable_delivery_timeout() = ToProtoDuration(absl::Seconds(5));
  FakeHandlerConnection* h = SubscribeUp(spec, "h1:1");
  // A pass that starts at `start` and whose store reads and encoding take 2 s: the clock reads
  // start + 2 s when the delivery goes out.
  const Dispatcher::Instant start = Dispatcher::Instant::Of(clock_);
  clock_.Advance(absl::Seconds(2));
  EXPECT_EQ(dispatcher_->ProcessDue(start), start.monotonic + absl::Seconds(7));
  ASSERT_EQ(h->TakeSent().size(), 1u);
  clock_.Advance(absl::Seconds(4));  // 5 s after the pass started, 4 s after the send
  Pass();
  EXPECT_TRUE(Retries("s").empty());
  EXPECT_TRUE(h->withdrawn().empty());
  clock_.Advance(absl::Seconds(1));  // 5 s after the send
  Pass();
  std::vector<store::RetryRecord> r = Retries("s");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_THAT(r[0].last_error, HasSubstr("delivery_timeout"));
}

TEST_F(DispatcherTest, AWallClockStepNeitherFiresNorStretchesADeliveryTimeout) {
  Create();
  Append("a.b");
  auto spec = Spec("s");
  *spec.mutable_delivery_timeout() = ToProtoDuration(absl::Seconds(5));
  FakeHandlerConnection* h = SubscribeUp(spec, "h1:1");
  const absl::Time deadline = clock_.Monotonic() + absl::Seconds(5);
  EXPECT_EQ(Pass(), deadline);
  ASSERT_EQ(h->TakeSent().size(), 1u);
  // NTP steps the wall clock hours ahead (or a VM resumes): no time passed for the delivery.
  clock_.Set(clock_.Now() + absl::Hours(3));
  EXPECT_EQ(Pass(), deadline);
  // Stepped back further than the timeout: it is not stretched either.
  clock_.Set(clock_.Now() - absl::Hours(6));
  EXPECT_EQ(Pass(), deadline);
  EXPECT_TRUE(Retries("s").empty());
  EXPECT_TRUE(DeadLetters("s").empty());
  EXPECT_TRUE(h->withdrawn().empty());
  EXPECT_THAT(metrics_.Render(),
              HasSubstr("switchboard_delivery_retries_total{subscription=\"s\"} 0"));
  // Time that passes does fire it, on time.
  clock_.Advance(absl::Seconds(5));
  Pass();
  std::vector<store::RetryRecord> r = Retries("s");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].attempts, 1);
  EXPECT_THAT(r[0].last_error, HasSubstr("delivery_timeout"));
}

TEST_F(DispatcherTest, TimeoutOfADeliveryQueuedUnsentIsNoAttemptAndItIsSentAgainAtOnce) {
  auto spec = Spec("s");
  *spec.mutable_delivery_timeout() = ToProtoDuration(absl::Seconds(5));
  WrittenAndQueued w;
  ASSERT_NO_FATAL_FAILURE(WriteOneQueueOne(spec, &w));
  clock_.Advance(absl::Seconds(5));
  Pass();
  // The written one timed out: a failed attempt (the only one allowed), so a dead letter.
  std::vector<store::DeadLetterRecord> dead = DeadLetters("s");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].event_id, w.written);
  EXPECT_THAT(w.h->withdrawn(), testing::Contains(w.queued_id));
  // The queued one was taken back unsent: no attempt, no retry record, and it is queued again
  // in the same pass (no backoff) under a new delivery id.
  EXPECT_TRUE(Retries("s").empty());
  ASSERT_EQ(w.h->queued().size(), 1u);
  EXPECT_NE(w.h->queued()[0], w.queued_id);
  EXPECT_THAT(metrics_.Render(),
              HasSubstr("switchboard_delivery_retries_total{subscription=\"s\"} 0"));
  w.h->Unstall();
  ExpectQueuedArrivesAsFirstAttempt(w);
}

TEST_F(DispatcherTest, ADeliveryStillQueuedUnsentWhenItsStreamBreaksIsNoAttempt) {
  WrittenAndQueued w;
  ASSERT_NO_FATAL_FAILURE(WriteOneQueueOne(Spec("s"), &w));
  // The stream breaks: the written delivery is a failed attempt (a dead letter here); the one
  // still queued never reached the handler.
  w.h->Down();
  Pass();
  std::vector<store::DeadLetterRecord> dead = DeadLetters("s");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].event_id, w.written);
  EXPECT_TRUE(Retries("s").empty());
  w.h->Unstall();
  w.h->Up();
  Pass();
  ExpectQueuedArrivesAsFirstAttempt(w);
}

TEST_F(DispatcherTest, NoAttemptsAreSpentWhileNoMemberIsConnected) {
  Create();
  Append("a.b");
  auto spec = Spec("s");
  spec.mutable_retry_policy()->set_max_attempts(2);
  FakeHandlerConnection* h = Subscribe(spec, "h1:1");
  for (int i = 0; i < 10; ++i) {
    clock_.Advance(absl::Seconds(5));
    Pass();
  }
  EXPECT_TRUE(Retries("s").empty());
  EXPECT_TRUE(DeadLetters("s").empty());
  h->Up();
  Pass();
  std::vector<Delivery> sent = h->TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].attempt(), 1);

  // A retry that falls due while the member is away waits for it, unspent.
  h->Ack(sent[0].delivery_id(), Ack::RETRY);
  h->Down();
  Pass();
  clock_.Advance(absl::Seconds(50));  // well past the retry's due time, within the grace
  Pass();
  EXPECT_TRUE(h->TakeSent().empty());
  std::vector<store::RetryRecord> r = Retries("s");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].attempts, 1);
  EXPECT_TRUE(DeadLetters("s").empty());
  h->Up();
  Pass();
  sent = h->TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].attempt(), 2);
}

TEST_F(DispatcherTest, BrokenStreamCountsAnAttemptForOutstandingDeliveries) {
  Create();
  Append("a.b");
  const std::string second = Append("a.b");
  FakeHandlerConnection* h = SubscribeUp(Spec("s"), "h1:1");
  Pass();
  std::vector<Delivery> sent = h->TakeSent();
  ASSERT_EQ(sent.size(), 2u);
  h->Ack(sent[0].delivery_id(), Ack::OK);
  h->Down(absl::UnavailableError("connection reset"));
  Pass();
  std::vector<store::RetryRecord> r = Retries("s");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].event_id, second);
  EXPECT_EQ(r[0].attempts, 1);
  EXPECT_THAT(r[0].last_error, HasSubstr("connection reset"));
  EXPECT_EQ(StoredCursor("s"), 2);
  h->Up();
  clock_.Advance(absl::Seconds(2));
  Pass();
  sent = h->TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].attempt(), 2);
}

TEST_F(DispatcherTest, PerObjectOrderingKeepsOneInFlightPerObject) {
  Create();
  const std::string a1 = Append("a.b", "obj_a");
  const std::string a2 = Append("a.b", "obj_a");
  const std::string b1 = Append("a.b", "obj_b");
  const std::string a3 = Append("a.b", "obj_a");
  auto spec = Spec("s", {"*"}, 10);
  spec.set_ordering(switchboard::v1::Subscription::PER_OBJECT);
  FakeHandlerConnection* h = SubscribeUp(spec, "h1:1");
  Pass();
  std::vector<Delivery> sent = h->TakeSent();
  EXPECT_THAT(Ids(sent), ElementsAre(a1, b1));
  h->Ack(sent[1].delivery_id(), Ack::OK);
  Pass();
  EXPECT_TRUE(h->TakeSent().empty());
  h->Ack(sent[0].delivery_id(), Ack::OK);
  Pass();
  sent = h->TakeSent();
  EXPECT_THAT(Ids(sent), ElementsAre(a2));
  h->Ack(sent[0].delivery_id(), Ack::OK);
  Pass();
  EXPECT_THAT(Ids(h->TakeSent()), ElementsAre(a3));
}

TEST_F(DispatcherTest, WithoutPerObjectTheSameObjectMayBeInFlightTwice) {
  Create();
  Append("a.b", "obj_a");
  Append("a.b", "obj_a");
  FakeHandlerConnection* h = SubscribeUp(Spec("s", {"*"}, 10), "h1:1");
  Pass();
  EXPECT_EQ(h->TakeSent().size(), 2u);
}

TEST_F(DispatcherTest, ReplayResendsStoredEventsWithoutMovingTheCursor) {
  Create();
  const std::string a = Append("a.b");
  const std::string b = Append("c.d");
  FakeHandlerConnection* h = SubscribeUp(Spec("s"), "h1:1");
  Pass();
  for (const Delivery& d : h->TakeSent()) h->Ack(d.delivery_id(), Ack::OK);
  Pass();
  ASSERT_OK(dispatcher_->FlushProgress());
  EXPECT_EQ(StoredCursor("s"), 2);

  Dispatcher::ReplayRequest by_id;
  by_id.subscription = "s";
  by_id.event_ids = {a};
  ASSERT_OK_AND_ASSIGN(int64_t n, dispatcher_->Replay(by_id));
  EXPECT_EQ(n, 1);
  Pass();
  std::vector<Delivery> sent = h->TakeSent();
  EXPECT_THAT(Ids(sent), ElementsAre(a));
  EXPECT_EQ(sent[0].attempt(), 1);
  h->Ack(sent[0].delivery_id(), Ack::OK);
  Pass();
  EXPECT_TRUE(Retries("s").empty());
  EXPECT_EQ(StoredCursor("s"), 2);

  Dispatcher::ReplayRequest by_type;
  by_type.subscription = "s";
  by_type.types = {"c.*"};
  ASSERT_OK_AND_ASSIGN(n, dispatcher_->Replay(by_type));
  EXPECT_EQ(n, 1);
  Pass();
  EXPECT_THAT(Ids(h->TakeSent()), ElementsAre(b));

  Dispatcher::ReplayRequest unknown;
  unknown.subscription = "s";
  unknown.event_ids = {"evt_nope"};
  EXPECT_THAT(dispatcher_->Replay(unknown), StatusIs(absl::StatusCode::kNotFound));
  unknown.subscription = "nope";
  unknown.event_ids = {a};
  EXPECT_THAT(dispatcher_->Replay(unknown), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(DispatcherTest, ReplayDoesNotDoubleAnEventStillInFlight) {
  Create();
  const std::string a = Append("a.b");
  FakeHandlerConnection* h = SubscribeUp(Spec("s"), "h1:1");
  Pass();
  EXPECT_EQ(h->TakeSent().size(), 1u);
  Dispatcher::ReplayRequest r;
  r.subscription = "s";
  r.event_ids = {a};
  ASSERT_OK(dispatcher_->Replay(r).status());
  Pass();
  EXPECT_TRUE(h->TakeSent().empty());
  EXPECT_TRUE(Retries("s").empty());
}

TEST_F(DispatcherTest, RedriveResendsDeadLettersWithAttemptsFromOne) {
  Create();
  const std::string a = Append("a.b");
  const std::string b = Append("a.b");
  FakeHandlerConnection* h = SubscribeUp(Spec("s"), "h1:1");
  RejectEverythingSent(h);
  ASSERT_EQ(DeadLetters("s").size(), 2u);

  ASSERT_OK_AND_ASSIGN(int64_t n, dispatcher_->Redrive("s", {b}));
  EXPECT_EQ(n, 1);
  EXPECT_EQ(DeadLetters("s").size(), 1u);
  Pass();
  std::vector<Delivery> sent = h->TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].event().id(), b);
  EXPECT_EQ(sent[0].attempt(), 1);
  h->Ack(sent[0].delivery_id(), Ack::OK);

  ASSERT_OK_AND_ASSIGN(n, dispatcher_->Redrive("s", {}));
  EXPECT_EQ(n, 1);
  Pass();
  EXPECT_THAT(Ids(h->TakeSent()), ElementsAre(a));
  EXPECT_TRUE(DeadLetters("s").empty());
  EXPECT_THAT(dispatcher_->Redrive("s", {b}), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(DispatcherTest, DiscardRemovesDeadLettersForGoodWithoutDeliveringThem) {
  Create();
  const std::string a = Append("a.b");
  const std::string b = Append("a.b");
  const std::string c = Append("a.b");
  FakeHandlerConnection* h = SubscribeUp(Spec("s"), "h1:1");
  RejectEverythingSent(h);
  ASSERT_EQ(DeadLetters("s").size(), 3u);

  ASSERT_OK_AND_ASSIGN(int64_t n, dispatcher_->DiscardDeadLetters("s", {b, b}));
  EXPECT_EQ(n, 1);  // named twice, discarded once
  std::vector<store::DeadLetterRecord> dead = DeadLetters("s");
  ASSERT_EQ(dead.size(), 2u);
  EXPECT_EQ(dead[0].event_id, a);
  EXPECT_EQ(dead[1].event_id, c);
  // Checked like Redrive; a call that fails discards nothing.
  EXPECT_THAT(dispatcher_->DiscardDeadLetters("s", {a, b}), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(dispatcher_->DiscardDeadLetters("s", {"evt_never"}),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(dispatcher_->DiscardDeadLetters("nope", {}), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(dispatcher_->DiscardDeadLetters("s", std::vector<std::string>(1001, a)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(DeadLetters("s").size(), 2u);

  ASSERT_OK_AND_ASSIGN(n, dispatcher_->DiscardDeadLetters("s", {}));
  EXPECT_EQ(n, 2);
  EXPECT_TRUE(DeadLetters("s").empty());
  EXPECT_EQ(Listed("s").stats().dead_letters(), 0);
  clock_.Advance(absl::Hours(1));
  Pass();
  EXPECT_TRUE(h->TakeSent().empty());
  EXPECT_TRUE(Retries("s").empty());
  EXPECT_OK(store_.Get(a).status());  // the event itself stays stored
  dispatcher_.reset();
  Create();
  EXPECT_TRUE(DeadLetters("s").empty());  // durable
}

TEST_F(DispatcherTest, RestartResumesFromTheCommittedCursor) {
  Create();
  for (int i = 0; i < 5; ++i) Append("a.b");
  FakeHandlerConnection* h = SubscribeUp(Spec("s"), "h1:1");
  Pass();
  std::vector<Delivery> sent = h->TakeSent();
  ASSERT_EQ(sent.size(), 5u);
  h->Ack(sent[0].delivery_id(), Ack::OK);
  h->Ack(sent[1].delivery_id(), Ack::OK);
  Pass();
  ASSERT_OK(dispatcher_->FlushProgress());
  h->Ack(sent[2].delivery_id(), Ack::OK);  // acked, never committed
  Pass();
  // Crash: nothing more reaches the store (the final flush fails like a dead disk would).
  store_.SetFailAppends(absl::UnavailableError("crashed"));
  dispatcher_.reset();
  store_.SetFailAppends(absl::OkStatus());

  Create();
  h = connections_.Get("h1:1");
  ASSERT_NE(h, nullptr);
  h->Up();
  Pass();
  // Re-sent: the unflushed ack (evt_3) and the two in flight; never the committed ones.
  EXPECT_THAT(Ids(h->TakeSent()), ElementsAre("evt_3", "evt_4", "evt_5"));
}

TEST_F(DispatcherTest, ShutdownCommitsAcksAndRestartSendsOnlyUnacked) {
  Create();
  for (int i = 0; i < 3; ++i) Append("a.b");
  FakeHandlerConnection* h = SubscribeUp(Spec("s"), "h1:1");
  Pass();
  std::vector<Delivery> sent = h->TakeSent();
  h->Ack(sent[0].delivery_id(), Ack::OK);
  h->Ack(sent[1].delivery_id(), Ack::OK);  // arrives before the final drain: applied
  dispatcher_->Shutdown();
  EXPECT_EQ(StoredCursor("s"), 2);
  EXPECT_THAT(dispatcher_->ListSubscriptions(), StatusIs(absl::StatusCode::kUnavailable));
  Create();
  h = connections_.Get("h1:1");
  h->Up();
  Pass();
  sent = h->TakeSent();
  EXPECT_THAT(Ids(sent), ElementsAre("evt_3"));
  EXPECT_EQ(sent[0].attempt(), 1);  // a shutdown is not a failed attempt
}

// Two events sent; the second parked for a retry an hour away (or dead-lettered) while the
// first, still in flight, holds the cursor below it; then a restart.
TEST_F(DispatcherTest, AParkedRetryAboveTheCursorIsNotSentAsANewEventAfterARestart) {
  Create();
  Append("a.b");
  Append("a.b");
  FakeHandlerConnection* h = SubscribeUp(Spec("s"), "h1:1");
  Pass();
  std::vector<Delivery> sent = h->TakeSent();
  ASSERT_EQ(sent.size(), 2u);
  h->Ack(sent[1].delivery_id(), Ack::RETRY, "later", absl::Hours(1));
  Pass();
  dispatcher_->Shutdown();
  ASSERT_EQ(StoredCursor("s"), 0);

  Create();
  h = connections_.Get("h1:1");
  h->Up();
  Pass();
  sent = h->TakeSent();
  // Only the one that was in flight; evt_2 waits for its retry.
  EXPECT_THAT(Ids(sent), ElementsAre("evt_1"));
  for (const Delivery& d : sent) h->Ack(d.delivery_id(), Ack::OK);
  Pass();
  EXPECT_EQ(StoredCursor("s"), 0);  // not flushed yet
  ASSERT_OK(dispatcher_->FlushProgress());
  EXPECT_EQ(StoredCursor("s"), 2);  // the parked one is finished as far as the cursor goes
  ASSERT_EQ(Retries("s").size(), 1u);
  clock_.Advance(absl::Hours(2));
  Pass();
  sent = h->TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].event().id(), "evt_2");
  EXPECT_EQ(sent[0].attempt(), 2);  // its parked retry, attempts kept
  h->Ack(sent[0].delivery_id(), Ack::OK);
  Pass();
  EXPECT_TRUE(Retries("s").empty());
  clock_.Advance(absl::Hours(2));
  Pass();
  EXPECT_TRUE(h->TakeSent().empty());  // exactly once
}

TEST_F(DispatcherTest, ADeadLetterAboveTheCursorIsNotSentAgainAfterARestart) {
  Create();
  Append("a.b");
  const std::string rejected = Append("a.b");
  Append("a.b");
  FakeHandlerConnection* h = SubscribeUp(Spec("s"), "h1:1");
  Pass();
  std::vector<Delivery> sent = h->TakeSent();
  ASSERT_EQ(sent.size(), 3u);
  h->Ack(sent[1].delivery_id(), Ack::REJECT, "unknown customer");
  h->Ack(sent[2].delivery_id(), Ack::OK);
  Pass();
  dispatcher_->Shutdown();
  ASSERT_EQ(StoredCursor("s"), 0);

  Create();
  h = connections_.Get("h1:1");
  h->Up();
  Pass();
  // evt_3 (acked, above the cursor) comes again, as the at-least-once rule allows; the dead
  // letter does not.
  sent = h->TakeSent();
  EXPECT_THAT(Ids(sent), ElementsAre("evt_1", "evt_3"));
  for (const Delivery& d : sent) h->Ack(d.delivery_id(), Ack::OK);
  Pass();
  clock_.Advance(absl::Hours(1));
  Pass();
  EXPECT_TRUE(h->TakeSent().empty());
  std::vector<store::DeadLetterRecord> dead = DeadLetters("s");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].event_id, rejected);
  EXPECT_EQ(StoredCursor("s"), 3);

  // It can still be redriven, once.
  ASSERT_OK_AND_ASSIGN(int64_t n, dispatcher_->Redrive("s", {rejected}));
  EXPECT_EQ(n, 1);
  Pass();
  sent = h->TakeSent();
  EXPECT_THAT(Ids(sent), ElementsAre(rejected));
  EXPECT_EQ(sent[0].attempt(), 1);
}

TEST_F(DispatcherTest, ReplayOfADeadLetterAboveTheCursorAfterARestartIsSentOnce) {
  Create();
  Append("a.b");
  const std::string rejected = Append("a.b");
  FakeHandlerConnection* h = SubscribeUp(Spec("s"), "h1:1");
  Pass();
  std::vector<Delivery> sent = h->TakeSent();
  h->Ack(sent[1].delivery_id(), Ack::REJECT);
  Pass();
  dispatcher_->Shutdown();

  Create();
  h = connections_.Get("h1:1");
  // Replayed before the log was read again: the log read skips the dead letter, the replay
  // sends it.
  Dispatcher::ReplayRequest r;
  r.subscription = "s";
  r.event_ids = {rejected};
  ASSERT_OK_AND_ASSIGN(int64_t n, dispatcher_->Replay(r));
  EXPECT_EQ(n, 1);
  h->Up();
  Pass();
  sent = h->TakeSent();
  EXPECT_THAT(Ids(sent), ::testing::UnorderedElementsAre("evt_1", rejected));
  for (const Delivery& d : sent) h->Ack(d.delivery_id(), Ack::OK);
  Pass();
  clock_.Advance(absl::Hours(1));
  Pass();
  EXPECT_TRUE(h->TakeSent().empty());
}

TEST_F(DispatcherTest, AnEventReadAgainAfterARestartRemovesAStaleRetryRecordWhenItFinishes) {
  Create();
  Subscribe(Spec("s"), "h1:1");
  Append("a.b");
  Append("a.b");
  dispatcher_->Shutdown();
  Create();
  // Retry records the load did not see (the safety net; the load itself finds those above the
  // cursor): the log items of their events, read again, replace or remove them.
  store::ProgressBatch stale;
  for (int64_t sequence : {1, 2}) {
    store::RetryRecord retry;
    retry.subscription = "s";
    retry.sequence = sequence;
    retry.event_id = absl::StrCat("evt_", sequence);
    retry.attempts = 1;
    retry.next_at = clock_.Now() + absl::Hours(1);
    retry.first_attempt_at = clock_.Now();
    stale.retries_to_put.push_back(retry);
  }
  ASSERT_OK(store_.CommitProgress(stale));
  FakeHandlerConnection* h = connections_.Get("h1:1");
  h->Up();
  Pass();
  std::vector<Delivery> sent = h->TakeSent();
  ASSERT_THAT(Ids(sent), ElementsAre("evt_1", "evt_2"));
  h->Ack(sent[0].delivery_id(), Ack::OK);
  h->Ack(sent[1].delivery_id(), Ack::REJECT);
  Pass();
  EXPECT_TRUE(Retries("s").empty());
  clock_.Advance(absl::Hours(2));
  Pass();
  EXPECT_TRUE(h->TakeSent().empty());
}

// Dispatcher::Load reads the retry records and the dead letters above a cursor in pages of this
// many.
constexpr int kLoadPage = 1000;

// Stores, as a crash would have left them, a retry record of subscription "s" (due a day from
// now) for each sequence of `retries` and a dead letter of it for each of `dead`. The fixture's
// evt_N has sequence N.
void ParkAboveTheCursor(store::MemoryEventStore& store, const std::vector<int64_t>& retries,
                        const std::vector<int64_t>& dead, absl::Time now) {
  store::ProgressBatch batch;
  for (int64_t sequence : retries) {
    store::RetryRecord retry;
    retry.subscription = "s";
    retry.sequence = sequence;
    retry.event_id = absl::StrCat("evt_", sequence);
    retry.attempts = 1;
    retry.next_at = now + absl::Hours(24);
    retry.first_attempt_at = now;
    batch.retries_to_put.push_back(retry);
  }
  for (int64_t sequence : dead) {
    store::DeadLetterRecord d;
    d.subscription = "s";
    d.sequence = sequence;
    d.event_id = absl::StrCat("evt_", sequence);
    d.event_type = "a.b";
    d.attempts = 1;
    d.last_error = "rejected";
    d.dead_at = now;
    batch.dead_letters_to_put.push_back(d);
  }
  ASSERT_OK(store.CommitProgress(batch));
}

TEST_F(DispatcherTest, ParkedEventsAboveTheCursorBeyondOneLoadPageAreNotSentAfterARestart) {
  Create();
  Subscribe(Spec("s"), "h1:1");
  dispatcher_.reset();
  ASSERT_EQ(StoredCursor("s"), 0);
  // More than a page of each, interleaved, between unparked events.
  std::vector<std::string> unparked = {Append("a.b")};
  std::vector<int64_t> retries;
  std::vector<int64_t> dead;
  for (int i = 0; i < kLoadPage + 1; ++i) {
    Append("a.b");
    retries.push_back(next_event_);
    Append("a.b");
    dead.push_back(next_event_);
  }
  unparked.push_back(Append("a.b"));
  unparked.push_back(Append("a.b"));
  ParkAboveTheCursor(store_, retries, dead, clock_.Now());

  Create();
  EXPECT_EQ(dispatcher_->ParkedAheadForTesting("s"), 2 * (kLoadPage + 1));
  FakeHandlerConnection* h = connections_.Get("h1:1");
  ASSERT_NE(h, nullptr);
  h->Up();
  std::vector<std::string> sent_ids;
  for (int pass = 0; pass < 100 && dispatcher_->ParkedAheadForTesting("s") > 0; ++pass) {
    Pass();
    for (const Delivery& d : h->TakeSent()) {
      sent_ids.push_back(d.event().id());
      h->Ack(d.delivery_id(), Ack::OK);
    }
  }
  Pass();
  for (const Delivery& d : h->TakeSent()) sent_ids.push_back(d.event().id());
  EXPECT_EQ(sent_ids, unparked);
  EXPECT_EQ(dispatcher_->ParkedAheadForTesting("s"), 0);
  ASSERT_OK(dispatcher_->FlushProgress());
  EXPECT_EQ(StoredCursor("s"), next_event_);
  auto stored = store_.ListRetries("s", absl::InfiniteFuture(), 10 * kLoadPage);
  ASSERT_OK(stored.status());
  EXPECT_EQ(stored->size(), retries.size());  // left to their retry records
}

TEST_F(DispatcherTest, ParkedEventsAboveTheCursorAreForgottenOnceTheLogReadHasPassedThem) {
  Create();
  Subscribe(Spec("s", {"*"}, /*max_in_flight=*/1), "h1:1");
  dispatcher_.reset();
  Append("a.b");  // evt_1
  Append("a.b");  // evt_2: parked
  Append("a.b");  // evt_3: dead
  Append("a.b");  // evt_4
  Append("a.b");  // evt_5: dead
  ParkAboveTheCursor(store_, {2}, {3, 5}, clock_.Now());

  // A window of 1 and a read-ahead of 1: the log is read two events at a time at most.
  Dispatcher::Options options;
  options.read_ahead = 1;
  Create(options);
  EXPECT_EQ(dispatcher_->ParkedAheadForTesting("s"), 3);
  FakeHandlerConnection* h = connections_.Get("h1:1");
  h->Up();
  Pass();  // reads evt_1 and evt_2
  EXPECT_EQ(dispatcher_->ParkedAheadForTesting("s"), 2);
  std::vector<Delivery> sent = h->TakeSent();
  ASSERT_THAT(Ids(sent), ElementsAre("evt_1"));
  h->Ack(sent[0].delivery_id(), Ack::OK);
  Pass();  // reads evt_3 and evt_4
  EXPECT_EQ(dispatcher_->ParkedAheadForTesting("s"), 1);
  sent = h->TakeSent();
  ASSERT_THAT(Ids(sent), ElementsAre("evt_4"));
  h->Ack(sent[0].delivery_id(), Ack::OK);
  Pass();  // reads evt_5, the log's end
  EXPECT_EQ(dispatcher_->ParkedAheadForTesting("s"), 0);
  EXPECT_TRUE(h->TakeSent().empty());
}

TEST_F(DispatcherTest, SubscriptionsAndMembersSurviveRestart) {
  Create();
  auto spec = Spec("s", {"a.*"}, 7);
  Subscribe(spec, "h1:1");
  dispatcher_.reset();
  Create();
  switchboard::v1::Subscription s = Listed("s");
  EXPECT_THAT(s.event_types(), ElementsAre("a.*"));
  EXPECT_EQ(s.max_in_flight(), 7);
  ASSERT_EQ(s.members_size(), 1);
  EXPECT_EQ(s.members(0).address(), "h1:1");
  EXPECT_FALSE(s.members(0).connected());
  EXPECT_NE(connections_.Get("h1:1"), nullptr);
}

TEST_F(DispatcherTest, UnreachableMemberIsDroppedAfterGraceButSubscriptionStays) {
  Dispatcher::Options options;
  options.member_grace = absl::Seconds(60);
  Create(options);
  FakeHandlerConnection* h1 = Subscribe(Spec("s"), "h1:1");
  SubscribeUp(Spec("s"), "h2:1");  // connected throughout: never dropped
  Pass();
  clock_.Advance(absl::Seconds(30));
  h1->Up();  // comes and goes: the grace restarts from the disconnect
  Pass();
  h1->Down();
  Pass();
  clock_.Advance(absl::Seconds(59));
  EXPECT_EQ(Pass(), clock_.Monotonic() + absl::Seconds(1));
  EXPECT_EQ(Listed("s").members_size(), 2);
  clock_.Advance(absl::Seconds(1));
  Pass();
  switchboard::v1::Subscription s = Listed("s");
  ASSERT_EQ(s.members_size(), 1);
  EXPECT_EQ(s.members(0).address(), "h2:1");
  EXPECT_EQ(connections_.Get("h1:1"), nullptr);  // closed and destroyed
  dispatcher_.reset();
  Create(options);
  EXPECT_EQ(Listed("s").members_size(), 1);  // persisted
}

TEST_F(DispatcherTest, AWallClockStepIsNoTimeInAMembersGrace) {
  Dispatcher::Options options;
  options.member_grace = absl::Seconds(60);
  Create(options);
  SubscribeUp(Spec("s"), "h1:1");
  Subscribe(Spec("s"), "h2:1");  // never comes up
  Pass();
  // The wall clock stepped hours ahead: h2 has not been away for hours.
  clock_.Set(clock_.Now() + absl::Hours(3));
  Pass();
  EXPECT_EQ(Listed("s").members_size(), 2);
  EXPECT_NE(connections_.Get("h2:1"), nullptr);
  clock_.Advance(absl::Seconds(59));
  Pass();
  EXPECT_EQ(Listed("s").members_size(), 2);
  clock_.Advance(absl::Seconds(1));
  Pass();
  switchboard::v1::Subscription s = Listed("s");
  ASSERT_EQ(s.members_size(), 1);
  EXPECT_EQ(s.members(0).address(), "h1:1");
  EXPECT_EQ(connections_.Get("h2:1"), nullptr);
}

TEST_F(DispatcherTest, AMemberDropThatFindsAnAdminCallRunningIsPutOffNotSpunOn) {
  Dispatcher::Options options;
  options.member_grace = absl::Seconds(60);
  Create(options);
  Append("a.b");
  Subscribe(Spec("s"), "h1:1");  // never comes up
  Pass();
  clock_.Advance(absl::Seconds(61));
  // A Replay holds admin_mu_ while it lists the events; the worker's passes meanwhile cannot
  // drop h1. With the clock standing still, each must say the next pass is due later, not now
  // (the worker would otherwise loop without pause until the Replay ends).
  std::vector<absl::Time> next_wakes;
  events_.on_list = [&] {
    for (int i = 0; i < 3; ++i) next_wakes.push_back(Pass());
  };
  Dispatcher::ReplayRequest replay;
  replay.subscription = "s";
  replay.types = {"a.*"};
  ASSERT_OK(dispatcher_->Replay(replay).status());
  ASSERT_EQ(next_wakes.size(), 3u);
  for (absl::Time next : next_wakes) EXPECT_GT(next, clock_.Monotonic());
  EXPECT_EQ(Listed("s").members_size(), 1);
  // Once the call is over, the put-off drop is made when it falls due.
  clock_.Advance(next_wakes.back() - clock_.Monotonic());
  Pass();
  EXPECT_EQ(Listed("s").members_size(), 0);
  EXPECT_EQ(connections_.Get("h1:1"), nullptr);
}

TEST_F(DispatcherTest, StaticSubscriptionsComeFromConfigAndKeepTheirSpec) {
  Dispatcher::Options options;
  auto config = Spec("audit", {"charge.*"});
  config.add_members()->set_address("static:1");
  options.static_subscriptions.push_back(config);
  Create(options);
  switchboard::v1::Subscription s = Listed("audit");
  EXPECT_TRUE(s.static_());
  ASSERT_EQ(s.members_size(), 1);

  EXPECT_THAT(dispatcher_->Subscribe(Spec("audit", {"payment_intent.*"}), "h1:1"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // Joining with the same spec, or with no spec at all, adds a member.
  ASSERT_OK(dispatcher_->Subscribe(Spec("audit", {"charge.*"}), "h1:1").status());
  ASSERT_OK(dispatcher_->Subscribe(Spec("audit", {}), "h2:1").status());
  EXPECT_EQ(Listed("audit").members_size(), 3);
  EXPECT_THAT(dispatcher_->Unsubscribe("audit", ""),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(dispatcher_->Unsubscribe("audit", "static:1"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_OK(dispatcher_->Unsubscribe("audit", "h2:1"));

  // The config member is never dropped, however long it is away.
  clock_.Advance(absl::Hours(2));
  Pass();
  Pass();
  s = Listed("audit");
  ASSERT_EQ(s.members_size(), 1);
  EXPECT_EQ(s.members(0).address(), "static:1");

  // Removed from the config: kept, as a dynamic subscription.
  dispatcher_.reset();
  Create();
  EXPECT_FALSE(Listed("audit").static_());
}

TEST_F(DispatcherTest, InvalidStaticSubscriptionFailsCreate) {
  Dispatcher::Options options;
  options.static_subscriptions.push_back(Spec("Bad Name"));
  Dispatcher::Deps deps{&events_, &store_,  &converter_, &connections_,
                        &clock_,  &random_, &metrics_};
  EXPECT_THAT(Dispatcher::Create(options, deps), StatusIs(absl::StatusCode::kInvalidArgument));
  options.static_subscriptions = {Spec("ok")};
  options.static_subscriptions[0].add_members()->set_address("0.0.0.0:1");
  EXPECT_THAT(Dispatcher::Create(options, deps), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(DispatcherTest, UnsubscribedMemberDrainsThenCloses) {
  Create();
  Append("a.b");
  Append("a.b");
  FakeHandlerConnection* h1 = SubscribeUp(Spec("s", {"*"}, 1), "h1:1");
  Pass();
  std::vector<Delivery> sent = h1->TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  FakeHandlerConnection* h2 = SubscribeUp(Spec("s", {"*"}, 1), "h2:1");
  ASSERT_OK(dispatcher_->Unsubscribe("s", "h1:1"));
  Pass();
  EXPECT_NE(connections_.Get("h1:1"), nullptr);  // waits for its in-flight delivery
  h1->Ack(sent[0].delivery_id(), Ack::OK);
  Pass();
  EXPECT_EQ(connections_.Get("h1:1"), nullptr);
  Pass();
  EXPECT_THAT(Ids(h2->TakeSent()), ElementsAre("evt_2"));
  EXPECT_EQ(Listed("s").members_size(), 1);
  EXPECT_THAT(dispatcher_->Unsubscribe("s", "h1:1"), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(DispatcherTest, UnsubscribeRemovesTheWholeSubscription) {
  Create();
  Append("a.b");
  FakeHandlerConnection* h = SubscribeUp(Spec("s"), "h1:1");
  Pass();
  h->Ack(h->TakeSent()[0].delivery_id(), Ack::REJECT);
  Pass();
  ASSERT_OK(dispatcher_->Unsubscribe("s", ""));
  EXPECT_EQ(connections_.Get("h1:1"), nullptr);
  ASSERT_OK_AND_ASSIGN(auto subs, dispatcher_->ListSubscriptions());
  EXPECT_TRUE(subs.empty());
  ASSERT_OK_AND_ASSIGN(auto stored, store_.ListSubscriptions());
  EXPECT_TRUE(stored.empty());
  EXPECT_THAT(dispatcher_->Unsubscribe("s", ""), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(DispatcherTest, UpdatingASubscriptionKeepsItsPosition) {
  Create();
  Append("a.b");
  FakeHandlerConnection* h = SubscribeUp(Spec("s", {"a.*"}), "h1:1");
  Pass();
  h->Ack(h->TakeSent()[0].delivery_id(), Ack::OK);
  Pass();
  ASSERT_OK(dispatcher_->FlushProgress());
  auto update = Spec("s", {"a.*", "c.*"}, 3);
  ASSERT_OK_AND_ASSIGN(switchboard::v1::Subscription s, dispatcher_->Subscribe(update, ""));
  EXPECT_EQ(s.max_in_flight(), 3);
  EXPECT_EQ(s.members_size(), 1);  // members are kept
  const std::string c = Append("c.d");
  Pass();
  EXPECT_THAT(Ids(h->TakeSent()), ElementsAre(c));  // not evt_1 again
}

TEST_F(DispatcherTest, AddEventTypesAddsToADynamicSubscriptionAndOtherFieldsReplace) {
  Create();
  constexpr EventTypesUpdate kAdd = EventTypesUpdate::kAdd;
  // Creating with it set is a plain creation.
  ASSERT_OK_AND_ASSIGN(switchboard::v1::Subscription s,
                       dispatcher_->Subscribe(Spec("s", {"a.*", "b.c"}, 7), "h1:1", kAdd));
  EXPECT_THAT(s.event_types(), ElementsAre("a.*", "b.c"));
  EXPECT_EQ(s.max_in_flight(), 7);
  // An older instance registers with fewer types: nothing is narrowed. Its other fields replace
  // (max_in_flight unset: the default).
  ASSERT_OK_AND_ASSIGN(s, dispatcher_->Subscribe(Spec("s", {"b.c"}), "h2:1", kAdd));
  EXPECT_THAT(s.event_types(), ElementsAre("a.*", "b.c"));
  EXPECT_EQ(s.max_in_flight(), 32);
  EXPECT_EQ(s.members_size(), 2);
  // A newer one adds its types after the existing ones.
  ASSERT_OK_AND_ASSIGN(s,
                       dispatcher_->Subscribe(Spec("s", {"d.e", "a.*", "c.*", "d.e"}), "", kAdd));
  EXPECT_THAT(s.event_types(), ElementsAre("a.*", "b.c", "d.e", "c.*"));
  // Joining without a spec still changes nothing but the members.
  ASSERT_OK_AND_ASSIGN(s, dispatcher_->Subscribe(Spec("s", {}), "h3:1", kAdd));
  EXPECT_THAT(s.event_types(), ElementsAre("a.*", "b.c", "d.e", "c.*"));
  EXPECT_EQ(s.members_size(), 3);
  // Without it, an update narrows.
  ASSERT_OK_AND_ASSIGN(s, dispatcher_->Subscribe(Spec("s", {"c.*"}), ""));
  EXPECT_THAT(s.event_types(), ElementsAre("c.*"));
  // Durable, and delivered by: the added types are the subscription's.
  ASSERT_OK(dispatcher_->Subscribe(Spec("s", {"x.y"}), "", kAdd).status());
  dispatcher_.reset();
  Create();
  EXPECT_THAT(Listed("s").event_types(), ElementsAre("c.*", "x.y"));
  const std::string x = Append("x.y");
  Append("a.b");
  const std::string c = Append("c.d");
  connections_.Get("h1:1")->Up();
  Pass();
  EXPECT_THAT(Ids(connections_.Get("h1:1")->TakeSent()), ElementsAre(x, c));
}

TEST_F(DispatcherTest, AddEventTypesBeyondOneHundredIsInvalidArgument) {
  Create();
  std::vector<std::string> first;
  for (int i = 0; i < 98; ++i) first.push_back(absl::StrCat("t.", i));
  ASSERT_OK(dispatcher_->Subscribe(Spec("s", first), "").status());
  // 98 + 2 new (one already there) = 100: fine.
  ASSERT_OK_AND_ASSIGN(
      switchboard::v1::Subscription s,
      dispatcher_->Subscribe(Spec("s", {"t.0", "u.1", "u.2"}), "", EventTypesUpdate::kAdd));
  EXPECT_EQ(s.event_types_size(), 100);
  auto refused = dispatcher_->Subscribe(Spec("s", {"u.3"}), "h1:1", EventTypesUpdate::kAdd);
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(refused.status().message(), HasSubstr("would make 101 patterns, at most 100"));
  // Bad patterns are named as such, not as a union problem.
  EXPECT_THAT(dispatcher_->Subscribe(Spec("s", {"no spaces"}), "", EventTypesUpdate::kAdd),
              StatusIs(absl::StatusCode::kInvalidArgument));
  switchboard::v1::Subscription listed = Listed("s");
  EXPECT_EQ(listed.event_types_size(), 100);  // unchanged
  EXPECT_EQ(listed.members_size(), 0);        // nor registered
}

TEST_F(DispatcherTest, AddEventTypesOnAStaticSubscriptionMustBeAmongTheConfigs) {
  Dispatcher::Options options;
  options.static_subscriptions.push_back(Spec("audit", {"charge.*", "payout.paid"}));
  Create(options);
  constexpr EventTypesUpdate kAdd = EventTypesUpdate::kAdd;
  // A subset joins (it would fail without add_event_types: the sets differ).
  EXPECT_THAT(dispatcher_->Subscribe(Spec("audit", {"payout.paid"}), "h1:1"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_OK_AND_ASSIGN(switchboard::v1::Subscription s,
                       dispatcher_->Subscribe(Spec("audit", {"payout.paid"}), "h1:1", kAdd));
  EXPECT_THAT(s.event_types(), ElementsAre("charge.*", "payout.paid"));
  EXPECT_EQ(s.members_size(), 1);
  auto refused =
      dispatcher_->Subscribe(Spec("audit", {"payout.paid", "charge.succeeded"}), "h2:1", kAdd);
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(refused.status().message(), HasSubstr("charge.succeeded"));
  // Other fields are still checked as without it.
  EXPECT_THAT(dispatcher_->Subscribe(Spec("audit", {"charge.*"}, 5), "h2:1", kAdd),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(Listed("audit").members_size(), 1);
}

TEST_F(DispatcherTest, SubscribeValidates) {
  Create();
  EXPECT_THAT(dispatcher_->Subscribe(Spec("Bad"), ""),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(dispatcher_->Subscribe(Spec("s", {}), ""),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(dispatcher_->Subscribe(Spec("s"), "0.0.0.0:7000"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(dispatcher_->Subscribe(Spec("s", {"*"}, 5000), ""),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(DispatcherTest, RegisteringAMemberResetsItsReconnectBackoff) {
  Create();
  FakeHandlerConnection* h = Subscribe(Spec("s"), "h1:1");
  const int resets = h->backoff_resets();
  Subscribe(Spec("s"), "h1:1");  // the instance restarted and registers again
  EXPECT_EQ(h->backoff_resets(), resets + 1);
  EXPECT_EQ(connections_.connects("h1:1"), 1);
}

TEST_F(DispatcherTest, UnknownAndGarbageAcksAreIgnoredAndCounted) {
  Create();
  Append("a.b");
  FakeHandlerConnection* h = SubscribeUp(Spec("s"), "h1:1");
  Pass();
  std::vector<Delivery> sent = h->TakeSent();
  h->Ack("nope", Ack::OK);
  h->Ack("", Ack::REJECT);
  Ack weird;
  weird.set_delivery_id(sent[0].delivery_id());
  weird.set_outcome(static_cast<Ack::Outcome>(77));  // unknown enum value: counts as RETRY
  weird.mutable_retry_after()->set_seconds(-100);
  h->RawAck(weird);
  h->Ack(sent[0].delivery_id(), Ack::OK);  // a duplicate after the RETRY
  Pass();
  EXPECT_THAT(metrics_.Render(), HasSubstr("switchboard_delivery_unknown_acks_total 3"));
  std::vector<store::RetryRecord> r = Retries("s");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].next_at, kStart + absl::Milliseconds(500));  // negative retry_after ignored
}

TEST(DispatcherAckInbox, AnAckWaitingToBeAppliedKeepsOnlyWhatTheDispatcherUses) {
  // A hostile handler's Ack of 64 KiB, a 2-byte character straddling byte 512 of its message.
  Ack big;
  big.set_delivery_id("0123456789abcdef-42");
  big.set_outcome(Ack::RETRY);
  big.set_message(std::string(511, 'x') + "\xc3\xa9" + std::string(64 << 10, 'y'));
  big.mutable_retry_after()->set_seconds(30);
  const Ack kept = internal::AckToApply(big);
  EXPECT_EQ(kept.delivery_id(), big.delivery_id());
  EXPECT_EQ(kept.outcome(), Ack::RETRY);
  EXPECT_EQ(kept.retry_after().seconds(), 30);
  EXPECT_EQ(kept.message(), std::string(511, 'x'));  // not half of the character
  EXPECT_LT(kept.SpaceUsedLong(), 2048u);
  EXPECT_GT(big.SpaceUsedLong(), size_t{64 << 10});

  // An id longer than any the gateway issues names no delivery; an unknown outcome stays
  // unknown (it counts as RETRY).
  Ack odd;
  odd.set_delivery_id(std::string(60000, 'd'));
  odd.set_outcome(static_cast<Ack::Outcome>(77));
  const Ack odd_kept = internal::AckToApply(odd);
  EXPECT_EQ(odd_kept.delivery_id(), "");
  EXPECT_EQ(odd_kept.outcome(), 77);
  EXPECT_FALSE(odd_kept.has_retry_after());
}

TEST_F(DispatcherTest, AHugeAckMessageEndsAsTheFirst512BytesOfTheRetrysReason) {
  Create();
  Append("a.b");
  FakeHandlerConnection* h = SubscribeUp(Spec("s"), "h1:1");
  Pass();
  h->Ack(h->TakeSent()[0].delivery_id(), Ack::RETRY,
         std::string(500, 'x') + "\xc3\xa9" + std::string(60000, 'y'));
  Pass();
  std::vector<store::RetryRecord> r = Retries("s");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].last_error, "RETRY: " + std::string(500, 'x') + "\xc3\xa9" + std::string(3, 'y'));
}

TEST_F(DispatcherTest, AStalledSubscriptionDoesNotSlowOthers) {
  Create();
  FakeHandlerConnection* slow = Subscribe(Spec("slow", {"*"}, 2), "slow:1");
  FakeHandlerConnection* fast = Subscribe(Spec("fast", {"*"}, 2), "fast:1");
  slow->Up();
  fast->Up();
  for (int i = 0; i < 20; ++i) {
    Append("a.b");
    Pass();
    for (const Delivery& d : fast->TakeSent()) fast->Ack(d.delivery_id(), Ack::OK);
    Pass();
  }
  EXPECT_EQ(slow->TakeSent().size(), 2u);  // never acks: its window is full
  EXPECT_EQ(Listed("fast").stats().delivered(), 20);
  switchboard::v1::Subscription s = Listed("slow");
  EXPECT_EQ(s.stats().in_flight(), 2);
  EXPECT_EQ(s.stats().backlog(), 20);
}

TEST_F(DispatcherTest, MemoryIsBoundedByTheWindowPlusReadAhead) {
  Dispatcher::Options options;
  options.read_ahead = 3;
  Create(options);
  for (int i = 0; i < 200; ++i) Append("a.b");
  FakeHandlerConnection* h = SubscribeUp(Spec("s", {"*"}, 4), "h1:1");
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(absl::Seconds(1));
    Pass();
  }
  EXPECT_EQ(h->TakeSent().size(), 4u);
  EXPECT_LE(events_.listed, 4 + 3);
  EXPECT_LE(events_.max_limit, 4 + 3);
}

TEST_F(DispatcherTest, ReadsTheLogInChunksNotAfterEveryAck) {
  Dispatcher::Options options;
  options.read_ahead = 8;  // capacity 8 + 8, read in chunks of 4
  Create(options);
  for (int i = 0; i < 100; ++i) Append("a.b");
  FakeHandlerConnection* h = SubscribeUp(Spec("s", {"*"}, 8), "h1:1");
  Pass();
  std::vector<Delivery> sent = h->TakeSent();
  ASSERT_EQ(sent.size(), 8u);
  EXPECT_EQ(events_.lists, 1);
  EXPECT_EQ(events_.listed, 16);
  // Three acks free three slots: the 8 queued events fill them, no read for 3 rows.
  for (int i = 0; i < 3; ++i) h->Ack(sent[i].delivery_id(), Ack::OK);
  Pass();
  EXPECT_EQ(h->TakeSent().size(), 3u);
  EXPECT_EQ(events_.lists, 1);
  // The fourth makes a chunk worth reading.
  h->Ack(sent[3].delivery_id(), Ack::OK);
  Pass();
  EXPECT_EQ(h->TakeSent().size(), 1u);
  EXPECT_EQ(events_.lists, 2);
  EXPECT_EQ(events_.listed, 20);
}

TEST_F(DispatcherTest, SubscriptionsShareOneEncodingOfAnEvent) {
  Create();
  const std::string id = Append("a.b");
  FakeHandlerConnection* h1 = Subscribe(Spec("one"), "h1:1");
  FakeHandlerConnection* h2 = Subscribe(Spec("two"), "h2:1");
  h1->Up();
  h2->Up();
  Pass();
  std::vector<Delivery> a = h1->TakeSent();
  std::vector<Delivery> b = h2->TakeSent();
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(a[0].event().id(), id);
  // One encoding, the same bytes on both streams.
  ASSERT_EQ(h1->sent_events().size(), 1u);
  ASSERT_EQ(h2->sent_events().size(), 1u);
  EXPECT_EQ(h1->sent_events()[0].get(), h2->sent_events()[0].get());
  EXPECT_EQ(a[0].subscription(), "one");
  EXPECT_EQ(b[0].subscription(), "two");
  EXPECT_NE(a[0].delivery_id(), b[0].delivery_id());
}

TEST_F(DispatcherTest, StartedDispatcherSharesEncodingWithItsEncoderThreadsAndSendsEachEventOnce) {
  Dispatcher::Options options;
  options.encoder_threads = 4;
  Create(options);
  std::vector<std::string> ids;
  for (int i = 0; i < 300; ++i) ids.push_back(Append("a.b", absl::StrCat("obj_", i)));
  // A window of 16: many passes, each encoding up to 16 events on the worker and the encoders.
  FakeHandlerConnection* h = SubscribeUp(Spec("s", {"*"}, 16), "h1:1");
  dispatcher_->Start();
  // Each delivery must carry its own event (an encoding given to the wrong item, or lost, shows
  // as a wrong, repeated or missing id).
  std::vector<std::string> delivered;
  while (delivered.size() < ids.size()) {
    // The bound only stops a broken dispatcher from hanging the test.
    ASSERT_TRUE(h->AwaitSent(1, absl::Seconds(60))) << delivered.size() << " delivered";
    for (const Delivery& d : h->TakeSent()) {
      delivered.push_back(d.event().id());
      h->Ack(d.delivery_id(), Ack::OK);
    }
  }
  EXPECT_EQ(delivered, ids);
}

TEST_F(DispatcherTest, BacklogOfAStarSubscriptionComesFromSequences) {
  Create();
  for (int i = 0; i < 5; ++i) Append("a.b");
  Subscribe(Spec("all", {"*"}), "h1:1");
  Subscribe(Spec("some", {"a.*"}), "h2:1");
  Append("c.d");
  EXPECT_EQ(Listed("all").stats().backlog(), 6);
  EXPECT_EQ(Listed("some").stats().backlog(), 5);
}

TEST_F(DispatcherTest, ASubscriptionToARareTypeGoesOverEachEventOnce) {
  Create();
  FakeHandlerConnection* h = SubscribeUp(Spec("rare", {"charge.dispute.*"}), "h1:1");
  for (int i = 0; i < 5; ++i) Append("a.b");
  Pass();
  EXPECT_EQ(events_.last_after, 0);
  for (int i = 0; i < 3; ++i) Append("a.b");
  Pass();
  // Not from 0 again: the first read went over events 1-5, none of them a match.
  EXPECT_EQ(events_.last_after, 5);
  const std::string dispute = Append("charge.dispute.created");
  Pass();
  EXPECT_EQ(events_.last_after, 8);
  std::vector<Delivery> sent = h->TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].event().id(), dispute);
  h->Ack(sent[0].delivery_id(), Ack::OK);
  Pass();
  ASSERT_OK(dispatcher_->FlushProgress());
  EXPECT_EQ(StoredCursor("rare"), 9);
}

TEST_F(DispatcherTest, AnIdleStarSubscriptionHasNoBacklogOverSequencesWithoutAnEvent) {
  Create();
  FakeHandlerConnection* h = SubscribeUp(Spec("all"), "h1:1");
  // Sequences handed out with no event left behind them (as SQLite does for a duplicate, or
  // as retention leaves the newest events' numbers).
  for (int i = 0; i < 3; ++i) Append("a.b");
  ASSERT_OK(store_.DeleteReceivedBefore(absl::InfiniteFuture()).status());
  Pass();
  EXPECT_TRUE(h->TakeSent().empty());
  EXPECT_EQ(Listed("all").stats().backlog(), 0);
}

TEST_F(DispatcherTest, ClosingARemovedMembersStreamDoesNotHoldUpTheOtherSubscriptions) {
  Create();
  dispatcher_->Start();
  FakeHandlerConnection* leaving = Subscribe(Spec("a"), "h1:1");
  FakeHandlerConnection* other = Subscribe(Spec("b"), "h2:1");
  leaving->Up();
  other->Up();
  Append("a.b");
  // The bounds only stop a broken dispatcher from hanging the test.
  ASSERT_TRUE(leaving->AwaitSent(1, absl::Seconds(30)));
  ASSERT_TRUE(other->AwaitSent(1, absl::Seconds(30)));
  other->TakeSent();
  // Its stream will not end (a handler that stopped reading): destroying it blocks.
  absl::Notification release;
  leaving->HoldDestructionUntil(&release);
  ASSERT_OK(dispatcher_->Unsubscribe("a", "h1:1"));  // in flight: removed once answered
  leaving->Ack(leaving->TakeSent()[0].delivery_id(), Ack::OK);
  // The pass that removes the member ends by burying its connection; only then append, so the
  // next pass has to come after that.
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (Listed("a").members_size() > 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(Listed("a").members_size(), 0);
  Append("a.b");
  EXPECT_TRUE(other->AwaitSent(1, absl::Seconds(20))) << "the worker waited for the stream";
  release.Notify();
}

TEST_F(DispatcherTest, NothingIsReadWhileNoMemberIsConnected) {
  Create();
  for (int i = 0; i < 50; ++i) Append("a.b");
  Subscribe(Spec("s"), "h1:1");
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(absl::Seconds(1));
    Pass();
  }
  EXPECT_EQ(events_.listed, 0);
}

TEST_F(DispatcherTest, OversizedDeliveryIsDeadLetteredNotSent) {
  Dispatcher::Options options;
  options.max_delivery_bytes = 1024;
  Create(options);
  Append("a.b", std::string(2000, 'x'));
  const std::string small = Append("a.b");
  FakeHandlerConnection* h = SubscribeUp(Spec("s"), "h1:1");
  Pass();
  EXPECT_THAT(Ids(h->TakeSent()), ElementsAre(small));
  std::vector<store::DeadLetterRecord> dead = DeadLetters("s");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].attempts, 0);
  EXPECT_THAT(dead[0].last_error, HasSubstr("too large"));
}

TEST_F(DispatcherTest, ProgressCommitFailureKeepsTheBatchForTheNextFlush) {
  Create();
  Append("a.b");
  FakeHandlerConnection* h = SubscribeUp(Spec("s"), "h1:1");
  Pass();
  random_.value = 0.0;
  h->Ack(h->TakeSent()[0].delivery_id(), Ack::RETRY);
  Pass();
  store_.SetFailAppends(absl::ResourceExhaustedError("disk full"));
  EXPECT_THAT(dispatcher_->FlushProgress(), StatusIs(absl::StatusCode::kResourceExhausted));
  // The retry is still due from memory even though it is not in the store yet.
  Pass();
  std::vector<Delivery> sent = h->TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  h->Ack(sent[0].delivery_id(), Ack::OK);
  Pass();
  store_.SetFailAppends(absl::OkStatus());
  ASSERT_OK(dispatcher_->FlushProgress());
  EXPECT_EQ(StoredCursor("s"), 1);
  EXPECT_TRUE(Retries("s").empty());
}

TEST_F(DispatcherTest, RetentionCheckCountsWhatASubscriptionHasNotFinished) {
  Create();
  Append("a.b");
  Append("a.b");
  Append("c.d");  // not wanted by "s"
  clock_.Advance(absl::Hours(1));
  Append("a.b");  // newer than the first cutoff
  FakeHandlerConnection* h = Subscribe(Spec("s", {"a.*"}), "h1:1");
  FakeHandlerConnection* other = Subscribe(Spec("other", {"c.*"}), "h2:1");
  h->Up();
  other->Up();
  Pass();
  other->Ack(other->TakeSent()[0].delivery_id(), Ack::OK);  // "other" is done with evt_3
  std::vector<Delivery> sent = h->TakeSent();
  ASSERT_EQ(sent.size(), 3u);
  h->Ack(sent[0].delivery_id(), Ack::OK);
  h->Ack(sent[1].delivery_id(), Ack::RETRY);  // parked: still unfinished
  Pass();
  ASSERT_OK_AND_ASSIGN(int64_t n, dispatcher_->CountUnfinishedBefore(kStart + absl::Minutes(30)));
  EXPECT_EQ(n, 1);  // only evt_2, parked as a retry of "s"
  EXPECT_THAT(metrics_.Render(), HasSubstr("switchboard_retention_unfinished_removed_total 1"));

  other->Down();
  Append("c.d");  // waits for "other" in the store
  Pass();
  ASSERT_OK_AND_ASSIGN(n, dispatcher_->CountUnfinishedBefore(clock_.Now() + absl::Seconds(1)));
  EXPECT_EQ(n, 3);  // evt_2 (a retry) and evt_4 (in flight) of "s", evt_5 of "other"
}

TEST_F(DispatcherTest, RetentionCheckDoesNotCountEventsAnEarlierRunRemoved) {
  Create();
  Append("a.b");
  Append("c.d");
  clock_.Advance(absl::Hours(1));
  Append("a.b");
  // A `*` subscription with no member: nothing is ever finished.
  ASSERT_NE(Subscribe(Spec("all"), "h1:1"), nullptr);
  const absl::Time cutoff = kStart + absl::Minutes(30);
  ASSERT_OK_AND_ASSIGN(int64_t n, dispatcher_->CountUnfinishedBefore(cutoff));
  EXPECT_EQ(n, 2);
  ASSERT_OK_AND_ASSIGN(int64_t removed, store_.DeleteReceivedBefore(cutoff));
  EXPECT_EQ(removed, 2);
  // The next run (the job is hourly), with a later cutoff, counts only the one event left
  // before it, not again the two the first run removed.
  ASSERT_OK_AND_ASSIGN(n, dispatcher_->CountUnfinishedBefore(clock_.Now() + absl::Seconds(1)));
  EXPECT_EQ(n, 1);
  EXPECT_THAT(metrics_.Render(), HasSubstr("switchboard_retention_unfinished_removed_total 3"));
}

TEST_F(DispatcherTest, RetentionCheckCountsASubscriptionMillionsBehindExactly) {
  LongLogDeliveryStore long_log(&store_);
  Dispatcher::Deps deps{&events_, &long_log, &converter_, &connections_,
                        &clock_,  &random_,  &metrics_};
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Dispatcher> dispatcher, Dispatcher::Create({}, deps));
  // From the beginning, no member: all 2,500,000 events received before the cutoff are
  // unfinished (far more than any single capped count would see).
  ASSERT_OK(dispatcher->Subscribe(Spec("s"), "").status());
  ASSERT_OK_AND_ASSIGN(int64_t n, dispatcher->CountUnfinishedBefore(clock_.Now()));
  EXPECT_EQ(n, LongLogDeliveryStore::kOld);
  EXPECT_THAT(metrics_.Render(),
              HasSubstr("switchboard_retention_unfinished_removed_total 2500000"));
}

TEST_F(DispatcherTest, RetentionRemovesTheDeadLettersOfTheEventsItRemoved) {
  Create();
  const std::string old_a = Append("a.b");
  Append("a.b");
  clock_.Advance(absl::Hours(1));
  const std::string recent = Append("a.b");
  FakeHandlerConnection* h = Subscribe(Spec("s"), "h1:1");
  FakeHandlerConnection* other = Subscribe(Spec("other"), "h2:1");
  h->Up();
  other->Up();
  Pass();
  for (const Delivery& d : h->TakeSent()) h->Ack(d.delivery_id(), Ack::REJECT);
  for (const Delivery& d : other->TakeSent()) {
    other->Ack(d.delivery_id(), d.event().id() == old_a ? Ack::REJECT : Ack::OK);
  }
  Pass();
  ASSERT_EQ(DeadLetters("s").size(), 3u);
  ASSERT_EQ(DeadLetters("other").size(), 1u);

  ASSERT_OK_AND_ASSIGN(int64_t removed, store_.DeleteReceivedBefore(kStart + absl::Minutes(30)));
  ASSERT_EQ(removed, 2);
  ASSERT_OK_AND_ASSIGN(int64_t n, dispatcher_->RemoveDeadLettersOfRemovedEvents());
  EXPECT_EQ(n, 3);  // both old events' of "s", old_a's of "other"
  std::vector<store::DeadLetterRecord> dead = DeadLetters("s");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].event_id, recent);  // its event is still stored
  EXPECT_TRUE(DeadLetters("other").empty());
  EXPECT_EQ(Listed("s").stats().dead_letters(), 1);
  EXPECT_THAT(metrics_.Render(), HasSubstr("switchboard_retention_dead_letters_removed_total 3"));
  Pass();
  EXPECT_TRUE(h->TakeSent().empty());  // nothing is delivered for them
  EXPECT_TRUE(Retries("s").empty());
  ASSERT_OK_AND_ASSIGN(n, dispatcher_->RemoveDeadLettersOfRemovedEvents());
  EXPECT_EQ(n, 0);

  dispatcher_.reset();
  Create();
  EXPECT_EQ(DeadLetters("s").size(), 1u);  // durable
  EXPECT_TRUE(DeadLetters("other").empty());
  // With no event stored at all, no dead letter is left either.
  ASSERT_OK(store_.DeleteReceivedBefore(absl::InfiniteFuture()).status());
  ASSERT_OK_AND_ASSIGN(n, dispatcher_->RemoveDeadLettersOfRemovedEvents());
  EXPECT_EQ(n, 1);
  EXPECT_TRUE(DeadLetters("s").empty());
}

TEST_F(DispatcherTest, RetentionRemovesDeadLettersAndDiscardRemovesThemPageAfterPage) {
  Create();
  ASSERT_NE(Subscribe(Spec("s"), "h1:1"), nullptr);  // never connected: nothing is delivered
  store::ProgressBatch batch;
  for (int i = 0; i < 2600; ++i) {
    if (i == 1500) clock_.Advance(absl::Hours(1));
    store::DeadLetterRecord d;
    d.subscription = "s";
    d.event_id = Append("a.b");
    ASSERT_OK_AND_ASSIGN(store::EventRecord e, store_.Get(d.event_id));
    d.sequence = e.sequence;
    d.event_type = "a.b";
    d.attempts = 1;
    d.dead_at = clock_.Now();
    batch.dead_letters_to_put.push_back(d);
  }
  ASSERT_OK(store_.CommitProgress(batch));
  ASSERT_OK_AND_ASSIGN(int64_t removed, store_.DeleteReceivedBefore(kStart + absl::Minutes(30)));
  ASSERT_EQ(removed, 1500);
  ASSERT_OK_AND_ASSIGN(int64_t n, dispatcher_->RemoveDeadLettersOfRemovedEvents());
  EXPECT_EQ(n, 1500);
  EXPECT_EQ(Listed("s").stats().dead_letters(), 1100);
  ASSERT_OK_AND_ASSIGN(n, dispatcher_->DiscardDeadLetters("s", {}));
  EXPECT_EQ(n, 1100);
  EXPECT_EQ(Listed("s").stats().dead_letters(), 0);
}

TEST_F(DispatcherTest, RetentionLeavesADeadLetterOfAnEventStoredOutOfReceiptOrderForALaterRun) {
  Create();
  // received_at is a wall time: Set (a wall-clock step) makes receipt order differ from
  // sequence order.
  clock_.Set(kStart + absl::Hours(1));
  Append("a.b");  // sequence 1, received after...
  clock_.Set(kStart);
  Append("a.b");  // ...sequence 2
  clock_.Set(kStart + absl::Hours(2));
  FakeHandlerConnection* h = SubscribeUp(Spec("s"), "h1:1");
  RejectEverythingSent(h);
  ASSERT_EQ(DeadLetters("s").size(), 2u);
  ASSERT_OK_AND_ASSIGN(int64_t removed, store_.DeleteReceivedBefore(kStart + absl::Minutes(30)));
  ASSERT_EQ(removed, 1);
  // Only dead letters below the oldest stored event (sequence 1) are looked at.
  ASSERT_OK_AND_ASSIGN(int64_t n, dispatcher_->RemoveDeadLettersOfRemovedEvents());
  EXPECT_EQ(n, 0);
  ASSERT_OK_AND_ASSIGN(removed, store_.DeleteReceivedBefore(kStart + absl::Minutes(90)));
  ASSERT_EQ(removed, 1);
  ASSERT_OK_AND_ASSIGN(n, dispatcher_->RemoveDeadLettersOfRemovedEvents());
  EXPECT_EQ(n, 2);
  EXPECT_TRUE(DeadLetters("s").empty());
}

TEST_F(DispatcherTest, ExportsPerSubscriptionMetrics) {
  Create();
  Append("a.b");
  Append("a.b");
  FakeHandlerConnection* h = SubscribeUp(Spec("s"), "h1:1");
  Pass();
  clock_.Advance(absl::Milliseconds(3));
  std::vector<Delivery> sent = h->TakeSent();
  h->Ack(sent[0].delivery_id(), Ack::OK);
  Pass();
  const std::string text = metrics_.Render();
  EXPECT_THAT(text, HasSubstr("switchboard_delivery_delivered_total{subscription=\"s\"} 1"));
  EXPECT_THAT(text, HasSubstr("switchboard_delivery_in_flight{subscription=\"s\"} 1"));
  EXPECT_THAT(text, HasSubstr("switchboard_delivery_backlog{subscription=\"s\"} 1"));
  EXPECT_THAT(text, HasSubstr("switchboard_delivery_members_connected{subscription=\"s\"} 1"));
  EXPECT_THAT(text, HasSubstr("switchboard_delivery_latency_seconds_count{subscription=\"s\"} 1"));
}

}  // namespace
}  // namespace switchboard::server::dispatch
