#include "server/rpc/test_event_handler.h"

#include <utility>

namespace switchboard::server::rpc {

class TestEventHandler::Service final : public switchboard::v1::EventHandler::Service {
 public:
  Service(TestEventHandler* owner, Decide decide, bool send_metadata_first)
      : owner_(owner), decide_(std::move(decide)), send_metadata_first_(send_metadata_first) {}

  grpc::Status Deliver(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<switchboard::v1::Ack, switchboard::v1::Delivery>* stream) override {
    if (send_metadata_first_) stream->SendInitialMetadata();
    {
      absl::MutexLock lock(&owner_->mu_);
      ++owner_->open_streams_;
    }
    switchboard::v1::Delivery delivery;
    while (stream->Read(&delivery)) {
      {
        absl::MutexLock lock(&owner_->mu_);
        owner_->received_.push_back(delivery);
      }
      const switchboard::v1::Ack ack =
          decide_ ? decide_(delivery) : AckFor(delivery, switchboard::v1::Ack::OK);
      if (!stream->Write(ack)) break;
    }
    absl::MutexLock lock(&owner_->mu_);
    --owner_->open_streams_;
    if (!context->IsCancelled()) ++owner_->clean_ends_;
    return grpc::Status::OK;
  }

 private:
  TestEventHandler* const owner_;
  const Decide decide_;
  const bool send_metadata_first_;
};

std::unique_ptr<TestEventHandler> TestEventHandler::Start(Options options) {
  std::unique_ptr<TestEventHandler> h(new TestEventHandler());
  h->service_ =
      std::make_unique<Service>(h.get(), std::move(options.decide), options.send_metadata_first);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(
      "127.0.0.1:" + std::to_string(options.port),
      options.credentials != nullptr ? options.credentials : grpc::InsecureServerCredentials(),
      &h->port_);
  builder.RegisterService(h->service_.get());
  if (options.min_ping_interval_ms > 0) {
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                               options.min_ping_interval_ms);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  }
  h->server_ = builder.BuildAndStart();
  if (h->server_ == nullptr || h->port_ == 0) return nullptr;
  return h;
}

TestEventHandler::~TestEventHandler() { Shutdown(); }

void TestEventHandler::Shutdown() {
  if (server_ == nullptr) return;
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
  server_->Wait();
  server_.reset();
}

std::vector<switchboard::v1::Delivery> TestEventHandler::received() const {
  absl::MutexLock lock(&mu_);
  return received_;
}

bool TestEventHandler::WaitForReceived(size_t n, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  const auto enough = [this, n]()
                          ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return received_.size() >= n; };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

int TestEventHandler::open_streams() const {
  absl::MutexLock lock(&mu_);
  return open_streams_;
}

int TestEventHandler::clean_ends() const {
  absl::MutexLock lock(&mu_);
  return clean_ends_;
}

bool TestEventHandler::WaitForOpenStreams(int n, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  const auto reached = [this, n]()
                           ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return open_streams_ == n; };
  return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
}

switchboard::v1::Ack AckFor(const switchboard::v1::Delivery& d,
                            switchboard::v1::Ack::Outcome outcome, const std::string& message) {
  switchboard::v1::Ack ack;
  ack.set_delivery_id(d.delivery_id());
  ack.set_outcome(outcome);
  ack.set_message(message);
  return ack;
}

}  // namespace switchboard::server::rpc
