#include "tools/ctl/ctl_lib.h"

#include <algorithm>
#include <cstdint>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/time_util.h"

namespace switchboard::tools::ctl {

const char kUsage[] = R"(administers a Switchboard gateway over gRPC.

Usage: ctl [--gateway=HOST:PORT] [--tls] [--ca_file=F] [--cert_file=F --key_file=F] COMMAND ...

  subs list                              subscriptions, members, backlog and counters
  subs create NAME --types=T,... [--member=HOST:PORT] [--start=now|beginning|TIME]
                                         [--max_in_flight=N]
  subs delete NAME [--member=HOST:PORT]  the whole subscription, or one member of it
  events list [--types=T,...] [--after=TIME] [--before=TIME] [--limit=N]
  events show ID [--proto]               the stored event (raw JSON, or --proto)
  replay SUB --ids=evt_1,...             deliver these stored events to SUB again
  replay SUB [--types=T,...] [--after=TIME] [--before=TIME]    (at least one of the three)
                                         ... or the stored events matching the filter (only
                                         those SUB matches; without --types, SUB's own types)
  dead list SUB [--limit=N]              dead letters of SUB
  dead redrive SUB [--ids=evt_1,...]     back to delivery (all of SUB's when no --ids)
  dead discard SUB --ids=evt_1,...       removed for good, never delivered
  dead discard SUB --all                 ... every dead letter of SUB
  stats                                  gateway counters

Types are exact (payment_intent.succeeded), prefixes (payment_intent.*) or *. TIME is RFC 3339
(2024-06-01T00:00:00Z) and applies to the event's `created`; ranges are [after, before).
Text from events and handlers (ids, types, LAST_ERROR) is shown with control characters escaped
as in JSON: \n \r \t, others \u00hh (C0, DEL, C1); \ as \\; a byte that is not UTF-8 as \xhh.
The gateway is --gateway, else SWITCHBOARD_GATEWAY, else 127.0.0.1:50051 (as for handlers).
A gateway that requires a token gets the first of SWITCHBOARD_GATEWAY_TOKEN (comma-separated).
Under `bazel run`, relative paths are taken from the directory the command was typed in.
Exit status: 0 ok, 1 the call failed, 2 usage error.)";

namespace {

using ::google::protobuf::Timestamp;
using ::google::protobuf::util::TimeUtil;
namespace v1 = ::switchboard::v1;

// Returns the length of the well-formed UTF-8 sequence at the start of `s` (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF), 0 if there is none.
size_t Utf8SequenceLength(absl::string_view s) {
  const auto at = [&](size_t i) -> unsigned {
    return i < s.size() ? static_cast<unsigned char>(s[i]) : 0;
  };
  const auto cont = [&](size_t i) { return (at(i) & 0xc0) == 0x80; };
  const unsigned c = at(0), c1 = at(1);
  if (c < 0x80) return s.empty() ? 0 : 1;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const bool first = c == 0xe0   ? c1 >= 0xa0 && c1 <= 0xbf
                       : c == 0xed ? c1 >= 0x80 && c1 <= 0x9f
                                   : cont(1);
    return first && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const bool first = c == 0xf0   ? c1 >= 0x90 && c1 <= 0xbf
                       : c == 0xf4 ? c1 >= 0x80 && c1 <= 0x8f
                                   : cont(1);
    return first && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

// Returns `text` fit to print on a terminal. Much of what ctl shows comes from outside: event ids
// and types from Stripe's bodies, LAST_ERROR from a handler's Ack or exception text. A newline in
// it could forge table rows, an ESC or a C1 control could drive the terminal. So control
// characters (C0, DEL, C1) are escaped as in JSON (\n \r \t, the others \u00hh), '\' as \\ so
// that the escapes stay unambiguous, and a byte that is not part of valid UTF-8 as \xhh.
// Everything else, other scripts included, is kept.
std::string Printable(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = text[i];
    size_t n = 1;
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c < 0x20 || c == 0x7f) {
      absl::StrAppend(&out, "\\u00", absl::Hex(c, absl::kZeroPad2));
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else if ((n = Utf8SequenceLength(text.substr(i))) == 0) {
      absl::StrAppend(&out, "\\x", absl::Hex(c, absl::kZeroPad2));
      n = 1;
    } else if (c == 0xc2 && static_cast<unsigned char>(text[i + 1]) <= 0x9f) {
      // U+0080..U+009F: the C1 controls (CSI is U+009B).
      absl::StrAppend(&out, "\\u00", absl::Hex(text[i + 1] & 0xff, absl::kZeroPad2));
    } else {
      out.append(text.data() + i, n);
    }
    i += n;
  }
  return out;
}

// Left-aligned columns separated by two spaces. Every cell goes through Printable.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void Add(std::vector<std::string> row) {
    for (std::string& cell : row) cell = Printable(cell);
    rows_.push_back(std::move(row));
  }
  void Print(std::ostream& out) const {
    std::vector<size_t> width;
    for (const auto& row : rows_) {
      width.resize(std::max(width.size(), row.size()));
      for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
    }
    for (const auto& row : rows_) {
      std::string line;
      for (size_t i = 0; i < row.size(); ++i) {
        absl::StrAppend(&line, row[i]);
        if (i + 1 < row.size()) line.append(width[i] - row[i].size() + 2, ' ');
      }
      out << line << "\n";
    }
  }
  size_t size() const { return rows_.size() - 1; }

 private:
  std::vector<std::vector<std::string>> rows_;
};

std::string Time(const Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(t.seconds()),
                          absl::UTCTimeZone());
}

