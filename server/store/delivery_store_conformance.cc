#include "server/store/delivery_store_conformance.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "server/base/status_matchers.h"
#include "server/store/event_store_conformance.h"

namespace switchboard::server::store {

std::string DeliveryStoreFactoryName(const testing::TestParamInfo<DeliveryStoreFactory>& info) {
  return info.param.name;
}

void DeliveryStoreConformanceTest::SetUp() {
  absl::StatusOr<DeliveryStoreUnderTest> store = GetParam().open();
  ASSERT_TRUE(store.ok()) << store.status();
  store_ = std::move(store).value();
  ASSERT_NE(store_.events, nullptr);
  ASSERT_NE(store_.delivery, nullptr);
  events_ = store_.events.get();
  delivery_ = store_.delivery;
}

void DeliveryStoreConformanceTest::TearDown() {
  if (events_ != nullptr) events_->Close();
}

namespace {

using ::switchboard::base::StatusIs;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr absl::Time kInfinitePast = absl::InfinitePast();
constexpr absl::Time kInfiniteFuture = absl::InfiniteFuture();

// A time `s` seconds into the test's timeline.
absl::Time At(int64_t s) { return absl::FromUnixSeconds(1700000000 + s); }

SubscriptionRecord Subscription(absl::string_view name, int64_t cursor = 0) {
  SubscriptionRecord record;
  record.name = std::string(name);
  record.spec = absl::StrCat("spec of ", name);
  record.cursor = cursor;
  record.created_at = At(0);
  return record;
}

RetryRecord Retry(absl::string_view subscription, int64_t sequence, absl::Time next_at) {
  RetryRecord record;
  record.subscription = std::string(subscription);
  record.sequence = sequence;
  record.event_id = absl::StrCat("evt_", sequence);
  record.attempts = 1;
  record.next_at = next_at;
  record.last_error = "RETRY: busy";
  record.first_attempt_at = At(1);
  return record;
}

DeadLetterRecord DeadLetter(absl::string_view subscription, int64_t sequence) {
  DeadLetterRecord record;
  record.subscription = std::string(subscription);
  record.sequence = sequence;
  record.event_id = absl::StrCat("evt_", sequence);
  record.event_type = "charge.failed";
  record.attempts = 3;
  record.last_error = "REJECT: bad";
  record.dead_at = At(2);
  return record;
}

std::vector<std::string> Names(const std::vector<SubscriptionRecord>& records) {
  std::vector<std::string> names;
  for (const SubscriptionRecord& r : records) names.push_back(r.name);
  return names;
}

template <typename Record>
std::vector<int64_t> Sequences(const std::vector<Record>& records) {
  std::vector<int64_t> sequences;
  for (const Record& r : records) sequences.push_back(r.sequence);
  return sequences;
}

// Matches an OK StatusOr holding `expected`.
MATCHER_P(HoldsValue, expected, "") {
  if (!arg.ok()) {
    *result_listener << "status " << arg.status();
    return false;
  }
  *result_listener << "value " << testing::PrintToString(*arg);
  return *arg == expected;
}

// The stored subscription named `name`, if any.
std::optional<SubscriptionRecord> Find(DeliveryStore& store, absl::string_view name) {
  absl::StatusOr<std::vector<SubscriptionRecord>> all = store.ListSubscriptions();
  EXPECT_TRUE(all.ok()) << all.status();
  if (!all.ok()) return std::nullopt;
  for (const SubscriptionRecord& r : *all) {
    if (r.name == name) return r;
  }
  return std::nullopt;
}

int64_t CursorOf(DeliveryStore& store, absl::string_view name) {
  std::optional<SubscriptionRecord> record = Find(store, name);
  EXPECT_TRUE(record.has_value()) << name;
  return record.has_value() ? record->cursor : -1;
}

std::vector<RetryRecord> AllRetries(DeliveryStore& store, absl::string_view subscription) {
  absl::StatusOr<std::vector<RetryRecord>> retries =
      store.ListRetries(subscription, kInfiniteFuture, 10000);
  EXPECT_TRUE(retries.ok()) << retries.status();
  return retries.ok() ? *retries : std::vector<RetryRecord>();
}

std::vector<DeadLetterRecord> AllDeadLetters(DeliveryStore& store, absl::string_view subscription) {
  absl::StatusOr<std::vector<DeadLetterRecord>> dead =
      store.ListDeadLetters(subscription, 0, 10000);
  EXPECT_TRUE(dead.ok()) << dead.status();
  return dead.ok() ? *dead : std::vector<DeadLetterRecord>();
}

// Appends an event received at `received_at` and returns its sequence.
int64_t AppendReceivedAt(EventStore& store, absl::string_view id, absl::Time received_at,
                         absl::string_view type = "payment_intent.succeeded") {
  EventRecord record = TestEvent(id, type);
  record.received_at = received_at;
  absl::StatusOr<AppendResult> result = store.Append(record);
  EXPECT_TRUE(result.ok() && *result == AppendResult::kStored) << id;
  absl::StatusOr<EventRecord> stored = store.Get(id);
  EXPECT_TRUE(stored.ok()) << stored.status();
  return stored.ok() ? stored->sequence : -1;
}

// Appends 20 events cycling through four types (two of them `charge.*`) and returns their
// sequences: the log the Count* tests count over.
std::vector<int64_t> AppendTypeMix(EventStore& store) {
  const std::vector<std::string> types = {"charge.succeeded", "invoice.paid",
                                          "charge.dispute.created", "customer.created"};
  std::vector<int64_t> sequences;
  for (int i = 0; i < 20; ++i) {
    sequences.push_back(
        AppendReceivedAt(store, absl::StrCat("evt_", i), At(i), types[i % types.size()]));
  }
  return sequences;
}

// Type filters the Count* tests try: every pattern form, none, no match, overlaps.
const std::vector<std::vector<std::string>>& CountFilters() {
  static const auto* const filters =
      new std::vector<std::vector<std::string>>{{},
                                                {"*"},
                                                {"charge.*"},
                                                {"invoice.paid"},
                                                {"charge.dispute.*", "customer.created"},
                                                {"nothing.matches"},
                                                {"charge"},
                                                // Overlapping patterns count once.
                                                {"charge.*", "charge.succeeded"},
                                                {"charge.dispute.*", "charge.*"}};
  return *filters;
}

TEST_P(DeliveryStoreConformanceTest, PutSubscriptionThenListReturnsEveryField) {
  SubscriptionRecord record;
  record.name = "billing";
  record.spec = std::string(
      "\x0a\x07"
      "billing\x00\xff\xfe",
      12);  // binary, NUL included
  record.cursor = 42;
  record.created_at = absl::FromUnixMicros(1700000000123456) + absl::Nanoseconds(789);
  ASSERT_OK(delivery_->PutSubscription(record));

  ASSERT_OK_AND_ASSIGN(std::vector<SubscriptionRecord> all, delivery_->ListSubscriptions());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].name, "billing");
  EXPECT_EQ(all[0].spec, record.spec);
  EXPECT_EQ(all[0].cursor, 42);
  // Microseconds are kept, nanoseconds dropped, as for events.
  EXPECT_EQ(all[0].created_at, absl::FromUnixMicros(1700000000123456));
}

