// FakeHandlerConnection: a HandlerConnection driven by hand, for tests of the Dispatcher (no
// gRPC, no threads, no sleeping).
//
// A test plays the handler: Up() establishes a stream (the listener hears OnConnected), Sent()
// returns what the dispatcher sent, Ack() answers a delivery, Down() breaks the stream. Listener
// calls happen synchronously inside those methods, so a test then runs
// Dispatcher::ProcessDue(now) to let the dispatcher react. Stall() plays a handler that stopped
// reading: what is sent then waits unsent in an outbox, as behind a real stream's stuck write.
//
// Example:
//   FakeHandlerConnectionFactory factory;
//   ... create the Dispatcher with &factory, subscribe a member at "h1:1" ...
//   FakeHandlerConnection* h1 = factory.Get("h1:1");
//   h1->Up();
//   dispatcher->ProcessDue(clock.Now());
//   std::vector<switchboard::v1::Delivery> sent = h1->TakeSent();
//   h1->Ack(sent[0].delivery_id(), switchboard::v1::Ack::OK);
//
// Thread-safety: thread-compatible (tests use it from one thread); the factory's methods are
// thread-safe.
#ifndef SWITCHBOARD_SERVER_DISPATCH_FAKE_HANDLER_CONNECTION_H_
#define SWITCHBOARD_SERVER_DISPATCH_FAKE_HANDLER_CONNECTION_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "protos/switchboard/v1/handler.pb.h"
#include "server/dispatch/handler_connection.h"

namespace switchboard::server::dispatch {

class FakeHandlerConnectionFactory;

class FakeHandlerConnection final : public HandlerConnection {
 public:
  FakeHandlerConnection(FakeHandlerConnectionFactory* factory, std::string address,
                        Listener* listener);
  ~FakeHandlerConnection() override;

  // HandlerConnection.
  const std::string& address() const override { return address_; }
  bool connected() const override { return stream_up_ && !closed_; }
  bool Send(uint64_t stream, EncodedDelivery delivery) override;
  // Records the call; true when the delivery was queued unsent (see Stall) and is dropped.
  bool Withdraw(uint64_t stream, const std::string& delivery_id) override;
  void ResetBackoff() override { ++backoff_resets_; }
  void Close() override {
    closed_ = true;
    outbox_.clear();
  }

  // Establishes a new stream and reports OnConnected. Returns its id.
  uint64_t Up();
  // Ends the current stream and reports OnDisconnected(status). No-op when not up. What was
  // queued unsent is dropped.
  void Down(absl::Status status = absl::UnavailableError("stream broke"));
  // From now on Send queues deliveries unsent (TakeSent does not return them; Withdraw takes
  // them back) until Unstall(), which sends them, in order.
  void Stall() { stalled_ = true; }
  void Unstall();
  // Reports an Ack on the current stream.
  void Ack(const std::string& delivery_id, switchboard::v1::Ack::Outcome outcome,
           const std::string& message = "", absl::Duration retry_after = absl::ZeroDuration());
  // Reports `ack` as it is (for garbage).
  void RawAck(const switchboard::v1::Ack& ack);

  // Deliveries sent since the last call (and removes them).
  std::vector<switchboard::v1::Delivery> TakeSent();
  uint64_t stream() const { return stream_; }
  bool closed() const { return closed_; }
  int backoff_resets() const { return backoff_resets_; }
  // The encoded events of every delivery sent (shared bytes, not copies).
  const std::vector<std::shared_ptr<const std::string>>& sent_events() const {
    return sent_events_;
  }
  // Delivery ids passed to Withdraw, in order (whether or not they were queued).
  const std::vector<std::string>& withdrawn() const { return withdrawn_; }
  // Ids of the deliveries queued unsent while stalled, in order.
  std::vector<std::string> queued() const;

 private:
  FakeHandlerConnectionFactory* const factory_;
  const std::string address_;
  Listener* const listener_;
  uint64_t stream_ = 0;
  bool stream_up_ = false;
  bool closed_ = false;
  bool stalled_ = false;
  int backoff_resets_ = 0;
  // Sent while stalled, not yet "written".
  std::vector<EncodedDelivery> outbox_;
  std::vector<switchboard::v1::Delivery> sent_;
  std::vector<std::string> withdrawn_;
  std::vector<std::shared_ptr<const std::string>> sent_events_;
};

class FakeHandlerConnectionFactory final : public HandlerConnectionFactory {
 public:
  std::unique_ptr<HandlerConnection> Connect(const std::string& address,
                                             HandlerConnection::Listener* listener) override;

  // The live connection to `address` made most recently; nullptr when there is none.
  FakeHandlerConnection* Get(const std::string& address) const;
  // How many connections to `address` were ever made.
  int connects(const std::string& address) const;

 private:
  friend class FakeHandlerConnection;
  void Remove(FakeHandlerConnection* connection);

  mutable absl::Mutex mu_;
  std::multimap<std::string, FakeHandlerConnection*> live_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> connects_ ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard::server::dispatch

#endif  // SWITCHBOARD_SERVER_DISPATCH_FAKE_HANDLER_CONNECTION_H_
