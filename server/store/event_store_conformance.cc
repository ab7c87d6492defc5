#include "server/store/event_store_conformance.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "server/base/status_matchers.h"

namespace switchboard::server::store {

std::string EventStoreFactoryName(const testing::TestParamInfo<EventStoreFactory>& info) {
  return info.param.name;
}

EventRecord TestEvent(absl::string_view id, absl::string_view type) {
  EventRecord record;
  record.id = std::string(id);
  record.type = std::string(type);
  record.object_id = absl::StrCat("obj_", id);
  record.created = absl::FromUnixSeconds(1700000000);
  record.received_at = absl::FromUnixSeconds(1700000005);
  record.endpoint = "/webhook";
  record.livemode = false;
  record.account = "";
  record.raw_json = absl::StrCat(R"({"id":")", id, R"(","object":"event","type":")", type, R"("})");
  return record;
}

void EventStoreConformanceTest::SetUp() {
  absl::StatusOr<std::unique_ptr<EventStore>> store = GetParam().open();
  ASSERT_TRUE(store.ok()) << store.status();
  store_ = std::move(store).value();
}

void EventStoreConformanceTest::TearDown() {
  if (store_ != nullptr) store_->Close();
}

namespace {

using ::switchboard::base::StatusIs;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;

std::vector<std::string> Ids(const std::vector<EventRecord>& records) {
  std::vector<std::string> ids;
  for (const EventRecord& r : records) ids.push_back(r.id);
  return ids;
}

// Matches an OK StatusOr holding `expected`.
MATCHER_P(HoldsResult, expected, "") {
  if (!arg.ok()) {
    *result_listener << "status " << arg.status();
    return false;
  }
  return *arg == expected;
}

// Appends and expects kStored.
#define APPEND_STORED(store, record) \
  ASSERT_THAT((store)->Append(record), HoldsResult(AppendResult::kStored))

void AppendAll(EventStore& store, const std::vector<EventRecord>& records) {
  for (const EventRecord& r : records) {
    EXPECT_THAT(store.Append(r), HoldsResult(AppendResult::kStored)) << r.id;
  }
}

absl::StatusOr<std::vector<EventRecord>> ListTypes(EventStore& store,
                                                   std::vector<std::string> types) {
  EventQuery query;
  query.types = std::move(types);
  query.limit = kMaxQueryLimit;
  return store.List(query);
}

TEST_P(EventStoreConformanceTest, AppendThenGetReturnsEveryField) {
  EventRecord record = TestEvent("evt_1", "charge.succeeded");
  record.object_id = "ch_1";
  record.created = absl::FromUnixMicros(1700000000123456);
  record.received_at = absl::FromUnixMicros(1700000001654321);
  record.endpoint = "/webhook/connect";
  record.livemode = true;
  record.account = "acct_123";
  record.sequence = 999;  // ignored
  EXPECT_THAT(store_->Append(record), HoldsResult(AppendResult::kStored));

  ASSERT_OK_AND_ASSIGN(EventRecord got, store_->Get("evt_1"));
  EXPECT_GT(got.sequence, 0);
  EXPECT_EQ(got.id, "evt_1");
  EXPECT_EQ(got.type, "charge.succeeded");
  EXPECT_EQ(got.object_id, "ch_1");
  EXPECT_EQ(got.created, record.created);
  EXPECT_EQ(got.received_at, record.received_at);
  EXPECT_EQ(got.endpoint, "/webhook/connect");
  EXPECT_TRUE(got.livemode);
  EXPECT_EQ(got.account, "acct_123");
  EXPECT_EQ(got.raw_json, record.raw_json);
}

TEST_P(EventStoreConformanceTest, GetUnknownIdIsNotFound) {
  EXPECT_THAT(store_->Get("evt_missing"), StatusIs(absl::StatusCode::kNotFound));
  APPEND_STORED(store_, TestEvent("evt_1"));
  EXPECT_THAT(store_->Get("evt_"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->Get(""), StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(EventStoreConformanceTest, DuplicateIdIsReportedAndStoredOnce) {
  EventRecord first = TestEvent("evt_dup");
  EventRecord second = TestEvent("evt_dup", "charge.failed");
  second.raw_json = R"({"resent":true})";
  EXPECT_THAT(store_->Append(first), HoldsResult(AppendResult::kStored));
  EXPECT_THAT(store_->Append(second), HoldsResult(AppendResult::kDuplicate));
  EXPECT_THAT(store_->Append(first), HoldsResult(AppendResult::kDuplicate));

  ASSERT_OK_AND_ASSIGN(EventRecord got, store_->Get("evt_dup"));
  EXPECT_EQ(got.raw_json, first.raw_json);
  EXPECT_EQ(got.type, first.type);
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store_->Stats());
  EXPECT_EQ(stats.events, 1);
  ASSERT_OK_AND_ASSIGN(auto all, ListTypes(*store_, {}));
  EXPECT_THAT(Ids(all), ElementsAre("evt_dup"));
}

TEST_P(EventStoreConformanceTest, SequencesAscendInAppendOrder) {
  AppendAll(*store_, {TestEvent("evt_c"), TestEvent("evt_a"), TestEvent("evt_b")});
  ASSERT_OK_AND_ASSIGN(EventRecord c, store_->Get("evt_c"));
  ASSERT_OK_AND_ASSIGN(EventRecord a, store_->Get("evt_a"));
  ASSERT_OK_AND_ASSIGN(EventRecord b, store_->Get("evt_b"));
  EXPECT_LT(c.sequence, a.sequence);
  EXPECT_LT(a.sequence, b.sequence);
  ASSERT_OK_AND_ASSIGN(auto all, ListTypes(*store_, {}));
  EXPECT_THAT(Ids(all), ElementsAre("evt_c", "evt_a", "evt_b"));
}

TEST_P(EventStoreConformanceTest, SequencesAreNeverReusedAfterDeletes) {
  EventRecord old_event = TestEvent("evt_old");
  old_event.received_at = absl::FromUnixSeconds(1000);
  APPEND_STORED(store_, old_event);
  ASSERT_OK_AND_ASSIGN(EventRecord before, store_->Get("evt_old"));
  // Deleting the newest (and only) event must not hand its sequence out again.
  EXPECT_THAT(store_->DeleteReceivedBefore(absl::FromUnixSeconds(2000)), HoldsResult(1));
  APPEND_STORED(store_, TestEvent("evt_new"));
  ASSERT_OK_AND_ASSIGN(EventRecord after, store_->Get("evt_new"));
  EXPECT_GT(after.sequence, before.sequence);
}

TEST_P(EventStoreConformanceTest, RawJsonRoundTripsExactBytes) {
  std::vector<std::string> bodies = {
      std::string("{\"a\":\"x\0y\"}", 11),           // NUL byte
      std::string("\xff\xfe\xc3\x28 \xed\xa0\x80"),  // invalid UTF-8 and a lone surrogate
      std::string(),                                 // empty
      std::string("\0", 1),                          // only a NUL
      std::string(300000, 'j'),                      // larger than a page
  };
  for (size_t i = 0; i < bodies.size(); ++i) {
    EventRecord record = TestEvent(absl::StrCat("evt_raw_", i));
    record.raw_json = bodies[i];
    APPEND_STORED(store_, record);
  }
  for (size_t i = 0; i < bodies.size(); ++i) {
    ASSERT_OK_AND_ASSIGN(EventRecord got, store_->Get(absl::StrCat("evt_raw_", i)));
    EXPECT_EQ(got.raw_json, bodies[i]) << i;
  }
  ASSERT_OK_AND_ASSIGN(auto all, ListTypes(*store_, {}));
  ASSERT_EQ(all.size(), bodies.size());
  for (size_t i = 0; i < bodies.size(); ++i) EXPECT_EQ(all[i].raw_json, bodies[i]) << i;
}

TEST_P(EventStoreConformanceTest, TextFieldsRoundTripExactBytes) {
  EventRecord record = TestEvent("evt_\xc3\xa9t\xc3\xa9", "caf\xc3\xa9.cr\xc3\xa9\xc3\xa9");
  record.account = "acct_\xe2\x82\xac";
  record.object_id = "";
  APPEND_STORED(store_, record);
  ASSERT_OK_AND_ASSIGN(EventRecord got, store_->Get(record.id));
  EXPECT_EQ(got.id, record.id);
  EXPECT_EQ(got.type, record.type);
  EXPECT_EQ(got.account, record.account);
  EXPECT_EQ(got.object_id, "");
}

TEST_P(EventStoreConformanceTest, TimesKeepMicrosecondsAndDropNanoseconds) {
  EventRecord record = TestEvent("evt_time");
  record.created = absl::FromUnixNanos(1700000000123456789);
  record.received_at = absl::FromUnixNanos(-1999);  // before the epoch: rounds down
  APPEND_STORED(store_, record);
  ASSERT_OK_AND_ASSIGN(EventRecord got, store_->Get("evt_time"));
  EXPECT_EQ(got.created, absl::FromUnixMicros(1700000000123456));
  EXPECT_EQ(got.received_at, absl::FromUnixMicros(-2));
}

TEST_P(EventStoreConformanceTest, ListFiltersByExactType) {
  AppendAll(*store_,
            {TestEvent("evt_1", "charge.succeeded"), TestEvent("evt_2", "charge.failed"),
             TestEvent("evt_3", "charge.succeeded"), TestEvent("evt_4", "charge.succeeded.extra")});
  ASSERT_OK_AND_ASSIGN(auto got, ListTypes(*store_, {"charge.succeeded"}));
  EXPECT_THAT(Ids(got), ElementsAre("evt_1", "evt_3"));
  ASSERT_OK_AND_ASSIGN(got, ListTypes(*store_, {"charge"}));
  EXPECT_THAT(got, IsEmpty());
}

TEST_P(EventStoreConformanceTest, ListPrefixPatternMatchesOnlyAfterTheDot) {
  AppendAll(*store_,
            {TestEvent("evt_1", "charge.succeeded"), TestEvent("evt_2", "charge.dispute.created"),
             TestEvent("evt_3", "charge"), TestEvent("evt_4", "chargeback.created"),
             TestEvent("evt_5", "charges.x"), TestEvent("evt_6", "charge/x"),
             TestEvent("evt_7", "payment_intent.created"), TestEvent("evt_8", "charge.")});
  ASSERT_OK_AND_ASSIGN(auto got, ListTypes(*store_, {"charge.*"}));
  EXPECT_THAT(Ids(got), ElementsAre("evt_1", "evt_2", "evt_8"));
  ASSERT_OK_AND_ASSIGN(got, ListTypes(*store_, {"charge.dispute.*"}));
  EXPECT_THAT(Ids(got), ElementsAre("evt_2"));
}

TEST_P(EventStoreConformanceTest, ListStarOrNoPatternMatchesEverything) {
  AppendAll(*store_, {TestEvent("evt_1", "a.b"), TestEvent("evt_2", "c"), TestEvent("evt_3", "")});
  ASSERT_OK_AND_ASSIGN(auto got, ListTypes(*store_, {"*"}));
  EXPECT_THAT(Ids(got), ElementsAre("evt_1", "evt_2", "evt_3"));
  ASSERT_OK_AND_ASSIGN(got, ListTypes(*store_, {"nothing.matches", "*"}));
  EXPECT_THAT(Ids(got), ElementsAre("evt_1", "evt_2", "evt_3"));
  ASSERT_OK_AND_ASSIGN(got, ListTypes(*store_, {}));
  EXPECT_THAT(Ids(got), ElementsAre("evt_1", "evt_2", "evt_3"));
}

TEST_P(EventStoreConformanceTest, ListSeveralPatternsMatchAny) {
  AppendAll(*store_,
            {TestEvent("evt_1", "charge.succeeded"), TestEvent("evt_2", "customer.created"),
             TestEvent("evt_3", "payment_intent.succeeded"), TestEvent("evt_4", "invoice.paid"),
             TestEvent("evt_5", "charge.refunded")});
  ASSERT_OK_AND_ASSIGN(auto got, ListTypes(*store_, {"invoice.paid", "charge.*", "invoice.paid"}));
  EXPECT_THAT(Ids(got), ElementsAre("evt_1", "evt_4", "evt_5"));
}

TEST_P(EventStoreConformanceTest, ListAgreesWithTypeMatches) {
  const std::vector<std::string> types = {
      "a", "a.", "a.b", "a.b.c", "a/b", "a-b",        "ab",       "b.a",  "a.*",
      "*", ".",  ".a",  "a..",   "A.b", "\xc3\xa9.x", "\xc3\xa9", "a.b*", "",
  };
  for (size_t i = 0; i < types.size(); ++i) {
    APPEND_STORED(store_, TestEvent(absl::StrCat("evt_", i), types[i]));
  }
  const std::vector<std::vector<std::string>> queries = {
      {"a.*"}, {"a.b.*"},      {".*"},       {"a"}, {"a.b*"},       {"\xc3\xa9.*"},
      {"a/*"}, {"a.*", "b.*"}, {"A.*", "a"}, {""},  {"a.b", "a.*"},
  };
  for (const auto& patterns : queries) {
    std::vector<std::string> expected;
    for (size_t i = 0; i < types.size(); ++i) {
      if (std::any_of(patterns.begin(), patterns.end(),
                      [&](const std::string& p) { return TypeMatches(p, types[i]); })) {
        expected.push_back(absl::StrCat("evt_", i));
      }
    }
    ASSERT_OK_AND_ASSIGN(auto got, ListTypes(*store_, patterns));
    EXPECT_THAT(Ids(got), ElementsAreArray(expected)) << testing::PrintToString(patterns);
  }
}

TEST_P(EventStoreConformanceTest, ListCreatedRangeIsHalfOpen) {
  for (int i = 0; i < 5; ++i) {
    EventRecord record = TestEvent(absl::StrCat("evt_", i));
    record.created = absl::FromUnixSeconds(100 + i);
    APPEND_STORED(store_, record);
  }
  EventQuery query;
  query.created_after = absl::FromUnixSeconds(101);
  query.created_before = absl::FromUnixSeconds(103);
  ASSERT_OK_AND_ASSIGN(auto got, store_->List(query));
  EXPECT_THAT(Ids(got), ElementsAre("evt_1", "evt_2"));

  // Bounds between whole microseconds.
  query.created_after = absl::FromUnixSeconds(101) + absl::Nanoseconds(1);
  query.created_before = absl::FromUnixSeconds(103) + absl::Nanoseconds(1);
  ASSERT_OK_AND_ASSIGN(got, store_->List(query));
  EXPECT_THAT(Ids(got), ElementsAre("evt_2", "evt_3"));

  query.created_after = absl::InfinitePast();
  query.created_before = absl::FromUnixSeconds(102);
  ASSERT_OK_AND_ASSIGN(got, store_->List(query));
  EXPECT_THAT(Ids(got), ElementsAre("evt_0", "evt_1"));

  query.created_after = absl::FromUnixSeconds(103);
  query.created_before = absl::InfiniteFuture();
  ASSERT_OK_AND_ASSIGN(got, store_->List(query));
  EXPECT_THAT(Ids(got), ElementsAre("evt_3", "evt_4"));

  query.created_after = absl::FromUnixSeconds(103);
  query.created_before = absl::FromUnixSeconds(103);
  ASSERT_OK_AND_ASSIGN(got, store_->List(query));
  EXPECT_THAT(got, IsEmpty());

  query.created_after = absl::FromUnixSeconds(104);
  query.created_before = absl::FromUnixSeconds(101);
  ASSERT_OK_AND_ASSIGN(got, store_->List(query));
  EXPECT_THAT(got, IsEmpty());
}

TEST_P(EventStoreConformanceTest, ListCombinesTypeCreatedAndCursor) {
  for (int i = 0; i < 10; ++i) {
    EventRecord record = TestEvent(absl::StrCat("evt_", i), i % 2 ? "charge.succeeded" : "x.y");
    record.created = absl::FromUnixSeconds(100 + i);
    APPEND_STORED(store_, record);
  }
  ASSERT_OK_AND_ASSIGN(EventRecord third, store_->Get("evt_3"));
  EventQuery query;
  query.types = {"charge.*"};
  query.created_before = absl::FromUnixSeconds(108);
  query.after_sequence = third.sequence;
  ASSERT_OK_AND_ASSIGN(auto got, store_->List(query));
  EXPECT_THAT(Ids(got), ElementsAre("evt_5", "evt_7"));
}

TEST_P(EventStoreConformanceTest, ListPagesWithAfterSequenceAndLimit) {
  std::vector<std::string> expected;
  for (int i = 0; i < 23; ++i) {
    APPEND_STORED(store_, TestEvent(absl::StrCat("evt_", i)));
    expected.push_back(absl::StrCat("evt_", i));
  }
  std::vector<std::string> seen;
  EventQuery query;
  query.limit = 5;
  int pages = 0;
  for (;;) {
    ASSERT_OK_AND_ASSIGN(auto page, store_->List(query));
    if (page.empty()) break;
    ++pages;
    EXPECT_LE(page.size(), 5u);
    for (const EventRecord& r : page) {
      EXPECT_GT(r.sequence, query.after_sequence);
      seen.push_back(r.id);
    }
    query.after_sequence = page.back().sequence;
  }
  EXPECT_EQ(pages, 5);
  EXPECT_THAT(seen, ElementsAreArray(expected));
}

TEST_P(EventStoreConformanceTest, ListOmitRawJsonKeepsTheEnvelope) {
  EventRecord record = TestEvent("evt_1", "invoice.paid");
  record.account = "acct_1";
  record.livemode = true;
  APPEND_STORED(store_, record);
  EventQuery query;
  query.omit_raw_json = true;
  ASSERT_OK_AND_ASSIGN(auto got, store_->List(query));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].raw_json, "");
  EXPECT_EQ(got[0].id, "evt_1");
  EXPECT_EQ(got[0].type, "invoice.paid");
  EXPECT_EQ(got[0].account, "acct_1");
  EXPECT_TRUE(got[0].livemode);
  EXPECT_EQ(got[0].created, record.created);
  EXPECT_GT(got[0].sequence, 0);
  // The stored bytes are untouched.
  ASSERT_OK_AND_ASSIGN(EventRecord full, store_->Get("evt_1"));
  EXPECT_EQ(full.raw_json, record.raw_json);
}

TEST_P(EventStoreConformanceTest, ListRejectsBadArguments) {
  EventQuery query;
  query.limit = 0;
  EXPECT_THAT(store_->List(query), StatusIs(absl::StatusCode::kInvalidArgument));
  query.limit = kMaxQueryLimit + 1;
  EXPECT_THAT(store_->List(query), StatusIs(absl::StatusCode::kInvalidArgument));
  query.limit = kMaxQueryLimit;
  EXPECT_OK(store_->List(query));
  query.types.assign(kMaxQueryTypes + 1, "a.b");
  EXPECT_THAT(store_->List(query), StatusIs(absl::StatusCode::kInvalidArgument));
  query.types.assign(kMaxQueryTypes, "a.*");
  EXPECT_OK(store_->List(query));
}

TEST_P(EventStoreConformanceTest, StatsOfEmptyStore) {
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store_->Stats());
  EXPECT_EQ(stats.events, 0);
  EXPECT_FALSE(stats.oldest_received_at.has_value());
  EXPECT_FALSE(stats.newest_received_at.has_value());
}

TEST_P(EventStoreConformanceTest, StatsCountEventsAndReceivedRange) {
  const int64_t received[] = {500, 100, 900, 300};
  for (int i = 0; i < 4; ++i) {
    EventRecord record = TestEvent(absl::StrCat("evt_", i));
    record.received_at = absl::FromUnixSeconds(received[i]);
    APPEND_STORED(store_, record);
  }
  EXPECT_THAT(store_->Append(TestEvent("evt_0")), HoldsResult(AppendResult::kDuplicate));
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store_->Stats());
  EXPECT_EQ(stats.events, 4);
  EXPECT_EQ(stats.oldest_received_at, absl::FromUnixSeconds(100));
  EXPECT_EQ(stats.newest_received_at, absl::FromUnixSeconds(900));
}

