#include "server/config/config.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/base/status_matchers.h"

namespace switchboard::server::config {
namespace {

using ::switchboard::base::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::string TempDir(const std::string& name) {
  std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
  mkdir(dir.c_str(), 0700);
  return dir;
}

SecretSources Env(std::map<std::string, std::string> vars, std::string data_dir) {
  SecretSources s;
  s.getenv = [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  s.data_dir = std::move(data_dir);
  return s;
}

TEST(ResolveEndpoints, WarnsWithoutTheValueAboutUnlikelySecretsAndAReadableFile) {
  const std::string dir = TempDir("warnings");
  const std::string file = dir + "/webhook.secrets";
  std::ofstream(file) << "whsec_good\nSTRIPE_WEBHOOK_SECRET=whsec_pasted\n";
  ASSERT_EQ(chmod(file.c_str(), 0644), 0);
  SecretSources sources = Env({}, dir);
  sources.default_secrets_file = file;
  ASSERT_OK_AND_ASSIGN(auto endpoints, ResolveEndpoints({}, sources));
  ASSERT_EQ(endpoints.size(), 1u);
  EXPECT_THAT(endpoints[0].warnings, ElementsAre(HasSubstr("readable by group or others"),
                                                 HasSubstr("secret 2 of 2 from file")));
  for (const std::string& w : endpoints[0].warnings) {
    EXPECT_THAT(w, Not(HasSubstr("pasted")));
    EXPECT_THAT(w, Not(HasSubstr("whsec_good")));
  }

  ASSERT_EQ(chmod(file.c_str(), 0600), 0);
  std::ofstream(file) << "whsec_good\n";
  ASSERT_OK_AND_ASSIGN(endpoints, ResolveEndpoints({}, sources));
  EXPECT_THAT(endpoints[0].warnings, ::testing::IsEmpty());
}

TEST(ResolveEndpoints, DefaultEndpointTakesRotatedSecretsFromEnvironment) {
  ASSERT_OK_AND_ASSIGN(auto endpoints,
                       ResolveEndpoints({}, Env({{"STRIPE_WEBHOOK_SECRET", "whsec_new,whsec_old"}},
                                                TempDir("env"))));
  ASSERT_EQ(endpoints.size(), 1u);
  EXPECT_EQ(endpoints[0].path, "/webhook");
  EXPECT_THAT(endpoints[0].secrets, ElementsAre("whsec_new", "whsec_old"));
  EXPECT_THAT(endpoints[0].source, Not(HasSubstr("whsec")));
}

TEST(ResolveEndpoints, GeneratesOneStableDevelopmentSecretOnLoopback) {
  const std::string dir = TempDir("dev");
  ASSERT_OK_AND_ASSIGN(auto first, ResolveEndpoints({}, Env({}, dir)));
  ASSERT_OK_AND_ASSIGN(auto second, ResolveEndpoints({}, Env({}, dir)));
  ASSERT_EQ(first[0].secrets.size(), 1u);
  EXPECT_THAT(first[0].secrets[0], StartsWith("whsec_dev_"));
  EXPECT_EQ(first[0].secrets, second[0].secrets);
  struct stat st;
  ASSERT_EQ(stat(DevSecretPath(dir).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
}

TEST(ResolveEndpoints, RefusesToRunWithoutSecretOffLoopback) {
  SecretSources sources = Env({}, TempDir("public"));
  sources.loopback_only = false;
  EXPECT_THAT(ResolveEndpoints({}, sources), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(ResolveEndpoints, ConfiguredEndpointsEachUseTheirOwnSecrets) {
  const std::string dir = TempDir("files");
  const std::string file = dir + "/connect.secrets";
  std::ofstream(file) << "whsec_connect\n";
  switchboard::v1::Config config;
  auto* a = config.add_endpoints();
  a->set_path("/webhook");
  a->set_secret_env("MAIN_SECRET");
  auto* b = config.add_endpoints();
  b->set_path("/webhook/connect");
  b->set_secrets_file(file);
  ASSERT_OK_AND_ASSIGN(auto endpoints,
                       ResolveEndpoints(config, Env({{"MAIN_SECRET", "whsec_main"}}, dir)));
  ASSERT_EQ(endpoints.size(), 2u);
  EXPECT_THAT(endpoints[0].secrets, ElementsAre("whsec_main"));
  EXPECT_THAT(endpoints[1].secrets, ElementsAre("whsec_connect"));
}

TEST(ResolveEndpoints, MissingEnvironmentVariableIsAClearError) {
  switchboard::v1::Config config;
  auto* a = config.add_endpoints();
  a->set_path("/webhook");
  a->set_secret_env("NOT_SET");
  auto result = ResolveEndpoints(config, Env({}, TempDir("missing")));
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("NOT_SET"));
}

TEST(ResolveEndpoints, RefusesSecretsFileFlagWhenTheConfigListsEndpoints) {
  // --secrets_file names the default endpoint's secrets; with endpoints in the config there is
  // no default endpoint, and silently dropping a flag would run with other secrets than asked.
  const std::string dir = TempDir("flag_and_endpoints");
  const std::string file = dir + "/flag.secrets";
  std::ofstream(file) << "whsec_flag\n";
  switchboard::v1::Config config;
  auto* a = config.add_endpoints();
  a->set_path("/webhook");
  a->set_secret_env("MAIN_SECRET");
  SecretSources sources = Env({{"MAIN_SECRET", "whsec_main"}}, dir);
  sources.default_secrets_file = file;
  auto result = ResolveEndpoints(config, sources);
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("--secrets_file"));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("secrets_file"));
}

TEST(ResolveEndpoints, SecretsFileFlagSetsTheDefaultEndpoint) {
  const std::string dir = TempDir("flag_only");
  const std::string file = dir + "/flag.secrets";
  std::ofstream(file) << "whsec_flag\n";
  SecretSources sources = Env({{"STRIPE_WEBHOOK_SECRET", "whsec_env"}}, dir);
  sources.default_secrets_file = file;
  ASSERT_OK_AND_ASSIGN(auto endpoints, ResolveEndpoints({}, sources));
  ASSERT_EQ(endpoints.size(), 1u);
  EXPECT_THAT(endpoints[0].secrets, ElementsAre("whsec_flag"));
}

TEST(GatewayTokens, CombinesTheFileAndTheEnvironment) {
  const std::string path = TempDir("tokens") + "/gateway.tokens";
  std::ofstream(path) << "tok_file_a\ntok_file_b\n";
  SecretSources env = Env({{"SWITCHBOARD_GATEWAY_TOKEN", "tok_env"}}, TempDir("tokens_env"));
  ASSERT_OK_AND_ASSIGN(auto tokens, GatewayTokens(path, env.getenv));
  EXPECT_THAT(tokens, ElementsAre("tok_file_a", "tok_file_b", "tok_env"));
  ASSERT_OK_AND_ASSIGN(auto none, GatewayTokens("", Env({}, TempDir("no_tokens")).getenv));
  EXPECT_TRUE(none.empty());
  EXPECT_FALSE(GatewayTokens("/nonexistent/tokens", env.getenv).ok());
}

TEST(CheckGrpcAuthentication, RefusesAnOpenGatewayApiOffLoopback) {
  for (const char* address : {"0.0.0.0:50051", "[::]:50051", "10.1.2.3:50051", "gateway:50051",
                              "127.example.com:50051"}) {
    absl::Status status = CheckGrpcAuthentication({}, address, {});
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kFailedPrecondition)) << address;
    // The message says what to set.
    EXPECT_THAT(std::string(status.message()), HasSubstr("SWITCHBOARD_GATEWAY_TOKEN"));
    EXPECT_THAT(std::string(status.message()), HasSubstr("allow_unauthenticated_grpc"));
  }
}

TEST(CheckGrpcAuthentication, AcceptsLoopbackWithoutAuthentication) {
  for (const char* address :
       {"127.0.0.1:50051", "127.0.0.1:0", "localhost:50051", "[::1]:50051", "127.1.2.3:1"}) {
    EXPECT_OK(CheckGrpcAuthentication({}, address, {})) << address;
  }
}

TEST(CheckGrpcAuthentication, AcceptsGatewayTokensOffLoopback) {
  EXPECT_OK(CheckGrpcAuthentication({}, "0.0.0.0:50051", {"sbtok_a"}));
}

TEST(CheckGrpcAuthentication, AcceptsClientCertificatesOffLoopback) {
  switchboard::v1::Config config;
  config.mutable_grpc_tls()->set_cert_file("grpc.crt");
  config.mutable_grpc_tls()->set_key_file("grpc.key");
  // TLS alone encrypts but lets any client in.
  EXPECT_THAT(CheckGrpcAuthentication(config, "0.0.0.0:50051", {}),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  config.mutable_grpc_tls()->set_ca_file("clients-ca.crt");
  EXPECT_OK(CheckGrpcAuthentication(config, "0.0.0.0:50051", {}));
  // A client CA without a server certificate leaves the listener plaintext.
  config.mutable_grpc_tls()->clear_cert_file();
  config.mutable_grpc_tls()->clear_key_file();
  EXPECT_THAT(CheckGrpcAuthentication(config, "0.0.0.0:50051", {}),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(CheckGrpcAuthentication, AcceptsAnExplicitOptOut) {
  switchboard::v1::Config config;
  config.set_allow_unauthenticated_grpc(true);
  EXPECT_OK(CheckGrpcAuthentication(config, "0.0.0.0:50051", {}));
}

TEST(IsLoopbackHost, TakesOnlyLoopbackAddressesAndLocalhost) {
  for (const char* host : {"localhost", "127.0.0.1", "127.255.0.9", "::1", "[::1]"}) {
    EXPECT_TRUE(IsLoopbackHost(host)) << host;
  }
  for (const char* host : {"", "0.0.0.0", "::", "10.0.0.1", "127.example.com", "127.0.0.1.nip.io",
                           "localhost.example.com"}) {
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
  }
}

TEST(LoadConfigFile, ReportsTheLineOfASyntaxError) {
  const std::string path = TempDir("cfg") + "/bad.textproto";
  std::ofstream(path) << "endpoints { path: \"/webhook\" }\nlimits { nope: 1 }\n";
  auto result = LoadConfigFile(path);
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("line 2"));
}

TEST(LoadConfigFile, SyntaxErrorNeverQuotesTheOffendingText) {
  // Unquoted, a secret is a bare identifier: protobuf's own messages quote it ("Expected string,
  // got: whsec_..." or "no field named ...").
  const std::string path = TempDir("cfg_secret") + "/secret.textproto";
  std::ofstream(path) << "endpoints {\n  path: \"/webhook\"\n  secrets: whsec_unquoted_leak\n}\n"
                         "whsec_bare_leak\n";
  auto result = LoadConfigFile(path);
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("line 3:12"));
  EXPECT_THAT(std::string(result.status().message()), Not(HasSubstr("whsec")));

  std::ofstream(path) << "endpoints { path: \"/webhook\" }\nwhsec_bare_leak: 1\n";
  result = LoadConfigFile(path);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("line 2:"));
  EXPECT_THAT(std::string(result.status().message()), Not(HasSubstr("whsec")));
}

TEST(LoadConfigFile, ParsesEndpointsAndLimits) {
  const std::string path = TempDir("cfg2") + "/good.textproto";
  std::ofstream(path) << "endpoints { path: \"/webhook/connect\" secret_env: \"X\" }\n"
                         "limits { max_body_bytes: 2048 }\nstore { retention_days: 7 }\n";
  ASSERT_OK_AND_ASSIGN(auto config, LoadConfigFile(path));
  EXPECT_EQ(config.endpoints(0).path(), "/webhook/connect");
  EXPECT_EQ(config.limits().max_body_bytes(), 2048);
  EXPECT_EQ(config.store().retention_days(), 7);
}

}  // namespace
}  // namespace switchboard::server::config