// Parses --after/--before/--start into `*out` (left untouched when `text` is empty). Returns
// false and sets `error` when it does not parse.
bool ParseTime(const std::string& text, const char* flag, Timestamp* out, std::string* error) {
  if (text.empty()) return true;
  absl::Time t;
  std::string why;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &why)) {
    *error = absl::StrCat("--", flag, "=", text, ": not an RFC 3339 time (", why, ")");
    return false;
  }
  *out = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
  return true;
}

// Sets the half-open [after, before) range on a request with created_after/created_before.
template <typename Request>
bool SetRange(const CtlOptions& o, Request* request, std::string* error) {
  Timestamp after, before;
  if (!ParseTime(o.after, "after", &after, error) ||
      !ParseTime(o.before, "before", &before, error)) {
    return false;
  }
  if (!o.after.empty()) *request->mutable_created_after() = after;
  if (!o.before.empty()) *request->mutable_created_before() = before;
  return true;
}

class Runner {
 public:
  Runner(const CtlOptions& options, v1::Gateway::StubInterface& gateway, std::ostream& out,
         std::ostream& err)
      : o_(options), gateway_(gateway), out_(out), err_(err) {}

  int Run(const std::vector<std::string>& args) {
    if (args.empty()) return Usage("no command");
    // A --limit of 0 would fetch nothing and then report an empty list; a negative
    // --max_in_flight would quietly become the default; a --timeout of 0 fails every call.
    if (o_.limit < 1) return Usage(absl::StrCat("--limit=", o_.limit, ": must be at least 1"));
    if (o_.max_in_flight < 0) {
      return Usage(absl::StrCat("--max_in_flight=", o_.max_in_flight,
                                ": must be at least 1 (or 0 for the gateway's default)"));
    }
    if (o_.timeout <= absl::ZeroDuration()) {
      return Usage(
          absl::StrCat("--timeout=", absl::FormatDuration(o_.timeout), ": must be positive"));
    }
    const std::string& cmd = args[0];
    const std::string sub = args.size() > 1 ? args[1] : "";
    if (cmd == "subs" && sub == "list" && args.size() == 2) return SubsList();
    if (cmd == "subs" && sub == "create" && args.size() == 3) return SubsCreate(args[2]);
    if (cmd == "subs" && sub == "delete" && args.size() == 3) return SubsDelete(args[2]);
    if (cmd == "events" && sub == "list" && args.size() == 2) return EventsList();
    if (cmd == "events" && sub == "show" && args.size() == 3) return EventsShow(args[2]);
    if (cmd == "replay" && args.size() == 2) return Replay(args[1]);
    if (cmd == "dead" && sub == "list" && args.size() == 3) return DeadList(args[2]);
    if (cmd == "dead" && sub == "redrive" && args.size() == 3) return DeadRedrive(args[2]);
    if (cmd == "dead" && sub == "discard" && args.size() == 3) return DeadDiscard(args[2]);
    if (cmd == "stats" && args.size() == 1) return Stats();
    return Usage(absl::StrCat("unknown command \"", absl::StrJoin(args, " "), "\""));
  }

 private:
  int Usage(absl::string_view message) {
    err_ << "ctl: " << message << " (see --help)\n";
    return 2;
  }

