// ctl against a mock Gateway stub: what each command sends and prints.
#include "tools/ctl/ctl_lib.h"

#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "grpcpp/test/client_context_test_peer.h"
#include "gtest/gtest.h"
#include "protos/switchboard/v1/gateway_mock.grpc.pb.h"

namespace switchboard::tools::ctl {
namespace {

namespace v1 = ::switchboard::v1;
using ::testing::_;
using ::testing::DoAll;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Invoke;
using ::testing::Not;
using ::testing::Return;
using ::testing::SaveArg;
using ::testing::SetArgPointee;

template <typename T>
T Parse(const char* text) {
  T message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message)) << text;
  return message;
}

class CtlTest : public ::testing::Test {
 protected:
  int Run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    return RunCtl(args, options_, stub_, out_, err_);
  }
  v1::MockGatewayStub stub_;
  CtlOptions options_;
  std::ostringstream out_, err_;
};

TEST_F(CtlTest, SubsListPrintsATable) {
  EXPECT_CALL(stub_, ListSubscriptions(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(Parse<v1::ListSubscriptionsResponse>(R"pb(
                        subscriptions {
                          name: "payments"
                          event_types: [ "payment_intent.succeeded", "payment_method.attached" ]
                          members { address: "127.0.0.1:4100" connected: true }
                          stats { backlog: 3 in_flight: 1 delivered: 12 retries: 2 dead_letters: 1 }
                        }
                        subscriptions { name: "audit" event_types: "*" static: true }
                      )pb")),
                      Return(grpc::Status::OK)));
  ASSERT_EQ(Run({"subs", "list"}), 0) << err_.str();
  EXPECT_EQ(
      out_.str(),
      "NAME            TYPES                                             MEMBERS              "
      "BACKLOG  IN_FLIGHT  DELIVERED  RETRIES  DEAD\n"
      "payments        payment_intent.succeeded,payment_method.attached  127.0.0.1:4100 (up)  "
      "3        1          12         2        1\n"
      "audit (static)  *                                                 -                    "
      "0        0          0          0        0\n");
}

TEST_F(CtlTest, SubsCreateSendsTheSpec) {
  v1::SubscribeRequest sent;
  EXPECT_CALL(stub_, Subscribe(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sent), Invoke([](auto*, const auto& request, auto* response) {
                        *response = request.subscription();
                        return grpc::Status::OK;
                      })));
  options_.types = {"invoice.*", "charge.succeeded"};
  options_.start = "beginning";
  options_.max_in_flight = 4;
  ASSERT_EQ(Run({"subs", "create", "billing"}), 0) << err_.str();
  EXPECT_EQ(sent.subscription().name(), "billing");
  EXPECT_THAT(sent.subscription().event_types(), ElementsAre("invoice.*", "charge.succeeded"));
  EXPECT_TRUE(sent.subscription().start().beginning());
  EXPECT_EQ(sent.subscription().max_in_flight(), 4);
  EXPECT_EQ(sent.member_address(), "");
  EXPECT_THAT(out_.str(), HasSubstr("subscription billing: types invoice.*,charge.succeeded"));
}