TEST_P(EventStoreConformanceTest, DeleteReceivedBeforeRemovesOnlyOlderEvents) {
  for (int i = 0; i < 6; ++i) {
    EventRecord record = TestEvent(absl::StrCat("evt_", i));
    record.received_at = absl::FromUnixSeconds(100 * (i + 1));  // 100 .. 600
    APPEND_STORED(store_, record);
  }
  EXPECT_THAT(store_->DeleteReceivedBefore(absl::FromUnixSeconds(50)), HoldsResult(0));
  // Strictly before: the event received exactly at the cutoff stays.
  EXPECT_THAT(store_->DeleteReceivedBefore(absl::FromUnixSeconds(300)), HoldsResult(2));
  EXPECT_THAT(store_->Get("evt_0"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->Get("evt_1"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_OK(store_->Get("evt_2"));
  ASSERT_OK_AND_ASSIGN(auto rest, ListTypes(*store_, {}));
  EXPECT_THAT(Ids(rest), ElementsAre("evt_2", "evt_3", "evt_4", "evt_5"));
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store_->Stats());
  EXPECT_EQ(stats.events, 4);
  EXPECT_EQ(stats.oldest_received_at, absl::FromUnixSeconds(300));

  EXPECT_THAT(store_->DeleteReceivedBefore(absl::FromUnixSeconds(300) + absl::Nanoseconds(1)),
              HoldsResult(1));
  EXPECT_THAT(store_->DeleteReceivedBefore(absl::InfinitePast()), HoldsResult(0));
  EXPECT_THAT(store_->DeleteReceivedBefore(absl::InfiniteFuture()), HoldsResult(3));
  ASSERT_OK_AND_ASSIGN(stats, store_->Stats());
  EXPECT_EQ(stats.events, 0);
}

TEST_P(EventStoreConformanceTest, EmptyIdIsInvalidArgumentAndStoresNothing) {
  EXPECT_THAT(store_->Append(TestEvent("")), StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store_->Stats());
  EXPECT_EQ(stats.events, 0);
}

TEST_P(EventStoreConformanceTest, CheckWritableIsOkWhenOpen) { EXPECT_OK(store_->CheckWritable()); }

TEST_P(EventStoreConformanceTest, CloseThenEverythingIsUnavailable) {
  APPEND_STORED(store_, TestEvent("evt_1"));
  store_->Close();
  store_->Close();  // idempotent
  EXPECT_THAT(store_->Append(TestEvent("evt_2")), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(store_->Append(TestEvent("evt_1")), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(store_->CheckWritable(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(store_->Get("evt_1"), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(store_->List(EventQuery()), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(store_->Stats(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(store_->DeleteReceivedBefore(absl::InfiniteFuture()),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST_P(EventStoreConformanceTest, ConcurrentAppendsOfOneIdStoreItOnce) {
  constexpr int kThreads = 16;
  std::atomic<int> stored{0};
  std::atomic<int> duplicates{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      absl::StatusOr<AppendResult> r = store_->Append(TestEvent("evt_race"));
      ASSERT_TRUE(r.ok()) << r.status();
      (*r == AppendResult::kStored ? stored : duplicates)++;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(stored.load(), 1);
  EXPECT_EQ(duplicates.load(), kThreads - 1);
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store_->Stats());
  EXPECT_EQ(stats.events, 1);
}

TEST_P(EventStoreConformanceTest, ConcurrentAppendsGetDistinctAscendingSequences) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        EXPECT_THAT(store_->Append(TestEvent(absl::StrCat("evt_", t, "_", i))),
                    HoldsResult(AppendResult::kStored));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_OK_AND_ASSIGN(auto all, ListTypes(*store_, {}));
  ASSERT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
  for (size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i - 1].sequence, all[i].sequence);
  // Each thread's own appends keep their order.
  for (int t = 0; t < kThreads; ++t) {
    int64_t last = 0;
    for (int i = 0; i < kPerThread; ++i) {
      ASSERT_OK_AND_ASSIGN(EventRecord r, store_->Get(absl::StrCat("evt_", t, "_", i)));
      EXPECT_GT(r.sequence, last);
      last = r.sequence;
    }
  }
}

}  // namespace
}  // namespace switchboard::server::store