  // Calls `rpc` with a fresh context carrying the timeout; on failure prints the error.
  template <typename Request, typename Response>
  bool Call(const char* name,
            grpc::Status (v1::Gateway::StubInterface::*rpc)(grpc::ClientContext*, const Request&,
                                                            Response*),
            const Request& request, Response* response) {
    grpc::ClientContext context;
    sdk::AuthorizeCall(o_.gateway, &context);
    context.set_deadline(absl::ToChronoTime(absl::Now() + o_.timeout));
    const grpc::Status status = (gateway_.*rpc)(&context, request, response);
    if (status.ok()) return true;
    err_ << "ctl: " << name << " failed: " << CodeName(status.error_code()) << ": "
         << Printable(status.error_message()) << "\n";
    return false;
  }

  // The code's name, with a hint where ctl has one. Never includes the token.
  const char* CodeName(grpc::StatusCode code) const {
    switch (code) {
      case grpc::StatusCode::NOT_FOUND:
        return "NOT_FOUND";
      case grpc::StatusCode::INVALID_ARGUMENT:
        return "INVALID_ARGUMENT";
      case grpc::StatusCode::UNAVAILABLE:
        return "UNAVAILABLE (is the gateway running? see --gateway)";
      case grpc::StatusCode::DEADLINE_EXCEEDED:
        return "DEADLINE_EXCEEDED";
      case grpc::StatusCode::FAILED_PRECONDITION:
        return "FAILED_PRECONDITION";
      case grpc::StatusCode::UNIMPLEMENTED:
        return "UNIMPLEMENTED (this gateway does not offer it)";
      case grpc::StatusCode::ALREADY_EXISTS:
        return "ALREADY_EXISTS";
      case grpc::StatusCode::UNAUTHENTICATED:
        return o_.gateway.token.empty()
                   ? "UNAUTHENTICATED (set SWITCHBOARD_GATEWAY_TOKEN)"
                   : "UNAUTHENTICATED (the gateway refused the token in SWITCHBOARD_GATEWAY_TOKEN)";
      case grpc::StatusCode::PERMISSION_DENIED:
        return "PERMISSION_DENIED";
      default:
        return "ERROR";
    }
  }

  int SubsList() {
    v1::ListSubscriptionsResponse response;
    if (!Call("ListSubscriptions", &v1::Gateway::StubInterface::ListSubscriptions,
              v1::ListSubscriptionsRequest(), &response)) {
      return 1;
    }
    Table table(
        {"NAME", "TYPES", "MEMBERS", "BACKLOG", "IN_FLIGHT", "DELIVERED", "RETRIES", "DEAD"});
    for (const v1::Subscription& s : response.subscriptions()) {
      std::vector<std::string> members;
      for (const v1::Member& m : s.members()) {
        members.push_back(absl::StrCat(m.address(), m.connected() ? " (up)" : " (down)"));
      }
      table.Add({absl::StrCat(s.name(), s.static_() ? " (static)" : ""),
                 absl::StrJoin(s.event_types(), ","),
                 members.empty() ? "-" : absl::StrJoin(members, ","),
                 absl::StrCat(s.stats().backlog()), absl::StrCat(s.stats().in_flight()),
                 absl::StrCat(s.stats().delivered()), absl::StrCat(s.stats().retries()),
                 absl::StrCat(s.stats().dead_letters())});
    }
    if (table.size() == 0) {
      out_ << "no subscriptions\n";
      return 0;
    }
    table.Print(out_);
    return 0;
  }

  int SubsCreate(const std::string& name) {
    if (o_.types.empty()) return Usage("subs create needs --types");
    v1::SubscribeRequest request;
    v1::Subscription* s = request.mutable_subscription();
    s->set_name(name);
    for (const std::string& t : o_.types) s->add_event_types(t);
    if (o_.max_in_flight > 0) s->set_max_in_flight(o_.max_in_flight);
    if (o_.start == "now") {
      s->mutable_start()->set_now(true);
    } else if (o_.start == "beginning") {
      s->mutable_start()->set_beginning(true);
    } else {
      std::string error;
      if (!ParseTime(o_.start, "start", s->mutable_start()->mutable_time(), &error)) {
        return Usage(error);
      }
    }
    request.set_member_address(o_.member);
    v1::Subscription response;
    if (!Call("Subscribe", &v1::Gateway::StubInterface::Subscribe, request, &response)) return 1;
    out_ << "subscription " << Printable(response.name()) << ": types "
         << Printable(absl::StrJoin(response.event_types(), ",")) << ", " << response.members_size()
         << " member(s)\n";
    return 0;
  }

