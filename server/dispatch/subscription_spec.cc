#include "server/dispatch/subscription_spec.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/dispatch/event_proto.h"
#include "server/dispatch/retry_policy.h"

namespace switchboard::server::dispatch {
namespace {

constexpr size_t kMaxPatternLength = 255;
constexpr size_t kMaxAccountLength = 255;
constexpr size_t kMaxAddressLength = 255;

bool IsTypeChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

absl::Status Invalid(absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

// A Duration field: valid range and sign (proto3 leaves that to us).
absl::Status CheckDuration(absl::string_view field, const google::protobuf::Duration& d) {
  if (d.seconds() < 0 || d.nanos() < 0 || d.nanos() > 999999999 || d.seconds() > 315576000000LL) {
    return Invalid(field, "must be a non-negative duration");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateSubscriptionName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxSubscriptionNameLength) {
    return Invalid("name", "must be 1 to 64 characters of [a-z0-9_.-]");
  }
  for (char c : name) {
    if (!(absl::ascii_islower(static_cast<unsigned char>(c)) ||
          absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) {
      return Invalid("name", "must be 1 to 64 characters of [a-z0-9_.-]");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateMemberAddress(absl::string_view address) {
  if (address.empty() || address.size() > kMaxAddressLength) {
    return Invalid("member_address", "must be host:port");
  }
  absl::string_view host;
  absl::string_view port;
  if (address[0] == '[') {
    const size_t close = address.find(']');
    if (close == absl::string_view::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return Invalid("member_address", "must be host:port or [v6]:port");
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
    for (char c : host) {
      if (!(absl::ascii_isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.')) {
        return Invalid("member_address", "bad IPv6 host");
      }
    }
  } else {
    const size_t colon = address.rfind(':');
    if (colon == absl::string_view::npos) {
      return Invalid("member_address", "must be host:port");
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    for (char c : host) {
      if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ||
            c == '_')) {
        return Invalid("member_address", "bad host (use [v6]:port for IPv6)");
      }
    }
  }
  if (host.empty()) return Invalid("member_address", "host is empty");
  if (host == "0.0.0.0" || host == "::" || host == "0:0:0:0:0:0:0:0") {
    return Invalid("member_address",
                   "a wildcard host cannot be dialed: advertise an address the gateway can reach");
  }
  int port_number = 0;
  if (port.empty() ||
      !std::all_of(port.begin(), port.end(),
                   [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); }) ||
      !absl::SimpleAtoi(port, &port_number) || port_number < 1 || port_number > 65535) {
    return Invalid("member_address", "port must be 1..65535");
  }
  return absl::OkStatus();
}

absl::Status ValidateEventTypePattern(absl::string_view pattern) {
  if (pattern == "*") return absl::OkStatus();
  if (pattern.empty() || pattern.size() > kMaxPatternLength) {
    return Invalid("event_types", "a pattern must be 1 to 255 characters");
  }
  absl::string_view body = pattern;
  if (absl::EndsWith(body, ".*")) body.remove_suffix(2);
  if (body.empty() || body.front() == '.' || body.back() == '.' || absl::StrContains(body, "..") ||
      !std::all_of(body.begin(), body.end(), IsTypeChar)) {
    return Invalid(
        "event_types",
        absl::StrCat("\"", pattern, "\" is not an event type, a `prefix.*` pattern or `*`"));
  }
  return absl::OkStatus();
}

absl::StatusOr<switchboard::v1::Subscription> NormalizeSubscription(
    const switchboard::v1::Subscription& spec) {
  if (absl::Status s = ValidateSubscriptionName(spec.name()); !s.ok()) return s;
  switchboard::v1::Subscription out;
  out.set_name(spec.name());

  if (spec.event_types().empty()) return Invalid("event_types", "at least one is required");
  if (spec.event_types_size() > store::kMaxQueryTypes) {
    return Invalid("event_types", absl::StrCat("at most ", store::kMaxQueryTypes));
  }
  std::set<std::string> seen;
  for (const std::string& pattern : spec.event_types()) {
    if (absl::Status s = ValidateEventTypePattern(pattern); !s.ok()) return s;
    if (seen.insert(pattern).second) out.add_event_types(pattern);
  }

  if (spec.has_livemode()) out.set_livemode(spec.livemode());
  if (spec.accounts_size() > kMaxAccounts) {
    return Invalid("accounts", absl::StrCat("at most ", kMaxAccounts));
  }
  std::set<std::string> accounts;
  for (const std::string& account : spec.accounts()) {
    if (account.empty() || account.size() > kMaxAccountLength ||
        !std::all_of(account.begin(), account.end(),
                     [](char c) { return absl::ascii_isgraph(static_cast<unsigned char>(c)); })) {
      return Invalid("accounts", "each must be 1 to 255 printable characters");
    }
    if (accounts.insert(account).second) out.add_accounts(account);
  }

  if (spec.max_in_flight() < 0 || spec.max_in_flight() > kMaxMaxInFlight) {
    return Invalid("max_in_flight", absl::StrCat("must be 1..", kMaxMaxInFlight, " (0: default)"));
  }
  out.set_max_in_flight(spec.max_in_flight() == 0 ? kDefaultMaxInFlight : spec.max_in_flight());

  const switchboard::v1::RetryPolicy& rp = spec.retry_policy();
  if (absl::Status s = CheckDuration("retry_policy.initial_backoff", rp.initial_backoff());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckDuration("retry_policy.max_backoff", rp.max_backoff()); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckDuration("retry_policy.max_age", rp.max_age()); !s.ok()) return s;
  if (rp.max_attempts() < 0) return Invalid("retry_policy.max_attempts", "must be >= 0");
  const RetryPolicy policy = RetryPolicy::FromProto(rp);
  if (policy.initial_backoff > policy.max_backoff) {
    return Invalid("retry_policy", "initial_backoff must not exceed max_backoff");
  }
  *out.mutable_retry_policy()->mutable_initial_backoff() = ToProtoDuration(policy.initial_backoff);
  *out.mutable_retry_policy()->mutable_max_backoff() = ToProtoDuration(policy.max_backoff);
  *out.mutable_retry_policy()->mutable_max_age() = ToProtoDuration(policy.max_age);
  out.mutable_retry_policy()->set_max_attempts(policy.max_attempts);

  if (!switchboard::v1::Subscription::Ordering_IsValid(spec.ordering())) {
    return Invalid("ordering", "unknown value");
  }
  out.set_ordering(spec.ordering());

  if (absl::Status s = CheckDuration("delivery_timeout", spec.delivery_timeout()); !s.ok()) {
    return s;
  }
  absl::Duration timeout = FromProtoDuration(spec.delivery_timeout());
  if (timeout == absl::ZeroDuration()) timeout = kDefaultDeliveryTimeout;
  if (timeout < absl::Milliseconds(1) || timeout > kMaxDeliveryTimeout) {
    return Invalid("delivery_timeout", "must be 1 ms to 1 h (0: default 30 s)");
  }
  *out.mutable_delivery_timeout() = ToProtoDuration(timeout);
  return out;
}

absl::Status ValidateStartPosition(const switchboard::v1::StartPosition& start) {
  if (start.has_time()) {
    const google::protobuf::Timestamp& t = start.time();
    // google.protobuf.Timestamp's range: 0001-01-01 .. 9999-12-31.
    if (t.seconds() < -62135596800LL || t.seconds() > 253402300799LL || t.nanos() < 0 ||
        t.nanos() > 999999999) {
      return Invalid("start.time", "out of range");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckSameSpec(const switchboard::v1::Subscription& request,
                           const switchboard::v1::Subscription& existing, EventTypesUpdate types) {
  auto differs = [&](absl::string_view field) {
    return absl::FailedPreconditionError(absl::StrCat(
        "subscription \"", existing.name(), "\" is static (from the config file): ", field,
        " differs from the config; change it there"));
  };
  if (!request.event_types().empty()) {
    const std::set<std::string> a(request.event_types().begin(), request.event_types().end());
    const std::set<std::string> b(existing.event_types().begin(), existing.event_types().end());
    if (types == EventTypesUpdate::kAdd) {
      for (const std::string& t : a) {
        if (b.count(t) == 0) {
          return absl::FailedPreconditionError(
              absl::StrCat("subscription \"", existing.name(),
                           "\" is static (from the config file): event type \"", t,
                           "\" is not among the config's; add it there"));
        }
      }
    } else if (a != b) {
      return differs("event_types");
    }
  }
  if (request.has_livemode() &&
      (!existing.has_livemode() || existing.livemode() != request.livemode())) {
    return differs("livemode");
  }
  if (!request.accounts().empty()) {
    const std::set<std::string> a(request.accounts().begin(), request.accounts().end());
    const std::set<std::string> b(existing.accounts().begin(), existing.accounts().end());
    if (a != b) return differs("accounts");
  }
  if (request.max_in_flight() != 0 && request.max_in_flight() != existing.max_in_flight()) {
    return differs("max_in_flight");
  }
  if (request.ordering() != switchboard::v1::Subscription::ORDERING_UNSPECIFIED &&
      request.ordering() != existing.ordering()) {
    return differs("ordering");
  }
  auto duration_differs = [](const google::protobuf::Duration& req,
                             const google::protobuf::Duration& have) {
    return (req.seconds() != 0 || req.nanos() != 0) &&
           FromProtoDuration(req) != FromProtoDuration(have);
  };
  if (duration_differs(request.delivery_timeout(), existing.delivery_timeout())) {
    return differs("delivery_timeout");
  }
  const auto& rq = request.retry_policy();
  const auto& ex = existing.retry_policy();
  if (duration_differs(rq.initial_backoff(), ex.initial_backoff()) ||
      duration_differs(rq.max_backoff(), ex.max_backoff()) ||
      duration_differs(rq.max_age(), ex.max_age()) ||
      (rq.max_attempts() != 0 && rq.max_attempts() != ex.max_attempts())) {
    return differs("retry_policy");
  }
  return absl::OkStatus();
}

absl::StatusOr<switchboard::v1::Subscription> AddEventTypes(
    const switchboard::v1::Subscription& request, const switchboard::v1::Subscription& existing) {
  // The request's own types are checked first, so an error names them rather than the union.
  switchboard::v1::Subscription types_only;
  types_only.set_name(request.name());
  *types_only.mutable_event_types() = request.event_types();
  if (absl::StatusOr<switchboard::v1::Subscription> checked = NormalizeSubscription(types_only);
      !checked.ok()) {
    return checked.status();
  }
  switchboard::v1::Subscription out = request;
  out.clear_event_types();
  std::set<std::string> seen;
  for (const auto* types : {&existing.event_types(), &request.event_types()}) {
    for (const std::string& pattern : *types) {
      if (seen.insert(pattern).second) out.add_event_types(pattern);
    }
  }
  if (out.event_types_size() > store::kMaxQueryTypes) {
    return Invalid(
        "event_types",
        absl::StrCat("adding them to the subscription's ", existing.event_types_size(),
                     " would make ", out.event_types_size(), " patterns, at most ",
                     store::kMaxQueryTypes, " (an update without add_event_types replaces them)"));
  }
  return out;
}

bool MatchesEvent(const switchboard::v1::Subscription& spec, const store::EventRecord& event) {
  if (spec.has_livemode() && spec.livemode() != event.livemode) return false;
  if (!spec.accounts().empty() && std::find(spec.accounts().begin(), spec.accounts().end(),
                                            event.account) == spec.accounts().end()) {
    return false;
  }
  for (const std::string& pattern : spec.event_types()) {
    if (store::TypeMatches(pattern, event.type)) return true;
  }
  return false;
}

}  // namespace switchboard::server::dispatch
