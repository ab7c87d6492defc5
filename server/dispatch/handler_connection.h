// HandlerConnection: the gateway's stream to one member of a subscription — one running
// instance of a handler service — as the Dispatcher sees it. The dispatcher holds no gRPC: it
// sends Delivery messages through this interface and learns about acks and the stream's life
// through a Listener.
//
// Types:
//   EncodedDelivery             one Delivery in wire form, its Event bytes shared (not copied)
//   HandlerConnection           one member's (re)connecting delivery stream
//   HandlerConnection::Listener what the connection reports: stream up, an Ack, stream down
//   HandlerConnectionFactory    makes a connection for a member address
// Implementations: GrpcHandlerConnection (server/rpc/grpc_handler_connection.h, the
// switchboard.v1.EventHandler.Deliver client) and FakeHandlerConnection (fake_handler_connection.h,
// testonly, driven by hand).
//
// Streams: a connection connects by itself as soon as it is made and reconnects (with backoff)
// whenever its stream ends, until it is closed. Each stream gets a new id (`stream`, never 0,
// increasing). Send names the stream it means, so a delivery can never silently go out on a
// newer stream than the caller knows about; OnDisconnected(stream) tells the caller exactly which
// deliveries got no answer, and which of them were never written.
//
// Example:
//   std::unique_ptr<HandlerConnection> c = factory->Connect("10.0.0.7:7001", &listener);
//   // ... listener.OnConnected(s) arrives ...
//   if (!c->Send(s, EncodedDelivery::FromDelivery(delivery))) { /* that stream is gone: keep the
//   delivery for later */ }
//   // ... listener.OnAck(s, ack) or listener.OnDisconnected(s, status) ...
//   c.reset();  // ends the stream; no Listener call after this returns
//
// Thread-safety: every method may be called from any thread. Listener methods are called from
// the connection's own threads, one at a time per connection, in order (OnConnected(s) before
// any OnAck(s), OnDisconnected(s) after every OnAck(s)), possibly with the connection's internal
// lock held: they must be quick, must not block, and must not call back into the connection.
#ifndef SWITCHBOARD_SERVER_DISPATCH_HANDLER_CONNECTION_H_
#define SWITCHBOARD_SERVER_DISPATCH_HANDLER_CONNECTION_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "protos/switchboard/v1/handler.pb.h"

namespace switchboard::server::dispatch {

// A switchboard.v1.Delivery as it goes on the wire, built without serializing or copying its
// Event again: `head` holds the encoded delivery_id, attempt and subscription fields followed by
// the tag and length of field 3 (event), and `event` the serialized Event, shared by every
// subscription and attempt that sends the same event. head + *event is exactly a serialized
// Delivery (protobuf accepts fields in any order), so the wire protocol is unchanged.
struct EncodedDelivery {
  std::string delivery_id;
  std::string head;
  std::shared_ptr<const std::string> event;  // never null

  // Bytes on the wire (the message, without gRPC's 5-byte frame header).
  size_t size() const { return head.size() + event->size(); }

  // The encoding of a delivery whose event is already serialized (`event` must not be null).
  static EncodedDelivery Make(std::string delivery_id, int32_t attempt,
                              const std::string& subscription,
                              std::shared_ptr<const std::string> event);
  // The encoding of `delivery` (serializes its event; for tests and tools).
  static EncodedDelivery FromDelivery(const switchboard::v1::Delivery& delivery);
  // Parses the wire form back (for fakes and tests). False when it does not parse.
  bool Decode(switchboard::v1::Delivery* out) const;
};

class HandlerConnection {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // Stream `stream` is established: Send(stream, ...) may succeed from now on.
    virtual void OnConnected(uint64_t stream) = 0;
    // The handler answered on `stream`. `ack` is untrusted (its delivery_id may be unknown).
    virtual void OnAck(uint64_t stream, const switchboard::v1::Ack& ack) = 0;
    // Stream `stream` ended (why: `status`). `unsent` names the deliveries sent on it that were
    // never written (still queued when it ended): the handler cannot have seen them. The others
    // not acked before this call may or may not have reached it; none of their acks will come.
    virtual void OnDisconnected(uint64_t stream, const absl::Status& status,
                                const std::vector<std::string>& unsent) = 0;
  };

  // Ends the stream (politely if it can, within a short bound, else by cancelling) and returns
  // once no Listener method runs or will run.
  virtual ~HandlerConnection() = default;

  // The member address this connection dials.
  virtual const std::string& address() const = 0;

  // True while a stream is established.
  virtual bool connected() const = 0;

  // Queues `delivery` on stream `stream`. Returns false, and sends nothing, when that stream is
  // not the established one (not connected yet, ended, or replaced by a newer one). Never blocks
  // on the network: the connection keeps an outbox with one write in flight.
  virtual bool Send(uint64_t stream, EncodedDelivery delivery) = 0;

  // The caller gave up on delivery `delivery_id` sent on `stream` (it timed out): if it is
  // still queued behind the write in flight, it is dropped unsent. Returns true exactly then
  // (the handler never received it); false when it was written already or is being written,
  // when `stream` is not the current stream (its outbox is gone with it) or when no queued
  // delivery has that id: it may have reached the handler. Without this, a handler that stops
  // reading (but keeps its stream open) would make the outbox grow by every retry.
  virtual bool Withdraw(uint64_t stream, const std::string& delivery_id) = 0;

  // When not connected, tries to connect now instead of waiting out the reconnect backoff (a
  // member that just registered is probably up).
  virtual void ResetBackoff() = 0;

  // Starts ending the stream and stops reconnecting; returns at once. Once Close has returned
  // no new Listener call starts (one already running may still finish). The destructor
  // completes the close.
  virtual void Close() = 0;
};

class HandlerConnectionFactory {
 public:
  virtual ~HandlerConnectionFactory() = default;

  // A connection to the member at `address` (host:port) that starts connecting at once.
  // `listener` must outlive the returned connection.
  virtual std::unique_ptr<HandlerConnection> Connect(const std::string& address,
                                                     HandlerConnection::Listener* listener) = 0;
};

}  // namespace switchboard::server::dispatch

#endif  // SWITCHBOARD_SERVER_DISPATCH_HANDLER_CONNECTION_H_