  int SubsDelete(const std::string& name) {
    v1::UnsubscribeRequest request;
    request.set_name(name);
    request.set_member_address(o_.member);
    v1::UnsubscribeResponse response;
    if (!Call("Unsubscribe", &v1::Gateway::StubInterface::Unsubscribe, request, &response)) {
      return 1;
    }
    if (o_.member.empty()) {
      out_ << "deleted subscription " << name << "\n";
    } else {
      out_ << "removed member " << o_.member << " from subscription " << name << "\n";
    }
    return 0;
  }

  int EventsList() {
    v1::ListEventsRequest request;
    for (const std::string& t : o_.types) request.add_types(t);
    std::string error;
    if (!SetRange(o_, &request, &error)) return Usage(error);
    request.set_omit_raw_json(true);
    Table table({"ID", "TYPE", "CREATED", "RECEIVED", "SEQ", "LIVE"});
    bool more = false;
    do {
      request.set_page_size(std::min(1000, std::max(1, o_.limit - static_cast<int>(table.size()))));
      v1::ListEventsResponse response;
      if (!Call("ListEvents", &v1::Gateway::StubInterface::ListEvents, request, &response)) {
        return 1;
      }
      for (const v1::Event& e : response.events()) {
        if (static_cast<int>(table.size()) >= o_.limit) {
          more = true;
          break;
        }
        table.Add({e.id(), e.type(), Time(e.created()), Time(e.received_at()),
                   absl::StrCat(e.sequence()), e.livemode() ? "live" : "test"});
      }
      request.set_page_token(response.next_page_token());
      if (!response.next_page_token().empty() && static_cast<int>(table.size()) >= o_.limit) {
        more = true;
      }
    } while (!more && !request.page_token().empty());
    if (table.size() == 0) {
      out_ << "no events\n";
      return 0;
    }
    table.Print(out_);
    if (more) out_ << "(first " << o_.limit << " shown; raise --limit for more)\n";
    return 0;
  }

  int EventsShow(const std::string& id) {
    v1::GetEventRequest request;
    request.set_id(id);
    v1::Event event;
    if (!Call("GetEvent", &v1::Gateway::StubInterface::GetEvent, request, &event)) return 1;
    if (o_.proto) {
      event.clear_raw_json();
      std::string text;
      google::protobuf::TextFormat::PrintToString(event, &text);
      out_ << text;
      return 0;
    }
    // The envelope is outside data like a table cell. The raw JSON below stays byte for byte:
    // the gateway stores only JSON that parses, which has no raw C0 control but whitespace
    // (a C1 or DEL inside a string would pass, as it does through `cat` or `jq`).
    out_ << "id:        " << Printable(event.id()) << "\n"
         << "type:      " << Printable(event.type()) << "\n"
         << "created:   " << Time(event.created()) << "\n"
         << "received:  " << Time(event.received_at()) << " on " << Printable(event.endpoint())
         << "\n"
         << "sequence:  " << event.sequence() << "\n"
         << "livemode:  " << (event.livemode() ? "true" : "false") << "\n";
    if (event.has_account()) out_ << "account:   " << Printable(event.account()) << "\n";
    if (!event.data().object_kind().empty()) {
      out_ << "object:    " << Printable(event.data().object_kind()) << " "
           << Printable(event.data().object_id()) << "\n";
    }
    out_ << "\n" << event.raw_json();
    if (!event.raw_json().empty() && event.raw_json().back() != '\n') out_ << "\n";
    return 0;
  }

  int Replay(const std::string& subscription) {
    v1::ReplayRequest request;
    request.set_subscription(subscription);
    for (const std::string& id : o_.ids) request.add_event_ids(id);
    for (const std::string& t : o_.types) request.add_types(t);
    std::string error;
    if (!SetRange(o_, &request, &error)) return Usage(error);
    const bool filter = !o_.types.empty() || !o_.after.empty() || !o_.before.empty();
    if (!o_.ids.empty() && filter) {
      return Usage("replay takes either --ids or a filter (--types/--after/--before), not both");
    }
    if (o_.ids.empty() && !filter) {
      // The gateway refuses this too: an unfiltered replay must be asked for.
      return Usage(
          "replay needs --ids, or a filter: --types, --after and/or --before (without --types, "
          "the subscription's own types; --types='*' for every stored event it matches)");
    }
    v1::ReplayResponse response;
    if (!Call("Replay", &v1::Gateway::StubInterface::Replay, request, &response)) return 1;
    out_ << "scheduled " << response.scheduled() << " event(s) for " << subscription << "\n";
    return 0;
  }

