// Writes the seed corpus of gateway_api_fuzzer (input format in gateway_api_fuzzer.cc): one or
// a few calls of each Gateway method, naming the fuzzer's pre-filled events and subscriptions.
//
// From the workspace root:
//   bazel run //tests/fuzz:gateway_api_seeds -- "$PWD/tests/fuzz/corpus/gateway_api"
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/message.h"
#include "protos/switchboard/v1/gateway.pb.h"

namespace {

namespace v1 = ::switchboard::v1;

enum Method : uint8_t {
  kGetEvent = 0,
  kListEvents,
  kGetStats,
  kSubscribe,
  kUnsubscribe,
  kListSubscriptions,
  kReplay,
  kListDeadLetters,
  kRedrive,
  kDiscardDeadLetters,
};
enum Answer : uint8_t { kNone = 0, kOk = 1 << 4, kRetry = 2 << 4, kReject = 3 << 4 };
constexpr uint8_t kHourLater = 0x40;

// One call: selector, little-endian length, request.
std::string CallOf(uint8_t selector, const google::protobuf::Message& request) {
  const std::string bytes = request.SerializeAsString();
  std::string out;
  out.push_back(static_cast<char>(selector));
  out.push_back(static_cast<char>(bytes.size() & 0xff));
  out.push_back(static_cast<char>(bytes.size() >> 8));
  return out + bytes;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: gateway_api_seeds OUT_DIR\n");
    return 2;
  }
  std::vector<std::pair<std::string, std::string>> seeds;

  v1::GetEventRequest get;
  get.set_id("evt_2");
  seeds.emplace_back("get_event", CallOf(kGetEvent, get));

  v1::ListEventsRequest list;
  list.add_types("payment_intent.*");
  list.set_page_size(1);
  list.set_page_token("0");
  list.set_omit_raw_json(true);
  list.mutable_created_after()->set_seconds(1699999500);
  seeds.emplace_back("list_events", CallOf(kListEvents, list));

  seeds.emplace_back("get_stats", CallOf(kGetStats, v1::GetStatsRequest()));

  v1::SubscribeRequest subscribe;
  v1::Subscription* spec = subscribe.mutable_subscription();
  spec->set_name("sub_b");
  spec->add_event_types("invoice.*");
  spec->add_event_types("customer.created");
  spec->set_max_in_flight(2);
  spec->mutable_start()->set_beginning(true);
  spec->mutable_retry_policy()->set_max_attempts(2);
  subscribe.set_member_address("h1:1");
  v1::SubscribeRequest add;
  add.mutable_subscription()->set_name("sub_a");
  add.mutable_subscription()->add_event_types("payout.paid");
  add.set_member_address("h3:1");
  add.set_add_event_types(true);
  seeds.emplace_back("subscribe_then_list",
                     CallOf(kSubscribe | kReject, subscribe) + CallOf(kSubscribe, add) +
                         CallOf(kListSubscriptions, v1::ListSubscriptionsRequest()));

  v1::UnsubscribeRequest unsubscribe_member;
  unsubscribe_member.set_name("sub_a");
  unsubscribe_member.set_member_address("h1:1");
  v1::UnsubscribeRequest unsubscribe;
  unsubscribe.set_name("sub_a");
  seeds.emplace_back("unsubscribe", CallOf(kUnsubscribe, unsubscribe_member) +
                                        CallOf(kUnsubscribe, unsubscribe) +
                                        CallOf(kListDeadLetters, v1::ListDeadLettersRequest()));

  v1::ReplayRequest replay_ids;
  replay_ids.set_subscription("sub_a");
  replay_ids.add_event_ids("evt_2");
  replay_ids.add_event_ids("evt_4");
  v1::ReplayRequest replay_range;
  replay_range.set_subscription("static_all");
  replay_range.add_types("customer.*");
  replay_range.mutable_created_before()->set_seconds(1700000000);
  seeds.emplace_back("replay", CallOf(kReplay | kRetry, replay_ids) +
                                   CallOf(kReplay | kHourLater | kReject, replay_range) +
                                   CallOf(kListSubscriptions, v1::ListSubscriptionsRequest()));

  v1::ListDeadLettersRequest dead;
  dead.set_subscription("sub_a");
  dead.set_page_size(1);
  v1::ListDeadLettersRequest dead_next = dead;
  dead_next.set_page_token("1");
  seeds.emplace_back("list_dead_letters",
                     CallOf(kListDeadLetters, dead) + CallOf(kListDeadLetters, dead_next));

  v1::RedriveRequest redrive_one;
  redrive_one.set_subscription("sub_a");
  redrive_one.add_event_ids("evt_1");
  v1::RedriveRequest redrive_all;
  redrive_all.set_subscription("sub_a");
  seeds.emplace_back("redrive", CallOf(kRedrive | kReject, redrive_one) +
                                    CallOf(kRedrive | kOk, redrive_all) +
                                    CallOf(kListDeadLetters, dead));

  v1::DiscardDeadLettersRequest discard;
  discard.set_subscription("sub_a");
  discard.add_event_ids("evt_3");
  discard.add_event_ids("evt_3");
  seeds.emplace_back("discard", CallOf(kDiscardDeadLetters, discard) +
                                    CallOf(kDiscardDeadLetters, v1::DiscardDeadLettersRequest()));

  for (const auto& [name, bytes] : seeds) {
    std::ofstream out(absl::StrCat(argv[1], "/", name), std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) return 1;
  }
  std::printf("wrote %zu seeds to %s\n", seeds.size(), argv[1]);
  return 0;
}