TEST_P(DeliveryStoreConformanceTest, ListSubscriptionsIsSortedByName) {
  ASSERT_OK_AND_ASSIGN(std::vector<SubscriptionRecord> all, delivery_->ListSubscriptions());
  EXPECT_THAT(all, IsEmpty());
  for (absl::string_view name : {"shipping", "billing", "Zeta", "billing-eu", "audit"}) {
    ASSERT_OK(delivery_->PutSubscription(Subscription(name)));
  }
  ASSERT_OK_AND_ASSIGN(all, delivery_->ListSubscriptions());
  EXPECT_THAT(Names(all), ElementsAre("Zeta", "audit", "billing", "billing-eu", "shipping"));
}

TEST_P(DeliveryStoreConformanceTest, PutExistingSubscriptionReplacesSpecButKeepsCursor) {
  SubscriptionRecord first = Subscription("billing", 10);
  first.spec = "v1";
  ASSERT_OK(delivery_->PutSubscription(first));
  ProgressBatch batch;
  batch.cursors["billing"] = 20;
  ASSERT_OK(delivery_->CommitProgress(batch));

  SubscriptionRecord second = Subscription("billing", 5);
  second.spec = "v2";
  second.created_at = At(100);
  ASSERT_OK(delivery_->PutSubscription(second));
  std::optional<SubscriptionRecord> got = Find(*delivery_, "billing");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->spec, "v2");
  EXPECT_EQ(got->created_at, At(100));
  EXPECT_EQ(got->cursor, 20);

  // Not even a higher cursor in the record moves an existing subscription's cursor.
  ASSERT_OK(delivery_->PutSubscription(Subscription("billing", 500)));
  EXPECT_EQ(CursorOf(*delivery_, "billing"), 20);
  ASSERT_OK_AND_ASSIGN(std::vector<SubscriptionRecord> all, delivery_->ListSubscriptions());
  EXPECT_EQ(all.size(), 1u);
}

