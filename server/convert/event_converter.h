// EventConverter: the body of a verified Stripe webhook request -> switchboard.v1.Event.
//
// Step 3 of an event's journey (DESIGN.md §1): after the signature is checked, the raw body is
// parsed once with RapidJSON under the untrusted-input rules and becomes an Event: the envelope
// fields, `data.object` as a typed stripe.v1 message (when its kind has one) and, always, as a
// google.protobuf.Struct, `data.previous_attributes` as a Struct (snapshot events),
// `related_object` and `reason` (thin v2 notifications, `object: "v2.core.event"`), the
// envelope keys that were null or unknown, and the raw bytes. The caller sets `received_at`,
// `endpoint` and `sequence`; Convert never touches them.
//
// Typed object: `data.object.object` (its kind, not the event type) picks the arm of
// EventData's `oneof object` (`charge.dispute.created` carries a Dispute); a kind without a
// message leaves the oneof unset. The walk is driven by descriptors (typed_walker.h; rules in
// docs/MAPPING.md): expandable references fill `<key>_id` or `<key>_object`, null leaves a
// field unset, unknown keys are ignored, enum values are strings. A value that does not fit its
// typed field (`"amount": "12"`, `"amount": 2^70`, an object where a string belongs) leaves that
// field unset and adds its path to `data.typed_misses`; it never rejects the event, and the
// Struct and raw bytes still have it.
//
// Example:
//   EventConverter converter;  // Once, shared by all request threads.
//   switchboard::v1::Event* event =
//       google::protobuf::Arena::CreateMessage<switchboard::v1::Event>(&arena);
//   absl::Status status = converter.Convert(request.body, event);
//   if (!status.ok()) return Reply(400, status.message());  // Safe to show the sender.
//
// Thread-safety: Convert is const and keeps no state between calls; any number of threads may
// call it on one EventConverter at once.
//
// Errors: InvalidArgument, with a short message that names the problem, the envelope field or
// the byte offset, and never quotes the body, when the body is
//   - not one valid JSON value (RapidJSON's error and offset), has bytes after it (a NUL byte
//     included), starts with a UTF-8 byte order mark, or is 4 GiB or larger (RapidJSON's limit;
//     capping the body size is the caller's job);
//   - not valid UTF-8, or contains an escaped lone surrogate (`\udc00`, `\ud800` without a low
//     surrogate after it), in any string or key;
//   - nested deeper than Options::max_depth (the whole document; the top-level object is 1);
//   - not an object, or not an Event: `object` is not "event" or "v2.core.event"; `id` or `type`
//     is missing, not a string, empty, longer than 255 bytes or contains an ASCII control
//     character (NUL included: these are keys in the store, filters and logs); `created` is
//     missing or invalid (snapshot: an integer, no fraction or exponent, within
//     google.protobuf.Timestamp's range; thin: an RFC 3339 string, fraction allowed, within that
//     range); a snapshot event's `data` is not an object or `data.object` is not an object.
// Nothing else rejects an event: the raw bytes are the source of truth.
//
// Decisions on the edge cases:
//   - Optional, informational envelope fields with the wrong JSON type (`livemode: "yes"`,
//     `pending_webhooks: 1.5` or `2^70`, `api_version: 5`, `request: 7`, `account: {}`) are left
//     unset and the event is kept. They are not copied to `unknown_fields` (their keys are known);
//     raw_json has them.
//   - `null` in the envelope: the field stays unset and its key is listed in `null_fields`. Every
//     top-level key whose value is null is listed, unknown keys included, in document order.
//   - `request`: an object fills `request.id`/`idempotency_key` (each unset when null); a plain
//     string (older API versions) becomes `request.id`; null leaves `request` unset.
//   - Which keys are known depends on the kind: snapshot events know id, object, type, created,
//     livemode, api_version, account, context, pending_webhooks, request, data; thin events know
//     id, object, type, created, livemode, context, reason, related_object. Any other top-level
//     key goes to `unknown_fields` as it came. Keys inside `data` other than `object` and
//     `previous_attributes` are kept only in raw_json.
//   - `data.previous_attributes` is set only when it is an object (null, absent or another type
//     leave it unset). `data.object_kind` / `data.object_id` are `data.object.object` / `.id`
//     when those are strings.
//   - Duplicate keys, anywhere: the last occurrence wins (like JSON.parse), and it replaces the
//     earlier value; nested objects are not merged.
//   - Numbers in Structs are doubles (protobuf's JSON mapping): integers above 2^53 are rounded,
//     numbers beyond the double range (`1e400`) become ±infinity, below it 0. Such an event is
//     kept; raw_json holds the exact text.
//   - NUL bytes (`\u0000`) are valid JSON and are kept byte for byte in every string and Struct
//     key (protobuf strings and map keys hold them); only `id` and `type` refuse them (above).
//
// Performance: one in-situ RapidJSON parse into an inline memory pool (no heap for the DOM of a
// typical event), then one walk; see convert_benchmark.cc. Give Convert an arena-allocated
// Event to make the Struct allocations cheap.
#ifndef SWITCHBOARD_SERVER_CONVERT_EVENT_CONVERTER_H_
#define SWITCHBOARD_SERVER_CONVERT_EVENT_CONVERTER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "protos/switchboard/v1/event.pb.h"

