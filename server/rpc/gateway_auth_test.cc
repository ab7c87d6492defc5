// Token authentication of the Gateway API over a real gRPC channel.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/generic/generic_stub.h"
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
    server_ = StartLocalServer(service_.get(), &port_);
    ASSERT_NE(server_, nullptr);
    stub_ = switchboard::v1::Gateway::NewStub(LocalChannel(port_));
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
  int port_ = 0;
};

TEST_F(GatewayAuthTest, RequiresOneOfTheConfiguredBearerTokens) {
  EXPECT_EQ(Call(nullptr), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Call("Bearer wrong"), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Call("sbtok_current"), grpc::StatusCode::UNAUTHENTICATED);  // no scheme
  EXPECT_EQ(Call("Bearer sbtok_current"), grpc::StatusCode::OK);
  EXPECT_EQ(Call("Bearer sbtok_previous"), grpc::StatusCode::OK);
}

TEST_F(GatewayAuthTest, EveryMethodIsProtected) {
  // Every method the service declares, by its descriptor, so a new one is covered unasked.
  const google::protobuf::ServiceDescriptor* gateway =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
          "switchboard.v1.Gateway");
  ASSERT_NE(gateway, nullptr);
  ASSERT_GE(gateway->method_count(), 10);
  grpc::GenericStub generic(LocalChannel(port_));
  for (int i = 0; i < gateway->method_count(); ++i) {
    const std::string method =
        absl::StrCat("/", gateway->full_name(), "/", gateway->method(i)->name());
    grpc::ClientContext context;
    grpc::Slice no_bytes("");
    grpc::ByteBuffer request(&no_bytes, 1);  // an empty message: valid for every request type
    grpc::ByteBuffer response;
    absl::Notification done;
    grpc::Status status;
    generic.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                      [&](grpc::Status s) {
                        status = std::move(s);
                        done.Notify();
                      });
    done.WaitForNotification();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << method;
  }
}

}  // namespace
}  // namespace switchboard::server::rpc