TEST_P(DeliveryStoreConformanceTest, PutSubscriptionWithEmptyNameIsInvalidArgument) {
  EXPECT_THAT(delivery_->PutSubscription(Subscription("")),
              StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK_AND_ASSIGN(std::vector<SubscriptionRecord> all, delivery_->ListSubscriptions());
  EXPECT_THAT(all, IsEmpty());
}

TEST_P(DeliveryStoreConformanceTest, DeleteSubscriptionRemovesItsRetriesAndDeadLetters) {
  ASSERT_OK(delivery_->PutSubscription(Subscription("a", 7)));
  ASSERT_OK(delivery_->PutSubscription(Subscription("b")));
  ProgressBatch batch;
  batch.retries_to_put = {Retry("a", 1, At(10)), Retry("a", 2, At(20)), Retry("b", 1, At(10))};
  batch.dead_letters_to_put = {DeadLetter("a", 3), DeadLetter("b", 4)};
  ASSERT_OK(delivery_->CommitProgress(batch));

  ASSERT_OK(delivery_->DeleteSubscription("a"));
  ASSERT_OK_AND_ASSIGN(std::vector<SubscriptionRecord> all, delivery_->ListSubscriptions());
  EXPECT_THAT(Names(all), ElementsAre("b"));
  EXPECT_THAT(AllRetries(*delivery_, "a"), IsEmpty());
  EXPECT_THAT(AllDeadLetters(*delivery_, "a"), IsEmpty());
  EXPECT_THAT(Sequences(AllRetries(*delivery_, "b")), ElementsAre(1));
  EXPECT_THAT(Sequences(AllDeadLetters(*delivery_, "b")), ElementsAre(4));

  // A new subscription of the same name starts afresh.
  ASSERT_OK(delivery_->PutSubscription(Subscription("a", 0)));
  EXPECT_EQ(CursorOf(*delivery_, "a"), 0);
  EXPECT_THAT(AllRetries(*delivery_, "a"), IsEmpty());
  EXPECT_THAT(AllDeadLetters(*delivery_, "a"), IsEmpty());
}

TEST_P(DeliveryStoreConformanceTest, DeleteUnknownSubscriptionIsNotFound) {
  EXPECT_THAT(delivery_->DeleteSubscription("ghost"), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK(delivery_->PutSubscription(Subscription("a")));
  ASSERT_OK(delivery_->DeleteSubscription("a"));
  EXPECT_THAT(delivery_->DeleteSubscription("a"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(delivery_->DeleteSubscription(""), StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(DeliveryStoreConformanceTest, CommitProgressCursorsOnlyIncrease) {
  ASSERT_OK(delivery_->PutSubscription(Subscription("a", 5)));
  ASSERT_OK(delivery_->PutSubscription(Subscription("b", 0)));
  const std::vector<std::pair<int64_t, int64_t>> steps = {{10, 10}, {7, 10},  {10, 10},    {11, 11},
                                                          {0, 11},  {-5, 11}, {1000, 1000}};
  for (const auto& [commit, want] : steps) {
    ProgressBatch batch;
    batch.cursors["a"] = commit;
    ASSERT_OK(delivery_->CommitProgress(batch));
    EXPECT_EQ(CursorOf(*delivery_, "a"), want) << "after committing " << commit;
  }
  // Several cursors in one batch, each on its own.
  ProgressBatch batch;
  batch.cursors = {{"a", 3}, {"b", 8}};
  ASSERT_OK(delivery_->CommitProgress(batch));
  EXPECT_EQ(CursorOf(*delivery_, "a"), 1000);
  EXPECT_EQ(CursorOf(*delivery_, "b"), 8);
}

TEST_P(DeliveryStoreConformanceTest, CommitProgressIgnoresUnknownSubscriptions) {
  ASSERT_OK(delivery_->PutSubscription(Subscription("a")));
  ProgressBatch batch;
  batch.cursors = {{"a", 5}, {"ghost", 9}};
  batch.retries_to_put = {Retry("a", 1, At(1)), Retry("ghost", 1, At(1))};
  batch.retries_to_delete = {{"ghost", 1}};
  batch.dead_letters_to_put = {DeadLetter("a", 2), DeadLetter("ghost", 2)};
  batch.dead_letters_to_delete = {{"ghost", 3}};
  ASSERT_OK(delivery_->CommitProgress(batch));

  ASSERT_OK_AND_ASSIGN(std::vector<SubscriptionRecord> all, delivery_->ListSubscriptions());
  EXPECT_THAT(Names(all), ElementsAre("a"));
  EXPECT_EQ(CursorOf(*delivery_, "a"), 5);
  EXPECT_THAT(Sequences(AllRetries(*delivery_, "a")), ElementsAre(1));
  EXPECT_THAT(Sequences(AllDeadLetters(*delivery_, "a")), ElementsAre(2));
  EXPECT_THAT(AllRetries(*delivery_, "ghost"), IsEmpty());
  EXPECT_THAT(AllDeadLetters(*delivery_, "ghost"), IsEmpty());

  // Creating it later finds nothing left behind by that batch.
  ASSERT_OK(delivery_->PutSubscription(Subscription("ghost", 0)));
  EXPECT_EQ(CursorOf(*delivery_, "ghost"), 0);
  EXPECT_THAT(AllRetries(*delivery_, "ghost"), IsEmpty());
  EXPECT_THAT(AllDeadLetters(*delivery_, "ghost"), IsEmpty());
}

TEST_P(DeliveryStoreConformanceTest, RetriesAreUpsertedBySubscriptionAndSequence) {
  ASSERT_OK(delivery_->PutSubscription(Subscription("a")));
  ASSERT_OK(delivery_->PutSubscription(Subscription("b")));
  ProgressBatch first;
  first.retries_to_put = {Retry("a", 7, At(100)), Retry("b", 7, At(100))};
  ASSERT_OK(delivery_->CommitProgress(first));

  RetryRecord again;
  again.subscription = "a";
  again.sequence = 7;
  again.event_id = "evt_\xc3\xa9";
  again.attempts = 2;
  again.next_at = absl::FromUnixMicros(1700000200123456) + absl::Nanoseconds(999);
  again.last_error = std::string("timeout\0after 30s", 17);
  again.first_attempt_at = absl::FromUnixMicros(1700000050000001);
  ProgressBatch second;
  second.retries_to_put = {again};
  ASSERT_OK(delivery_->CommitProgress(second));

  std::vector<RetryRecord> a = AllRetries(*delivery_, "a");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].subscription, "a");
  EXPECT_EQ(a[0].sequence, 7);
  EXPECT_EQ(a[0].event_id, "evt_\xc3\xa9");
  EXPECT_EQ(a[0].attempts, 2);
  EXPECT_EQ(a[0].next_at, absl::FromUnixMicros(1700000200123456));
  EXPECT_EQ(a[0].last_error, again.last_error);
  EXPECT_EQ(a[0].first_attempt_at, absl::FromUnixMicros(1700000050000001));
  // The other subscription's retry of the same sequence is its own.
  std::vector<RetryRecord> b = AllRetries(*delivery_, "b");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].attempts, 1);
  EXPECT_EQ(b[0].next_at, At(100));
}

TEST_P(DeliveryStoreConformanceTest, ListRetriesEarliestFirstThenBySequenceUpToLimit) {
  ASSERT_OK(delivery_->PutSubscription(Subscription("a")));
  ASSERT_OK(delivery_->PutSubscription(Subscription("b")));
  ProgressBatch batch;
  batch.retries_to_put = {Retry("a", 5, At(300)), Retry("a", 3, At(200)), Retry("a", 1, At(200)),
                          Retry("a", 2, At(100)), Retry("a", 4, At(400)), Retry("b", 9, At(50))};
  ASSERT_OK(delivery_->CommitProgress(batch));
  EXPECT_THAT(Sequences(AllRetries(*delivery_, "a")), ElementsAre(2, 1, 3, 5, 4));
  ASSERT_OK_AND_ASSIGN(std::vector<RetryRecord> first,
                       delivery_->ListRetries("a", kInfiniteFuture, 3));
  EXPECT_THAT(Sequences(first), ElementsAre(2, 1, 3));
  ASSERT_OK_AND_ASSIGN(first, delivery_->ListRetries("a", kInfiniteFuture, 1));
  EXPECT_THAT(Sequences(first), ElementsAre(2));
}

TEST_P(DeliveryStoreConformanceTest, ListRetriesDueBeforeIsStrict) {
  ASSERT_OK(delivery_->PutSubscription(Subscription("a")));
  ProgressBatch batch;
  batch.retries_to_put = {Retry("a", 1, At(100)), Retry("a", 2, At(200)), Retry("a", 3, At(300))};
  ASSERT_OK(delivery_->CommitProgress(batch));
  auto due = [&](absl::Time before) {
    absl::StatusOr<std::vector<RetryRecord>> got = delivery_->ListRetries("a", before, 100);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? Sequences(*got) : std::vector<int64_t>{-1};
  };
  EXPECT_THAT(due(At(100)), IsEmpty());
  EXPECT_THAT(due(At(100) + absl::Nanoseconds(1)), ElementsAre(1));
  EXPECT_THAT(due(At(200)), ElementsAre(1));
  EXPECT_THAT(due(At(250)), ElementsAre(1, 2));
  EXPECT_THAT(due(At(300) + absl::Microseconds(1)), ElementsAre(1, 2, 3));
  EXPECT_THAT(due(kInfinitePast), IsEmpty());
  EXPECT_THAT(due(kInfiniteFuture), ElementsAre(1, 2, 3));
}

TEST_P(DeliveryStoreConformanceTest, ListRetriesAfterPagesBySequenceWhateverTheirDueTimes) {
  ASSERT_OK(delivery_->PutSubscription(Subscription("a")));
  ASSERT_OK(delivery_->PutSubscription(Subscription("b")));
  ProgressBatch batch;
  batch.retries_to_put = {Retry("a", 5, At(100)), Retry("a", 3, At(500)), Retry("a", 1, At(200)),
                          Retry("a", 7, At(50)),  Retry("a", 4, At(400)), Retry("b", 6, At(50))};
  ASSERT_OK(delivery_->CommitProgress(batch));
  std::vector<int64_t> seen;
  int64_t after = 1;
  int pages = 0;
  for (;;) {
    ASSERT_OK_AND_ASSIGN(std::vector<RetryRecord> page, delivery_->ListRetriesAfter("a", after, 2));
    if (page.empty()) break;
    ++pages;
    EXPECT_LE(page.size(), 2u);
    for (const RetryRecord& r : page) seen.push_back(r.sequence);
    after = page.back().sequence;
  }
  EXPECT_EQ(pages, 2);
  EXPECT_THAT(seen, ElementsAre(3, 4, 5, 7));

  ASSERT_OK_AND_ASSIGN(std::vector<RetryRecord> got, delivery_->ListRetriesAfter("a", 4, 1));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].subscription, "a");
  EXPECT_EQ(got[0].sequence, 5);
  EXPECT_EQ(got[0].event_id, "evt_5");
  EXPECT_EQ(got[0].attempts, 1);
  EXPECT_EQ(got[0].next_at, At(100));
  EXPECT_EQ(got[0].last_error, "RETRY: busy");
  EXPECT_EQ(got[0].first_attempt_at, At(1));
  ASSERT_OK_AND_ASSIGN(got, delivery_->ListRetriesAfter("a", 7, 10));
  EXPECT_THAT(got, IsEmpty());
  ASSERT_OK_AND_ASSIGN(got, delivery_->ListRetriesAfter("ghost", 0, 10));
  EXPECT_THAT(got, IsEmpty());
}