namespace switchboard::server::convert {

// The envelope of an event, as the store indexes it (see EventConverter::Inspect).
struct EventEnvelope {
  std::string id;
  std::string type;
  // `data.object.id` (snapshot) or `related_object.id` (thin) when a string; else empty.
  std::string object_id;
  absl::Time created;
  bool livemode = false;  // false unless `livemode` is the JSON literal true
  // `account` (snapshot events, when a string), else `context` (when a string), else empty.
  std::string account;
};

class EventConverter {
 public:
  struct Options {
    // Maximum JSON nesting of the whole body, the top-level object counting as 1. Snapshot
    // events need at least 3 (`data.object`). protobuf refuses to parse messages nested deeper
    // than 100 and each JSON object level costs 3 in a Struct: at 32 the deepest value (in
    // unknown_fields) is 96 levels inside an Event, leaving room for the messages that carry
    // an Event (Delivery, ...). So 32 is also the maximum.
    int max_depth = 32;
    // Fill EventData's typed `oneof object` and `typed_misses` (see "Typed object" above).
    // Off leaves them empty and saves the walk: for measurements, or a consumer that reads
    // only the Struct and the raw bytes.
    bool fill_typed = true;
  };

  // The valid range of Options::max_depth.
  static constexpr int kMinDepth = 3;
  static constexpr int kMaxDepth = 32;

  EventConverter();
  // REQUIRES: kMinDepth <= options.max_depth <= kMaxDepth (checked: aborts with a message).
  explicit EventConverter(const Options& options);

  // Converts `raw_body` (a verified webhook request body) into `*out`.
  // Returns OK and sets every field of `*out` except received_at, endpoint and sequence, which
  // it leaves as they were; fields it owns and the body lacks are cleared. On error returns
  // InvalidArgument (see the file comment) and leaves `*out` unchanged.
  // `out` may live on an arena; `raw_body` need not outlive the call.
  // REQUIRES: out != nullptr.
  absl::Status Convert(absl::string_view raw_body, switchboard::v1::Event* out) const;

  // Checks `raw_body` exactly as Convert does and reads only its envelope: the ingress stores
  // events after Inspect and leaves the Structs and the typed message to delivery (about a
  // third of Convert's cost; see convert_benchmark.cc). A body Inspect accepts, Convert
  // accepts, and the values agree with the Event (event_converter_test.cc checks both on
  // every body it converts). Returns OK and overwrites every field of `*out`; InvalidArgument as
  // Convert (then
  // `*out` is unspecified). REQUIRES: out != nullptr.
  absl::Status Inspect(absl::string_view raw_body, EventEnvelope* out) const;

  // As above, into a new heap-allocated Event.
  absl::StatusOr<switchboard::v1::Event> Convert(absl::string_view raw_body) const;

  const Options& options() const { return options_; }

 private:
  Options options_;
};

}  // namespace switchboard::server::convert

#endif  // SWITCHBOARD_SERVER_CONVERT_EVENT_CONVERTER_H_
