#include "server/ingress/webhook_handler.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/base/log.h"

namespace switchboard::server::ingress {
namespace {

constexpr char kRequestsMetric[] = "switchboard_webhook_requests_total";
constexpr char kRequestsHelp[] = "Webhook requests by endpoint and outcome.";

HttpResponse Ok(absl::string_view body) {
  HttpResponse response;
  response.status = 200;
  response.body = std::string(body);
  return response;
}

// Content-Type must be JSON when present: `application/json` with optional parameters.
bool IsJsonContentType(absl::string_view value) {
  absl::string_view media = value.substr(0, value.find(';'));
  media = absl::StripAsciiWhitespace(media);
  return absl::EqualsIgnoreCase(media, "application/json");
}

}  // namespace

absl::StatusOr<std::unique_ptr<WebhookHandler>> WebhookHandler::Create(Options options, Deps deps) {
  if (deps.store == nullptr || deps.converter == nullptr || deps.clock == nullptr ||
      deps.metrics == nullptr) {
    return absl::InvalidArgumentError(
        "WebhookHandler: store, converter, clock and metrics are required");
  }
  if (options.endpoints.empty()) {
    return absl::InvalidArgumentError("WebhookHandler: at least one endpoint is required");
  }
  if (options.max_body_bytes <= 0) {
    return absl::InvalidArgumentError("WebhookHandler: max_body_bytes must be positive");
  }
  absl::flat_hash_set<std::string> paths;
  for (const Endpoint& e : options.endpoints) {
    if (e.path.empty() || e.path[0] != '/' || IsHealthPath(e.path)) {
      return absl::InvalidArgumentError(
          absl::StrCat("WebhookHandler: invalid endpoint path \"", e.path, "\""));
    }
    if (!paths.insert(e.path).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("WebhookHandler: duplicate endpoint path \"", e.path, "\""));
    }
    if (e.verifier == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("WebhookHandler: endpoint \"", e.path, "\" has no secrets"));
    }
  }
  return std::unique_ptr<WebhookHandler>(new WebhookHandler(std::move(options), std::move(deps)));
}

WebhookHandler::WebhookHandler(Options options, Deps deps)
    : options_(std::move(options)), deps_(std::move(deps)) {
  static constexpr const char* kOutcomes[] = {
      "stored",           "duplicate", "method_not_allowed", "chunked",
      "content_encoding", "no_length", "bad_length",         "too_large",
      "content_type",     "bad_event", "store_unavailable",  "forbidden"};
  static constexpr verify::VerifyResult kVerifyFailures[] = {
      verify::VerifyResult::kNoHeader,          verify::VerifyResult::kMalformedHeader,
      verify::VerifyResult::kNoTimestamp,       verify::VerifyResult::kNoV1Signature,
      verify::VerifyResult::kSignatureMismatch, verify::VerifyResult::kTimestampTooOld,
      verify::VerifyResult::kTimestampInFuture};
  for (Endpoint& e : options_.endpoints) {
    auto add = [&](absl::string_view outcome) {
      e.outcomes[outcome] =
          deps_.metrics->AddCounter(kRequestsMetric, kRequestsHelp,
                                    {{"endpoint", e.path}, {"outcome", std::string(outcome)}});
    };
    for (const char* outcome : kOutcomes) add(outcome);
    for (verify::VerifyResult r : kVerifyFailures) add(verify::VerifyResultName(r));
  }
  // Registered now so the series shows (as 0) before the first miss.
  not_found_ = deps_.metrics->AddCounter(kRequestsMetric, kRequestsHelp,
                                         {{"endpoint", "-"}, {"outcome", "not_found"}});
  append_latency_ = deps_.metrics->AddHistogram("switchboard_store_append_seconds",
                                                "Time from Append to durable (group commit wait).",
                                                metrics::Registry::LatencyBuckets());
  handle_latency_ = deps_.metrics->AddHistogram(
      "switchboard_webhook_handle_seconds",
      "Time to verify, convert and durably store a webhook request (body already read).",
      metrics::Registry::LatencyBuckets());
}

const WebhookHandler::Endpoint* WebhookHandler::FindEndpoint(absl::string_view path) const {
  for (const Endpoint& e : options_.endpoints) {
    if (e.path == path) return &e;
  }
  return nullptr;
}

void WebhookHandler::Count(const Endpoint& endpoint, absl::string_view outcome) {
  auto it = endpoint.outcomes.find(outcome);
  if (it == endpoint.outcomes.end()) {
    // Every outcome is created up front; a missing one is a bug in this file.
    SB_LOG(ERROR) << "uncounted_outcome outcome=" << outcome;
    return;
  }
  it->second->Increment();
}

HttpResponse WebhookHandler::Reject(const Endpoint& endpoint, int status, absl::string_view reason,
                                    absl::string_view message) const {
  Count(endpoint, reason);
  SB_LOG(WARNING) << "webhook_rejected endpoint=" << endpoint.path << " status=" << status
                  << " reason=" << reason;
  return ErrorResponse(status, message);
}