TEST_P(DeliveryStoreConformanceTest, RetriesToDeleteRemoveOnlyThosePairs) {
  ASSERT_OK(delivery_->PutSubscription(Subscription("a")));
  ASSERT_OK(delivery_->PutSubscription(Subscription("b")));
  ProgressBatch put;
  put.retries_to_put = {Retry("a", 1, At(1)), Retry("a", 2, At(2)), Retry("a", 3, At(3)),
                        Retry("b", 2, At(2))};
  ASSERT_OK(delivery_->CommitProgress(put));
  ProgressBatch remove;
  remove.retries_to_delete = {{"a", 2}, {"a", 99}, {"ghost", 1}};
  ASSERT_OK(delivery_->CommitProgress(remove));
  EXPECT_THAT(Sequences(AllRetries(*delivery_, "a")), ElementsAre(1, 3));
  EXPECT_THAT(Sequences(AllRetries(*delivery_, "b")), ElementsAre(2));
}

TEST_P(DeliveryStoreConformanceTest, BatchPartsApplyInFieldOrder) {
  ASSERT_OK(delivery_->PutSubscription(Subscription("a")));
  ProgressBatch setup;
  setup.retries_to_put = {Retry("a", 1, At(1))};
  ASSERT_OK(delivery_->CommitProgress(setup));

  ProgressBatch batch;
  // Put then deleted in one batch: gone.
  batch.retries_to_put = {Retry("a", 2, At(2))};
  batch.retries_to_delete = {{"a", 2}, {"a", 1}};
  batch.dead_letters_to_put = {DeadLetter("a", 3), DeadLetter("a", 1)};
  batch.dead_letters_to_delete = {{"a", 3}};
  ASSERT_OK(delivery_->CommitProgress(batch));
  EXPECT_THAT(AllRetries(*delivery_, "a"), IsEmpty());
  // Retry 1 moved to the dead letters in the same batch.
  EXPECT_THAT(Sequences(AllDeadLetters(*delivery_, "a")), ElementsAre(1));
}