  int DeadList(const std::string& subscription) {
    v1::ListDeadLettersRequest request;
    request.set_subscription(subscription);
    Table table({"EVENT", "TYPE", "ATTEMPTS", "DEAD_AT", "LAST_ERROR"});
    bool more = false;
    do {
      request.set_page_size(std::min(1000, std::max(1, o_.limit - static_cast<int>(table.size()))));
      v1::ListDeadLettersResponse response;
      if (!Call("ListDeadLetters", &v1::Gateway::StubInterface::ListDeadLetters, request,
                &response)) {
        return 1;
      }
      for (const v1::DeadLetter& d : response.dead_letters()) {
        if (static_cast<int>(table.size()) >= o_.limit) {
          more = true;
          break;
        }
        table.Add({d.event_id(), d.event_type(), absl::StrCat(d.attempts()), Time(d.dead_at()),
                   d.last_error()});
      }
      request.set_page_token(response.next_page_token());
      if (!response.next_page_token().empty() && static_cast<int>(table.size()) >= o_.limit) {
        more = true;
      }
    } while (!more && !request.page_token().empty());
    if (table.size() == 0) {
      out_ << "no dead letters for " << subscription << "\n";
      return 0;
    }
    table.Print(out_);
    if (more) out_ << "(first " << o_.limit << " shown; raise --limit for more)\n";
    return 0;
  }

  int DeadRedrive(const std::string& subscription) {
    v1::RedriveRequest request;
    request.set_subscription(subscription);
    for (const std::string& id : o_.ids) request.add_event_ids(id);
    v1::RedriveResponse response;
    if (!Call("Redrive", &v1::Gateway::StubInterface::Redrive, request, &response)) return 1;
    out_ << "redriven " << response.redriven() << " dead letter(s) of " << subscription << "\n";
    return 0;
  }

  int DeadDiscard(const std::string& subscription) {
    // It cannot be undone: "everything" must be said, not implied by a forgotten flag.
    if (o_.ids.empty() != o_.all) {
      return Usage("dead discard needs either --ids or --all");
    }
    v1::DiscardDeadLettersRequest request;
    request.set_subscription(subscription);
    for (const std::string& id : o_.ids) request.add_event_ids(id);
    v1::DiscardDeadLettersResponse response;
    if (!Call("DiscardDeadLetters", &v1::Gateway::StubInterface::DiscardDeadLetters, request,
              &response)) {
      return 1;
    }
    out_ << "discarded " << response.discarded() << " dead letter(s) of " << subscription << "\n";
    return 0;
  }

  int Stats() {
    v1::Stats stats;
    if (!Call("GetStats", &v1::Gateway::StubInterface::GetStats, v1::GetStatsRequest(), &stats)) {
      return 1;
    }
    out_ << "events stored:   " << stats.events_stored() << "\n"
         << "oldest received: " << Time(stats.oldest_received_at()) << "\n"
         << "newest received: " << Time(stats.newest_received_at()) << "\n"
         << "started:         " << Time(stats.started_at()) << "\n";
    // Outcomes that never happened are left out.
    std::map<std::string, int64_t> seen;
    for (const auto& [outcome, count] : stats.requests()) {
      if (count != 0) seen[outcome] = count;
    }
    if (!seen.empty()) {
      out_ << "webhook requests since start:\n";
      Table table({"  OUTCOME", "COUNT"});
      for (const auto& [outcome, count] : seen) {
        table.Add({absl::StrCat("  ", outcome), absl::StrCat(count)});
      }
      table.Print(out_);
    }
    return 0;
  }

  const CtlOptions& o_;
  v1::Gateway::StubInterface& gateway_;
  std::ostream& out_;
  std::ostream& err_;
};

}  // namespace

int RunCtl(const std::vector<std::string>& args, const CtlOptions& options,
           v1::Gateway::StubInterface& gateway, std::ostream& out, std::ostream& err) {
  return Runner(options, gateway, out, err).Run(args);
}

}  // namespace switchboard::tools::ctl
