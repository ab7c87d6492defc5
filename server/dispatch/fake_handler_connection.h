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
//   dispatcher->ProcessDue(Dispatcher::Instant::Of(clock));
//   std::vector<switchboard::v1::Delivery> sent = h1->TakeSent();
//   h1->Ack(sent[0].delivery_id(), switchboard::v1::Ack::OK);
//
// Thread-safety: thread-safe, so a test may play the handler while a Start()ed dispatcher's
// worker sends; Listener calls are made with the connection's lock held (as the real one may).
// The factory's methods are thread-safe.
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
#include "absl/synchronization/notification.h"
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
  bool connected() const override;
  bool Send(uint64_t stream, EncodedDelivery delivery) override;
  // Records the call; true when the delivery was queued unsent (see Stall) and is dropped.
  bool Withdraw(uint64_t stream, const std::string& delivery_id) override;
  void ResetBackoff() override;
  void Close() override;

  // Establishes a new stream and reports OnConnected. Returns its id.
  uint64_t Up();
  // Ends the current stream and reports OnDisconnected(status) with what was queued unsent
  // (see Stall), which is dropped. No-op when not up.
  void Down(absl::Status status = absl::UnavailableError("stream broke"));
  // From now on Send queues deliveries unsent (TakeSent does not return them; Withdraw takes
  // them back) until Unstall(), which sends them, in order.
  void Stall();
  void Unstall();
  // Reports an Ack on the current stream.
  void Ack(const std::string& delivery_id, switchboard::v1::Ack::Outcome outcome,
           const std::string& message = "", absl::Duration retry_after = absl::ZeroDuration());
  // Reports `ack` as it is (for garbage).
  void RawAck(const switchboard::v1::Ack& ack);
  // The destructor waits until `until` is notified (as a real connection waits for a handler
  // that stopped reading to end its stream). `until` must outlive this connection.
  void HoldDestructionUntil(absl::Notification* until);

  // Deliveries sent since the last call (and removes them).
  std::vector<switchboard::v1::Delivery> TakeSent();
  // Waits until at least `n` deliveries were sent since the last TakeSent; false after
  // `timeout` (a bound against hanging, for tests of a Start()ed dispatcher).
  bool AwaitSent(size_t n, absl::Duration timeout);
  uint64_t stream() const;
  bool closed() const;
  int backoff_resets() const;
  // The encoded events of every delivery sent (shared bytes, not copies).
  std::vector<std::shared_ptr<const std::string>> sent_events() const;
  // Delivery ids passed to Withdraw, in order (whether or not they were queued).
  std::vector<std::string> withdrawn() const;
  // Ids of the deliveries queued unsent while stalled, in order.
  std::vector<std::string> queued() const;

 private:
  FakeHandlerConnectionFactory* const factory_;
  const std::string address_;
  Listener* const listener_;
  // Held across Listener calls, as GrpcHandlerConnection may.
  mutable absl::Mutex mu_;
  uint64_t stream_ ABSL_GUARDED_BY(mu_) = 0;
  bool stream_up_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool stalled_ ABSL_GUARDED_BY(mu_) = false;
  absl::Notification* hold_destruction_ ABSL_GUARDED_BY(mu_) = nullptr;
  int backoff_resets_ ABSL_GUARDED_BY(mu_) = 0;
  // Sent while stalled, not yet "written".
  std::vector<EncodedDelivery> outbox_ ABSL_GUARDED_BY(mu_);
  std::vector<switchboard::v1::Delivery> sent_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> withdrawn_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<const std::string>> sent_events_ ABSL_GUARDED_BY(mu_);

  void DownLocked(const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteLocked(EncodedDelivery delivery) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
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