TEST_P(DeliveryStoreConformanceTest, DeadLettersAreUpsertedDeletedAndPagedBySequence) {
  ASSERT_OK(delivery_->PutSubscription(Subscription("a")));
  ASSERT_OK(delivery_->PutSubscription(Subscription("b")));
  ProgressBatch batch;
  for (int64_t sequence : {5, 1, 7, 3, 2, 6, 4}) {
    batch.dead_letters_to_put.push_back(DeadLetter("a", sequence));
  }
  batch.dead_letters_to_put.push_back(DeadLetter("b", 3));
  ASSERT_OK(delivery_->CommitProgress(batch));

  DeadLetterRecord replaced;
  replaced.subscription = "a";
  replaced.sequence = 3;
  replaced.event_id = "evt_three";
  replaced.event_type = "invoice.payment_failed";
  replaced.attempts = 12;
  replaced.last_error = "max age exceeded";
  replaced.dead_at = absl::FromUnixMicros(1700000300000007) + absl::Nanoseconds(1);
  ProgressBatch upsert;
  upsert.dead_letters_to_put = {replaced};
  upsert.dead_letters_to_delete = {{"a", 4}, {"a", 40}};
  ASSERT_OK(delivery_->CommitProgress(upsert));

  std::vector<int64_t> seen;
  int64_t after = 0;
  int pages = 0;
  for (;;) {
    ASSERT_OK_AND_ASSIGN(std::vector<DeadLetterRecord> page,
                         delivery_->ListDeadLetters("a", after, 2));
    if (page.empty()) break;
    ++pages;
    EXPECT_LE(page.size(), 2u);
    for (const DeadLetterRecord& d : page) seen.push_back(d.sequence);
    after = page.back().sequence;
  }
  EXPECT_EQ(pages, 3);
  EXPECT_THAT(seen, ElementsAre(1, 2, 3, 5, 6, 7));

  ASSERT_OK_AND_ASSIGN(std::vector<DeadLetterRecord> got, delivery_->ListDeadLetters("a", 2, 1));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].subscription, "a");
  EXPECT_EQ(got[0].sequence, 3);
  EXPECT_EQ(got[0].event_id, "evt_three");
  EXPECT_EQ(got[0].event_type, "invoice.payment_failed");
  EXPECT_EQ(got[0].attempts, 12);
  EXPECT_EQ(got[0].last_error, "max age exceeded");
  EXPECT_EQ(got[0].dead_at, absl::FromUnixMicros(1700000300000007));
  std::vector<DeadLetterRecord> b = AllDeadLetters(*delivery_, "b");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].event_id, "evt_3");
}

