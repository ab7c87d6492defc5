#include "protos/stripe/v1/event_types.h"

#include <algorithm>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "protos/stripe/v1/resources.pb.h"

namespace stripe::v1 {
namespace {

struct EventTypeRow {
  const char* type;
  const char* object_kind;
};

struct KindRow {
  const char* kind;
  // A function, not a Descriptor*, so the table can be a constant; calling it also makes sure
  // the generated message is linked in and registered.
  const google::protobuf::Descriptor* (*descriptor)();
};

#include "protos/stripe/v1/event_types_data.inc"

using KindMap = absl::flat_hash_map<absl::string_view, const google::protobuf::Descriptor*>;

const KindMap& Kinds() {
  static const KindMap* const kinds = [] {
    auto* map = new KindMap();
    for (const KindRow& row : kKindRows) (*map)[row.kind] = row.descriptor();
    return map;
  }();
  return *kinds;
}

const std::vector<EventTypeInfo>& Table() {
  static const std::vector<EventTypeInfo>* const table = [] {
    auto* rows = new std::vector<EventTypeInfo>();
    rows->reserve(sizeof(kEventTypeRows) / sizeof(kEventTypeRows[0]));
    for (const EventTypeRow& row : kEventTypeRows) {
      EventTypeInfo info;
      info.type = row.type;
      info.object_kind = row.object_kind;
      info.possible_kinds = absl::StrSplit(info.object_kind, '|');
      if (info.possible_kinds.size() == 1) info.message = MessageForObjectKind(info.object_kind);
      rows->push_back(std::move(info));
    }
    // The generator sorts the rows; FindEventType's binary search depends on it.
    std::sort(rows->begin(), rows->end(),
              [](const EventTypeInfo& a, const EventTypeInfo& b) { return a.type < b.type; });
    return rows;
  }();
  return *table;
}

std::string MessageName(const google::protobuf::Descriptor* descriptor) {
  return descriptor == nullptr ? "no typed message" : descriptor->full_name();
}

// What `info` carries, for error messages: "stripe.v1.Dispute", "`application_fee` objects
// (no typed message)", "bank_account or card objects (stripe.v1.BankAccount, stripe.v1.Card)".
std::string Carried(const EventTypeInfo& info) {
  if (!info.polymorphic()) {
    if (info.message != nullptr) return info.message->full_name();
    return absl::StrCat("`", info.object_kind, "` objects (no typed message)");
  }
  std::vector<std::string> messages;
  for (absl::string_view kind : info.possible_kinds) {
    messages.push_back(MessageName(MessageForObjectKind(kind)));
  }
  return absl::StrCat(absl::StrJoin(info.possible_kinds, " or "), " objects (",
                      absl::StrJoin(messages, ", "), ")");
}

}  // namespace

const std::vector<EventTypeInfo>& AllEventTypes() { return Table(); }

const EventTypeInfo* FindEventType(absl::string_view type) {
  const std::vector<EventTypeInfo>& table = Table();
  auto it =
      std::lower_bound(table.begin(), table.end(), type,
                       [](const EventTypeInfo& e, absl::string_view t) { return e.type < t; });
  if (it == table.end() || it->type != type) return nullptr;
  return &*it;
}

std::vector<const EventTypeInfo*> MatchingEventTypes(absl::string_view pattern) {
  std::vector<const EventTypeInfo*> matches;
  const std::vector<EventTypeInfo>& table = Table();
  if (pattern == "*") {
    for (const EventTypeInfo& info : table) matches.push_back(&info);
    return matches;
  }
  if (absl::EndsWith(pattern, ".*")) {
    const absl::string_view prefix = pattern.substr(0, pattern.size() - 1);  // Keeps the dot.
    if (prefix.size() < 2 || absl::StrContains(prefix, '*')) return matches;
    auto it =
        std::lower_bound(table.begin(), table.end(), prefix,
                         [](const EventTypeInfo& e, absl::string_view p) { return e.type < p; });
    for (; it != table.end() && absl::StartsWith(it->type, prefix); ++it) matches.push_back(&*it);
    return matches;
  }
  if (absl::StrContains(pattern, '*')) return matches;
  if (const EventTypeInfo* info = FindEventType(pattern)) matches.push_back(info);
  return matches;
}

const google::protobuf::Descriptor* MessageForObjectKind(absl::string_view object_kind) {
  const KindMap& kinds = Kinds();
  auto it = kinds.find(object_kind);
  return it == kinds.end() ? nullptr : it->second;
}

absl::Status CheckTypedRegistration(absl::string_view pattern,
                                    const google::protobuf::Descriptor* descriptor) {
  if (descriptor == nullptr) {
    return absl::InvalidArgumentError("typed registration needs a message type");
  }
  const std::vector<const EventTypeInfo*> matches = MatchingEventTypes(pattern);
  if (matches.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", pattern, "\" matches no known Stripe event type, so a handler typed ",
                     descriptor->full_name(), " cannot be checked; register it untyped"));
  }
  for (const EventTypeInfo* info : matches) {
    bool fits = !info->possible_kinds.empty();
    for (absl::string_view kind : info->possible_kinds) {
      fits = fits && MessageForObjectKind(kind) == descriptor;
    }
    if (!fits) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", pattern, "\" matches ", info->type, ", which carries ", Carried(*info), ", not ",
          descriptor->full_name(), "; register a narrower pattern or an untyped handler"));
    }
  }
  return absl::OkStatus();
}

}  // namespace stripe::v1