std::optional<HttpResponse> WebhookHandler::CheckHeaders(const HttpRequest& request) const {
  if (IsHealthPath(request.path)) return RequireGet(request);
  const Endpoint* endpoint = FindEndpoint(request.path);
  if (endpoint == nullptr) {
    not_found_->Increment();
    SB_LOG(WARNING) << "webhook_rejected endpoint=- status=404 reason=not_found";
    HttpResponse r = ErrorResponse(404, "not found");
    r.close_connection = request.method != "GET" && request.method != "HEAD";
    return r;
  }
  // All X-Forwarded-For lines, not the first: a proxy may append its entry as a line of its own
  // after one the client forged.
  if (options_.allowlist && !options_.allowlist->Allows(NetworkAllowlist::ClientAddress(
                                request.remote_addr, request.CombinedHeader("X-Forwarded-For"),
                                options_.trust_forwarded_for))) {
    HttpResponse r = Reject(*endpoint, 403, "forbidden", "source address not allowed");
    r.close_connection = true;
    return r;
  }
  if (request.method != "POST") {
    HttpResponse r = Reject(*endpoint, 405, "method_not_allowed", "method not allowed: use POST");
    r.headers.push_back({"Allow", "POST"});
    r.close_connection = true;
    return r;
  }
  // Framing. Anything refused here leaves the body unread, so the connection must close.
  std::optional<HttpResponse> refused;
  if (request.HeaderCount("Transfer-Encoding") > 0) {
    refused =
        Reject(*endpoint, 411, "chunked", "Transfer-Encoding is not accepted: send Content-Length");
  } else if (std::optional<absl::string_view> ce = request.Header("Content-Encoding")) {
    refused = Reject(*endpoint, 415, "content_encoding", "Content-Encoding is not accepted");
  } else if (request.HeaderCount("Content-Length") != 1) {
    refused = request.HeaderCount("Content-Length") == 0
                  ? Reject(*endpoint, 411, "no_length", "Content-Length is required")
                  : Reject(*endpoint, 400, "bad_length", "more than one Content-Length");
  } else {
    absl::string_view text = *request.Header("Content-Length");
    uint64_t length = 0;
    bool digits = !text.empty() && text.size() <= 19;
    for (char c : text) digits = digits && absl::ascii_isdigit(static_cast<unsigned char>(c));
    if (!digits || !absl::SimpleAtoi(text, &length)) {
      refused = Reject(*endpoint, 400, "bad_length", "invalid Content-Length");
    } else if (length > static_cast<uint64_t>(options_.max_body_bytes)) {
      refused = Reject(*endpoint, 413, "too_large",
                       absl::StrCat("body larger than ", options_.max_body_bytes, " bytes"));
    }
  }
  if (!refused) {
    std::optional<absl::string_view> content_type = request.Header("Content-Type");
    if (content_type && !IsJsonContentType(*content_type)) {
      refused = Reject(*endpoint, 415, "content_type", "Content-Type must be application/json");
    }
  }
  if (refused) refused->close_connection = true;
  return refused;
}

HttpResponse WebhookHandler::Handle(const HttpRequest& request) const {
  if (std::optional<HttpResponse> early = CheckHeaders(request)) return *std::move(early);

  if (IsHealthPath(request.path)) return HealthResponse(HealthDetail::kNone, request, deps_.readiness);

  const Endpoint& endpoint = *FindEndpoint(request.path);
  const absl::Time start = deps_.clock->Now();
  const absl::Time started = deps_.clock->Monotonic();  // for the latency metrics
  // The framing check trusted Content-Length; the body we got is what counts.
  if (request.body.size() > static_cast<size_t>(options_.max_body_bytes)) {
    HttpResponse r = Reject(endpoint, 413, "too_large", "body too large");
    r.close_connection = true;
    return r;
  }

  std::optional<absl::string_view> header = request.Header("Stripe-Signature");
  const verify::VerifyResult verdict =
      endpoint.verifier->Verify(header.value_or(absl::string_view()), request.body, start);
  if (verdict != verify::VerifyResult::kOk) {
    const absl::string_view kind = verify::VerifyResultName(verdict);
    return Reject(endpoint, 400, kind, absl::StrCat("signature verification failed: ", kind));
  }

  // Only the checks and the envelope: the Structs and the typed message are built when the
  // event is delivered, off the path of the 200 (and not at all when nobody subscribes).
  convert::EventEnvelope envelope;
  if (absl::Status checked = deps_.converter->Inspect(request.body, &envelope); !checked.ok()) {
    return Reject(endpoint, 400, "bad_event", checked.message());
  }

  store::EventRecord record;
  record.id = std::move(envelope.id);
  record.type = std::move(envelope.type);
  record.object_id = std::move(envelope.object_id);
  record.created = envelope.created;
  record.received_at = start;
  record.endpoint = endpoint.path;
  record.livemode = envelope.livemode;
  record.account = std::move(envelope.account);
  record.raw_json = request.body;

  const absl::Time append_start = deps_.clock->Monotonic();
  absl::StatusOr<store::AppendResult> appended = deps_.store->Append(record);
  const absl::Time end = deps_.clock->Monotonic();
  append_latency_->Observe(absl::ToDoubleSeconds(end - append_start));
  if (!appended.ok()) {
    // Loud: Stripe retries a 503 (live mode for days), `stripe listen` never does.
    SB_LOG(ERROR) << "store_append_failed endpoint=" << endpoint.path << " event=" << record.id
                  << " code=" << absl::StatusCodeToString(appended.status().code())
                  << " error=" << base::Quoted(appended.status().message());
    return Reject(endpoint, 503, "store_unavailable", "storage unavailable, retry later");
  }
  handle_latency_->Observe(absl::ToDoubleSeconds(end - started));
  const bool duplicate = *appended == store::AppendResult::kDuplicate;
  Count(endpoint, duplicate ? "duplicate" : "stored");
  if (!duplicate && deps_.on_stored) deps_.on_stored();
  return Ok(duplicate ? "{\"received\":true,\"duplicate\":true}\n" : "{\"received\":true}\n");
}

}  // namespace switchboard::server::ingress