TEST_P(DeliveryStoreConformanceTest, ListsOfUnknownSubscriptionAreEmpty) {
  EXPECT_THAT(AllRetries(*delivery_, "ghost"), IsEmpty());
  EXPECT_THAT(AllDeadLetters(*delivery_, "ghost"), IsEmpty());
}

TEST_P(DeliveryStoreConformanceTest, ListLimitsBelowOneAreInvalidArgument) {
  ASSERT_OK(delivery_->PutSubscription(Subscription("a")));
  EXPECT_THAT(delivery_->ListRetries("a", kInfiniteFuture, 0),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(delivery_->ListRetries("a", kInfiniteFuture, -1),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(delivery_->ListRetriesAfter("a", 0, 0), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(delivery_->ListDeadLetters("a", 0, 0), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(delivery_->ListDeadLetters("a", 0, -1), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_OK(delivery_->ListRetries("a", kInfiniteFuture, std::numeric_limits<int>::max()));
  EXPECT_OK(delivery_->ListRetriesAfter("a", 0, std::numeric_limits<int>::max()));
  EXPECT_OK(delivery_->ListDeadLetters("a", 0, std::numeric_limits<int>::max()));
}

TEST_P(DeliveryStoreConformanceTest, EmptyProgressBatchIsOk) {
  EXPECT_OK(delivery_->CommitProgress(ProgressBatch()));
}

TEST_P(DeliveryStoreConformanceTest, LastSequenceIsZeroWhenNothingWasAppended) {
  EXPECT_THAT(delivery_->LastSequence(), HoldsValue(int64_t{0}));
  EXPECT_THAT(delivery_->LastSequenceReceivedBefore(kInfiniteFuture), HoldsValue(int64_t{0}));
}

TEST_P(DeliveryStoreConformanceTest, LastSequenceIsTheHighestEverAssigned) {
  AppendReceivedAt(*events_, "evt_1", At(1));
  AppendReceivedAt(*events_, "evt_2", At(2));
  int64_t third = AppendReceivedAt(*events_, "evt_3", At(3));
  EXPECT_THAT(delivery_->LastSequence(), HoldsValue(third));
  // A duplicate stores nothing; it may use a sequence up (SQLite does), which only moves the
  // start position over a gap.
  ASSERT_OK_AND_ASSIGN(AppendResult duplicate, events_->Append(TestEvent("evt_2")));
  EXPECT_EQ(duplicate, AppendResult::kDuplicate);
  ASSERT_OK_AND_ASSIGN(int64_t after_duplicate, delivery_->LastSequence());
  EXPECT_GE(after_duplicate, third);
  // Retention removing the newest events does not take their sequences back.
  ASSERT_OK_AND_ASSIGN(int64_t deleted, events_->DeleteReceivedBefore(kInfiniteFuture));
  EXPECT_EQ(deleted, 3);
  EXPECT_THAT(delivery_->LastSequence(), HoldsValue(after_duplicate));
  int64_t fourth = AppendReceivedAt(*events_, "evt_4", At(4));
  EXPECT_GT(fourth, after_duplicate);
  EXPECT_THAT(delivery_->LastSequence(), HoldsValue(fourth));
}

TEST_P(DeliveryStoreConformanceTest, LastSequenceReceivedBeforeFollowsReceivedAtNotAppendOrder) {
  int64_t e1 = AppendReceivedAt(*events_, "evt_1", At(100));
  int64_t e2 = AppendReceivedAt(*events_, "evt_2", At(300));
  int64_t e3 = AppendReceivedAt(*events_, "evt_3", At(200));  // appended late
  int64_t e4 = AppendReceivedAt(*events_, "evt_4", At(400));
  auto before = [&](absl::Time t) { return delivery_->LastSequenceReceivedBefore(t); };
  EXPECT_THAT(before(kInfinitePast), HoldsValue(int64_t{0}));
  EXPECT_THAT(before(At(50)), HoldsValue(int64_t{0}));
  EXPECT_THAT(before(At(100)), HoldsValue(int64_t{0}));  // strictly before
  EXPECT_THAT(before(At(100) + absl::Nanoseconds(1)), HoldsValue(e1));
  EXPECT_THAT(before(At(200)), HoldsValue(e1));
  EXPECT_THAT(before(At(250)), HoldsValue(e3));
  // evt_2 was received earlier than this but appended before evt_3: the highest sequence wins.
  EXPECT_THAT(before(At(350)), HoldsValue(e3));
  EXPECT_THAT(before(At(400) + absl::Microseconds(1)), HoldsValue(e4));
  EXPECT_THAT(before(kInfiniteFuture), HoldsValue(e4));
  EXPECT_LT(e2, e3);

  // Only stored events count.
  ASSERT_OK_AND_ASSIGN(int64_t deleted, events_->DeleteReceivedBefore(At(150)));
  EXPECT_EQ(deleted, 1);
  EXPECT_THAT(before(At(150)), HoldsValue(int64_t{0}));
}

TEST_P(DeliveryStoreConformanceTest, CountAfterAgreesWithListAndStopsAtCap) {
  const std::vector<int64_t> sequences = AppendTypeMix(*events_);
  for (const auto& filter : CountFilters()) {
    for (int64_t cursor : {int64_t{0}, sequences[4], sequences[13], sequences.back()}) {
      EventQuery query;
      query.types = filter;
      query.after_sequence = cursor;
      query.limit = kMaxQueryLimit;
      ASSERT_OK_AND_ASSIGN(std::vector<EventRecord> listed, events_->List(query));
      const int64_t n = static_cast<int64_t>(listed.size());
      const std::string where =
          absl::StrCat(testing::PrintToString(filter), " after ", cursor, " (", n, " match)");
      EXPECT_THAT(delivery_->CountAfter(filter, cursor, 1000), HoldsValue(n)) << where;
      EXPECT_THAT(delivery_->CountAfter(filter, cursor, n), HoldsValue(n)) << where;
      EXPECT_THAT(delivery_->CountAfter(filter, cursor, 0), HoldsValue(int64_t{0})) << where;
      if (n > 1) {
        EXPECT_THAT(delivery_->CountAfter(filter, cursor, n - 1), HoldsValue(n - 1)) << where;
      }
    }
  }
  EXPECT_THAT(delivery_->CountAfter({"charge.*"}, 0, 1000), HoldsValue(int64_t{10}));
}

TEST_P(DeliveryStoreConformanceTest, CountAfterRejectsBadArguments) {
  EXPECT_THAT(delivery_->CountAfter({}, 0, -1), StatusIs(absl::StatusCode::kInvalidArgument));
  std::vector<std::string> types(kMaxQueryTypes + 1, "a.b");
  EXPECT_THAT(delivery_->CountAfter(types, 0, 10), StatusIs(absl::StatusCode::kInvalidArgument));
  types.pop_back();
  EXPECT_THAT(delivery_->CountAfter(types, 0, 10), HoldsValue(int64_t{0}));
}

TEST_P(DeliveryStoreConformanceTest, CountBetweenAgreesWithListAndStopsAtLimit) {
  const std::vector<int64_t> sequences = AppendTypeMix(*events_);
  const std::vector<int64_t> bounds = {0,
                                       sequences[4],
                                       sequences[9],
                                       sequences[13],
                                       sequences.back(),
                                       sequences.back() + 100,
                                       std::numeric_limits<int64_t>::max()};
  for (const auto& filter : CountFilters()) {
    EventQuery query;
    query.types = filter;
    query.limit = kMaxQueryLimit;
    ASSERT_OK_AND_ASSIGN(std::vector<EventRecord> listed, events_->List(query));
    for (int64_t after : bounds) {
      for (int64_t up_to : bounds) {
        int64_t n = 0;
        for (const EventRecord& e : listed) {
          if (e.sequence > after && e.sequence <= up_to) ++n;
        }
        const std::string where = absl::StrCat(testing::PrintToString(filter), " in (", after, ", ",
                                               up_to, "] (", n, " match)");
        EXPECT_THAT(delivery_->CountBetween(filter, after, up_to, 1000), HoldsValue(n)) << where;
        EXPECT_THAT(delivery_->CountBetween(filter, after, up_to, n), HoldsValue(n)) << where;
        EXPECT_THAT(delivery_->CountBetween(filter, after, up_to, 0), HoldsValue(int64_t{0}))
            << where;
        if (n > 1) {
          EXPECT_THAT(delivery_->CountBetween(filter, after, up_to, n - 1), HoldsValue(n - 1))
              << where;
        }
      }
    }
  }
  // evt_0..evt_9: charge.succeeded 0, 4, 8 and charge.dispute.created 2, 6.
  EXPECT_THAT(delivery_->CountBetween({"charge.*"}, 0, sequences[9], 1000), HoldsValue(int64_t{5}));
  // evt_5..evt_13: invoice.paid 5, 9, 13.
  EXPECT_THAT(delivery_->CountBetween({"invoice.paid"}, sequences[4], sequences[13], 1000),
              HoldsValue(int64_t{3}));
  EXPECT_THAT(delivery_->CountBetween({"*"}, sequences[13], sequences[4], 1000),
              HoldsValue(int64_t{0}));  // an empty range
}

TEST_P(DeliveryStoreConformanceTest, CountBetweenCountsOnlyStoredEvents) {
  int64_t last = 0;
  for (int i = 0; i < 6; ++i) {
    last = AppendReceivedAt(*events_, absl::StrCat("evt_", i), At(i * 100), "invoice.paid");
  }
  ASSERT_OK_AND_ASSIGN(int64_t deleted, events_->DeleteReceivedBefore(At(250)));
  EXPECT_EQ(deleted, 3);
  EXPECT_THAT(delivery_->CountBetween({"invoice.paid"}, 0, last, 1000), HoldsValue(int64_t{3}));
  EXPECT_THAT(delivery_->CountBetween({"invoice.*"}, 0, last - 1, 1000), HoldsValue(int64_t{2}));
  EXPECT_THAT(delivery_->CountBetween({"*"}, 0, last - 3, 1000), HoldsValue(int64_t{0}));
}

TEST_P(DeliveryStoreConformanceTest, CountBetweenRejectsBadArguments) {
  EXPECT_THAT(delivery_->CountBetween({}, 0, 10, -1), StatusIs(absl::StatusCode::kInvalidArgument));
  std::vector<std::string> types(kMaxQueryTypes + 1, "a.b");
  EXPECT_THAT(delivery_->CountBetween(types, 0, 10, 10),
              StatusIs(absl::StatusCode::kInvalidArgument));
  types.pop_back();
  EXPECT_THAT(delivery_->CountBetween(types, 0, 10, 10), HoldsValue(int64_t{0}));
}

TEST_P(DeliveryStoreConformanceTest, CloseThenDeliveryCallsAreUnavailable) {
  ASSERT_OK(delivery_->PutSubscription(Subscription("a")));
  events_->Close();
  ProgressBatch batch;
  batch.cursors["a"] = 1;
  constexpr absl::StatusCode kUnavailable = absl::StatusCode::kUnavailable;
  EXPECT_THAT(delivery_->PutSubscription(Subscription("b")), StatusIs(kUnavailable));
  EXPECT_THAT(delivery_->DeleteSubscription("a"), StatusIs(kUnavailable));
  EXPECT_THAT(delivery_->ListSubscriptions(), StatusIs(kUnavailable));
  EXPECT_THAT(delivery_->CommitProgress(batch), StatusIs(kUnavailable));
  EXPECT_THAT(delivery_->CommitProgress(ProgressBatch()), StatusIs(kUnavailable));
  EXPECT_THAT(delivery_->ListRetries("a", kInfiniteFuture, 10), StatusIs(kUnavailable));
  EXPECT_THAT(delivery_->ListRetriesAfter("a", 0, 10), StatusIs(kUnavailable));
  EXPECT_THAT(delivery_->ListDeadLetters("a", 0, 10), StatusIs(kUnavailable));
  EXPECT_THAT(delivery_->LastSequence(), StatusIs(kUnavailable));
  EXPECT_THAT(delivery_->LastSequenceReceivedBefore(kInfiniteFuture), StatusIs(kUnavailable));
  EXPECT_THAT(delivery_->CountAfter({}, 0, 10), StatusIs(kUnavailable));
  EXPECT_THAT(delivery_->CountBetween({}, 0, 10, 10), StatusIs(kUnavailable));
}

TEST_P(DeliveryStoreConformanceTest, ConcurrentProgressAndAppendsAllLand) {
  constexpr int kCommitters = 4;
  constexpr int kAppenders = 2;
  constexpr int kSteps = 40;
  for (int t = 0; t < kCommitters; ++t) {
    ASSERT_OK(delivery_->PutSubscription(Subscription(absl::StrCat("sub_", t))));
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kCommitters; ++t) {
    threads.emplace_back([&, t] {
      const std::string name = absl::StrCat("sub_", t);
      for (int i = 1; i <= kSteps; ++i) {
        // Each step acks the previous retry, parks a new one and advances the cursor.
        ProgressBatch batch;
        batch.cursors[name] = i;
        batch.retries_to_put = {Retry(name, i, At(i))};
        batch.retries_to_delete = {{name, i - 1}};
        EXPECT_OK(delivery_->CommitProgress(batch));
      }
    });
  }
  for (int t = 0; t < kAppenders; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kSteps; ++i) {
        absl::StatusOr<AppendResult> r =
            events_->Append(TestEvent(absl::StrCat("evt_", t, "_", i)));
        EXPECT_TRUE(r.ok() && *r == AppendResult::kStored) << r.status();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < kCommitters; ++t) {
    const std::string name = absl::StrCat("sub_", t);
    EXPECT_EQ(CursorOf(*delivery_, name), kSteps);
    EXPECT_THAT(Sequences(AllRetries(*delivery_, name)), ElementsAre(kSteps));
  }
  EXPECT_THAT(delivery_->CountAfter({}, 0, 1000), HoldsValue(int64_t{kAppenders * kSteps}));
}

}  // namespace
}  // namespace switchboard::server::store