TEST_F(CtlTest, SubsCreateWithoutTypesIsAUsageError) {
  EXPECT_EQ(Run({"subs", "create", "billing"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--types"));
}

TEST_F(CtlTest, SubsDeleteAMemberOrAll) {
  v1::UnsubscribeRequest sent;
  EXPECT_CALL(stub_, Unsubscribe(_, _, _))
      .Times(2)
      .WillRepeatedly(DoAll(SaveArg<1>(&sent), Return(grpc::Status::OK)));
  ASSERT_EQ(Run({"subs", "delete", "billing"}), 0);
  EXPECT_EQ(sent.name(), "billing");
  EXPECT_EQ(sent.member_address(), "");
  EXPECT_EQ(out_.str(), "deleted subscription billing\n");
  options_.member = "127.0.0.1:4100";
  ASSERT_EQ(Run({"subs", "delete", "billing"}), 0);
  EXPECT_EQ(sent.member_address(), "127.0.0.1:4100");
  EXPECT_EQ(out_.str(), "removed member 127.0.0.1:4100 from subscription billing\n");
}

TEST_F(CtlTest, EventsListPagesUpToTheLimit) {
  std::vector<v1::ListEventsRequest> sent;
  EXPECT_CALL(stub_, ListEvents(_, _, _))
      .WillOnce(DoAll(Invoke([&](auto*, const auto& r, auto*) { sent.push_back(r); }),
                      SetArgPointee<2>(Parse<v1::ListEventsResponse>(R"pb(
                        events {
                          id: "evt_1"
                          type: "charge.succeeded"
                          created { seconds: 1719834013 }
                          received_at { seconds: 1719834014 }
                          sequence: 1
                        }
                        next_page_token: "p2"
                      )pb")),
                      Return(grpc::Status::OK)))
      .WillOnce(DoAll(Invoke([&](auto*, const auto& r, auto*) { sent.push_back(r); }),
                      SetArgPointee<2>(Parse<v1::ListEventsResponse>(R"pb(
                        events { id: "evt_2" type: "invoice.paid" sequence: 2 livemode: true }
                        events { id: "evt_3" type: "invoice.paid" sequence: 3 }
                        next_page_token: "p3"
                      )pb")),
                      Return(grpc::Status::OK)));
  options_.types = {"charge.*", "invoice.paid"};
  options_.after = "2024-06-01T00:00:00Z";
  options_.limit = 2;
  ASSERT_EQ(Run({"events", "list"}), 0) << err_.str();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_THAT(sent[0].types(), ElementsAre("charge.*", "invoice.paid"));
  EXPECT_EQ(sent[0].created_after().seconds(), 1717200000);
  EXPECT_FALSE(sent[0].has_created_before());
  EXPECT_TRUE(sent[0].omit_raw_json());
  EXPECT_EQ(sent[1].page_token(), "p2");
  EXPECT_EQ(out_.str(),
            "ID     TYPE              CREATED               RECEIVED              SEQ  LIVE\n"
            "evt_1  charge.succeeded  2024-07-01T11:40:13Z  2024-07-01T11:40:14Z  1    test\n"
            "evt_2  invoice.paid      -                     -                     2    live\n"
            "(first 2 shown; raise --limit for more)\n");
}

TEST_F(CtlTest, EventsListRefusesABadTime) {
  options_.before = "yesterday";
  EXPECT_EQ(Run({"events", "list"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--before=yesterday"));
}

TEST_F(CtlTest, ListsRefuseALimitBelowOneRatherThanReportNothing) {
  EXPECT_CALL(stub_, ListEvents(_, _, _)).Times(0);
  EXPECT_CALL(stub_, ListDeadLetters(_, _, _)).Times(0);
  for (int limit : {0, -1}) {
    SCOPED_TRACE(limit);
    options_.limit = limit;
    EXPECT_EQ(Run({"events", "list"}), 2);
    EXPECT_EQ(out_.str(), "");
    EXPECT_THAT(err_.str(), HasSubstr(absl::StrCat("--limit=", limit, ": must be at least 1")));
    EXPECT_EQ(Run({"dead", "list", "billing"}), 2);
    EXPECT_EQ(out_.str(), "");
    EXPECT_THAT(err_.str(), HasSubstr("--limit"));
  }
}

TEST_F(CtlTest, RefusesANegativeMaxInFlightAndANonPositiveTimeout) {
  EXPECT_CALL(stub_, Subscribe(_, _, _)).Times(0);
  EXPECT_CALL(stub_, GetStats(_, _, _)).Times(0);
  options_.types = {"invoice.*"};
  options_.max_in_flight = -1;
  EXPECT_EQ(Run({"subs", "create", "billing"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--max_in_flight=-1"));

  options_ = CtlOptions();
  for (absl::Duration timeout : {absl::ZeroDuration(), absl::Seconds(-1)}) {
    options_.timeout = timeout;
    EXPECT_EQ(Run({"stats"}), 2);
    EXPECT_THAT(err_.str(), HasSubstr("--timeout="));
  }
}

TEST_F(CtlTest, EventsShowPrintsTheEnvelopeAndRawJson) {
  EXPECT_CALL(stub_, GetEvent(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(Parse<v1::Event>(R"pb(
                        id: "evt_1"
                        type: "payment_intent.succeeded"
                        created { seconds: 1719834013 }
                        received_at { seconds: 1719834014 }
                        endpoint: "/webhook"
                        sequence: 7
                        data { object_kind: "payment_intent" object_id: "pi_1" }
                        raw_json: "{\"id\":\"evt_1\"}"
                      )pb")),
                      Return(grpc::Status::OK)));
  ASSERT_EQ(Run({"events", "show", "evt_1"}), 0);
  EXPECT_EQ(out_.str(),
            "id:        evt_1\n"
            "type:      payment_intent.succeeded\n"
            "created:   2024-07-01T11:40:13Z\n"
            "received:  2024-07-01T11:40:14Z on /webhook\n"
            "sequence:  7\n"
            "livemode:  false\n"
            "object:    payment_intent pi_1\n"
            "\n"
            "{\"id\":\"evt_1\"}\n");
}

TEST_F(CtlTest, SendsTheTokenWhenSet) {
  std::multimap<std::string, std::string> metadata;
  EXPECT_CALL(stub_, GetStats(_, _, _))
      .WillOnce(DoAll(Invoke([&](grpc::ClientContext* context, auto&, auto*) {
                        metadata =
                            grpc::testing::ClientContextTestPeer(context).GetSendInitialMetadata();
                      }),
                      Return(grpc::Status::OK)));
  options_.gateway.token = "tok_ctl";
  ASSERT_EQ(Run({"stats"}), 0);
  EXPECT_EQ(metadata.count("authorization"), 1u);
  EXPECT_EQ(metadata.find("authorization")->second, "Bearer tok_ctl");
}

TEST_F(CtlTest, UnauthenticatedWithoutATokenSaysToSetOne) {
  EXPECT_CALL(stub_, GetStats(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing bearer token")));
  EXPECT_EQ(Run({"stats"}), 1);
  EXPECT_EQ(err_.str(),
            "ctl: GetStats failed: UNAUTHENTICATED (set SWITCHBOARD_GATEWAY_TOKEN): missing "
            "bearer token\n");
}

TEST_F(CtlTest, UnauthenticatedWithATokenSaysItWasRefusedWithoutShowingIt) {
  EXPECT_CALL(stub_, GetStats(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "bad bearer token")));
  options_.gateway.token = "tok_wrong_secret";
  EXPECT_EQ(Run({"stats"}), 1);
  EXPECT_EQ(err_.str(),
            "ctl: GetStats failed: UNAUTHENTICATED (the gateway refused the token in "
            "SWITCHBOARD_GATEWAY_TOKEN): bad bearer token\n");
  EXPECT_THAT(out_.str() + err_.str(), Not(HasSubstr("tok_wrong_secret")));
}

TEST_F(CtlTest, FailedCallsExitOneWithTheReason) {
  EXPECT_CALL(stub_, GetEvent(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::NOT_FOUND, "no event evt_x")));
  EXPECT_EQ(Run({"events", "show", "evt_x"}), 1);
  EXPECT_EQ(err_.str(), "ctl: GetEvent failed: NOT_FOUND: no event evt_x\n");
}

TEST_F(CtlTest, ReplayByIdsOrByFilterButNotBoth) {
  v1::ReplayRequest sent;
  EXPECT_CALL(stub_, Replay(_, _, _))
      .Times(2)
      .WillRepeatedly(DoAll(SaveArg<1>(&sent),
                            SetArgPointee<2>(Parse<v1::ReplayResponse>("scheduled: 2")),
                            Return(grpc::Status::OK)));
  options_.ids = {"evt_1", "evt_2"};
  ASSERT_EQ(Run({"replay", "billing"}), 0);
  EXPECT_THAT(sent.event_ids(), ElementsAre("evt_1", "evt_2"));
  EXPECT_EQ(out_.str(), "scheduled 2 event(s) for billing\n");

  options_.types = {"invoice.*"};
  EXPECT_EQ(Run({"replay", "billing"}), 2);

  options_.ids.clear();
  options_.after = "2024-06-01T00:00:00Z";
  options_.before = "2024-06-02T00:00:00Z";
  ASSERT_EQ(Run({"replay", "billing"}), 0);
  EXPECT_THAT(sent.types(), ElementsAre("invoice.*"));
  EXPECT_EQ(sent.created_after().seconds(), 1717200000);
  EXPECT_EQ(sent.created_before().seconds(), 1717286400);
}

TEST_F(CtlTest, ReplayByTimeRangeAloneLeavesTheTypesToTheSubscription) {
  v1::ReplayRequest sent;
  EXPECT_CALL(stub_, Replay(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sent),
                      SetArgPointee<2>(Parse<v1::ReplayResponse>("scheduled: 3")),
                      Return(grpc::Status::OK)));
  options_.after = "2024-06-01T00:00:00Z";
  ASSERT_EQ(Run({"replay", "billing"}), 0) << err_.str();
  EXPECT_TRUE(sent.types().empty());
  EXPECT_TRUE(sent.event_ids().empty());
  EXPECT_EQ(sent.created_after().seconds(), 1717200000);
  EXPECT_FALSE(sent.has_created_before());
  EXPECT_EQ(out_.str(), "scheduled 3 event(s) for billing\n");
}

TEST_F(CtlTest, ReplayWithNeitherIdsNorAFilterIsAUsageErrorAsAtTheGateway) {
  EXPECT_CALL(stub_, Replay(_, _, _)).Times(0);
  EXPECT_EQ(Run({"replay", "billing"}), 2);
  EXPECT_EQ(err_.str(),
            "ctl: replay needs --ids, or a filter: --types, --after and/or --before (without "
            "--types, the subscription's own types; --types='*' for every stored event it "
            "matches) (see --help)\n");
  // The usage text shows the filter as required too.
  EXPECT_THAT(std::string(kUsage),
              HasSubstr("replay SUB [--types=T,...] [--after=TIME] [--before=TIME]    (at least "
                        "one of the three)"));
}

TEST_F(CtlTest, DeadListAndRedrive) {
  EXPECT_CALL(stub_, ListDeadLetters(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(Parse<v1::ListDeadLettersResponse>(R"pb(
                        dead_letters {
                          event_id: "evt_9"
                          event_type: "invoice.paid"
                          attempts: 1
                          dead_at { seconds: 1719834013 }
                          last_error: "REJECT: FAILED_PRECONDITION: bad"
                        }
                      )pb")),
                      Return(grpc::Status::OK)));
  ASSERT_EQ(Run({"dead", "list", "billing"}), 0);
  EXPECT_EQ(
      out_.str(),
      "EVENT  TYPE          ATTEMPTS  DEAD_AT               LAST_ERROR\n"
      "evt_9  invoice.paid  1         2024-07-01T11:40:13Z  REJECT: FAILED_PRECONDITION: bad\n");

  v1::RedriveRequest sent;
  EXPECT_CALL(stub_, Redrive(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sent),
                      SetArgPointee<2>(Parse<v1::RedriveResponse>("redriven: 1")),
                      Return(grpc::Status::OK)));
  options_.ids = {"evt_9"};
  ASSERT_EQ(Run({"dead", "redrive", "billing"}), 0);
  EXPECT_EQ(sent.subscription(), "billing");
  EXPECT_THAT(sent.event_ids(), ElementsAre("evt_9"));
  EXPECT_EQ(out_.str(), "redriven 1 dead letter(s) of billing\n");
}

// A handler's error text reaches LAST_ERROR nearly as written (made valid UTF-8, cut to 512
// bytes): a newline in it must not forge a row, an escape sequence must not reach the terminal.
TEST_F(CtlTest, DeadListEscapesControlCharactersInTheHandlersError) {
  v1::ListDeadLettersResponse response;
  v1::DeadLetter* d = response.add_dead_letters();
  d->set_event_id("evt_9");
  d->set_event_type("invoice.paid");
  d->set_attempts(1);
  d->set_last_error(
      "REJECT: bad\nevt_0  invoice.paid  1  -  forged\r\x1b[2J\x1b]0;title\x07 tab\there "
      "del\x7f csi\xc2\x9b nel\xc2\x85 back\\slash caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x92\xb3 "
      "bad\xff\xc3");
  EXPECT_CALL(stub_, ListDeadLetters(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(response), Return(grpc::Status::OK)));
  ASSERT_EQ(Run({"dead", "list", "billing"}), 0) << err_.str();
  EXPECT_EQ(out_.str(),
            "EVENT  TYPE          ATTEMPTS  DEAD_AT  LAST_ERROR\n"
            "evt_9  invoice.paid  1         -        "
            "REJECT: bad\\nevt_0  invoice.paid  1  -  forged\\r\\u001b[2J\\u001b]0;title\\u0007 "
            "tab\\there del\\u007f csi\\u009b nel\\u0085 back\\\\slash caf\xc3\xa9 \xe2\x82\xac "
            "\xf0\x9f\x92\xb3 bad\\xff\\xc3\n");
}

TEST_F(CtlTest, EventsListAndShowEscapeControlCharactersFromTheEventBody) {
  EXPECT_CALL(stub_, ListEvents(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(Parse<v1::ListEventsResponse>(R"pb(
                        events { id: "evt_1\n" type: "charge.succeeded\x1b[31m" sequence: 1 }
                      )pb")),
                      Return(grpc::Status::OK)));
  ASSERT_EQ(Run({"events", "list"}), 0) << err_.str();
  EXPECT_EQ(out_.str(),
            "ID       TYPE                        CREATED  RECEIVED  SEQ  LIVE\n"
            "evt_1\\n  charge.succeeded\\u001b[31m  -        -         1    test\n");

  EXPECT_CALL(stub_, GetEvent(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(Parse<v1::Event>(R"pb(
                        id: "evt_1\n"
                        type: "charge.succeeded\x1b[31m"
                        endpoint: "/webhook"
                        account: "acct_\r1"
                        data { object_kind: "charge\x07" object_id: "ch_\x9b" }
                      )pb")),
                      Return(grpc::Status::OK)));
  ASSERT_EQ(Run({"events", "show", "evt_1"}), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("id:        evt_1\\n\n"));
  EXPECT_THAT(out_.str(), HasSubstr("type:      charge.succeeded\\u001b[31m\n"));
  EXPECT_THAT(out_.str(), HasSubstr("account:   acct_\\r1\n"));
  EXPECT_THAT(out_.str(), HasSubstr("object:    charge\\u0007 ch_\\x9b\n"));
}

TEST_F(CtlTest, EscapesControlCharactersInTheGatewaysErrorMessage) {
  EXPECT_CALL(stub_, GetEvent(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::NOT_FOUND, "no event evt_\x1b[2J\nx")));
  EXPECT_EQ(Run({"events", "show", "evt_x"}), 1);
  EXPECT_EQ(err_.str(), "ctl: GetEvent failed: NOT_FOUND: no event evt_\\u001b[2J\\nx\n");
}

TEST_F(CtlTest, DeadDiscard) {
  v1::DiscardDeadLettersRequest sent;
  EXPECT_CALL(stub_, DiscardDeadLetters(_, _, _))
      .Times(2)
      .WillOnce(DoAll(SaveArg<1>(&sent),
                      SetArgPointee<2>(Parse<v1::DiscardDeadLettersResponse>("discarded: 2")),
                      Return(grpc::Status::OK)))
      .WillOnce(DoAll(SaveArg<1>(&sent), Return(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                                             "no subscription \"billing\""))));
  options_.ids = {"evt_8", "evt_9"};
  ASSERT_EQ(Run({"dead", "discard", "billing"}), 0);
  EXPECT_EQ(sent.subscription(), "billing");
  EXPECT_THAT(sent.event_ids(), ElementsAre("evt_8", "evt_9"));
  EXPECT_EQ(out_.str(), "discarded 2 dead letter(s) of billing\n");

  // Everything only when asked for in so many words.
  options_.ids.clear();
  EXPECT_EQ(Run({"dead", "discard", "billing"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("needs either --ids or --all"));
  options_.ids = {"evt_8"};
  options_.all = true;
  EXPECT_EQ(Run({"dead", "discard", "billing"}), 2);
  options_.ids.clear();
  EXPECT_EQ(Run({"dead", "discard", "billing"}), 1);
  EXPECT_TRUE(sent.event_ids().empty());
  EXPECT_THAT(err_.str(), HasSubstr("DiscardDeadLetters failed: NOT_FOUND: no subscription"));
}

TEST_F(CtlTest, StatsAndUnknownCommands) {
  EXPECT_CALL(stub_, GetStats(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(Parse<v1::Stats>(R"pb(
                        events_stored: 42
                        requests { key: "stored" value: 42 }
                        requests { key: "bad_signature" value: 3 }
                        requests { key: "chunked" value: 0 }
                      )pb")),
                      Return(grpc::Status::OK)));
  ASSERT_EQ(Run({"stats"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("events stored:   42\n"));
  EXPECT_THAT(out_.str(), HasSubstr("  bad_signature  3\n  stored         42\n"));
  EXPECT_THAT(out_.str(), Not(HasSubstr("chunked")));
  EXPECT_EQ(Run({"subs", "frobnicate"}), 2);
  EXPECT_EQ(Run({}), 2);
}

}  // namespace
}  // namespace switchboard::tools::ctl
