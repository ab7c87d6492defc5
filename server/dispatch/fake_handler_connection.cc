#include "server/dispatch/fake_handler_connection.h"

#include <cstdlib>
#include <utility>

namespace switchboard::server::dispatch {

FakeHandlerConnection::FakeHandlerConnection(FakeHandlerConnectionFactory* factory,
                                             std::string address, Listener* listener)
    : factory_(factory), address_(std::move(address)), listener_(listener) {}

FakeHandlerConnection::~FakeHandlerConnection() {
  factory_->Remove(this);
  absl::Notification* hold = nullptr;
  {
    absl::MutexLock lock(&mu_);
    hold = hold_destruction_;
  }
  if (hold != nullptr) hold->WaitForNotification();
}

void FakeHandlerConnection::HoldDestructionUntil(absl::Notification* until) {
  absl::MutexLock lock(&mu_);
  hold_destruction_ = until;
}

bool FakeHandlerConnection::connected() const {
  absl::MutexLock lock(&mu_);
  return stream_up_ && !closed_;
}

bool FakeHandlerConnection::Send(uint64_t stream, EncodedDelivery delivery) {
  absl::MutexLock lock(&mu_);
  if (closed_ || !stream_up_ || stream != stream_) return false;
  if (stalled_) {
    outbox_.push_back(std::move(delivery));
  } else {
    WriteLocked(std::move(delivery));
  }
  return true;
}

void FakeHandlerConnection::WriteLocked(EncodedDelivery delivery) {
  switchboard::v1::Delivery decoded;
  // The dispatcher's encoding must parse as a Delivery (what a real handler receives).
  if (!delivery.Decode(&decoded)) std::abort();
  sent_.push_back(std::move(decoded));
  sent_events_.push_back(delivery.event);
}

bool FakeHandlerConnection::Withdraw(uint64_t stream, const std::string& delivery_id) {
  absl::MutexLock lock(&mu_);
  withdrawn_.push_back(delivery_id);
  if (!stream_up_ || stream != stream_) return false;
  for (auto it = outbox_.begin(); it != outbox_.end(); ++it) {
    if (it->delivery_id == delivery_id) {
      outbox_.erase(it);
      return true;
    }
  }
  return false;
}

void FakeHandlerConnection::ResetBackoff() {
  absl::MutexLock lock(&mu_);
  ++backoff_resets_;
}

void FakeHandlerConnection::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  outbox_.clear();
}

void FakeHandlerConnection::Stall() {
  absl::MutexLock lock(&mu_);
  stalled_ = true;
}

void FakeHandlerConnection::Unstall() {
  absl::MutexLock lock(&mu_);
  stalled_ = false;
  for (EncodedDelivery& delivery : std::exchange(outbox_, {})) WriteLocked(std::move(delivery));
}

uint64_t FakeHandlerConnection::Up() {
  absl::MutexLock lock(&mu_);
  DownLocked(absl::UnavailableError("stream broke"));
  ++stream_;
  stream_up_ = true;
  listener_->OnConnected(stream_);
  return stream_;
}

void FakeHandlerConnection::Down(absl::Status status) {
  absl::MutexLock lock(&mu_);
  DownLocked(status);
}

void FakeHandlerConnection::DownLocked(const absl::Status& status) {
  if (!stream_up_) return;
  stream_up_ = false;
  std::vector<std::string> unsent;
  for (const EncodedDelivery& d : outbox_) unsent.push_back(d.delivery_id);
  outbox_.clear();
  listener_->OnDisconnected(stream_, status, unsent);
}

void FakeHandlerConnection::Ack(const std::string& delivery_id,
                                switchboard::v1::Ack::Outcome outcome, const std::string& message,
                                absl::Duration retry_after) {
  switchboard::v1::Ack ack;
  ack.set_delivery_id(delivery_id);
  ack.set_outcome(outcome);
  ack.set_message(message);
  if (retry_after > absl::ZeroDuration()) {
    const int64_t nanos = absl::ToInt64Nanoseconds(retry_after);
    ack.mutable_retry_after()->set_seconds(nanos / 1000000000);
    ack.mutable_retry_after()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
  }
  RawAck(ack);
}

void FakeHandlerConnection::RawAck(const switchboard::v1::Ack& ack) {
  absl::MutexLock lock(&mu_);
  if (stream_up_) listener_->OnAck(stream_, ack);
}

std::vector<switchboard::v1::Delivery> FakeHandlerConnection::TakeSent() {
  absl::MutexLock lock(&mu_);
  return std::exchange(sent_, {});
}

bool FakeHandlerConnection::AwaitSent(size_t n, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  const auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return sent_.size() >= n; };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

uint64_t FakeHandlerConnection::stream() const {
  absl::MutexLock lock(&mu_);
  return stream_;
}

bool FakeHandlerConnection::closed() const {
  absl::MutexLock lock(&mu_);
  return closed_;
}

int FakeHandlerConnection::backoff_resets() const {
  absl::MutexLock lock(&mu_);
  return backoff_resets_;
}

std::vector<std::shared_ptr<const std::string>> FakeHandlerConnection::sent_events() const {
  absl::MutexLock lock(&mu_);
  return sent_events_;
}

std::vector<std::string> FakeHandlerConnection::withdrawn() const {
  absl::MutexLock lock(&mu_);
  return withdrawn_;
}

std::vector<std::string> FakeHandlerConnection::queued() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> ids;
  for (const EncodedDelivery& delivery : outbox_) ids.push_back(delivery.delivery_id);
  return ids;
}

std::unique_ptr<HandlerConnection> FakeHandlerConnectionFactory::Connect(
    const std::string& address, HandlerConnection::Listener* listener) {
  auto connection = std::make_unique<FakeHandlerConnection>(this, address, listener);
  absl::MutexLock lock(&mu_);
  live_.emplace(address, connection.get());
  ++connects_[address];
  return connection;
}

FakeHandlerConnection* FakeHandlerConnectionFactory::Get(const std::string& address) const {
  absl::MutexLock lock(&mu_);
  auto range = live_.equal_range(address);
  FakeHandlerConnection* last = nullptr;
  for (auto it = range.first; it != range.second; ++it) last = it->second;
  return last;
}

int FakeHandlerConnectionFactory::connects(const std::string& address) const {
  absl::MutexLock lock(&mu_);
  auto it = connects_.find(address);
  return it == connects_.end() ? 0 : it->second;
}

void FakeHandlerConnectionFactory::Remove(FakeHandlerConnection* connection) {
  absl::MutexLock lock(&mu_);
  for (auto it = live_.begin(); it != live_.end(); ++it) {
    if (it->second == connection) {
      live_.erase(it);
      return;
    }
  }
}

}  // namespace switchboard::server::dispatch
