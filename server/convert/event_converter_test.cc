#include "server/convert/event_converter.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "protos/switchboard/v1/event.pb.h"
#include "rapidjson/document.h"
#include "server/base/status_matchers.h"
#include "server/convert/json_parse.h"
#include "tests/testdata/example_events.h"

namespace switchboard::server::convert {
namespace {

using ::google::protobuf::Struct;
using ::switchboard::base::StatusIs;
using ::switchboard::v1::Event;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

using ::switchboard::testdata::ExampleEventFiles;

std::string ReadEvent(const std::string& relative_path) {
  return ::switchboard::testdata::ReadExampleEvent(relative_path);
}

// A snapshot event around `data_object` (JSON text).
std::string SnapshotWithObject(const std::string& data_object) {
  return absl::StrCat(
      R"({"id":"evt_1","object":"event","type":"thing.updated","created":1719830505,)",
      R"("data":{"object":)", data_object, "}}");
}

// A snapshot event made of `envelope_members` (JSON members, no braces) and a small `data`.
std::string SnapshotWithEnvelope(const std::string& envelope_members) {
  return absl::StrCat("{", envelope_members,
                      R"(,"data":{"object":{"id":"ch_1","object":"charge"}}})");
}

// The envelope the store keeps, as the Event says it.
void ExpectEnvelopeOf(const Event& event, const EventEnvelope& envelope) {
  EXPECT_EQ(envelope.id, event.id());
  EXPECT_EQ(envelope.type, event.type());
  EXPECT_EQ(envelope.object_id,
            event.has_thin() ? event.thin().related_object().id() : event.data().object_id());
  EXPECT_EQ(envelope.created, absl::FromUnixSeconds(event.created().seconds()) +
                                  absl::Nanoseconds(event.created().nanos()));
  EXPECT_EQ(envelope.livemode, event.livemode());
  EXPECT_EQ(envelope.account, event.has_account() ? event.account() : event.context());
}

// Every body the tests below convert is inspected too: Inspect must accept and reject exactly
// what Convert does, with the same message, and read the same envelope.
absl::StatusOr<Event> Convert(absl::string_view body) {
  absl::StatusOr<Event> event = EventConverter().Convert(body);
  EventEnvelope envelope;
  const absl::Status inspected = EventConverter().Inspect(body, &envelope);
  EXPECT_EQ(inspected, event.status());
  if (event.ok() && inspected.ok()) ExpectEnvelopeOf(*event, envelope);
  return event;
}

// Parses `json` with RapidJSON's defaults (fine for the example files: no huge numbers).
rapidjson::Document ParseReference(const std::string& json) {
  rapidjson::Document document;
  document.Parse(json.c_str(), json.size());
  EXPECT_FALSE(document.HasParseError()) << json.substr(0, 200);
  return document;
}

// The Struct printed by protobuf's own JSON printer, as a RapidJSON document.
rapidjson::Document StructAsJson(const Struct& value) {
  std::string json;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(value, &json).ok());
  return ParseReference(json);
}

bool SameJson(const Struct& actual, const rapidjson::Value& expected) {
  return StructAsJson(actual) == expected;
}

std::string NestedArrays(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// ---------------------------------------------------------------------------------------------
// The example events.

TEST(EventConverterExamples, EveryExampleEventConvertsWithItsEnvelope) {
  const std::vector<std::string> files = ExampleEventFiles();
  EXPECT_GE(files.size(), 24u);  // 21 at 2024-06-20, 2 basil, 1 thin.
  EXPECT_THAT(files, testing::Contains("thin_v2_example.json"));
  EXPECT_THAT(files, testing::Contains("api_2025-03-31.basil/invoice.paid.json"));
  EXPECT_THAT(files, testing::Contains("api_2025-03-31.basil/customer.subscription.updated.json"));

  for (const std::string& file : files) {
    SCOPED_TRACE(file);
    const std::string body = ReadEvent(file);
    ASSERT_OK_AND_ASSIGN(Event event, Convert(body));
    const rapidjson::Document expected = ParseReference(body);

    EXPECT_EQ(event.raw_json(), body);
    EXPECT_EQ(event.id(), expected["id"].GetString());
    EXPECT_EQ(event.type(), expected["type"].GetString());
    EXPECT_EQ(event.object(), expected["object"].GetString());
    EXPECT_EQ(event.livemode(), expected["livemode"].GetBool());
    EXPECT_FALSE(event.has_received_at());
    EXPECT_TRUE(event.endpoint().empty());
    EXPECT_EQ(event.sequence(), 0);

    if (event.object() == "v2.core.event") {
      EXPECT_TRUE(event.has_thin());
      EXPECT_FALSE(event.has_data());
      continue;  // Its own test below.
    }
    EXPECT_FALSE(event.has_thin());
    EXPECT_EQ(event.created().seconds(), expected["created"].GetInt64());
    EXPECT_EQ(event.created().nanos(), 0);
    ASSERT_TRUE(expected["api_version"].IsString());
    EXPECT_EQ(event.api_version(), expected["api_version"].GetString());
    EXPECT_EQ(event.pending_webhooks(), expected["pending_webhooks"].GetInt64());
    const rapidjson::Value& request = expected["request"];
    ASSERT_TRUE(event.has_request());
    EXPECT_EQ(event.request().has_id(), request["id"].IsString());
    if (request["id"].IsString()) EXPECT_EQ(event.request().id(), request["id"].GetString());
    EXPECT_EQ(event.request().has_idempotency_key(), request["idempotency_key"].IsString());
    EXPECT_EQ(event.has_account(), expected.HasMember("account"));

    const rapidjson::Value& data = expected["data"];
    EXPECT_EQ(event.data().object_kind(), data["object"]["object"].GetString());
    EXPECT_EQ(event.data().object_id(), data["object"]["id"].GetString());
    EXPECT_TRUE(SameJson(event.data().object_struct(), data["object"]));
    EXPECT_EQ(event.data().has_previous_attributes(), data.HasMember("previous_attributes"));
    if (data.HasMember("previous_attributes")) {
      EXPECT_TRUE(SameJson(event.data().previous_attributes(), data["previous_attributes"]));
    }
    EXPECT_THAT(event.null_fields(), IsEmpty());
    EXPECT_FALSE(event.has_unknown_fields());
  }
}

TEST(EventConverterExamples, CustomerUpdatedHasItsEnvelopeAndPreviousAttributes) {
  ASSERT_OK_AND_ASSIGN(Event event, Convert(ReadEvent("customer.updated.json")));
  EXPECT_EQ(event.id(), "evt_1PUhrDQx4mT9aZrEa3mCDHi8");
  EXPECT_EQ(event.type(), "customer.updated");
  EXPECT_EQ(event.object(), "event");
  EXPECT_EQ(event.api_version(), "2024-06-20");
  EXPECT_EQ(event.created().seconds(), 1719830505);
  EXPECT_FALSE(event.livemode());
  EXPECT_EQ(event.pending_webhooks(), 1);
  EXPECT_EQ(event.request().id(), "req_zR8Imp2c3EdMF5");
  EXPECT_EQ(event.request().idempotency_key(), "4ffe09d7-ad5b-440f-9f6f-f4e9297ada25");
  EXPECT_FALSE(event.has_account());
  EXPECT_EQ(event.data().object_kind(), "customer");
  EXPECT_EQ(event.data().object_id(), "cus_QFHBVRRYa5Khz8");

  const auto& object = event.data().object_struct().fields();
  EXPECT_EQ(object.at("email").string_value(), "jenny@rosen.example.com");
  EXPECT_EQ(object.at("created").number_value(), 1719830460);
  EXPECT_EQ(object.at("preferred_locales").list_value().values(0).string_value(), "en");
  EXPECT_EQ(object.at("metadata").struct_value().fields().at("plan_tier").string_value(), "pro");

  // A key that did not exist before appears as null; absent keys stay absent.
  const auto& previous = event.data().previous_attributes().fields();
  EXPECT_EQ(previous.size(), 3u);
  EXPECT_EQ(previous.at("email").string_value(), "jenny.rosen@example.com");
  EXPECT_EQ(previous.at("metadata").struct_value().fields().at("plan_tier").kind_case(),
            google::protobuf::Value::kNullValue);
  EXPECT_EQ(previous.at("invoice_settings")
                .struct_value()
                .fields()
                .at("default_payment_method")
                .kind_case(),
            google::protobuf::Value::kNullValue);
  EXPECT_EQ(previous.count("name"), 0u);
}

TEST(EventConverterExamples, PreviousAttributesSurviveOnUpdatedAndRefundedEvents) {
  for (const char* file :
       {"customer.updated.json", "customer.subscription.updated.json", "charge.refunded.json",
        "account.updated.json", "api_2025-03-31.basil/customer.subscription.updated.json"}) {
    SCOPED_TRACE(file);
    const std::string body = ReadEvent(file);
    ASSERT_OK_AND_ASSIGN(Event event, Convert(body));
    const rapidjson::Document expected = ParseReference(body);
    ASSERT_TRUE(expected["data"].HasMember("previous_attributes"));
    ASSERT_TRUE(event.data().has_previous_attributes());
    EXPECT_GT(event.data().previous_attributes().fields_size(), 0);
    EXPECT_TRUE(
        SameJson(event.data().previous_attributes(), expected["data"]["previous_attributes"]));
  }
  ASSERT_OK_AND_ASSIGN(Event created, Convert(ReadEvent("customer.created.json")));
  EXPECT_FALSE(created.data().has_previous_attributes());
}

TEST(EventConverterExamples, AccountUpdatedCarriesTheConnectAccount) {
  ASSERT_OK_AND_ASSIGN(Event event, Convert(ReadEvent("account.updated.json")));
  EXPECT_EQ(event.id(), "evt_1PY36BHk27LpW0sNjq3vIzoJ");
  EXPECT_TRUE(event.has_account());
  EXPECT_EQ(event.account(), "acct_1PHk27LpW0sNgnu6");
  EXPECT_EQ(event.created().seconds(), 1719916800);
  EXPECT_EQ(event.data().object_kind(), "account");
  // request {id: null, idempotency_key: null}: present, both unset.
  EXPECT_TRUE(event.has_request());
  EXPECT_FALSE(event.request().has_id());
  EXPECT_FALSE(event.request().has_idempotency_key());
  EXPECT_EQ(event.data().previous_attributes().fields().at("charges_enabled").bool_value(), false);
}

TEST(EventConverterExamples, ThinEventFillsRelatedObjectReasonAndFractionalCreated) {
  const std::string body = ReadEvent("thin_v2_example.json");
  ASSERT_OK_AND_ASSIGN(Event event, Convert(body));
  EXPECT_EQ(event.id(), "evt_65SvQ7tX3nKp2Lq9Rb816SvPAyWbSQ1dF4mZcH8xJ0TgYe");
  EXPECT_EQ(event.object(), "v2.core.event");
  EXPECT_EQ(event.type(), "v2.core.account.updated");
  // 2025-11-20T14:03:27.518Z
  EXPECT_EQ(event.created().seconds(), 1763647407);
  EXPECT_EQ(event.created().nanos(), 518000000);
  EXPECT_FALSE(event.has_api_version());
  EXPECT_FALSE(event.has_data());
  EXPECT_FALSE(event.has_request());
  EXPECT_FALSE(event.has_context());
  EXPECT_THAT(event.null_fields(), ElementsAre("context"));

  const auto& related = event.thin().related_object();
  EXPECT_EQ(related.id(), "acct_1SvQ7tX3nKp2Lq9R");
  EXPECT_EQ(related.type(), "v2.core.account");
  EXPECT_EQ(related.url(), "/v2/core/accounts/acct_1SvQ7tX3nKp2Lq9R");
  const auto& reason = event.thin().reason().fields();
  EXPECT_EQ(reason.at("type").string_value(), "request");
  EXPECT_EQ(reason.at("request").struct_value().fields().at("id").string_value(),
            "req_v2Ab3XyZ9kLmN0pQr");
  EXPECT_TRUE(SameJson(event.thin().reason(), ParseReference(body)["reason"]));
  EXPECT_EQ(event.raw_json(), body);
}

TEST(EventConverterExamples, ThinEventWithContextAndOffsetTime) {
  ASSERT_OK_AND_ASSIGN(
      Event event,
      Convert(R"({"id":"evt_2","object":"v2.core.event","type":"v2.core.account.created",)"
              R"("created":"2025-11-20T15:03:27.000000001+01:00","context":"acct_9",)"
              R"("livemode":true})"));
  EXPECT_EQ(event.created().seconds(), 1763647407);
  EXPECT_EQ(event.created().nanos(), 1);
  EXPECT_EQ(event.context(), "acct_9");
  EXPECT_TRUE(event.livemode());
  EXPECT_TRUE(event.has_thin());
  EXPECT_FALSE(event.thin().has_related_object());
  EXPECT_FALSE(event.thin().has_reason());
}

TEST(EventConverterExamples, NullAndAbsentStayDistinguishable) {
  const std::string body = ReadEvent("customer.updated.json");
  ASSERT_OK_AND_ASSIGN(Event event, Convert(body));
  const rapidjson::Document expected = ParseReference(body);
  const auto& object = event.data().object_struct().fields();
  ASSERT_TRUE(expected["data"]["object"]["address"].IsNull());
  ASSERT_EQ(object.count("address"), 1u);
  EXPECT_EQ(object.at("address").kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_EQ(object.count("not_in_the_file"), 0u);
  EXPECT_EQ(object.size(), expected["data"]["object"].MemberCount());

  // In the envelope: null is listed, absent is not.
  ASSERT_OK_AND_ASSIGN(Event nulls,
                       Convert(SnapshotWithEnvelope(
                           R"("id":"evt_1","object":"event","type":"a.b","created":1,)"
                           R"("api_version":null,"account":null,"request":null,"livemode":null)")));
  EXPECT_FALSE(nulls.has_api_version());
  EXPECT_FALSE(nulls.has_account());
  EXPECT_FALSE(nulls.has_request());
  EXPECT_FALSE(nulls.has_context());
  EXPECT_FALSE(nulls.has_pending_webhooks());
  EXPECT_THAT(nulls.null_fields(), ElementsAre("api_version", "account", "request", "livemode"));
  EXPECT_FALSE(nulls.has_unknown_fields());
}

TEST(EventConverter, RequestAsAStringIdFromOlderApiVersions) {
  ASSERT_OK_AND_ASSIGN(Event event, Convert(SnapshotWithEnvelope(R"("id":"evt_1","object":"event",)"
                                                                 R"("type":"a.b","created":1,)"
                                                                 R"("request":"req_old123")")));
  EXPECT_TRUE(event.has_request());
  EXPECT_EQ(event.request().id(), "req_old123");
  EXPECT_FALSE(event.request().has_idempotency_key());
  EXPECT_THAT(event.null_fields(), IsEmpty());
}

TEST(EventConverter, RawJsonIsTheExactInputBytes) {
  const std::string body = absl::StrCat(
      " \n\t",
      SnapshotWithObject(R"({ "a" : 1.50e1 , "s":"\u00e9\/", "n": 10000000000000000001 })"),
      "\r\n ");
  ASSERT_OK_AND_ASSIGN(Event event, Convert(body));
  EXPECT_EQ(event.raw_json(), body);
  EXPECT_EQ(event.data().object_struct().fields().at("a").number_value(), 15.0);
  EXPECT_EQ(event.data().object_struct().fields().at("s").string_value(), "\xC3\xA9/");
}

TEST(EventConverter, UnknownTopLevelKeysAreKeptInOrderAsStructFields) {
  ASSERT_OK_AND_ASSIGN(
      Event event,
      Convert(SnapshotWithEnvelope(
          R"("id":"evt_1","future_field":{"x":[1,true,null]},"object":"event","type":"a.b",)"
          R"("created":1,"reason":"snapshot events do not know reason","gone":null)")));
  const auto& unknown = event.unknown_fields().fields();
  ASSERT_EQ(unknown.size(), 3u);
  const auto& x = unknown.at("future_field").struct_value().fields().at("x").list_value();
  ASSERT_EQ(x.values_size(), 3);
  EXPECT_EQ(x.values(0).number_value(), 1);
  EXPECT_TRUE(x.values(1).bool_value());
  EXPECT_EQ(x.values(2).kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_EQ(unknown.at("reason").string_value(), "snapshot events do not know reason");
  EXPECT_EQ(unknown.at("gone").kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_THAT(event.null_fields(), ElementsAre("gone"));

  // Thin events do not know `data` or `api_version`.
  ASSERT_OK_AND_ASSIGN(
      Event thin,
      Convert(R"({"id":"evt_2","object":"v2.core.event","type":"v2.x","api_version":"2024-06-20",)"
              R"("created":"2025-01-01T00:00:00Z","data":{"object":{}}})"));
  EXPECT_FALSE(thin.has_api_version());
  EXPECT_FALSE(thin.has_data());
  EXPECT_EQ(thin.unknown_fields().fields().at("api_version").string_value(), "2024-06-20");
  EXPECT_TRUE(thin.unknown_fields().fields().at("data").has_struct_value());
}

// ---------------------------------------------------------------------------------------------
// Which envelope problems reject the event and which do not.

TEST(EventConverter, OptionalFieldsWithTheWrongTypeAreLeftUnsetAndTheEventKept) {
  ASSERT_OK_AND_ASSIGN(
      Event event, Convert(SnapshotWithEnvelope(
                       R"("id":"evt_1","object":"event","type":"a.b","created":1,"livemode":"yes",)"
                       R"("pending_webhooks":1180591620717411303424,"api_version":5,"account":{},)"
                       R"("context":[],"request":7)")));
  EXPECT_FALSE(event.livemode());
  EXPECT_FALSE(event.has_pending_webhooks());
  EXPECT_FALSE(event.has_api_version());
  EXPECT_FALSE(event.has_account());
  EXPECT_FALSE(event.has_context());
  EXPECT_FALSE(event.has_request());
  EXPECT_FALSE(event.has_unknown_fields());
  EXPECT_THAT(event.null_fields(), IsEmpty());

  for (const char* pending : {"1.5", "18446744073709551615", "-1e400", "\"3\"", "1e2"}) {
    SCOPED_TRACE(pending);
    ASSERT_OK_AND_ASSIGN(Event e, Convert(SnapshotWithEnvelope(absl::StrCat(
                                      R"("id":"evt_1","object":"event","type":"a.b","created":1,)",
                                      R"("pending_webhooks":)", pending))));
    EXPECT_FALSE(e.has_pending_webhooks());
  }
  ASSERT_OK_AND_ASSIGN(Event big,
                       Convert(SnapshotWithEnvelope(R"("id":"evt_1","object":"event",)"
                                                    R"("type":"a.b","created":1,)"
                                                    R"("pending_webhooks":9223372036854775807)")));
  EXPECT_EQ(big.pending_webhooks(), std::numeric_limits<int64_t>::max());

  // Wrong shapes inside the optional sub-objects are skipped field by field.
  ASSERT_OK_AND_ASSIGN(
      Event thin,
      Convert(R"({"id":"evt_2","object":"v2.core.event","type":"v2.x",)"
              R"("created":"2025-01-01T00:00:00Z","reason":"why","related_object":{"id":5,)"
              R"("type":"v2.core.account","url":null}})"));
  EXPECT_FALSE(thin.thin().has_reason());
  EXPECT_TRUE(thin.thin().related_object().id().empty());
  EXPECT_EQ(thin.thin().related_object().type(), "v2.core.account");
}

TEST(EventConverter, RejectsBodiesThatAreNotEventObjects) {
  for (const std::string body :
       {"", "   ", "[]", "null", R"("event")", "42", "true", "{}", R"({"object":"event"})"}) {
    SCOPED_TRACE(body);
    EXPECT_THAT(Convert(body), StatusIs(absl::StatusCode::kInvalidArgument));
  }
  EXPECT_THAT(Convert("[]").status().message(), HasSubstr("not a JSON object"));
  EXPECT_THAT(Convert("").status().message(), HasSubstr("not valid JSON"));
}

TEST(EventConverter, RejectsAWrongOrMissingObjectValue) {
  for (const char* object : {R"("Event")", R"("list")", R"("v2.core.event_notification")", "5",
                             "null", R"("event\u0000")", R"(["event"])"}) {
    SCOPED_TRACE(object);
    const absl::StatusOr<Event> result = Convert(SnapshotWithEnvelope(
        absl::StrCat(R"("id":"evt_1","type":"a.b","created":1,"object":)", object)));
    EXPECT_THAT(result, StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(result.status().message(), HasSubstr("`object`"));
  }
  EXPECT_THAT(Convert(SnapshotWithEnvelope(R"("id":"evt_1","type":"a.b","created":1)")),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(EventConverter, RejectsMissingEmptyOrNonStringIdAndType) {
  const std::string long_id(256, 'a');
  struct Case {
    std::string members;
    std::string message;
  };
  const std::vector<Case> cases = {
      {R"("object":"event","type":"a.b","created":1)", "`id` must be a string"},
      {R"("id":5,"object":"event","type":"a.b","created":1)", "`id` must be a string"},
      {R"("id":null,"object":"event","type":"a.b","created":1)", "`id` must be a string"},
      {R"("id":"","object":"event","type":"a.b","created":1)", "`id` must not be empty"},
      {R"("id":"evt\u0000x","object":"event","type":"a.b","created":1)", "control"},
      {R"("id":"evt\nx","object":"event","type":"a.b","created":1)", "control"},
      {absl::StrCat(R"("id":")", long_id, R"(","object":"event","type":"a.b","created":1)"),
       "longer than 255"},
      {R"("id":"evt_1","object":"event","created":1)", "`type` must be a string"},
      {R"("id":"evt_1","object":"event","type":["a"],"created":1)", "`type` must be a string"},
      {R"("id":"evt_1","object":"event","type":"","created":1)", "`type` must not be empty"},
      {R"("id":"evt_1","object":"event","type":"a\u0000b","created":1)", "control"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.members);
    const absl::StatusOr<Event> result = Convert(SnapshotWithEnvelope(c.members));
    EXPECT_THAT(result, StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(result.status().message(), HasSubstr(c.message));
  }
  ASSERT_OK_AND_ASSIGN(
      Event longest,
      Convert(SnapshotWithEnvelope(absl::StrCat(
          R"("id":")", std::string(255, 'a'), R"(","object":"event","type":"a.b","created":1)"))));
  EXPECT_EQ(longest.id().size(), 255u);
}

TEST(EventConverter, RejectsSnapshotCreatedThatIsNotAnInt64Timestamp) {
  for (const char* created : {"1.5", "1e9", "1719830505.0", R"("1719830505")", "true", "null", "{}",
                              "18446744073709551615", "18446744073709551616",
                              "1180591620717411303424", "-9223372036854775809", "1e400", "-1e400",
                              "253402300800", "-62135596801", "9223372036854775807"}) {
    SCOPED_TRACE(created);
    const absl::StatusOr<Event> result = Convert(SnapshotWithEnvelope(
        absl::StrCat(R"("id":"evt_1","object":"event","type":"a.b","created":)", created)));
    EXPECT_THAT(result, StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(result.status().message(), HasSubstr("`created`"));
  }
  EXPECT_THAT(Convert(SnapshotWithEnvelope(R"("id":"evt_1","object":"event","type":"a.b")")),
              StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK_AND_ASSIGN(Event latest,
                       Convert(SnapshotWithEnvelope(R"("id":"evt_1","object":"event",)"
                                                    R"("type":"a.b","created":253402300799)")));
  EXPECT_EQ(latest.created().seconds(), 253402300799);
}

TEST(EventConverter, RejectsThinCreatedThatIsNotAnRfc3339Time) {
  for (const char* created :
       {"1763647407", R"("2025-11-20")", R"("2025-11-20 14:03:27Z")", R"(" 2025-11-20T14:03:27Z")",
        R"("2025-11-20T14:03:27Z ")", R"("infinite-future")", R"("10000-01-01T00:00:00Z")",
        R"("2025-13-20T14:03:27Z")", R"("")", "null"}) {
    SCOPED_TRACE(created);
    const absl::StatusOr<Event> result = Convert(absl::StrCat(
        R"({"id":"evt_2","object":"v2.core.event","type":"v2.x","created":)", created, "}"));
    EXPECT_THAT(result, StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(result.status().message(), HasSubstr("`created`"));
  }
}

TEST(EventConverter, RejectsSnapshotEventsWithoutDataObjectAsAnObject) {
  for (const char* data :
       {R"("data":null)", R"("data":[])", R"("data":"x")", R"("data":{})",
        R"("data":{"object":null})", R"("data":{"object":[]})", R"("data":{"object":"ch_1"})",
        R"("data":{"object":5})", R"("data":{"previous_attributes":{}})"}) {
    SCOPED_TRACE(data);
    const absl::StatusOr<Event> result = Convert(
        absl::StrCat(R"({"id":"evt_1","object":"event","type":"a.b","created":1,)", data, "}"));
    EXPECT_THAT(result, StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(result.status().message(), HasSubstr("`data.object`"));
  }
  EXPECT_THAT(Convert(R"({"id":"evt_1","object":"event","type":"a.b","created":1})"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(EventConverter, ErrorMessagesNeverQuoteTheBody) {
  const std::vector<std::string> bodies = {
      R"({"id":"SeCrEt","object":"SeCrEt","type":"a","created":1})",
      R"({"id":"SeCrEt","object":"event","type":"a","created":"SeCrEt"})",
      R"({"id":"SeCrEt","object":"event","type":"a","created":1,"data":"SeCrEt"})",
      R"({"id":"SeCrEt","object":"event","type":"a\u0000SeCrEt","created":1})",
      R"({"SeCrEt":"SeCrEt" "x"})",
      "{\"SeCrEt\":\"SeCrEt\xff\"}",
      R"({"SeCrEt":"\udc00SeCrEt"})",
      "SeCrEt",
  };
  for (const std::string& body : bodies) {
    SCOPED_TRACE(body);
    const absl::StatusOr<Event> result = Convert(body);
    EXPECT_THAT(result, StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(std::string(result.status().message()), Not(HasSubstr("SeCrEt")));
    EXPECT_LT(result.status().message().size(), 120u);
  }
}

// ---------------------------------------------------------------------------------------------
// Hostile input.

TEST(EventConverterHostile, AcceptsNestingUpToMaxDepthAndRejectsOneMore) {
  // The top-level object is depth 1, `data` 2, `data.object` 3.
  ASSERT_OK_AND_ASSIGN(
      Event ok, Convert(SnapshotWithObject(absl::StrCat(R"({"deep":)", NestedArrays(29), "}"))));
  EXPECT_TRUE(ok.data().object_struct().fields().at("deep").has_list_value());

  const absl::StatusOr<Event> too_deep =
      Convert(SnapshotWithObject(absl::StrCat(R"({"deep":)", NestedArrays(30), "}")));
  EXPECT_THAT(too_deep, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(too_deep.status().message(), HasSubstr("deeper than 32"));

  std::string objects = "1";
  for (int i = 0; i < 30; ++i) objects = absl::StrCat(R"({"a":)", objects, "}");
  EXPECT_TRUE(Convert(SnapshotWithObject(objects)).ok());  // 32 levels.
  objects = absl::StrCat(R"({"a":)", objects, "}");
  EXPECT_THAT(Convert(SnapshotWithObject(objects)),
              StatusIs(absl::StatusCode::kInvalidArgument));  // 33 levels.

  EventConverter::Options options;
  options.max_depth = 5;
  EventConverter shallow(options);
  EXPECT_TRUE(shallow.Convert(SnapshotWithObject(R"({"a":[[1]]})")).ok());
  EXPECT_THAT(shallow.Convert(SnapshotWithObject(R"({"a":[[[1]]]})")),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(EventConverterHostile, RejectsAMillionLevelsOfNestingWithoutCrashing) {
  const std::string open_only(1000000, '[');
  EXPECT_THAT(Convert(open_only), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Convert(NestedArrays(1000000)), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Convert(SnapshotWithObject(absl::StrCat(R"({"a":)", NestedArrays(1000000), "}"))),
              StatusIs(absl::StatusCode::kInvalidArgument));

  std::string objects;
  objects.reserve(5 * 1000000);
  for (int i = 0; i < 1000000; ++i) objects += R"({"a":)";
  const absl::StatusOr<Event> result = Convert(objects);
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(result.status().message(), HasSubstr("deeper than 32"));
}

TEST(EventConverterHostile, RejectsEscapedLoneSurrogatesAnywhere) {
  for (const char* text :
       {R"("\udc00")", R"("\udfff")", R"("\ud800")", R"("\udbff")", R"("\ud800x")",
        R"("\ud800\u0041")", R"("\ud800\ud800")", R"("\udc00\ud800")", R"("ok \udc00 ok")"}) {
    SCOPED_TRACE(text);
    EXPECT_THAT(Convert(SnapshotWithObject(absl::StrCat(R"({"s":)", text, "}"))),
                StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(Convert(SnapshotWithObject(absl::StrCat("{", text, ":1}"))),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
  const absl::StatusOr<Event> low = Convert(SnapshotWithObject(R"({"s":"\udc00"})"));
  EXPECT_THAT(low.status().message(), HasSubstr("surrogate"));
  EXPECT_THAT(Convert(SnapshotWithEnvelope(
                  R"("id":"evt_\udc00","object":"event","type":"a.b","created":1)")),
              StatusIs(absl::StatusCode::kInvalidArgument));

  // A proper pair is U+1F600.
  ASSERT_OK_AND_ASSIGN(Event pair, Convert(SnapshotWithObject(R"({"s":"\ud83d\ude00"})")));
  EXPECT_EQ(pair.data().object_struct().fields().at("s").string_value(), "\xF0\x9F\x98\x80");
}

// Found by the fuzzer: a body cut off after a multi-byte UTF-8 lead byte inside a string made
// RapidJSON's validation read past the end of the buffer (caught by ASan; under a normal build
// it read stray heap bytes). Each must be a clean 400.
TEST(EventConverterHostile, RejectsABodyEndingInAUtf8LeadByte) {
  for (const char* lead : {"\xC3", "\xE4", "\xF0", "\xF0\x9F", "\xF0\x9F\x98"}) {
    SCOPED_TRACE(testing::PrintToString(std::string(lead)));
    EXPECT_THAT(Convert(absl::StrCat(R"({"id":"evt_cut)", lead)),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

TEST(EventConverterHostile, RejectsInvalidAndOverlongUtf8Bytes) {
  for (const std::string bad : {
           std::string("\xFF"),
           std::string("\xC3"),
           std::string("\xC3("),
           std::string("\x80"),
           std::string("\xED\xA0\x80"),  // UTF-8-encoded surrogate
           std::string("\xC0\xAF"),
           std::string("\xC1\xBF"),  // overlong '/'
           std::string("\xE0\x80\xAF"),
           std::string("\xF0\x80\x80\xAF"),
           std::string("\xF4\x90\x80\x80"),  // above U+10FFFF
           std::string("\xF8\x88\x80\x80\x80"),
           std::string("\xE2\x82"),
       }) {
    SCOPED_TRACE(testing::PrintToString(bad));
    EXPECT_THAT(Convert(SnapshotWithObject(absl::StrCat(R"({"s":"x)", bad, R"("})"))),
                StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(Convert(SnapshotWithObject(absl::StrCat(R"({"k)", bad, R"(":1})"))),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
  ASSERT_OK_AND_ASSIGN(Event valid,
                       Convert(SnapshotWithObject("{\"s\":\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"
                                                  "\xEF\xBB\xBF\xF4\x8F\xBF\xBF\"}")));
  EXPECT_EQ(valid.data().object_struct().fields().at("s").string_value(),
            "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xEF\xBB\xBF\xF4\x8F\xBF\xBF");
}

TEST(EventConverterHostile, KeepsEventsWithNumbersBeyondInt64AndDoubleInDataObject) {
  const std::string object =
      R"({"u64max":18446744073709551615,"two64":18446744073709551616,)"
      R"("two70":1180591620717411303424,"below_int64":-9223372036854775809,)"
      R"("inf":1e400,"neg_inf":-1e400,"tiny":1e-400,"big_int":1)" +
      std::string(400, '0') +
      R"(,"after":[12345,-7,1.5,0,2.5e-3],"text":"1e400 \"2e400\"","1e999":"key"})";
  const std::string body = SnapshotWithObject(object);
  ASSERT_OK_AND_ASSIGN(Event event, Convert(body));
  EXPECT_EQ(event.raw_json(), body);
  const auto& f = event.data().object_struct().fields();
  EXPECT_EQ(f.at("u64max").number_value(), 18446744073709551615.0);
  EXPECT_EQ(f.at("two64").number_value(), 18446744073709551616.0);
  EXPECT_EQ(f.at("two70").number_value(), 1180591620717411303424.0);
  EXPECT_EQ(f.at("below_int64").number_value(), -9223372036854775809.0);
  EXPECT_EQ(f.at("inf").number_value(), std::numeric_limits<double>::infinity());
  EXPECT_EQ(f.at("neg_inf").number_value(), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(f.at("tiny").number_value(), 0.0);
  EXPECT_EQ(f.at("big_int").number_value(), std::numeric_limits<double>::infinity());
  const auto& after = f.at("after").list_value();
  ASSERT_EQ(after.values_size(), 5);
  EXPECT_EQ(after.values(0).number_value(), 12345);
  EXPECT_EQ(after.values(1).number_value(), -7);
  EXPECT_EQ(after.values(2).number_value(), 1.5);
  EXPECT_EQ(after.values(3).number_value(), 0);
  EXPECT_EQ(after.values(4).number_value(), 2.5e-3);
  // Number-like text inside strings and keys is untouched.
  EXPECT_EQ(f.at("text").string_value(), R"(1e400 "2e400")");
  EXPECT_EQ(f.at("1e999").string_value(), "key");

  // The envelope beside such an object is read exactly.
  EXPECT_EQ(event.created().seconds(), 1719830505);
  // And the Event survives protobuf's binary round trip.
  Event reparsed;
  ASSERT_TRUE(reparsed.ParseFromString(event.SerializeAsString()));
  EXPECT_TRUE(std::isinf(reparsed.data().object_struct().fields().at("inf").number_value()));
}

TEST(EventConverterHostile, InvalidNumbersAreStillInvalidJsonWhenAnotherNumberOverflows) {
  // After an overflow the body is re-parsed with numbers neutralized: that must not make an
  // invalid number (or anything else) acceptable.
  for (const char* object :
       {R"({"a":1e400,"b":01})", R"({"a":1e400,"b":1.})", R"({"a":1e400,"b":-})",
        R"({"a":1e400,"b":.5})", R"({"a":1e400,"b":1e})", R"({"a":1e400 "b":1})",
        R"({"a":1e400,"b":+1})", R"({"a":1e400x})"}) {
    SCOPED_TRACE(object);
    EXPECT_THAT(Convert(SnapshotWithObject(object)), StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

TEST(EventConverterHostile, KeepsNulBytesInStringsAndKeys) {
  ASSERT_OK_AND_ASSIGN(Event event,
                       Convert(R"({"id":"evt_1","object":"event","type":"a.b","created":1,)"
                               R"("api_version":"2024\u0000x","x\u0000y":"\u0000",)"
                               R"("data":{"object":{"s":"a\u0000b","k\u0000":1,"k":2}}})"));
  const auto& f = event.data().object_struct().fields();
  EXPECT_EQ(f.at("s").string_value(), std::string("a\0b", 3));
  EXPECT_EQ(f.at(std::string("k\0", 2)).number_value(), 1);
  EXPECT_EQ(f.at("k").number_value(), 2);
  EXPECT_EQ(event.api_version(), std::string("2024\0x", 6));
  EXPECT_EQ(event.unknown_fields().fields().at(std::string("x\0y", 3)).string_value(),
            std::string("\0", 1));

  // They survive protobuf's binary and JSON forms.
  Event reparsed;
  ASSERT_TRUE(reparsed.ParseFromString(event.SerializeAsString()));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(event, reparsed));
  std::string json;
  ASSERT_TRUE(
      google::protobuf::util::MessageToJsonString(event.data().object_struct(), &json).ok());
  EXPECT_THAT(json, HasSubstr(R"("a\u0000b")"));
}

TEST(EventConverterHostile, RejectsRawNulBytes) {
  const std::string good = SnapshotWithObject(R"({"s":"ab"})");
  // Inside a string (a raw control character), after the document, before it.
  std::string inside = good;
  inside.replace(inside.find("ab"), 2, std::string("a\0b", 3));
  EXPECT_THAT(Convert(inside), StatusIs(absl::StatusCode::kInvalidArgument));
  const absl::StatusOr<Event> after = Convert(good + std::string("\0garbage", 8));
  EXPECT_THAT(after, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(after.status().message(), HasSubstr("after the top-level value"));
  EXPECT_THAT(Convert(good + std::string(1, '\0')), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Convert(std::string(1, '\0') + good), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(EventConverterHostile, KeepsAHugeStringValue) {
  std::string huge(900 * 1024, 'x');
  huge.replace(1000, 3, "\xE2\x82\xAC");
  ASSERT_OK_AND_ASSIGN(Event event,
                       Convert(SnapshotWithObject(absl::StrCat(R"({"s":")", huge, R"("})"))));
  EXPECT_EQ(event.data().object_struct().fields().at("s").string_value(), huge);
}

TEST(EventConverterHostile, DuplicateKeysLastOccurrenceWinsWithoutMerging) {
  ASSERT_OK_AND_ASSIGN(
      Event event,
      Convert(R"({"id":"evt_first","object":"event","type":"a.b","created":1,"id":"evt_last",)"
              R"("account":null,"account":"acct_1","api_version":"x","api_version":null,)"
              R"("zz":null,"zz":null,"data":{"object":{"id":"ch_1","object":"charge",)"
              R"("nested":{"a":1},"nested":{"b":2},"object":"refund","list":[1],"list":"s"}}})"));
  EXPECT_EQ(event.id(), "evt_last");
  EXPECT_EQ(event.account(), "acct_1");
  EXPECT_FALSE(event.has_api_version());
  EXPECT_THAT(event.null_fields(), ElementsAre("api_version", "zz"));
  EXPECT_EQ(event.unknown_fields().fields_size(), 1);
  const auto& f = event.data().object_struct().fields();
  EXPECT_EQ(f.size(), 4u);
  const auto& nested = f.at("nested").struct_value().fields();
  EXPECT_EQ(nested.size(), 1u);
  EXPECT_EQ(nested.at("b").number_value(), 2);
  EXPECT_EQ(f.at("list").string_value(), "s");
  EXPECT_EQ(event.data().object_kind(), "refund");

  // A duplicate `data`: the last one is the event's.
  ASSERT_OK_AND_ASSIGN(
      Event data, Convert(R"({"id":"evt_1","object":"event","type":"a.b","created":1,)"
                          R"("data":{"object":{"id":"first"}},"data":{"object":{"id":"last"}}})"));
  EXPECT_EQ(data.data().object_id(), "last");
  EXPECT_THAT(Convert(R"({"id":"evt_1","object":"event","type":"a.b","created":1,)"
                      R"("data":{"object":{"id":"first"}},"data":null})"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(EventConverterHostile, RejectsAByteOrderMarkAndTrailingGarbage) {
  const std::string good = ReadEvent("customer.created.json");
  const absl::StatusOr<Event> bom = Convert("\xEF\xBB\xBF" + good);
  EXPECT_THAT(bom, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(bom.status().message(), HasSubstr("byte order mark"));
  EXPECT_THAT(Convert(good + " x"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Convert(good + good), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Convert(good.substr(0, good.size() / 2)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_TRUE(Convert(good + " \n\t\r").ok());
}

TEST(EventConverterHostile, MaxDepthEventSurvivesProtobufBinaryRoundTrip) {
  // 32 levels of objects through data.object and through an unknown top-level key (the
  // deepest Struct path, 3 message levels per JSON level).
  std::string deep = "1";
  for (int i = 0; i < 30; ++i) deep = absl::StrCat(R"({"a":)", deep, "}");
  std::string unknown = "1";
  for (int i = 0; i < 31; ++i) unknown = absl::StrCat(R"({"a":)", unknown, "}");
  ASSERT_OK_AND_ASSIGN(
      Event event,
      Convert(absl::StrCat(R"({"id":"evt_1","object":"event","type":"a.b","created":1,"u":)",
                           unknown, R"(,"data":{"object":)", deep, "}}")));
  Event reparsed;
  ASSERT_TRUE(reparsed.ParseFromString(event.SerializeAsString()));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(event, reparsed));
}

// ---------------------------------------------------------------------------------------------
// The output contract.

TEST(EventConverter, OverwritesItsFieldsAndLeavesTheCallersFieldsAlone) {
  Event event;
  event.mutable_received_at()->set_seconds(42);
  event.set_endpoint("/webhook");
  event.set_sequence(7);
  EventConverter converter;
  ASSERT_OK(converter.Convert(ReadEvent("thin_v2_example.json"), &event));
  ASSERT_OK(converter.Convert(ReadEvent("customer.updated.json"), &event));
  EXPECT_EQ(event.received_at().seconds(), 42);
  EXPECT_EQ(event.endpoint(), "/webhook");
  EXPECT_EQ(event.sequence(), 7);
  EXPECT_FALSE(event.has_thin());
  EXPECT_THAT(event.null_fields(), IsEmpty());
  EXPECT_EQ(event.id(), "evt_1PUhrDQx4mT9aZrEa3mCDHi8");

  ASSERT_OK_AND_ASSIGN(Event fresh, converter.Convert(ReadEvent("customer.updated.json")));
  fresh.mutable_received_at()->set_seconds(42);
  fresh.set_endpoint("/webhook");
  fresh.set_sequence(7);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(event, fresh));
}

TEST(EventConverter, LeavesTheOutputUnchangedOnError) {
  EventConverter converter;
  Event event;
  ASSERT_OK(converter.Convert(ReadEvent("customer.updated.json"), &event));
  const Event before = event;
  EXPECT_FALSE(converter.Convert(SnapshotWithObject(R"({"s":"\udc00"})"), &event).ok());
  EXPECT_FALSE(
      converter.Convert(R"({"id":"evt_2","object":"event","type":"a","created":1.5})", &event)
          .ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(event, before));
}

TEST(EventConverter, ArenaAllocatedEventGetsTheSameResult) {
  const std::string body = ReadEvent("invoice.paid.json");
  google::protobuf::Arena arena;
  Event* on_arena = google::protobuf::Arena::CreateMessage<Event>(&arena);
  ASSERT_OK(EventConverter().Convert(body, on_arena));
  ASSERT_OK_AND_ASSIGN(Event on_heap, Convert(body));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*on_arena, on_heap));
  EXPECT_EQ(on_arena->data().object_struct().GetArena(), &arena);
}

TEST(EventConverter, ConcurrentCallsOnOneConverterAgree) {
  const EventConverter converter;
  std::vector<std::string> bodies;
  std::vector<Event> expected;
  for (const std::string& file : ExampleEventFiles()) {
    bodies.push_back(ReadEvent(file));
    ASSERT_OK_AND_ASSIGN(Event event, converter.Convert(bodies.back()));
    expected.push_back(std::move(event));
  }
  ASSERT_FALSE(bodies.empty());
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 50; ++round) {
        for (size_t i = 0; i < bodies.size(); ++i) {
          Event event;
          if (!converter.Convert(bodies[i], &event).ok() ||
              !google::protobuf::util::MessageDifferencer::Equals(event, expected[i])) {
            ++mismatches[t];
          }
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_THAT(mismatches, testing::Each(0));
}

TEST(EventConverterDeathTest, DiesOnAMaxDepthOutsideTheSupportedRange) {
  EventConverter::Options too_small;
  too_small.max_depth = 2;
  EXPECT_DEATH(EventConverter{too_small}, "max_depth=2");
  EventConverter::Options too_large;
  too_large.max_depth = 33;
  EXPECT_DEATH(EventConverter{too_large}, "max_depth=33");
}

// ---------------------------------------------------------------------------------------------
// The parser underneath: numbers are typed from their text (the typed walker relies on this).

void ExpectTypedNumbers(const std::string& extra) {
  internal::ParsedJson parsed;
  ASSERT_OK(internal::ParseJson(
      absl::StrCat("[9223372036854775807,-9223372036854775808,9223372036854775808,",
                   "18446744073709551615,18446744073709551616,-9223372036854775809,1.5,0,",
                   "-0,1e2", extra, "]"),
      internal::ParseOptions{}, &parsed));
  const rapidjson::Value& a = parsed.root();
  ASSERT_TRUE(a.IsArray());
  EXPECT_TRUE(a[0].IsInt64());
  EXPECT_EQ(a[0].GetInt64(), std::numeric_limits<int64_t>::max());
  EXPECT_TRUE(a[1].IsInt64());
  EXPECT_EQ(a[1].GetInt64(), std::numeric_limits<int64_t>::min());
  EXPECT_FALSE(a[2].IsInt64());
  ASSERT_TRUE(a[2].IsUint64());
  EXPECT_EQ(a[2].GetUint64(), uint64_t{1} << 63);
  ASSERT_TRUE(a[3].IsUint64());
  EXPECT_EQ(a[3].GetUint64(), std::numeric_limits<uint64_t>::max());
  EXPECT_TRUE(a[4].IsDouble());
  EXPECT_EQ(a[4].GetDouble(), 18446744073709551616.0);
  EXPECT_TRUE(a[5].IsDouble());
  EXPECT_TRUE(a[6].IsDouble());
  EXPECT_EQ(a[6].GetDouble(), 1.5);
  EXPECT_TRUE(a[7].IsInt64());
  EXPECT_TRUE(a[8].IsInt64());
  EXPECT_TRUE(a[9].IsDouble());
  EXPECT_EQ(a[9].GetDouble(), 100.0);
}

TEST(ParseJson, TypesNumbersFromTheirText) { ExpectTypedNumbers(""); }

TEST(ParseJson, TypesNumbersFromTheirTextWhenAnotherNumberOverflowsADouble) {
  ExpectTypedNumbers(",1e400");
}

TEST(ParseJson, ReportsTheRapidJsonErrorAndOffset) {
  internal::ParsedJson parsed;
  const absl::Status status =
      internal::ParseJson(R"({"a":tru})", internal::ParseOptions{}, &parsed);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(status.message()), HasSubstr("not valid JSON"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("offset"));
}

}  // namespace
}  // namespace switchboard::server::convert
