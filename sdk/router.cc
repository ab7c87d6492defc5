#include "sdk/router.h"

#include <algorithm>
#include <exception>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/duration.pb.h"
#include "sdk/internal/typed_payload.h"
#include "sdk/internal/wire.h"
#include "sdk/log.h"

namespace switchboard::sdk {

using ::switchboard::v1::Ack;
using ::switchboard::v1::Delivery;

namespace {

// Ack messages are kept with dead letters and shown by tools: short, and valid UTF-8 (a proto3
// string that is not would make the whole Ack undecodable for the gateway). The gateway keeps
// at most 512 bytes of a reason (server/dispatch/dispatcher.cc, kMaxReasonBytes); sending more
// would only be cut there.
constexpr size_t kMaxAckMessageBytes = 512;
// A partial object may have thousands of misses (one per array element); the first few say
// what changed shape.
constexpr int kMaxMissesNamed = 10;
// Event types counted one by one for sdk_no_handler (more are counted together), and the
// longest type name counted by itself: the counts stay small whatever the gateway sends.
constexpr size_t kMaxUnmatchedTypes = 256;
constexpr size_t kMaxUnmatchedTypeBytes = 128;

bool IsPowerOfTwo(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

std::string Describe(absl::string_view pattern, const google::protobuf::Descriptor* type) {
  return type == nullptr ? absl::StrCat("OnEvent(\"", pattern, "\")")
                         : absl::StrCat("On<", type->full_name(), ">(\"", pattern, "\")");
}

}  // namespace

Ack AckFromStatus(absl::string_view delivery_id, const absl::Status& status) {
  Ack ack;
  ack.set_delivery_id(std::string(delivery_id));
  if (status.ok()) {
    ack.set_outcome(Ack::OK);
    return ack;
  }
  ack.set_outcome(IsPermanentError(status) ? Ack::REJECT : Ack::RETRY);
  ack.set_message(internal::SafeUtf8(
      absl::StrCat(absl::StatusCodeToString(status.code()), ": ", status.message()),
      kMaxAckMessageBytes));
  if (ack.outcome() == Ack::RETRY) {
    if (std::optional<absl::Duration> delay = RetryAfterOf(status); delay.has_value()) {
      const int64_t nanos = absl::ToInt64Nanoseconds(*delay);
      ack.mutable_retry_after()->set_seconds(nanos / 1000000000);
      ack.mutable_retry_after()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
    }
  }
  return ack;
}

Router& Router::OnEvent(absl::string_view pattern, EventFn fn) {
  if (fn == nullptr) return Add(pattern, nullptr, TypedMisses::kReject, nullptr);
  return Add(pattern, nullptr, TypedMisses::kReject,
             [fn = std::move(fn)](const EventContext& ctx, const google::protobuf::Message*) {
               return fn(ctx);
             });
}

Router& Router::Add(absl::string_view pattern, const google::protobuf::Descriptor* type,
                    TypedMisses misses, AnyFn fn) {
  const std::string what = Describe(pattern, type);
  if (fn == nullptr) {
    errors_.push_back(absl::StrCat(what, ": the handler function is empty"));
    return *this;
  }
  absl::StatusOr<internal::Pattern> parsed = internal::ParsePattern(pattern);
  if (!parsed.ok()) {
    errors_.push_back(absl::StrCat(what, ": ", parsed.status().message()));
    return *this;
  }
  if (by_pattern_.contains(pattern)) {
    errors_.push_back(absl::StrCat(what, ": \"", pattern, "\" is already registered (by ",
                                   Describe(pattern, registrations_[by_pattern_.at(pattern)].type),
                                   ")"));
    return *this;
  }
  if (type != nullptr) {
    if (absl::Status fits = internal::CheckTypedRegistration(pattern, type); !fits.ok()) {
      errors_.push_back(absl::StrCat(what, ": ", fits.message()));
      return *this;
    }
  }
  const size_t index = registrations_.size();
  registrations_.push_back({std::string(pattern), *std::move(parsed), type, misses, std::move(fn)});
  by_pattern_.emplace(std::string(pattern), index);
  if (registrations_[index].parsed.kind == internal::Pattern::Kind::kPrefix) {
    prefixes_.push_back(index);
    std::stable_sort(prefixes_.begin(), prefixes_.end(), [this](size_t a, size_t b) {
      return registrations_[a].parsed.text.size() > registrations_[b].parsed.text.size();
    });
  }
  return *this;
}

absl::Status Router::Check() const {
  if (!errors_.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid handler registrations:\n  ", absl::StrJoin(errors_, "\n  ")));
  }
  if (registrations_.empty()) {
    return absl::InvalidArgumentError("no handler registered: call On<T>() or OnEvent() first");
  }
  return absl::OkStatus();
}

std::vector<std::string> Router::EventTypes() const {
  if (by_pattern_.contains("*")) return {"*"};
  std::vector<std::string> types;
  for (const Registration& r : registrations_) types.push_back(r.pattern);
  std::sort(types.begin(), types.end());
  return types;
}

const Router::Registration* Router::Find(absl::string_view type) const {
  if (auto it = by_pattern_.find(type); it != by_pattern_.end()) {
    const Registration& r = registrations_[it->second];
    // A pattern string that is itself a prefix or `*` is not an exact match for a type that
    // happens to be spelled the same ("*" is not an event type).
    if (r.parsed.kind == internal::Pattern::Kind::kExact) return &r;
  }
  for (size_t index : prefixes_) {
    if (registrations_[index].parsed.Matches(type)) return &registrations_[index];
  }
  if (auto it = by_pattern_.find("*"); it != by_pattern_.end()) return &registrations_[it->second];
  return nullptr;
}

Ack Router::Dispatch(const Delivery& delivery) const {
  const switchboard::v1::Event& event = delivery.event();
  const Registration* registration = Find(event.type());
  if (registration == nullptr) {
    // Never OK: during a rolling deploy the gateway spreads a type a newer instance registered
    // over every member, this older one included, and an OK here would lose the event for
    // good. Another member or the next version may handle it; if none ever does, the retry
    // policy dead-letters it, where it can be redriven.
    NoteUnmatched(delivery);
    return AckFromStatus(delivery.delivery_id(),
                         absl::UnimplementedError(absl::StrCat(
                             "no handler for ", event.type(),
                             " in this instance (version skew in a rolling deploy, or a "
                             "subscription widened by hand)")));
  }
  const EventContext context(delivery);
  // A function that throws has a bug, not the event: RETRY (it goes through once the fix is
  // deployed, or dead-letters by the retry policy), and the worker thread and the process
  // carry on (an exception leaving a worker thread would be std::terminate).
  const auto call = [&](const google::protobuf::Message* payload) {
    std::string what;
    try {
      return AckFromStatus(delivery.delivery_id(), registration->fn(context, payload));
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
      what = "an exception that is not a std::exception";
    }
    Ack ack;
    ack.set_delivery_id(delivery.delivery_id());
    ack.set_outcome(Ack::RETRY);
    ack.set_message(internal::SafeUtf8(absl::StrCat("handler threw: ", what), kMaxAckMessageBytes));
    LogWarning(absl::StrCat("sdk_handler_threw delivery_id=", delivery.delivery_id(),
                            " id=", event.id(), " type=", event.type(), " ",
                            Describe(registration->pattern, registration->type),
                            " what=", Quoted(ack.message())));
    return ack;
  };
  if (registration->type == nullptr) return call(nullptr);
  const google::protobuf::OneofDescriptor* oneof = internal::EventPayloadOneof();
  const google::protobuf::Message* payload =
      internal::FindPayload(event.data(), oneof, registration->type);
  if (payload == nullptr) {
    return AckFromStatus(
        delivery.delivery_id(),
        PermanentError(absl::StrCat(
            "event ", event.id(), " (", event.type(), ", object kind \"",
            event.data().object_kind(), "\") does not carry a ", registration->type->full_name(),
            " (it carries ", internal::DescribePayload(event.data(), oneof), "); registered as ",
            Describe(registration->pattern, registration->type))));
  }
  const auto& misses = event.data().typed_misses();
  if (!misses.empty() && registration->misses == TypedMisses::kReject) {
    // An unset field of a partial message reads as 0 or "": dead-letter it for an operator to
    // redrive once the protos know the new shape. Paths only: the values may be sensitive.
    const int named = std::min(misses.size(), kMaxMissesNamed);
    return AckFromStatus(
        delivery.delivery_id(),
        PermanentError(absl::StrCat(
            "event ", event.id(), " (", event.type(), "): ", misses.size(),
            misses.size() == 1 ? " value" : " values", " did not fit ",
            registration->type->full_name(), ", so ",
            Describe(registration->pattern, registration->type),
            " was not called; unset: ", absl::StrJoin(misses.begin(), misses.begin() + named, ", "),
            misses.size() > named ? ", ..." : "")));
  }
  return call(payload);
}

void Router::NoteUnmatched(const Delivery& delivery) const {
  const std::string& type = delivery.event().type();
  int64_t count = 0;
  bool counted_alone = false;
  {
    absl::MutexLock lock(&unmatched_->mu);
    auto it = unmatched_->by_type.find(type);
    if (it == unmatched_->by_type.end() && type.size() <= kMaxUnmatchedTypeBytes &&
        unmatched_->by_type.size() < kMaxUnmatchedTypes) {
      it = unmatched_->by_type.emplace(type, 0).first;
    }
    if (it != unmatched_->by_type.end()) {
      count = ++it->second;
      counted_alone = true;
    } else {
      count = ++unmatched_->other;
    }
  }
  // Every such delivery is answered RETRY, so a busy type would log a line per retry: the 1st,
  // 2nd, 4th, ... keep it to a few lines a type, and the count shows it goes on.
  if (!IsPowerOfTwo(count)) return;
  LogWarning(absl::StrCat(
      "sdk_no_handler type=", internal::SafeUtf8(type, kMaxUnmatchedTypeBytes),
      counted_alone ? "" : " (among other types, counted together)", " count=", count,
      " id=", delivery.event().id(), " subscription=", delivery.subscription(),
      " answered=RETRY reason=\"no registration matches the type in this instance: version "
      "skew in a rolling deploy, or a subscription widened by hand\" (logged at the 1st, 2nd, "
      "4th, ... of a type)"));
}

std::optional<Ack> Router::DispatchSerialized(absl::string_view bytes) const {
  Delivery delivery;
  if (delivery.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Dispatch(delivery);
  }
  std::optional<std::string> id = internal::DeliveryIdOf(bytes);
  if (!id.has_value()) return std::nullopt;
  return AckFromStatus(
      *id, PermanentError(absl::StrCat("the delivery (", bytes.size(),
                                       " bytes) does not decode as switchboard.v1.Delivery")));
}

}  // namespace switchboard::sdk
