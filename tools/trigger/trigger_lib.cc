#include "tools/trigger/trigger_lib.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/random/distributions.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "httplib.h"
#include "server/base/secret_list.h"
#include "server/verify/signing.h"
#include "tools/trigger/fixtures.h"

namespace switchboard::tools::trigger {
namespace {

std::string RandomAlnum(absl::BitGenRef gen, int length) {
  static constexpr char kAlphabet[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string out(length, '0');
  for (char& c : out) c = kAlphabet[absl::Uniform<size_t>(gen, 0, sizeof(kAlphabet) - 1)];
  return out;
}

// Reads a whole file; false if it cannot be opened.
bool ReadFile(const std::string& path, std::string* contents) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream out;
  out << in.rdbuf();
  *contents = out.str();
  return true;
}

// The first entry of a secrets list, read as the gateway reads it: during a rotation the list
// holds the new and old secrets, and the first one signs. Empty if there is none.
std::string FirstSecret(absl::string_view text) {
  std::vector<std::string> secrets = switchboard::base::SplitSecrets(text);
  return secrets.empty() ? std::string() : std::move(secrets.front());
}

absl::StatusOr<Secret> SecretFromFile(const std::string& path) {
  std::string contents;
  if (!ReadFile(path, &contents)) {
    return absl::NotFoundError(absl::StrCat("cannot read secret file ", path));
  }
  Secret secret{FirstSecret(contents), path};
  if (secret.value.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("secret file ", path, " holds no secret"));
  }
  return secret;
}

}  // namespace

std::vector<std::string> KnownEventTypes() {
  std::vector<std::string> types;
  for (const internal::EventTemplate& t : internal::EventTemplates()) types.push_back(t.type);
  return types;
}

absl::Status CheckInvocation(const Invocation& invocation) {
  if (invocation.count < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--count=", invocation.count, ": must be at least 1"));
  }
  if (invocation.file.empty() != (invocation.args.size() == 1)) {
    return absl::InvalidArgumentError(
        "give exactly one event type, or --file=PATH (see --help, --list)");
  }
  if (!invocation.file.empty()) {
    if (invocation.count > 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--count=", invocation.count, " with --file would send the same event (same id) ",
          invocation.count,
          " times, and the gateway stores it once; --count sends distinct events of an event "
          "type (fresh ids)"));
    }
    return absl::OkStatus();
  }
  const std::vector<std::string> types = KnownEventTypes();
  if (std::find(types.begin(), types.end(), invocation.args[0]) == types.end()) {
    return absl::InvalidArgumentError(absl::StrCat("no example event of type '", invocation.args[0],
                                                   "'; known types:\n  ",
                                                   absl::StrJoin(types, "\n  ")));
  }
  return absl::OkStatus();
}

std::string NewEventId(absl::BitGenRef gen) { return absl::StrCat("evt_", RandomAlnum(gen, 24)); }

absl::StatusOr<std::string> BuildExampleEvent(absl::string_view type, absl::string_view event_id,
                                              absl::Time created, absl::BitGenRef gen) {
  for (const internal::EventTemplate& t : internal::EventTemplates()) {
    if (t.type != type) continue;
    return absl::StrReplaceAll(t.body, {{"{{event_id}}", event_id},
                                        {"{{created}}", absl::StrCat(absl::ToUnixSeconds(created))},
                                        {"{{id}}", RandomAlnum(gen, 24)}});
  }
  return absl::NotFoundError(
      absl::StrCat("no example event of type '", type, "' (--list shows the known types)"));
}

SignedRequest SignRequest(absl::string_view secret, std::string body, absl::Time now) {
  SignedRequest request;
  request.signature_header =
      server::verify::SignatureHeader(secret, absl::ToUnixSeconds(now), body);
  request.body = std::move(body);
  return request;
}

absl::StatusOr<Secret> ResolveSecret(const SecretSources& sources) {
  // Same order as the server: an explicit file beats the environment.
  if (!sources.secret_file.empty()) return SecretFromFile(sources.secret_file);
  if (sources.env.has_value()) {
    std::string first = FirstSecret(*sources.env);
    if (!first.empty()) return Secret{std::move(first), kSecretEnvVar};
  }

  const std::string dev_path = absl::StrCat(sources.data_dir, "/", kDevSecretFileName);
  absl::StatusOr<Secret> dev = SecretFromFile(dev_path);
  if (dev.ok() || !absl::IsNotFound(dev.status())) return dev;
  return absl::FailedPreconditionError(
      absl::StrCat("no webhook secret: set ", kSecretEnvVar,
                   ", pass --secret_file=PATH, or start the server "
                   "once with no secret so that it writes ",
                   dev_path, " (or point --data_dir at its data dir)"));
}

std::string DefaultDataDir(const char* build_workspace_directory) {
  if (build_workspace_directory != nullptr && build_workspace_directory[0] != '\0') {
    return absl::StrCat(build_workspace_directory, "/.switchboard");
  }
  return "./.switchboard";
}

absl::StatusOr<Url> ParseUrl(absl::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("URL '", url, "' has no scheme (http://...)"));
  }
  const absl::string_view scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") {
    return absl::InvalidArgumentError(
        absl::StrCat("URL '", url, "': only http:// and https:// are supported"));
  }
  const size_t path_start = url.find_first_of("/?", scheme_end + 3);
  Url out;
  out.scheme_host_port = std::string(url.substr(0, path_start));
  if (out.scheme_host_port.size() == scheme_end + 3) {
    return absl::InvalidArgumentError(absl::StrCat("URL '", url, "' has no host"));
  }
  out.path = path_start == absl::string_view::npos ? "/" : std::string(url.substr(path_start));
  if (out.path[0] == '?') out.path.insert(0, "/");
  return out;
}

absl::StatusOr<HttpResponse> PostWebhook(const Url& url, const SignedRequest& request,
                                         absl::Duration timeout) {
  httplib::Client client(url.scheme_host_port);
  if (!client.is_valid()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot use URL ", url.scheme_host_port));
  }
  const int64_t usec = absl::ToInt64Microseconds(timeout);
  client.set_connection_timeout(usec / 1000000, usec % 1000000);
  client.set_read_timeout(usec / 1000000, usec % 1000000);
  client.set_write_timeout(usec / 1000000, usec % 1000000);
  const httplib::Headers headers = {
      {"Stripe-Signature", request.signature_header},
      {"User-Agent", "Switchboard-Trigger/1.0"},
  };
  httplib::Result result =
      client.Post(url.path, headers, request.body, "application/json; charset=utf-8");
  if (!result) {
    return absl::UnavailableError(absl::StrCat("POST ", url.scheme_host_port, url.path,
                                               " failed: ", httplib::to_string(result.error())));
  }
  return HttpResponse{result->status, result->body};
}

}  // namespace switchboard::tools::trigger
