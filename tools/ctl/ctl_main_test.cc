// The ctl binary as `bazel run` starts it (in its runfiles tree, with BUILD_WORKING_DIRECTORY
// naming the directory the command was typed in), against an in-process fake gateway.
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "protos/switchboard/v1/gateway.grpc.pb.h"
#include "tests/util/child_process.h"

namespace {

namespace v1 = ::switchboard::v1;
using ::testing::HasSubstr;
using ::testing::Not;

using Result = ::switchboard::testing::ChildProcess::Finished;

// Runs tools/ctl/ctl from the test's working directory (its runfiles tree, like `bazel run`) with
// `env` on top of the test's environment.
Result RunCtl(std::vector<std::string> args, std::map<std::string, std::string> env) {
  args.insert(args.begin(), "tools/ctl/ctl");
  return ::switchboard::testing::RunToExit({std::move(args), std::move(env)});
}

// Answers GetStats with 7 stored events; everything else is UNIMPLEMENTED.
class FakeGateway : public v1::Gateway::Service {
 public:
  FakeGateway() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~FakeGateway() override { server_->Shutdown(); }

  grpc::Status GetStats(grpc::ServerContext*, const v1::GetStatsRequest*,
                        v1::Stats* stats) override {
    stats->set_events_stored(7);
    return grpc::Status::OK;
  }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

// Nothing listens there: a call to it fails at once.
constexpr char kNowhere[] = "unix:/nonexistent/switchboard.sock";

TEST(CtlGatewayAddress, DialsSwitchboardGatewayWhenNoFlagIsGiven) {
  FakeGateway gateway;
  ASSERT_NE(gateway.address(), "127.0.0.1:0");
  const Result r = RunCtl({"stats"}, {{"SWITCHBOARD_GATEWAY", gateway.address()}});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("events stored:   7\n"));
}

TEST(CtlGatewayAddress, AnExplicitFlagWinsOverSwitchboardGateway) {
  FakeGateway gateway;
  const Result r = RunCtl({absl::StrCat("--gateway=", gateway.address()), "stats"},
                          {{"SWITCHBOARD_GATEWAY", kNowhere}});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("events stored:   7\n"));

  // And the environment is really used when the flag is absent.
  const Result env = RunCtl({"stats"}, {{"SWITCHBOARD_GATEWAY", kNowhere}});
  EXPECT_EQ(env.exit_code, 1) << env.output;
  EXPECT_THAT(env.output, HasSubstr("UNAVAILABLE"));
}

TEST(CtlUnderBazelRun, ReadsRelativePathsFromTheDirectoryTheCommandWasTypedIn) {
  // An empty CA file is readable and means the system's roots, so ctl gets past dialing and
  // stops at the missing command: that shows which directory it read ca.pem from.
  const std::string dir = ::switchboard::testing::NewTempDir("typed_in");
  std::ofstream(dir + "/ca.pem").close();
  const Result r = RunCtl({"--ca_file=ca.pem"}, {{"BUILD_WORKING_DIRECTORY", dir}});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("no command"));
  EXPECT_THAT(r.output, Not(HasSubstr("cannot read")));

  // Outside `bazel run` the path is relative to the current directory, which has no ca.pem.
  const Result plain = RunCtl({"--ca_file=ca.pem"}, {{"BUILD_WORKING_DIRECTORY", ""}});
  EXPECT_EQ(plain.exit_code, 2) << plain.output;
  EXPECT_THAT(plain.output, HasSubstr("cannot read gateway CA file ca.pem"));
}

TEST(CtlUnderBazelRun, AWorkingDirectoryThatCannotBeEnteredIsAnError) {
  const std::string missing = ::switchboard::testing::NewTempDir("gone") + "/not_there";
  const Result r = RunCtl({"stats"}, {{"BUILD_WORKING_DIRECTORY", missing}});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("cannot enter BUILD_WORKING_DIRECTORY " + missing));
}

}  // namespace
