// Token authentication of the Gateway API over a real gRPC channel.
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "protos/switchboard/v1/gateway.grpc.pb.h"
#include "server/convert/event_converter.h"
#include "server/rpc/gateway_service.h"
#include "server/rpc/local_grpc_server.h"
#include "server/store/memory_event_store.h"

namespace switchboard::server::rpc {
namespace {

class GatewayAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GatewayService::Deps deps;
    deps.store = &store_;
    deps.converter = &converter_;
    deps.started_at = absl::Now();
    deps.tokens = {"sbtok_current", "sbtok_previous"};
    service_ = std::make_unique<GatewayService>(std::move(deps));
    int port = 0;
    server_ = StartLocalServer(service_.get(), &port);
    ASSERT_NE(server_, nullptr);
    stub_ = switchboard::v1::Gateway::NewStub(LocalChannel(port));
  }
  void TearDown() override { server_->Shutdown(); }

  grpc::StatusCode Call(const char* authorization) {
    grpc::ClientContext context;
    if (authorization != nullptr) context.AddMetadata("authorization", authorization);
    switchboard::v1::Stats stats;
    return stub_->GetStats(&context, {}, &stats).error_code();
  }

  store::MemoryEventStore store_;
  convert::EventConverter converter_;
  std::unique_ptr<GatewayService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<switchboard::v1::Gateway::Stub> stub_;
};

TEST_F(GatewayAuthTest, RequiresOneOfTheConfiguredBearerTokens) {
  EXPECT_EQ(Call(nullptr), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Call("Bearer wrong"), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Call("sbtok_current"), grpc::StatusCode::UNAUTHENTICATED);  // no scheme
  EXPECT_EQ(Call("Bearer sbtok_current"), grpc::StatusCode::OK);
  EXPECT_EQ(Call("Bearer sbtok_previous"), grpc::StatusCode::OK);
}

TEST_F(GatewayAuthTest, EveryMethodIsProtected) {
  grpc::ClientContext c1;
  switchboard::v1::Event event;
  switchboard::v1::GetEventRequest get;
  get.set_id("evt_1");
  EXPECT_EQ(stub_->GetEvent(&c1, get, &event).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  grpc::ClientContext c2;
  switchboard::v1::Subscription sub;
  switchboard::v1::SubscribeRequest subscribe;
  EXPECT_EQ(stub_->Subscribe(&c2, subscribe, &sub).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  grpc::ClientContext c3;
  switchboard::v1::RedriveResponse redriven;
  EXPECT_EQ(stub_->Redrive(&c3, {}, &redriven).error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

}  // namespace
}  // namespace switchboard::server::rpc
