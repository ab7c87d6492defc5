// The trigger tool's logic: example events, signing, secret lookup and the POST.
//
// `bazel run //tools/trigger -- payment_intent.succeeded` is the command-line face (main.cc);
// everything it does is here so it can be tested without a terminal. Unlike `stripe trigger`,
// which creates real objects in a Stripe test account, this signs locally with the endpoint
// secret; both end as a signed POST of an Event to the webhook endpoint.
//
// Main pieces:
//   CheckInvocation                      whether the command line says what to send.
//   KnownEventTypes / BuildExampleEvent  built-in example events (the project's own templates),
//                                        each built with a fresh `evt_` id and `created`.
//   SignRequest                          body + Stripe-Signature header, signed at a given time.
//   ResolveSecret                        --secret_file, then STRIPE_WEBHOOK_SECRET, then the
//                                        gateway's local development secret file.
//   ParseUrl / PostWebhook               the HTTP side (cpp-httplib client).
//
// Example:
//   absl::BitGen gen;
//   const absl::Time now = absl::Now();
//   ASSIGN_OR_RETURN(std::string body,
//                    BuildExampleEvent("invoice.paid", NewEventId(gen), now, gen));
//   ASSIGN_OR_RETURN(Secret secret, ResolveSecret(sources));
//   ASSIGN_OR_RETURN(Url url, ParseUrl("http://127.0.0.1:4242/webhook"));
//   ASSIGN_OR_RETURN(HttpResponse r,
//                    PostWebhook(url, SignRequest(secret.value, body, now), absl::Seconds(10)));
//
// Thread-safety: all functions are thread-compatible (no shared state); a BitGenRef must not be
// used from two threads at once.
#ifndef SWITCHBOARD_TOOLS_TRIGGER_TRIGGER_LIB_H_
#define SWITCHBOARD_TOOLS_TRIGGER_TRIGGER_LIB_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/random/bit_gen_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace switchboard::tools::trigger {

// File name, inside the gateway's data dir, of the development secret the server generates
// (mode 0600, the secret followed by a newline) when it starts with no secret configured.
inline constexpr char kDevSecretFileName[] = "dev_webhook_secret";
inline constexpr char kSecretEnvVar[] = "STRIPE_WEBHOOK_SECRET";

// Event types that have a built-in example, sorted.
std::vector<std::string> KnownEventTypes();

// What the command line asks to send.
struct Invocation {
  std::vector<std::string> args;  // positional arguments, without the program name
  std::string file;               // --file; empty for none
  int count = 1;                  // --count
};

// Returns OK if `invocation` says what to send: exactly one event type that has a built-in example
// (see KnownEventTypes), each of the --count >= 1 sends a fresh event; or --file and no event
// type, with --count 1, since the file is sent byte for byte: every copy would carry the same id,
// which the gateway stores once while answering 200 to each. Returns kInvalidArgument, with a
// message for the user, for anything else (a usage error).
absl::Status CheckInvocation(const Invocation& invocation);

// Returns a fresh event id: "evt_" followed by 24 random characters of [0-9A-Za-z].
std::string NewEventId(absl::BitGenRef gen);

// Returns the example Event of `type` as JSON, with id `event_id`, `created` (and the objects'
// creation times) set to `created` in unix seconds, and fresh random ids for the objects it is
// about. Returns kNotFound if there is no example of `type` (see KnownEventTypes).
absl::StatusOr<std::string> BuildExampleEvent(absl::string_view type, absl::string_view event_id,
                                              absl::Time created, absl::BitGenRef gen);

struct SignedRequest {
  std::string body;
  std::string signature_header;  // value of the Stripe-Signature header: "t=...,v1=..."
};

// Signs `body` as Stripe would at `now` (floored to whole seconds) with `secret`.
SignedRequest SignRequest(absl::string_view secret, std::string body, absl::Time now);

// Where a secret may come from, in the order they are tried.
struct SecretSources {
  std::string secret_file;         // --secret_file; empty for none
  std::optional<std::string> env;  // the value of STRIPE_WEBHOOK_SECRET, if set
  std::string data_dir;            // holds kDevSecretFileName
};

struct Secret {
  std::string value;
  std::string source;  // for messages: "STRIPE_WEBHOOK_SECRET", or the file it was read from
};

// Returns the first available secret: from the file `secret_file`, else `env`, else the file
// `<data_dir>/dev_webhook_secret`. Each source is read like the gateway reads it (a list split on
// ',' and newlines, entries trimmed, empty ones skipped) and its first entry is the secret, so a
// rotation list signs with its first (newest) secret. An `env` with no entry counts as unset.
// Error messages name the source, never the secret.
// Returns kNotFound if `secret_file` is set but cannot be read, kInvalidArgument if a file holds
// no secret, kFailedPrecondition if no source has one (the message says how to provide one).
absl::StatusOr<Secret> ResolveSecret(const SecretSources& sources);

// Returns the default data dir: "<build_workspace_directory>/.switchboard" when the tool runs
// under `bazel run` (pass getenv("BUILD_WORKSPACE_DIRECTORY"), may be null), else "./.switchboard".
std::string DefaultDataDir(const char* build_workspace_directory);

struct Url {
  std::string scheme_host_port;  // "http://127.0.0.1:4242"
  std::string path;              // "/webhook" (with any query); "/" when the URL has none
};

// Splits an http:// or https:// URL. Returns kInvalidArgument for any other form.
absl::StatusOr<Url> ParseUrl(absl::string_view url);

struct HttpResponse {
  int status = 0;
  std::string body;
};

// POSTs the signed request (Content-Type: application/json, Stripe-Signature) to `url` and
// returns the response, whatever its status. Returns kUnavailable if no response was received
// (connection refused, timeout, TLS failure); `timeout` bounds connecting and each read/write.
absl::StatusOr<HttpResponse> PostWebhook(const Url& url, const SignedRequest& request,
                                         absl::Duration timeout);

}  // namespace switchboard::tools::trigger

#endif  // SWITCHBOARD_TOOLS_TRIGGER_TRIGGER_LIB_H_
