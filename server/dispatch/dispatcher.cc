#include "server/dispatch/dispatcher.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <functional>
#include <limits>
#include <set>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/base/log.h"
#include "server/base/status_macros.h"
#include "server/base/thread_name.h"
#include "server/dispatch/event_proto.h"
#include "server/dispatch/subscription_spec.h"

namespace switchboard::server::dispatch {
namespace {

// Acks waiting for the worker beyond this are dropped (and counted): a handler spraying acks
// must not grow the gateway's memory. Honest acks are bounded by the windows, far below this.
// Each is kept trimmed (internal::AckToApply), so the inbox stays under about 100 MB.
constexpr size_t kMaxInbox = 100000;
// Delivery ids the gateway issues are shorter (16 hex digits, '-', a decimal counter).
constexpr size_t kMaxDeliveryIdBytes = 64;
// This many acks waiting end the worker's Options::ack_batch_delay at once.
constexpr size_t kAckBatch = 64;
// Reasons kept with retries and dead letters are cut to this many bytes.
constexpr size_t kMaxReasonBytes = 512;
// After a store read fails, the subscription waits this long before reading again.
constexpr absl::Duration kStoreErrorBackoff = absl::Seconds(1);
// After persisting a member drop fails, it is tried again this much later.
constexpr absl::Duration kDropRetry = absl::Seconds(10);
// A member drop that found an admin call running (holding admin_mu_) is tried again this much
// later: soon, but not in a busy loop for as long as the call lasts.
constexpr absl::Duration kDropBusyRetry = absl::Milliseconds(100);
constexpr int kListRetriesMax = 10000;
constexpr int kAdminPage = 1000;
constexpr int64_t kBacklogCap = 1000000;

// The last backlog count of one subscription, for the metrics gauge.
struct BacklogCache {
  absl::Mutex mu;
  absl::Time at ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  double value ABSL_GUARDED_BY(mu) = 0;
};
constexpr int kCountCap = 10000;

// Events after `cursor` matching `types`, up to kBacklogCap. With `*` among the types every event
// matches, and counting them would walk the whole log table (about 5 s per 1,000,000 events of a
// few KB, holding a read transaction meanwhile): the sequence difference gives the same number
// at once, since sequences are dense (events removed by retention after the cursor, which is
// logged loudly, are still counted).
absl::StatusOr<int64_t> CountBacklog(store::DeliveryStore& store,
                                     const std::vector<std::string>& types, int64_t cursor) {
  if (std::find(types.begin(), types.end(), "*") != types.end()) {
    ASSIGN_OR_RETURN(const int64_t last, store.LastSequence());
    return std::clamp<int64_t>(last - cursor, 0, kBacklogCap);
  }
  return store.CountAfter(types, cursor, kBacklogCap);
}

// Cut to kMaxReasonBytes without splitting a UTF-8 sequence (the reason is shown in protobuf
// strings, which must stay valid UTF-8).
std::string TruncateReason(absl::string_view reason) {
  if (reason.size() <= kMaxReasonBytes) return std::string(reason);
  size_t n = kMaxReasonBytes;
  while (n > 0 && (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80) --n;
  return std::string(reason.substr(0, n));
}

bool SameMessage(const google::protobuf::Message& a, const google::protobuf::Message& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

std::string StatusText(const absl::Status& s) {
  return absl::StrCat(absl::StatusCodeToString(s.code()), ": ", s.message());
}

// The monotonic time at which the wall clock reads `wall` (`now` if it already has), should it
// not be stepped meanwhile: how a retry's due time joins the in-memory deadlines.
absl::Time MonotonicWhenWallReads(const Dispatcher::Instant& now, absl::Time wall) {
  return now.monotonic + std::max(wall - now.wall, absl::ZeroDuration());
}

// The later reading of each clock.
Dispatcher::Instant Later(const Dispatcher::Instant& a, const Dispatcher::Instant& b) {
  return {std::max(a.wall, b.wall), std::max(a.monotonic, b.monotonic)};
}

}  // namespace

namespace internal {

switchboard::v1::Ack AckToApply(const switchboard::v1::Ack& ack) {
  switchboard::v1::Ack out;
  // A longer id is none of ours: kept empty, it names no delivery (counted as unknown).
  if (ack.delivery_id().size() <= kMaxDeliveryIdBytes) out.set_delivery_id(ack.delivery_id());
  out.set_outcome(ack.outcome());
  out.set_message(TruncateReason(ack.message()));
  if (ack.has_retry_after()) *out.mutable_retry_after() = ack.retry_after();
  return out;
}

}  // namespace internal

struct Dispatcher::Item {
  // raw_json is released once `encoded` is made (the encoding carries it).
  store::EventRecord record;
  // The serialized Event, made when first sent and shared with other subscriptions.
  std::shared_ptr<const std::string> encoded;
  // Parked in the store as a RetryRecord (from a retry, a replay or a redrive); else read from
  // the log past the cursor.
  bool is_retry = false;
  // Attempts that reached a handler before this one.
  int32_t attempts = 0;
  absl::Time first_attempt_at = absl::InfinitePast();  // wall, stored with the retry
  bool in_flight = false;
  uint64_t member = 0;
  uint64_t stream = 0;
  std::string delivery_id;
  // Wall: the first_attempt_at of the retry record when this is the first attempt.
  absl::Time sent_at;
  absl::Time deadline;  // monotonic: sent + delivery_timeout
};

struct Dispatcher::Member {
  uint64_t id = 0;
  std::string address;
  absl::Time registered_at;                             // wall, stored
  absl::Time last_connected_at = absl::InfinitePast();  // wall, shown by ListSubscriptions
  bool connected = false;
  uint64_t stream = 0;
  absl::Time unreachable_since;  // monotonic; InfiniteFuture while connected
  // Unsubscribed: no new deliveries; removed once nothing is in flight on it.
  bool draining = false;
  // Listed in the config file for a static subscription: never dropped.
  bool from_config = false;
  absl::Time drop_retry_at = absl::InfinitePast();  // monotonic
  int in_flight = 0;
  std::unique_ptr<MemberListener> listener;
  std::unique_ptr<HandlerConnection> connection;
};

struct Dispatcher::SubMetrics {
  metrics::Counter* delivered = nullptr;
  metrics::Counter* retries = nullptr;
  metrics::Counter* dead_letters = nullptr;
  metrics::Histogram* latency = nullptr;
  std::atomic<int64_t> in_flight{0};
  std::atomic<int64_t> connected{0};
  store::DeliveryStore* store = nullptr;
  absl::Mutex mu;
  // False while the subscription does not exist (or the dispatcher is shut down): the backlog
  // gauge then reads 0 without touching the store.
  bool live ABSL_GUARDED_BY(mu) = false;
  std::vector<std::string> types ABSL_GUARDED_BY(mu);
  int64_t cursor ABSL_GUARDED_BY(mu) = 0;
};

struct Dispatcher::Sub {
  uint64_t id = 0;
  // Normalized spec fields only (no members, static, created_at).
  switchboard::v1::Subscription spec;
  bool is_static = false;
  absl::Time created_at;
  std::set<std::string> config_members;
  RetryPolicy policy;
  absl::Duration timeout = kDefaultDeliveryTimeout;
  bool per_object = false;
  int max_in_flight = kDefaultMaxInFlight;

  int64_t cursor = 0;    // low watermark (in memory; committed by FlushProgress)
  int64_t read_pos = 0;  // every event up to this sequence has been read from the log
  // Loaded from the store (a restart): events above the stored cursor may have been handled
  // before it, while the cursor was held back below them by an event still in flight. Those
  // with a retry record or a dead letter then are in `parked_ahead`: the log read skips them
  // (the retry record delivers them; a dead letter stays one) and forgets them once past.
  // Log items up to `reread_to` (the log's end at the load) remove any retry record of their
  // event when they finish, so none is left to deliver it again. Both are empty (0) for a
  // subscription created since the load, and in steady state.
  std::set<int64_t> parked_ahead;
  int64_t reread_to = 0;
  bool maybe_more = true;
  absl::Time next_read_at = absl::InfinitePast();  // monotonic (a store-error backoff)
  // No parked retry that is not loaded is due before this, and after a store error retries are
  // not read again before it: wall, as the retries' next_at.
  absl::Time retry_hint = absl::InfinitePast();

  // Events held in memory (log and retry items), by sequence.
  std::map<int64_t, Item> items;
  // Sequences of log items (the cursor stays below the first).
  std::set<int64_t> log_seqs;
  // Items not in flight, retries first, each in sequence order: (is_retry ? 0 : 1, sequence).
  std::set<std::pair<int, int64_t>> waiting;
  std::set<std::pair<absl::Time, int64_t>> deadlines;  // (Item::deadline, sequence)
  absl::flat_hash_map<std::string, int64_t> by_delivery;
  absl::flat_hash_map<std::string, int> objects_in_flight;
  int in_flight = 0;
  // The last SendLocked stopped at an event not encoded yet, with room in the window.
  bool awaits_encoding = false;

  std::vector<std::unique_ptr<Member>> members;
  size_t next_member = 0;
  std::shared_ptr<SubMetrics> metrics;

  Member* FindMember(uint64_t member_id) {
    for (auto& m : members) {
      if (m->id == member_id) return m.get();
    }
    return nullptr;
  }
  Member* FindMember(absl::string_view address) {
    for (auto& m : members) {
      if (m->address == address) return m.get();
    }
    return nullptr;
  }
  bool CanSend() const {
    for (const auto& m : members) {
      if (m->connected && !m->draining) return true;
    }
    return false;
  }
  int Capacity(int read_ahead) const { return max_in_flight + read_ahead; }
};

struct Dispatcher::InboxEntry {
  enum class Kind { kConnected, kAck, kDisconnected };
  Kind kind = Kind::kAck;
  uint64_t member = 0;
  uint64_t stream = 0;
  switchboard::v1::Ack ack;
  absl::Status status;
  std::vector<std::string> unsent;  // kDisconnected: deliveries never written
};

// Forwards one member's connection events to the dispatcher's inbox (never blocks: a short
// mutex, no store access, no call back into the connection).
class Dispatcher::MemberListener final : public HandlerConnection::Listener {
 public:
  MemberListener(Dispatcher* dispatcher, uint64_t member)
      : dispatcher_(dispatcher), member_(member) {}

  void OnConnected(uint64_t stream) override {
    InboxEntry e;
    e.kind = InboxEntry::Kind::kConnected;
    e.member = member_;
    e.stream = stream;
    dispatcher_->Post(std::move(e));
  }
  void OnAck(uint64_t stream, const switchboard::v1::Ack& ack) override {
    InboxEntry e;
    e.kind = InboxEntry::Kind::kAck;
    e.member = member_;
    e.stream = stream;
    // Not the whole Ack: its message may be up to 64 KiB, and up to kMaxInbox of them wait.
    e.ack = internal::AckToApply(ack);
    dispatcher_->Post(std::move(e));
  }
  void OnDisconnected(uint64_t stream, const absl::Status& status,
                      const std::vector<std::string>& unsent) override {
    InboxEntry e;
    e.kind = InboxEntry::Kind::kDisconnected;
    e.member = member_;
    e.stream = stream;
    e.status = status;
    e.unsent = unsent;
    dispatcher_->Post(std::move(e));
  }

 private:
  Dispatcher* const dispatcher_;
  const uint64_t member_;
};

// A removed member's connection and the listener it calls; the connection goes first.
struct Dispatcher::Retired {
  std::unique_ptr<MemberListener> listener;
  std::unique_ptr<HandlerConnection> connection;
  ~Retired() { connection.reset(); }
};

// ---------------------------------------------------------------------------------------------
// Construction, threads, shutdown.

Dispatcher::Dispatcher(Options options, Deps deps) : options_(std::move(options)), deps_(deps) {
  unknown_acks_ = deps_.metrics->AddCounter(
      "switchboard_delivery_unknown_acks_total",
      "Acks from handlers naming no outstanding delivery (late, duplicate or garbage).");
  dropped_acks_ = deps_.metrics->AddCounter(
      "switchboard_delivery_dropped_acks_total",
      "Acks dropped because the dispatcher's inbox was full (the deliveries time out instead).");
  commit_failures_ = deps_.metrics->AddCounter(
      "switchboard_delivery_progress_commit_failures_total",
      "Failed commits of delivery progress (retried with the next batch).");
  missing_events_ = deps_.metrics->AddCounter(
      "switchboard_delivery_missing_events_total",
      "Retries or replays whose event was no longer stored (removed by retention).");
  typed_misses_ = deps_.metrics->AddCounter(
      "switchboard_convert_typed_misses_total",
      "Values in delivered events that did not fit their typed stripe.v1 field (left unset; the "
      "Struct and raw JSON keep them; paths in EventData.typed_misses). Counted when an event is "
      "converted for delivery: once per event, again after a restart or for a replay.");
  retention_unfinished_ = deps_.metrics->AddCounter(
      "switchboard_retention_unfinished_removed_total",
      "Events removed by retention before some subscription had finished them (never silent: "
      "each is also logged).");
  retention_dead_letters_ = deps_.metrics->AddCounter(
      "switchboard_retention_dead_letters_removed_total",
      "Dead letters removed because retention had removed their event (they could no longer be "
      "redriven; each subscription's count is also logged).");
  // Delivery ids are unique per attempt, also across restarts of the gateway.
  char prefix[17];
  std::snprintf(prefix, sizeof(prefix), "%08" PRIx64 "%08" PRIx64,
                static_cast<uint64_t>(deps_.random->Uniform() * 4294967296.0),
                static_cast<uint64_t>(absl::ToUnixSeconds(deps_.clock->Now())) & 0xffffffffu);
  delivery_prefix_ = prefix;
}

absl::StatusOr<std::unique_ptr<Dispatcher>> Dispatcher::Create(Options options, Deps deps) {
  if (deps.events == nullptr || deps.delivery == nullptr || deps.converter == nullptr ||
      deps.connections == nullptr || deps.clock == nullptr || deps.random == nullptr ||
      deps.metrics == nullptr) {
    return absl::InvalidArgumentError("Dispatcher: every dependency is required");
  }
  if (options.progress_flush_interval <= absl::ZeroDuration() ||
      options.member_grace <= absl::ZeroDuration() ||
      options.poll_interval <= absl::ZeroDuration() || options.read_ahead < 0 ||
      options.ack_batch_delay < absl::ZeroDuration() || options.encoder_threads < 0 ||
      options.max_delivery_bytes < 1024) {
    return absl::InvalidArgumentError(
        "Dispatcher: progress_flush_interval, member_grace and poll_interval must be positive, "
        "read_ahead >= 0, ack_batch_delay >= 0, encoder_threads >= 0, max_delivery_bytes >= 1024");
  }
  std::unique_ptr<Dispatcher> d(new Dispatcher(std::move(options), deps));
  RETURN_IF_ERROR(d->Load());
  return d;
}

Dispatcher::~Dispatcher() { Shutdown(); }

void Dispatcher::Start() {
  absl::MutexLock lock(&wake_mu_);
  if (started_ || stopping_) return;
  started_ = true;
  {
    absl::MutexLock encode_lock(&encode_mu_);
    for (int i = 0; i < options_.encoder_threads; ++i) {
      encoders_.emplace_back([this] {
        base::SetThreadName("sb-encode");
        EncoderLoop();
      });
    }
  }
  worker_ = std::thread([this] {
    base::SetThreadName("sb-dispatch");
    WorkerLoop();
  });
  flusher_ = std::thread([this] {
    base::SetThreadName("sb-progress");
    FlusherLoop();
  });
  {
    absl::MutexLock reap_lock(&reap_mu_);
    reaping_ = true;
  }
  reaper_ = std::thread([this] {
    base::SetThreadName("sb-reaper");
    ReaperLoop();
  });
}

void Dispatcher::WorkerLoop() {
  const auto woken = [this]()
                         ABSL_EXCLUSIVE_LOCKS_REQUIRED(wake_mu_) { return wake_ || stopping_; };
  const auto urgent = [this]()
                          ABSL_EXCLUSIVE_LOCKS_REQUIRED(wake_mu_) { return urgent_ || stopping_; };
  while (true) {
    const Instant now = Instant::Of(*deps_.clock);
    const absl::Time next = std::min(ProcessDue(now), now.monotonic + options_.poll_interval);
    absl::MutexLock lock(&wake_mu_);
    if (!woken()) {
      wake_mu_.AwaitWithTimeout(absl::Condition(&woken),
                                std::max(next - deps_.clock->Monotonic(), absl::ZeroDuration()));
    }
    // Woken by acks alone: they come one gRPC callback each, so let a few more arrive and
    // handle them in one pass (one wake-up and one burst of sends instead of one per ack).
    if (wake_ && !urgent_ && options_.ack_batch_delay > absl::ZeroDuration() &&
        busy_.load(std::memory_order_relaxed)) {
      wake_mu_.AwaitWithTimeout(absl::Condition(&urgent), options_.ack_batch_delay);
    }
    if (stopping_) return;
    wake_ = false;
    urgent_ = false;
  }
}

void Dispatcher::FlusherLoop() {
  const auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(wake_mu_) { return stopping_; };
  while (true) {
    {
      absl::MutexLock lock(&wake_mu_);
      if (wake_mu_.AwaitWithTimeout(absl::Condition(&stopping), options_.progress_flush_interval)) {
        return;  // Shutdown flushes once more itself.
      }
    }
    FlushProgress().IgnoreError();  // logged and counted inside
  }
}

void Dispatcher::Shutdown() {
  {
    absl::MutexLock lock(&wake_mu_);
    if (shutdown_done_) return;
    shutdown_done_ = true;
    stopping_ = true;
  }
  if (worker_.joinable()) worker_.join();
  if (flusher_.joinable()) flusher_.join();
  {
    absl::MutexLock lock(&reap_mu_);
    reap_stop_ = true;
    reaping_ = false;
  }
  if (reaper_.joinable()) reaper_.join();  // after destroying what it was given
  std::vector<std::thread> encoders;
  {
    absl::MutexLock lock(&encode_mu_);
    encode_stopping_ = true;
    encoders.swap(encoders_);
  }
  for (std::thread& t : encoders) t.join();

  std::vector<std::unique_ptr<Retired>> closing;
  {
    absl::MutexLock lock(&mu_);
    shut_down_ = true;
    for (auto& [name, sub] : subs_) {
      for (auto& m : sub->members) {
        auto r = std::make_unique<Retired>();
        r->listener = std::move(m->listener);
        r->connection = std::move(m->connection);
        closing.push_back(std::move(r));
      }
    }
    for (auto& r : retired_) closing.push_back(std::move(r));
    retired_.clear();
  }
  // Close all first so the streams wind down in parallel, then wait for each.
  for (auto& r : closing) {
    if (r->connection != nullptr) r->connection->Close();
  }
  closing.clear();
  {
    absl::MutexLock lock(&mu_);
    DrainInboxLocked(Instant::Of(*deps_.clock), /*final=*/true);
    for (auto& [name, sub] : subs_) AdvanceCursorLocked(*sub);
  }
  if (absl::Status s = FlushProgress(); !s.ok()) {
    SB_LOG(ERROR) << "delivery_final_flush_failed error=" << base::Quoted(StatusText(s));
  }
  absl::MutexLock lock(&metrics_mu_);
  for (auto& [name, m] : metrics_) {
    absl::MutexLock l(&m->mu);
    m->live = false;
  }
}

void Dispatcher::Notify() {
  // Every request of a committed batch calls this at about the same moment: the first one wakes
  // the worker, the others return here without touching the lock. ProcessDue clears the flag
  // before it reads the log, so an append committed after that read sets it, and wakes, again.
  if (notified_.exchange(true, std::memory_order_acq_rel)) return;
  absl::MutexLock lock(&wake_mu_);
  wake_ = true;
  urgent_ = true;
}

void Dispatcher::Post(InboxEntry entry) {
  const bool ack = entry.kind == InboxEntry::Kind::kAck;
  size_t queued = 0;
  {
    absl::MutexLock lock(&inbox_mu_);
    if (ack && inbox_.size() >= kMaxInbox) {
      dropped_acks_->Increment();
      return;
    }
    inbox_.push_back(std::move(entry));
    queued = inbox_.size();
  }
  absl::MutexLock lock(&wake_mu_);
  wake_ = true;
  if (!ack || queued >= kAckBatch) urgent_ = true;
}

std::shared_ptr<Dispatcher::SubMetrics> Dispatcher::MetricsFor(const std::string& name) {
  absl::MutexLock lock(&metrics_mu_);
  std::shared_ptr<SubMetrics>& m = metrics_[name];
  if (m != nullptr) return m;
  m = std::make_shared<SubMetrics>();
  m->store = deps_.delivery;
  const metrics::Labels labels = {{"subscription", name}};
  metrics::Registry& r = *deps_.metrics;
  m->delivered = r.AddCounter("switchboard_delivery_delivered_total",
                              "Deliveries acknowledged OK, by subscription.", labels);
  m->retries = r.AddCounter("switchboard_delivery_retries_total",
                            "Failed attempts scheduled for a retry (RETRY, UNSPECIFIED, timeout, "
                            "broken stream), by subscription.",
                            labels);
  m->dead_letters = r.AddCounter("switchboard_delivery_dead_letters_total",
                                 "Events moved to the dead letters (REJECT or retry policy "
                                 "exhausted), by subscription.",
                                 labels);
  m->latency = r.AddHistogram("switchboard_delivery_latency_seconds",
                              "From an event's receipt by the gateway to its OK ack, by "
                              "subscription (retries included).",
                              metrics::Registry::LatencyBuckets(), labels);
  SubMetrics* raw = m.get();
  std::shared_ptr<SubMetrics> keep = m;
  r.AddGauge(
      "switchboard_delivery_in_flight", "Unacknowledged deliveries, by subscription.",
      [keep] { return static_cast<double>(keep->in_flight.load(std::memory_order_relaxed)); },
      labels);
  r.AddGauge(
      "switchboard_delivery_members_connected", "Members with an open stream, by subscription.",
      [keep] { return static_cast<double>(keep->connected.load(std::memory_order_relaxed)); },
      labels);
  r.AddGauge(
      "switchboard_delivery_backlog",
      "Events after the subscription's cursor that match its types (parked retries not "
      "included), counted up to 1e6, refreshed at most every 5 s.",
      [keep, raw, cache = std::make_shared<BacklogCache>()] {
        absl::MutexLock cache_lock(&cache->mu);
        // Counting can walk up to 1e6 index entries: a scrape every second must not turn into
        // a long read that holds back WAL checkpoints (DESIGN §5).
        const absl::Time now = base::MonotonicNow();
        if (now - cache->at < absl::Seconds(5)) return cache->value;
        std::vector<std::string> types;
        int64_t cursor = 0;
        {
          absl::MutexLock lock(&raw->mu);
          if (!raw->live) return 0.0;
          types = raw->types;
          cursor = raw->cursor;
        }
        absl::StatusOr<int64_t> n = CountBacklog(*raw->store, types, cursor);
        cache->value = n.ok() ? static_cast<double>(*n) : 0.0;
        cache->at = now;
        return cache->value;
      },
      labels);
  return m;
}

// ---------------------------------------------------------------------------------------------
// Loading and spec bookkeeping.

absl::StatusOr<int64_t> Dispatcher::ResolveStart(const switchboard::v1::StartPosition& start) {
  switch (start.position_case()) {
    case switchboard::v1::StartPosition::kBeginning:
      return start.beginning() ? int64_t{0} : deps_.delivery->LastSequence();
    case switchboard::v1::StartPosition::kTime:
      return deps_.delivery->LastSequenceReceivedBefore(FromProtoTime(start.time()));
    case switchboard::v1::StartPosition::kNow:
    case switchboard::v1::StartPosition::POSITION_NOT_SET:
      break;
  }
  return deps_.delivery->LastSequence();
}

absl::Status Dispatcher::Load() {
  const Instant now = Instant::Of(*deps_.clock);
  ASSIGN_OR_RETURN(std::vector<store::SubscriptionRecord> records,
                   deps_.delivery->ListSubscriptions());
  struct Loaded {
    switchboard::v1::Subscription stored;  // normalized spec + static + members + created_at
    int64_t cursor = 0;
    bool dirty = false;
    std::set<std::string> config_members;
  };
  std::map<std::string, Loaded> loaded;
  for (const store::SubscriptionRecord& record : records) {
    switchboard::v1::Subscription stored;
    if (!stored.ParseFromString(record.spec)) {
      SB_LOG(ERROR) << "subscription_unreadable name=" << record.name
                    << " action=skipped (its stored spec does not parse)";
      continue;
    }
    stored.set_name(record.name);
    absl::StatusOr<switchboard::v1::Subscription> normalized = NormalizeSubscription(stored);
    if (!normalized.ok()) {
      SB_LOG(ERROR) << "subscription_invalid name=" << record.name
                    << " action=skipped error=" << base::Quoted(normalized.status().message());
      continue;
    }
    normalized->set_static_(stored.static_());
    *normalized->mutable_members() = stored.members();
    *normalized->mutable_created_at() = ToProtoTime(record.created_at);
    loaded[record.name] = Loaded{*std::move(normalized), record.cursor, false, {}};
  }

  std::set<std::string> static_names;
  for (const switchboard::v1::Subscription& config : options_.static_subscriptions) {
    const std::string& name = config.name();
    absl::StatusOr<switchboard::v1::Subscription> normalized = NormalizeSubscription(config);
    if (!normalized.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("config subscription \"", name, "\": ", normalized.status().message()));
    }
    if (!static_names.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("config subscription \"", name, "\" is listed twice"));
    }
    if (absl::Status s = ValidateStartPosition(config.start()); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("config subscription \"", name, "\": ", s.message()));
    }
    switchboard::v1::Subscription next = *std::move(normalized);
    next.set_static_(true);
    auto it = loaded.find(name);
    std::set<std::string> config_members;
    for (const switchboard::v1::Member& m : config.members()) {
      if (absl::Status s = ValidateMemberAddress(m.address()); !s.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("config subscription \"", name, "\": ", s.message()));
      }
      if (!config_members.insert(m.address()).second) continue;
      switchboard::v1::Member* added = next.add_members();
      added->set_address(m.address());
      *added->mutable_registered_at() = ToProtoTime(now.wall);
      if (it != loaded.end()) {
        for (const switchboard::v1::Member& old : it->second.stored.members()) {
          if (old.address() == m.address()) *added->mutable_registered_at() = old.registered_at();
        }
      }
    }
    if (it != loaded.end()) {
      // Members registered through Subscribe stay (they are dropped after their grace if gone).
      for (const switchboard::v1::Member& old : it->second.stored.members()) {
        if (config_members.count(old.address()) == 0) *next.add_members() = old;
      }
      *next.mutable_created_at() = it->second.stored.created_at();
      it->second.dirty = !SameMessage(next, it->second.stored);
      it->second.stored = std::move(next);
      it->second.config_members = std::move(config_members);
    } else {
      ASSIGN_OR_RETURN(int64_t cursor, ResolveStart(config.start()));
      *next.mutable_created_at() = ToProtoTime(now.wall);
      loaded[name] = Loaded{std::move(next), cursor, true, std::move(config_members)};
    }
  }
  for (auto& [name, l] : loaded) {
    if (l.stored.static_() && static_names.count(name) == 0) {
      SB_LOG(WARNING) << "subscription_no_longer_static name=" << name
                      << " action=kept_as_dynamic (Unsubscribe removes it)";
      l.stored.set_static_(false);
      l.dirty = true;
    }
    if (!l.dirty) continue;
    store::SubscriptionRecord record;
    record.name = name;
    record.spec = l.stored.SerializeAsString();
    record.cursor = l.cursor;
    record.created_at = FromProtoTime(l.stored.created_at());
    RETURN_IF_ERROR(deps_.delivery->PutSubscription(record));
  }

  // Events above a cursor may have been handled before the restart (see Sub::parked_ahead):
  // every event up to the log's end now, and only those parked or dead-lettered need skipping.
  ASSIGN_OR_RETURN(const int64_t reread_to, deps_.delivery->LastSequence());
  for (auto& [name, l] : loaded) {
    std::set<int64_t> parked_ahead;
    for (int64_t after = l.cursor;;) {
      ASSIGN_OR_RETURN(std::vector<store::RetryRecord> page,
                       deps_.delivery->ListRetriesAfter(name, after, kAdminPage));
      for (const store::RetryRecord& r : page) parked_ahead.insert(r.sequence);
      if (static_cast<int>(page.size()) < kAdminPage) break;
      after = page.back().sequence;
    }
    for (int64_t after = l.cursor;;) {
      ASSIGN_OR_RETURN(std::vector<store::DeadLetterRecord> page,
                       deps_.delivery->ListDeadLetters(name, after, kAdminPage));
      for (const store::DeadLetterRecord& d : page) parked_ahead.insert(d.sequence);
      if (static_cast<int>(page.size()) < kAdminPage) break;
      after = page.back().sequence;
    }
    std::shared_ptr<SubMetrics> m = MetricsFor(name);
    absl::MutexLock lock(&mu_);
    Sub* sub = AddSubLocked(l.stored, l.cursor, l.config_members, std::move(m), now);
    sub->parked_ahead = std::move(parked_ahead);
    sub->reread_to = reread_to;
    SB_LOG(INFO) << "subscription_loaded name=" << name << " cursor=" << l.cursor
                 << " parked_ahead=" << sub->parked_ahead.size()
                 << " static=" << (sub->is_static ? "true" : "false")
                 << " members=" << sub->members.size();
  }
  return absl::OkStatus();
}

int64_t Dispatcher::ParkedAheadForTesting(const std::string& subscription) const {
  absl::MutexLock lock(&mu_);
  auto it = subs_.find(subscription);
  return it == subs_.end() ? -1 : static_cast<int64_t>(it->second->parked_ahead.size());
}

Dispatcher::Sub* Dispatcher::FindSubLocked(const std::string& name) {
  auto it = subs_.find(name);
  return it == subs_.end() ? nullptr : it->second.get();
}

absl::StatusOr<Dispatcher::Sub*> Dispatcher::SameSubLocked(const std::string& name, uint64_t id) {
  Sub* sub = FindSubLocked(name);
  if (sub == nullptr || sub->id != id) {
    return absl::NotFoundError(absl::StrCat("subscription \"", name, "\" was removed"));
  }
  return sub;
}

Dispatcher::Sub* Dispatcher::AddSubLocked(const switchboard::v1::Subscription& stored,
                                          int64_t cursor,
                                          const std::set<std::string>& config_members,
                                          std::shared_ptr<SubMetrics> metrics, const Instant& now) {
  auto sub = std::make_unique<Sub>();
  sub->id = ++next_id_;
  sub->cursor = cursor;
  sub->read_pos = cursor;
  sub->metrics = std::move(metrics);
  sub->config_members = config_members;
  Sub* raw = sub.get();
  subs_[stored.name()] = std::move(sub);
  ApplySpecLocked(*raw, stored, now);
  {
    absl::MutexLock lock(&raw->metrics->mu);
    raw->metrics->live = true;
    raw->metrics->cursor = cursor;
  }
  return raw;
}

void Dispatcher::ApplySpecLocked(Sub& sub, const switchboard::v1::Subscription& stored,
                                 const Instant& now) {
  sub.spec = stored;
  sub.spec.clear_members();
  sub.spec.clear_static_();
  sub.spec.clear_created_at();
  sub.spec.clear_stats();
  sub.spec.clear_start();
  sub.is_static = stored.static_();
  sub.created_at = FromProtoTime(stored.created_at());
  sub.policy = RetryPolicy::FromProto(sub.spec.retry_policy());
  sub.timeout = FromProtoDuration(sub.spec.delivery_timeout());
  sub.per_object = sub.spec.ordering() == switchboard::v1::Subscription::PER_OBJECT;
  sub.max_in_flight = sub.spec.max_in_flight();
  for (const switchboard::v1::Member& m : stored.members()) {
    if (Member* existing = sub.FindMember(m.address())) {
      existing->draining = false;
      continue;
    }
    AddMemberLocked(sub, m.address(), FromProtoTime(m.registered_at()),
                    sub.config_members.count(m.address()) > 0, now);
  }
  absl::MutexLock lock(&sub.metrics->mu);
  sub.metrics->types.assign(sub.spec.event_types().begin(), sub.spec.event_types().end());
}

switchboard::v1::Subscription Dispatcher::StoredSpecLocked(const Sub& sub) const {
  switchboard::v1::Subscription out = sub.spec;
  out.set_static_(sub.is_static);
  *out.mutable_created_at() = ToProtoTime(sub.created_at);
  for (const auto& m : sub.members) {
    if (m->draining) continue;
    switchboard::v1::Member* pm = out.add_members();
    pm->set_address(m->address);
    *pm->mutable_registered_at() = ToProtoTime(m->registered_at);
  }
  return out;
}

switchboard::v1::Subscription Dispatcher::OutputLocked(const Sub& sub) const {
  switchboard::v1::Subscription out = StoredSpecLocked(sub);
  for (switchboard::v1::Member& pm : *out.mutable_members()) {
    for (const auto& m : sub.members) {
      if (m->address != pm.address() || m->draining) continue;
      pm.set_connected(m->connected);
      if (m->last_connected_at != absl::InfinitePast()) {
        *pm.mutable_last_connected_at() = ToProtoTime(m->last_connected_at);
      }
    }
  }
  switchboard::v1::SubscriptionStats* stats = out.mutable_stats();
  stats->set_in_flight(sub.in_flight);
  stats->set_delivered(sub.metrics->delivered->Value());
  stats->set_retries(sub.metrics->retries->Value());
  return out;
}

void Dispatcher::AddMemberLocked(Sub& sub, const std::string& address, absl::Time registered_at,
                                 bool from_config, const Instant& now) {
  auto m = std::make_unique<Member>();
  m->id = ++next_id_;
  m->address = address;
  m->registered_at = registered_at;
  m->from_config = from_config;
  m->unreachable_since = now.monotonic;
  m->listener = std::make_unique<MemberListener>(this, m->id);
  m->connection = deps_.connections->Connect(address, m->listener.get());
  sub_of_member_[m->id] = &sub;
  sub.members.push_back(std::move(m));
}

void Dispatcher::RemoveMemberLocked(Sub& sub, uint64_t member_id) {
  auto it = std::find_if(sub.members.begin(), sub.members.end(),
                         [&](const auto& m) { return m->id == member_id; });
  if (it == sub.members.end()) return;
  // Its outstanding deliveries go back to the queue for the other members. The gateway chose to
  // stop waiting for them, so no attempt is counted.
  for (auto& [sequence, item] : sub.items) {
    if (item.in_flight && item.member == member_id) RequeueUnsentLocked(sub, sequence);
  }
  auto r = std::make_unique<Retired>();
  r->listener = std::move((*it)->listener);
  r->connection = std::move((*it)->connection);
  retired_.push_back(std::move(r));
  sub_of_member_.erase(member_id);
  sub.members.erase(it);
}

void Dispatcher::RemoveSubLocked(const std::string& name) {
  auto it = subs_.find(name);
  if (it == subs_.end()) return;
  Sub& sub = *it->second;
  for (auto& m : sub.members) {
    auto r = std::make_unique<Retired>();
    r->listener = std::move(m->listener);
    r->connection = std::move(m->connection);
    retired_.push_back(std::move(r));
    sub_of_member_.erase(m->id);
  }
  sub.metrics->in_flight.store(0);
  sub.metrics->connected.store(0);
  {
    absl::MutexLock lock(&sub.metrics->mu);
    sub.metrics->live = false;
  }
  pending_.Forget(name);
  subs_.erase(it);
}

void Dispatcher::BuryRetired() {
  std::vector<std::unique_ptr<Retired>> dead;
  {
    absl::MutexLock lock(&mu_);
    dead.swap(retired_);
  }
  if (dead.empty()) return;
  // Close all first so the streams wind down together.
  for (auto& r : dead) r->connection->Close();
  absl::MutexLock lock(&reap_mu_);
  if (!reaping_) return;  // not started: destroyed here, on leaving
  for (auto& r : dead) to_reap_.push_back(std::move(r));
}

void Dispatcher::ReaperLoop() {
  const auto work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(reap_mu_) {
    return !to_reap_.empty() || reap_stop_;
  };
  while (true) {
    std::vector<std::unique_ptr<Retired>> dead;
    {
      absl::MutexLock lock(&reap_mu_);
      reap_mu_.Await(absl::Condition(&work));
      if (to_reap_.empty()) return;  // stopping, and nothing left
      dead.swap(to_reap_);
    }
    dead.clear();  // each waits for its stream to end (bounded by its close_grace)
  }
}

// ---------------------------------------------------------------------------------------------
// The worker's pass.

absl::Time Dispatcher::ProcessDue(Instant now) {
  std::vector<std::pair<std::string, std::string>> drops;
  absl::Time next = absl::InfiniteFuture();
  std::vector<EncodeJob> jobs;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return absl::InfiniteFuture();
    DrainInboxLocked(now, /*final=*/false);
    const bool notified = notified_.exchange(false, std::memory_order_acq_rel);
    const bool poll = now.monotonic >= next_poll_at_;
    if (poll) next_poll_at_ = now.monotonic + options_.poll_interval;
    if (notified || poll) {
      for (auto& [name, sub] : subs_) sub->maybe_more = true;
    }
    PassReads reads;
    for (auto& [name, sub] : subs_) ProcessSubLocked(*sub, now, &drops, &reads);
    absl::flat_hash_map<int64_t, size_t> job_of;
    for (auto& [name, sub] : subs_) CollectEncodeJobsLocked(*sub, &jobs, &job_of);
  }
  // Converting stored JSON into the Event a delivery carries is the costly part of sending:
  // done without mu_ (admin calls and the backlog gauge are not held up) and spread over the
  // encoder threads.
  EncodeJobs(jobs);
  // Deliveries are sent, and their deadlines start, now: the store reads and the encoding above
  // took time (never earlier than `now`, should the wall clock step back).
  const Instant sent_at = Later(now, Instant::Of(*deps_.clock));
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return absl::InfiniteFuture();
    AttachEncodedLocked(jobs, sent_at);
    int64_t in_flight = 0;
    for (auto& [name, sub] : subs_) {
      SendLocked(*sub, sent_at);
      AdvanceCursorLocked(*sub);
      in_flight += sub->in_flight;
    }
    busy_.store(in_flight >= static_cast<int64_t>(kAckBatch), std::memory_order_relaxed);
    next = NextWakeLocked(sent_at);
  }
  if (!drops.empty()) {
    DropExpiredMembers(sent_at, drops);
    // Members dropped, or their drops put off: the next wake-up is computed again.
    absl::MutexLock lock(&mu_);
    if (shut_down_) return absl::InfiniteFuture();
    next = NextWakeLocked(sent_at);
  }
  BuryRetired();
  return next;
}

void Dispatcher::DrainInboxLocked(const Instant& now, bool final) {
  std::vector<InboxEntry> entries;
  {
    absl::MutexLock lock(&inbox_mu_);
    entries.swap(inbox_);
  }
  for (InboxEntry& e : entries) {
    auto it = sub_of_member_.find(e.member);
    Sub* sub = it == sub_of_member_.end() ? nullptr : it->second;
    Member* m = sub == nullptr ? nullptr : sub->FindMember(e.member);
    if (m == nullptr) {
      if (e.kind == InboxEntry::Kind::kAck) unknown_acks_->Increment();
      continue;  // a removed member
    }
    switch (e.kind) {
      case InboxEntry::Kind::kConnected:
        if (final) break;
        m->connected = true;
        m->stream = e.stream;
        m->last_connected_at = now.wall;
        m->unreachable_since = absl::InfiniteFuture();
        SB_LOG(INFO) << "member_connected subscription=" << sub->spec.name()
                     << " member=" << m->address << " stream=" << e.stream;
        break;
      case InboxEntry::Kind::kDisconnected: {
        // At shutdown the gateway closed the streams itself: outstanding deliveries are simply
        // sent again after the restart, no attempt counted.
        if (final) break;
        if (m->stream == e.stream && m->connected) {
          m->connected = false;
          m->unreachable_since = now.monotonic;
        }
        std::vector<int64_t> broken;
        std::vector<int64_t> unsent;
        const absl::flat_hash_set<std::string> unsent_ids(e.unsent.begin(), e.unsent.end());
        for (const auto& [sequence, item] : sub->items) {
          if (item.in_flight && item.member == m->id && item.stream == e.stream) {
            (unsent_ids.contains(item.delivery_id) ? unsent : broken).push_back(sequence);
          }
        }
        SB_LOG(INFO) << "member_disconnected subscription=" << sub->spec.name()
                     << " member=" << m->address << " stream=" << e.stream
                     << " outstanding=" << broken.size() << " unsent=" << unsent.size()
                     << " status=" << base::Quoted(StatusText(e.status));
        const std::string reason =
            absl::StrCat("stream to ", m->address, " ended with the delivery outstanding (",
                         StatusText(e.status), ")");
        for (int64_t sequence : broken) {
          FailAttemptLocked(*sub, sub->items.at(sequence), now, reason, absl::ZeroDuration());
        }
        // Never written, as for a withdrawn delivery: no attempt, back to the queue.
        for (int64_t sequence : unsent) RequeueUnsentLocked(*sub, sequence);
        break;
      }
      case InboxEntry::Kind::kAck:
        HandleAckLocked(*sub, *m, e.stream, e.ack, now);
        break;
    }
  }
}

void Dispatcher::RequeueUnsentLocked(Sub& sub, int64_t sequence) {
  Item& item = sub.items.at(sequence);
  ReleaseLocked(sub, item);
  sub.waiting.insert({item.is_retry ? 0 : 1, sequence});
}

void Dispatcher::HandleAckLocked(Sub& sub, Member& member, uint64_t stream,
                                 const switchboard::v1::Ack& ack, const Instant& now) {
  auto it = sub.by_delivery.find(ack.delivery_id());
  Item* item = nullptr;
  if (it != sub.by_delivery.end()) {
    auto found = sub.items.find(it->second);
    if (found != sub.items.end()) item = &found->second;
  }
  if (item == nullptr || !item->in_flight || item->member != member.id || item->stream != stream) {
    // Late (after a timeout), duplicate, for another stream, or garbage: ignored.
    unknown_acks_->Increment();
    const int64_t n = unknown_acks_->Value();
    if ((n & (n - 1)) == 0) {  // 1, 2, 4, 8, ...: loud enough, never a flood
      SB_LOG(WARNING) << "delivery_unknown_ack subscription=" << sub.spec.name()
                      << " member=" << member.address << " total=" << n;
    }
    return;
  }
  switch (ack.outcome()) {
    case switchboard::v1::Ack::OK:
      FinishOkLocked(sub, *item, now);
      return;
    case switchboard::v1::Ack::REJECT:
      DeadLetterLocked(sub, *item, item->attempts + 1,
                       TruncateReason(absl::StrCat("REJECT: ", ack.message())), now);
      return;
    case switchboard::v1::Ack::RETRY:
      FailAttemptLocked(sub, *item, now, absl::StrCat("RETRY: ", ack.message()),
                        FromProtoDuration(ack.retry_after()));
      return;
    default:
      // UNSPECIFIED (or a value this gateway does not know) is never taken as success.
      FailAttemptLocked(sub, *item, now,
                        absl::StrCat("outcome ", static_cast<int>(ack.outcome()),
                                     " (unspecified: counts as RETRY): ", ack.message()),
                        FromProtoDuration(ack.retry_after()));
      return;
  }
}

void Dispatcher::ProcessSubLocked(Sub& sub, const Instant& now,
                                  std::vector<std::pair<std::string, std::string>>* drops,
                                  PassReads* reads) {
  while (!sub.deadlines.empty() && sub.deadlines.begin()->first <= now.monotonic) {
    const int64_t sequence = sub.deadlines.begin()->second;
    Item& item = sub.items.at(sequence);
    // A handler that stopped reading leaves its deliveries in the stream's outbox: drop this
    // one there if it was never written, so retries do not pile up behind it. Unwritten, it
    // never reached the handler: no attempt, no backoff; it goes back to the head of the queue
    // (its place in store order) and is sent again with the same attempt number.
    if (Member* m = sub.FindMember(item.member);
        m != nullptr && m->connection != nullptr &&
        m->connection->Withdraw(item.stream, item.delivery_id)) {
      RequeueUnsentLocked(sub, sequence);
      continue;
    }
    FailAttemptLocked(
        sub, item, now,
        absl::StrCat("no ack within delivery_timeout (", absl::FormatDuration(sub.timeout), ")"),
        absl::ZeroDuration());
  }

  int connected = 0;
  for (size_t i = 0; i < sub.members.size();) {
    Member& m = *sub.members[i];
    if (m.draining && m.in_flight == 0) {
      SB_LOG(INFO) << "member_removed subscription=" << sub.spec.name() << " member=" << m.address
                   << " reason=unsubscribed";
      RemoveMemberLocked(sub, m.id);
      continue;
    }
    if (m.connected) ++connected;
    if (!m.connected && !m.draining && !m.from_config &&
        now.monotonic - m.unreachable_since >= options_.member_grace &&
        now.monotonic >= m.drop_retry_at) {
      drops->push_back({sub.spec.name(), m.address});
    }
    ++i;
  }
  sub.metrics->connected.store(connected, std::memory_order_relaxed);

  if (sub.CanSend()) {
    int budget = sub.Capacity(options_.read_ahead) - static_cast<int>(sub.items.size());
    if (budget > 0 && sub.retry_hint <= now.wall) LoadRetriesLocked(sub, now, &budget);
    if (WantsLogReadLocked(sub, now)) {
      LoadLogLocked(sub, now,
                    sub.Capacity(options_.read_ahead) - static_cast<int>(sub.items.size()), reads);
    }
  }
  AdvanceCursorLocked(sub);
}

void Dispatcher::CollectEncodeJobsLocked(Sub& sub, std::vector<EncodeJob>* jobs,
                                         absl::flat_hash_map<int64_t, size_t>* job_of) {
  if (!sub.CanSend()) return;
  // The items SendLocked would send next, in its order: store order, skipping events whose
  // object is busy (PER_OBJECT), as far as the window allows.
  int free = sub.max_in_flight - sub.in_flight;
  absl::flat_hash_set<std::string> busy;
  for (auto it = sub.waiting.begin(); it != sub.waiting.end() && free > 0; ++it) {
    Item& item = sub.items.at(it->second);
    const std::string& object = item.record.object_id;
    if (sub.per_object && !object.empty()) {
      if (sub.objects_in_flight.count(object) > 0 || !busy.insert(object).second) continue;
    }
    --free;
    if (item.encoded != nullptr) continue;
    if (auto e = encoded_.find(item.record.sequence); e != encoded_.end()) {
      if ((item.encoded = e->second.lock()) != nullptr) {
        std::string().swap(item.record.raw_json);
        continue;
      }
    }
    if (auto j = job_of->find(item.record.sequence); j != job_of->end()) {
      // Another subscription's job of this pass encodes it: share that one.
      (*jobs)[j->second].also.push_back({sub.spec.name(), sub.id});
      std::string().swap(item.record.raw_json);
      continue;
    }
    job_of->emplace(item.record.sequence, jobs->size());
    EncodeJob job;
    job.subscription = sub.spec.name();
    job.sub_id = sub.id;
    // The item keeps its envelope; the JSON moves to the job.
    std::string raw = std::move(item.record.raw_json);
    std::string().swap(item.record.raw_json);
    job.record = item.record;
    job.record.raw_json = std::move(raw);
    jobs->push_back(std::move(job));
  }
}

void Dispatcher::EncodeJobs(std::vector<EncodeJob>& jobs) {
  if (jobs.empty()) return;
  std::atomic<size_t> next{0};
  std::function<void()> run = [&] {
    for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < jobs.size();) {
      int misses = 0;
      jobs[i].result = EncodeEvent(*deps_.converter, jobs[i].record, &misses);
      if (misses > 0) typed_misses_->Increment(misses);
    }
  };
  bool shared = false;
  {
    absl::MutexLock lock(&encode_mu_);
    if (jobs.size() > 1 && !encoders_.empty()) {
      encode_task_ = run;
      ++encode_generation_;
      shared = true;
    }
  }
  run();
  if (!shared) return;
  // Every job has been taken. An encoder thread that has not picked the task up yet finds it
  // withdrawn and does nothing, so only those running it (they use `jobs` and `next`, which die
  // with this frame) are waited for, not every thread's wake-up.
  absl::MutexLock lock(&encode_mu_);
  encode_task_ = nullptr;
  const auto done = [this]()
                        ABSL_EXCLUSIVE_LOCKS_REQUIRED(encode_mu_) { return encode_running_ == 0; };
  encode_mu_.Await(absl::Condition(&done));
}

void Dispatcher::EncoderLoop() {
  uint64_t seen = 0;
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&encode_mu_);
      const auto ready = [this, &seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(encode_mu_) {
        return encode_stopping_ || encode_generation_ != seen;
      };
      encode_mu_.Await(absl::Condition(&ready));
      if (encode_stopping_) return;
      seen = encode_generation_;
      if (encode_task_ == nullptr) continue;  // the worker was done before this thread woke
      task = encode_task_;
      ++encode_running_;
    }
    task();
    absl::MutexLock lock(&encode_mu_);
    --encode_running_;
  }
}

void Dispatcher::AttachEncodedLocked(std::vector<EncodeJob>& jobs, const Instant& now) {
  for (EncodeJob& job : jobs) {
    job.also.insert(job.also.begin(), {job.subscription, job.sub_id});
    for (const auto& [name, id] : job.also) {
      Sub* sub = FindSubLocked(name);
      if (sub == nullptr || sub->id != id) continue;  // removed meanwhile
      auto it = sub->items.find(job.record.sequence);
      if (it == sub->items.end() || it->second.encoded != nullptr) continue;
      Item& item = it->second;
      if (!job.result.ok()) {
        DeadLetterLocked(*sub, item, item.attempts, TruncateReason(job.result.status().message()),
                         now);
        continue;
      }
      item.encoded = *job.result;
      std::weak_ptr<const std::string>& cached = encoded_[job.record.sequence];
      if (cached.expired()) cached = item.encoded;
    }
  }
  // Entries die with the last item holding them; sweep once the map doubled since the last
  // sweep, so it stays proportional to the events held in memory.
  if (encoded_.size() >= encoded_sweep_at_) {
    for (auto e = encoded_.begin(); e != encoded_.end();) {
      if (e->second.expired()) {
        encoded_.erase(e++);
      } else {
        ++e;
      }
    }
    encoded_sweep_at_ = std::max<size_t>(1024, 2 * encoded_.size());
  }
}

bool Dispatcher::WantsLogReadLocked(const Sub& sub, const Instant& now) const {
  if (!sub.maybe_more || sub.next_read_at > now.monotonic) return false;
  const int capacity = sub.Capacity(options_.read_ahead);
  const int budget = capacity - static_cast<int>(sub.items.size());
  if (budget <= 0) return false;
  // Read in chunks (a quarter of the capacity, at most read_ahead) rather than a few rows after
  // every ack: each List is a query, and a backlog drains far faster in big reads. Anything
  // queued keeps the window busy meanwhile; with nothing queued, read whatever fits.
  const int chunk = std::max(1, std::min(options_.read_ahead, capacity / 4));
  return budget >= chunk || sub.waiting.empty();
}

void Dispatcher::LoadRetriesLocked(Sub& sub, const Instant& now, int* budget) {
  const std::string& name = sub.spec.name();
  const int loaded_retries = static_cast<int>(sub.items.size() - sub.log_seqs.size());
  // Enough rows to get past the retries already loaded and those deleted but not yet committed,
  // and still find `budget` due ones plus the next one (for the hint).
  const int limit =
      std::min(kListRetriesMax, loaded_retries + *budget + 1 + pending_.CountRetryDeletes(name) +
                                    in_commit_.CountRetryDeletes(name));
  absl::StatusOr<std::vector<store::RetryRecord>> listed =
      deps_.delivery->ListRetries(name, absl::InfiniteFuture(), limit);
  if (!listed.ok()) {
    SB_LOG(WARNING) << "delivery_store_read_failed subscription=" << name
                    << " what=retries error=" << base::Quoted(StatusText(listed.status()));
    sub.retry_hint = now.wall + kStoreErrorBackoff;
    return;
  }
  // When the store returned a full page there may be more rows after its last one.
  const absl::Time store_horizon =
      static_cast<int>(listed->size()) == limit ? listed->back().next_at : absl::InfiniteFuture();
  std::vector<store::RetryRecord> retries = *std::move(listed);
  // What the store will hold once buffered progress is committed (in_commit_ is older).
  in_commit_.ApplyRetries(name, &retries);
  pending_.ApplyRetries(name, &retries);

  absl::Time hint = absl::InfiniteFuture();
  for (const store::RetryRecord& r : retries) {
    if (sub.items.count(r.sequence) > 0) continue;
    if (r.next_at > now.wall) {
      hint = r.next_at;
      break;
    }
    if (*budget <= 0) {
      hint = now.wall;
      break;
    }
    absl::StatusOr<store::EventRecord> event = deps_.events->Get(r.event_id);
    if (!event.ok()) {
      if (absl::IsNotFound(event.status())) {
        missing_events_->Increment();
        SB_LOG(WARNING) << "delivery_event_missing subscription=" << name << " event=" << r.event_id
                        << " action=retry_dropped (removed by retention)";
        pending_.DeleteRetry(name, r.sequence);
        continue;
      }
      SB_LOG(WARNING) << "delivery_store_read_failed subscription=" << name
                      << " what=event error=" << base::Quoted(StatusText(event.status()));
      hint = now.wall + kStoreErrorBackoff;
      break;
    }
    Item item;
    item.record = *std::move(event);
    item.record.sequence = r.sequence;
    item.is_retry = true;
    item.attempts = r.attempts;
    item.first_attempt_at = r.first_attempt_at;
    sub.items.emplace(r.sequence, std::move(item));
    sub.waiting.insert({0, r.sequence});
    --*budget;
  }
  sub.retry_hint = std::min(hint, store_horizon);
}

void Dispatcher::LoadLogLocked(Sub& sub, const Instant& now, int budget, PassReads* reads) {
  // Every event up to `last` is committed, so the List below (which reads a later snapshot)
  // sees all of them. When it comes back short it has gone over all of them, matching or not:
  // the next read starts after `last`. Without that, a subscription to a rare type (a
  // `prefix.*` pattern is a scan in sequence order) would go over every event since its last
  // match again on each pass, and its cursor would stop there. One read serves every
  // subscription of the pass: any committed position read before a List is valid for it.
  if (!reads->last_sequence.has_value()) reads->last_sequence = deps_.delivery->LastSequence();
  const absl::StatusOr<int64_t>& last = *reads->last_sequence;
  store::EventQuery query;
  query.types.assign(sub.spec.event_types().begin(), sub.spec.event_types().end());
  query.after_sequence = sub.read_pos;
  query.limit = std::min(budget, store::kMaxQueryLimit);
  absl::StatusOr<std::vector<store::EventRecord>> records =
      last.ok() ? deps_.events->List(query) : last.status();
  if (!records.ok()) {
    SB_LOG(WARNING) << "delivery_store_read_failed subscription=" << sub.spec.name()
                    << " what=events error=" << base::Quoted(StatusText(records.status()));
    sub.next_read_at = now.monotonic + kStoreErrorBackoff;
    return;
  }
  sub.maybe_more = static_cast<int>(records->size()) == query.limit;
  if (!sub.maybe_more) sub.read_pos = std::max(sub.read_pos, *last);
  for (store::EventRecord& r : *records) {
    sub.read_pos = std::max(sub.read_pos, r.sequence);
    if (!MatchesEvent(sub.spec, r) || sub.items.count(r.sequence) > 0) continue;
    // Parked or dead-lettered before a restart: not a new event (its retry record, if any,
    // delivers it with its attempts and backoff).
    if (sub.parked_ahead.count(r.sequence) > 0) continue;
    const int64_t sequence = r.sequence;
    Item item;
    item.record = std::move(r);
    sub.items.emplace(sequence, std::move(item));
    sub.log_seqs.insert(sequence);
    sub.waiting.insert({1, sequence});
  }
  if (!sub.parked_ahead.empty()) {
    sub.parked_ahead.erase(sub.parked_ahead.begin(), sub.parked_ahead.upper_bound(sub.read_pos));
  }
}

Dispatcher::Member* Dispatcher::PickMemberLocked(Sub& sub) {
  const size_t n = sub.members.size();
  Member* best = nullptr;
  size_t best_index = 0;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (sub.next_member + k) % n;
    Member& m = *sub.members[i];
    if (!m.connected || m.draining) continue;
    if (best == nullptr || m.in_flight < best->in_flight) {
      best = &m;
      best_index = i;
    }
  }
  if (best != nullptr) sub.next_member = (best_index + 1) % n;
  return best;
}

void Dispatcher::SendLocked(Sub& sub, const Instant& now) {
  sub.awaits_encoding = false;
  for (auto it = sub.waiting.begin();
       it != sub.waiting.end() && sub.in_flight < sub.max_in_flight;) {
    const int64_t sequence = it->second;
    Item& item = sub.items.at(sequence);
    if (sub.per_object && !item.record.object_id.empty() &&
        sub.objects_in_flight.count(item.record.object_id) > 0) {
      ++it;  // its object is busy: a later event of another object may go first
      continue;
    }
    // Not encoded yet (CollectEncodeJobsLocked picks it up in the next pass): later events
    // must not overtake it.
    if (item.encoded == nullptr) {
      sub.awaits_encoding = sub.CanSend();
      break;
    }
    Member* member = PickMemberLocked(sub);
    if (member == nullptr) break;
    const auto next = std::next(it);
    EncodedDelivery delivery =
        EncodedDelivery::Make(absl::StrCat(delivery_prefix_, "-", ++next_delivery_),
                              item.attempts + 1, sub.spec.name(), item.encoded);
    const size_t size = delivery.size();
    if (static_cast<int64_t>(size) > options_.max_delivery_bytes) {
      DeadLetterLocked(sub, item, item.attempts,
                       absl::StrCat("delivery too large: ", size, " bytes (limit ",
                                    options_.max_delivery_bytes, ")"),
                       now);
      it = next;
      continue;
    }
    std::string delivery_id = delivery.delivery_id;
    if (!member->connection->Send(member->stream, std::move(delivery))) {
      // That stream is gone (its OnDisconnected is on the way): not an attempt. Try another
      // member for the same event.
      member->connected = false;
      member->unreachable_since = now.monotonic;
      continue;
    }
    item.in_flight = true;
    item.member = member->id;
    item.stream = member->stream;
    item.delivery_id = std::move(delivery_id);
    item.sent_at = now.wall;
    item.deadline = now.monotonic + sub.timeout;
    sub.deadlines.insert({item.deadline, sequence});
    sub.by_delivery[item.delivery_id] = sequence;
    if (!item.record.object_id.empty()) ++sub.objects_in_flight[item.record.object_id];
    ++member->in_flight;
    ++sub.in_flight;
    sub.metrics->in_flight.fetch_add(1, std::memory_order_relaxed);
    it = sub.waiting.erase(it);
  }
}

void Dispatcher::AdvanceCursorLocked(Sub& sub) {
  const int64_t cursor = sub.log_seqs.empty() ? sub.read_pos : *sub.log_seqs.begin() - 1;
  if (cursor <= sub.cursor) return;
  sub.cursor = cursor;
  pending_.SetCursor(sub.spec.name(), cursor);
  absl::MutexLock lock(&sub.metrics->mu);
  sub.metrics->cursor = cursor;
}

void Dispatcher::ReleaseLocked(Sub& sub, Item& item) {
  if (!item.in_flight) return;
  const int64_t sequence = item.record.sequence;
  sub.deadlines.erase({item.deadline, sequence});
  sub.by_delivery.erase(item.delivery_id);
  if (!item.record.object_id.empty()) {
    auto it = sub.objects_in_flight.find(item.record.object_id);
    if (it != sub.objects_in_flight.end() && --it->second <= 0) sub.objects_in_flight.erase(it);
  }
  if (Member* m = sub.FindMember(item.member)) --m->in_flight;
  --sub.in_flight;
  sub.metrics->in_flight.fetch_sub(1, std::memory_order_relaxed);
  item.in_flight = false;
  item.delivery_id.clear();
}

void Dispatcher::EraseItemLocked(Sub& sub, int64_t sequence) {
  sub.waiting.erase({0, sequence});
  sub.waiting.erase({1, sequence});
  sub.log_seqs.erase(sequence);
  sub.items.erase(sequence);
}

bool Dispatcher::MayHaveRetryLocked(const Sub& sub, const Item& item) const {
  // A log item read again after a restart (up to reread_to) should have none: the load found
  // the retry records above the cursor and the log read skips their events. Removing one
  // anyway costs little (only until the subscription has read past reread_to) and makes sure
  // no stale record delivers the event a second time.
  return item.is_retry || item.record.sequence <= sub.reread_to;
}

void Dispatcher::FinishOkLocked(Sub& sub, Item& item, const Instant& now) {
  ReleaseLocked(sub, item);
  const int64_t sequence = item.record.sequence;
  if (MayHaveRetryLocked(sub, item)) pending_.DeleteRetry(sub.spec.name(), sequence);
  sub.metrics->delivered->Increment();
  // received_at is stored (wall): a wall-clock step between receipt and ack skews this one
  // observation, nothing else.
  sub.metrics->latency->Observe(absl::ToDoubleSeconds(now.wall - item.record.received_at));
  EraseItemLocked(sub, sequence);
}

void Dispatcher::FailAttemptLocked(Sub& sub, Item& item, const Instant& now,
                                   const std::string& reason, absl::Duration retry_after) {
  const absl::Time sent_at = item.sent_at;
  ReleaseLocked(sub, item);
  const int32_t attempts = item.attempts + 1;
  const absl::Time first = item.attempts == 0 ? sent_at : item.first_attempt_at;
  if (sub.policy.Exhausted(attempts, first, now.wall)) {
    DeadLetterLocked(sub, item, attempts,
                     TruncateReason(absl::StrCat("retry policy exhausted after ", attempts,
                                                 " attempts; last: ", reason)),
                     now);
    return;
  }
  // retry_after is untrusted: a negative one means nothing, and waiting past max_age is moot.
  retry_after = std::clamp(retry_after, absl::ZeroDuration(), sub.policy.max_age);
  const absl::Duration wait = std::max(sub.policy.Backoff(attempts, *deps_.random), retry_after);
  store::RetryRecord retry;
  retry.subscription = sub.spec.name();
  retry.sequence = item.record.sequence;
  retry.event_id = item.record.id;
  retry.attempts = attempts;
  retry.next_at = now.wall + wait;
  retry.last_error = TruncateReason(reason);
  retry.first_attempt_at = first;
  pending_.PutRetry(retry);
  sub.retry_hint = std::min(sub.retry_hint, retry.next_at);
  sub.metrics->retries->Increment();
  EraseItemLocked(sub, item.record.sequence);
}

void Dispatcher::DeadLetterLocked(Sub& sub, Item& item, int32_t attempts, const std::string& reason,
                                  const Instant& now) {
  ReleaseLocked(sub, item);
  store::DeadLetterRecord dead;
  dead.subscription = sub.spec.name();
  dead.sequence = item.record.sequence;
  dead.event_id = item.record.id;
  dead.event_type = item.record.type;
  dead.attempts = attempts;
  dead.last_error = reason;
  dead.dead_at = now.wall;
  pending_.PutDeadLetter(dead);
  if (MayHaveRetryLocked(sub, item)) pending_.DeleteRetry(dead.subscription, dead.sequence);
  sub.metrics->dead_letters->Increment();
  SB_LOG(WARNING) << "delivery_dead_letter subscription=" << dead.subscription
                  << " event=" << dead.event_id << " type=" << dead.event_type
                  << " attempts=" << attempts << " reason=" << base::Quoted(reason);
  EraseItemLocked(sub, dead.sequence);
}

void Dispatcher::ScheduleNowLocked(Sub& sub, int64_t sequence, const std::string& event_id,
                                   absl::string_view why, const Instant& now) {
  store::RetryRecord retry;
  retry.subscription = sub.spec.name();
  retry.sequence = sequence;
  retry.event_id = event_id;
  retry.attempts = 0;
  retry.next_at = now.wall;  // ties go in sequence order
  retry.last_error = std::string(why);
  retry.first_attempt_at = now.wall;
  pending_.PutRetry(retry);
  sub.retry_hint = std::min(sub.retry_hint, now.wall);
}

absl::Time Dispatcher::NextWakeLocked(const Instant& now) const {
  // Everything is on the monotonic clock but the retries' due times, which are wall times
  // (stored): each is taken as the monotonic time the wall clock reaches it.
  absl::Time next = absl::InfiniteFuture();
  for (const auto& [name, sub] : subs_) {
    if (!sub->deadlines.empty()) next = std::min(next, sub->deadlines.begin()->first);
    if (sub->awaits_encoding) next = std::min(next, now.monotonic);
    if (sub->CanSend() &&
        static_cast<int>(sub->items.size()) < sub->Capacity(options_.read_ahead)) {
      if (sub->maybe_more && (sub->next_read_at > now.monotonic || WantsLogReadLocked(*sub, now))) {
        next = std::min(next, std::max(now.monotonic, sub->next_read_at));
      }
      next = std::min(next, MonotonicWhenWallReads(now, sub->retry_hint));
    }
    for (const auto& m : sub->members) {
      if (m->connected || m->draining || m->from_config) continue;
      next =
          std::min(next, std::max(m->unreachable_since + options_.member_grace, m->drop_retry_at));
    }
  }
  return next;
}

void Dispatcher::DropExpiredMembers(const Instant& now,
                                    const std::vector<std::pair<std::string, std::string>>& drops) {
  // This runs on the worker: never wait behind an admin call (a Redrive of every dead letter
  // holds admin_mu_ for its whole run). The drops are put off a little, so that a later pass
  // makes them; left due, they would make the worker spin for as long as the call runs.
  if (!admin_mu_.TryLock()) {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, address] : drops) {
      Sub* sub = FindSubLocked(name);
      if (Member* m = sub == nullptr ? nullptr : sub->FindMember(address)) {
        m->drop_retry_at = now.monotonic + kDropBusyRetry;
      }
    }
    return;
  }
  for (const auto& drop : drops) {
    const std::string& name = drop.first;
    const std::string& address = drop.second;
    store::SubscriptionRecord record;
    {
      absl::MutexLock lock(&mu_);
      Sub* sub = FindSubLocked(name);
      Member* m = sub == nullptr ? nullptr : sub->FindMember(address);
      if (m == nullptr || m->connected || m->draining || m->from_config) continue;
      switchboard::v1::Subscription stored = StoredSpecLocked(*sub);
      auto* members = stored.mutable_members();
      members->erase(std::remove_if(members->begin(), members->end(),
                                    [&](const switchboard::v1::Member& pm) {
                                      return pm.address() == address;
                                    }),
                     members->end());
      record.name = name;
      record.spec = stored.SerializeAsString();
      record.created_at = sub->created_at;
    }
    const absl::Status s = deps_.delivery->PutSubscription(record);
    absl::MutexLock lock(&mu_);
    Sub* sub = FindSubLocked(name);
    Member* m = sub == nullptr ? nullptr : sub->FindMember(address);
    if (m == nullptr) continue;
    if (!s.ok()) {
      SB_LOG(WARNING) << "member_drop_failed subscription=" << name << " member=" << address
                      << " error=" << base::Quoted(StatusText(s));
      m->drop_retry_at = now.monotonic + kDropRetry;
      continue;
    }
    SB_LOG(INFO) << "member_removed subscription=" << name << " member=" << address
                 << " reason=unreachable unreachable_for="
                 << absl::FormatDuration(now.monotonic - m->unreachable_since);
    RemoveMemberLocked(*sub, m->id);
  }
  admin_mu_.Unlock();
}

// ---------------------------------------------------------------------------------------------
// Progress.

absl::Status Dispatcher::FlushProgress() {
  absl::MutexLock commit(&commit_mu_);
  store::ProgressBatch batch;
  {
    absl::MutexLock lock(&mu_);
    if (pending_.empty()) return absl::OkStatus();
    in_commit_ = std::move(pending_);
    pending_ = ProgressBuffer();
    batch = in_commit_.ToBatch();
  }
  const absl::Status status = deps_.delivery->CommitProgress(batch);
  absl::MutexLock lock(&mu_);
  if (status.ok()) {
    if (commit_failing_) {
      SB_LOG(INFO) << "delivery_progress_commit_recovered";
    }
    commit_failing_ = false;
  } else {
    commit_failures_->Increment();
    if (!commit_failing_) {
      SB_LOG(ERROR) << "delivery_progress_commit_failed error=" << base::Quoted(StatusText(status))
                    << " action=kept_for_next_batch";
    }
    commit_failing_ = true;
    pending_.MergeOlder(std::move(in_commit_));
  }
  in_commit_ = ProgressBuffer();
  return status;
}

// ---------------------------------------------------------------------------------------------
// Gateway API.

absl::StatusOr<switchboard::v1::Subscription> Dispatcher::Subscribe(
    const switchboard::v1::Subscription& request, const std::string& member_address,
    EventTypesUpdate types) {
  RETURN_IF_ERROR(ValidateSubscriptionName(request.name()));
  if (!member_address.empty()) RETURN_IF_ERROR(ValidateMemberAddress(member_address));
  RETURN_IF_ERROR(ValidateStartPosition(request.start()));
  const std::string& name = request.name();

  absl::MutexLock admin(&admin_mu_);
  const Instant now = Instant::Of(*deps_.clock);
  std::optional<switchboard::v1::Subscription> existing;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return absl::UnavailableError("the gateway is shutting down");
    if (Sub* sub = FindSubLocked(name)) existing = StoredSpecLocked(*sub);
  }

  switchboard::v1::Subscription next;
  int64_t cursor = 0;
  if (existing.has_value()) {
    next = *existing;
    if (!request.event_types().empty()) {
      if (existing->static_()) {
        RETURN_IF_ERROR(CheckSameSpec(request, *existing, types));
      } else {
        // kAdd: the request with the existing types first; kReplace: the request as it is.
        switchboard::v1::Subscription added;
        if (types == EventTypesUpdate::kAdd) {
          ASSIGN_OR_RETURN(added, AddEventTypes(request, *existing));
        }
        ASSIGN_OR_RETURN(next,
                         NormalizeSubscription(types == EventTypesUpdate::kAdd ? added : request));
        next.set_static_(false);
        *next.mutable_members() = existing->members();
        *next.mutable_created_at() = existing->created_at();
      }
    }
  } else {
    ASSIGN_OR_RETURN(next, NormalizeSubscription(request));
    ASSIGN_OR_RETURN(cursor, ResolveStart(request.start()));
    *next.mutable_created_at() = ToProtoTime(now.wall);
  }
  if (!member_address.empty() && std::none_of(next.members().begin(), next.members().end(),
                                              [&](const switchboard::v1::Member& m) {
                                                return m.address() == member_address;
                                              })) {
    switchboard::v1::Member* m = next.add_members();
    m->set_address(member_address);
    *m->mutable_registered_at() = ToProtoTime(now.wall);
  }
  if (!existing.has_value() || !SameMessage(next, *existing)) {
    store::SubscriptionRecord record;
    record.name = name;
    record.spec = next.SerializeAsString();
    record.cursor = cursor;
    record.created_at = FromProtoTime(next.created_at());
    RETURN_IF_ERROR(deps_.delivery->PutSubscription(record));
  }

  // Only now, so a refused request leaves no metric series behind.
  std::shared_ptr<SubMetrics> metrics = MetricsFor(name);
  switchboard::v1::Subscription out;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return absl::UnavailableError("the gateway is shutting down");
    Sub* sub = FindSubLocked(name);
    if (sub == nullptr) {
      sub = AddSubLocked(next, cursor, {}, std::move(metrics), now);
      SB_LOG(INFO) << "subscription_created name=" << name << " cursor=" << cursor
                   << " types=" << sub->spec.event_types_size();
    } else {
      ApplySpecLocked(*sub, next, now);
    }
    if (!member_address.empty()) {
      // A member that registers has just started: dial it now rather than after a backoff.
      if (Member* m = sub->FindMember(member_address); m != nullptr && !m->connected) {
        m->connection->ResetBackoff();
      }
    }
    out = OutputLocked(*sub);
  }
  Notify();
  return out;
}

absl::Status Dispatcher::Unsubscribe(const std::string& name, const std::string& member_address) {
  absl::MutexLock admin(&admin_mu_);
  switchboard::v1::Subscription stored;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return absl::UnavailableError("the gateway is shutting down");
    Sub* sub = FindSubLocked(name);
    if (sub == nullptr) return absl::NotFoundError(absl::StrCat("no subscription \"", name, "\""));
    stored = StoredSpecLocked(*sub);
    if (member_address.empty() && sub->is_static) {
      return absl::FailedPreconditionError(absl::StrCat(
          "subscription \"", name, "\" is static: remove it from the config file instead"));
    }
    if (!member_address.empty()) {
      Member* m = sub->FindMember(member_address);
      if (m == nullptr || m->draining) {
        return absl::NotFoundError(
            absl::StrCat("\"", member_address, "\" is not a member of \"", name, "\""));
      }
      if (m->from_config) {
        return absl::FailedPreconditionError(
            absl::StrCat("member \"", member_address, "\" of \"", name,
                         "\" is listed in the config file: remove it there"));
      }
    }
  }

  if (member_address.empty()) {
    absl::MutexLock commit(&commit_mu_);  // no batch of this subscription is being committed
    RETURN_IF_ERROR(deps_.delivery->DeleteSubscription(name));
    {
      absl::MutexLock lock(&mu_);
      RemoveSubLocked(name);
    }
    SB_LOG(INFO) << "subscription_deleted name=" << name;
  } else {
    auto* members = stored.mutable_members();
    members->erase(std::remove_if(members->begin(), members->end(),
                                  [&](const switchboard::v1::Member& pm) {
                                    return pm.address() == member_address;
                                  }),
                   members->end());
    store::SubscriptionRecord record;
    record.name = name;
    record.spec = stored.SerializeAsString();
    record.created_at = FromProtoTime(stored.created_at());
    RETURN_IF_ERROR(deps_.delivery->PutSubscription(record));
    absl::MutexLock lock(&mu_);
    if (Sub* sub = FindSubLocked(name)) {
      if (Member* m = sub->FindMember(member_address)) {
        m->draining = true;
        SB_LOG(INFO) << "member_draining subscription=" << name << " member=" << member_address
                     << " in_flight=" << m->in_flight;
      }
    }
  }
  BuryRetired();
  Notify();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<switchboard::v1::Subscription>> Dispatcher::ListSubscriptions() {
  struct Snapshot {
    switchboard::v1::Subscription out;
    std::vector<std::string> types;
    int64_t cursor = 0;
  };
  std::vector<Snapshot> snapshots;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return absl::UnavailableError("the gateway is shutting down");
    for (const auto& [name, sub] : subs_) {
      Snapshot s;
      s.out = OutputLocked(*sub);
      s.types.assign(sub->spec.event_types().begin(), sub->spec.event_types().end());
      s.cursor = sub->cursor;
      snapshots.push_back(std::move(s));
    }
  }
  // Commit what the snapshot reflects, so the store's counts agree with it.
  RETURN_IF_ERROR(FlushProgress());
  std::vector<switchboard::v1::Subscription> out;
  for (Snapshot& s : snapshots) {
    const std::string& name = s.out.name();
    ASSIGN_OR_RETURN(int64_t after, CountBacklog(*deps_.delivery, s.types, s.cursor));
    ASSIGN_OR_RETURN(std::vector<store::RetryRecord> retries,
                     deps_.delivery->ListRetries(name, absl::InfiniteFuture(), kCountCap));
    int64_t dead = 0;
    int64_t dead_after = 0;
    while (dead < kCountCap) {
      ASSIGN_OR_RETURN(std::vector<store::DeadLetterRecord> page,
                       deps_.delivery->ListDeadLetters(name, dead_after, kAdminPage));
      dead += static_cast<int64_t>(page.size());
      if (static_cast<int>(page.size()) < kAdminPage) break;
      dead_after = page.back().sequence;
    }
    s.out.mutable_stats()->set_backlog(after + static_cast<int64_t>(retries.size()));
    s.out.mutable_stats()->set_dead_letters(std::min<int64_t>(dead, kCountCap));
    out.push_back(std::move(s.out));
  }
  return out;
}

absl::StatusOr<int64_t> Dispatcher::CountUnfinishedBefore(absl::Time cutoff) {
  struct Snapshot {
    std::string name;
    std::vector<std::string> types;
    int64_t cursor = 0;
  };
  std::vector<Snapshot> snapshots;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return absl::UnavailableError("the gateway is shutting down");
    for (const auto& [name, sub] : subs_) {
      snapshots.push_back(
          {name, {sub->spec.event_types().begin(), sub->spec.event_types().end()}, sub->cursor});
    }
  }
  RETURN_IF_ERROR(FlushProgress());
  ASSIGN_OR_RETURN(const int64_t boundary, deps_.delivery->LastSequenceReceivedBefore(cutoff));
  int64_t total = 0;
  for (const Snapshot& s : snapshots) {
    int64_t events = 0;
    if (s.cursor < boundary) {
      // Stored events only (not CountBacklog's sequence difference for `*`): events an earlier
      // retention run removed must not be counted again. One uncapped read: its work is the
      // stored events of the range (for `prefix.*` patterns, the index entries of the matching
      // types), usually the hour's worth this run removes, however far behind the cursor is.
      ASSIGN_OR_RETURN(events, deps_.delivery->CountBetween(s.types, s.cursor, boundary,
                                                            std::numeric_limits<int64_t>::max()));
    }
    ASSIGN_OR_RETURN(std::vector<store::RetryRecord> retries,
                     deps_.delivery->ListRetries(s.name, absl::InfiniteFuture(), kCountCap));
    // Retries above the cursor are already among `events`.
    const int64_t parked =
        std::count_if(retries.begin(), retries.end(), [&](const store::RetryRecord& r) {
          return r.sequence <= boundary && r.sequence <= s.cursor;
        });
    if (events + parked == 0) continue;
    SB_LOG(ERROR) << "retention_removes_unfinished subscription=" << s.name
                  << " undelivered=" << events << " retries=" << parked
                  << " cutoff=" << absl::FormatTime(cutoff)
                  << " (the subscription fell behind retention; see docs/DELIVERY.md)";
    total += events + parked;
  }
  retention_unfinished_->Increment(total);
  return total;
}

absl::StatusOr<int64_t> Dispatcher::Replay(const ReplayRequest& request) {
  const std::string& name = request.subscription;
  RETURN_IF_ERROR(ValidateSubscriptionName(name));
  const bool by_filter = !request.types.empty() || request.created_after != absl::InfinitePast() ||
                         request.created_before != absl::InfiniteFuture();
  if (!request.event_ids.empty() && by_filter) {
    return absl::InvalidArgumentError("give either event_ids or a filter, not both");
  }
  if (request.event_ids.size() > static_cast<size_t>(kAdminPage)) {
    return absl::InvalidArgumentError(absl::StrCat("at most ", kAdminPage, " event_ids"));
  }
  if (request.types.size() > static_cast<size_t>(store::kMaxQueryTypes)) {
    return absl::InvalidArgumentError(absl::StrCat("at most ", store::kMaxQueryTypes, " types"));
  }
  for (const std::string& t : request.types) RETURN_IF_ERROR(ValidateEventTypePattern(t));

  absl::MutexLock admin(&admin_mu_);
  uint64_t sub_id = 0;
  std::vector<std::string> sub_types;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return absl::UnavailableError("the gateway is shutting down");
    Sub* sub = FindSubLocked(name);
    if (sub == nullptr) return absl::NotFoundError(absl::StrCat("no subscription \"", name, "\""));
    sub_id = sub->id;
    sub_types.assign(sub->spec.event_types().begin(), sub->spec.event_types().end());
  }

  int64_t scheduled = 0;
  auto schedule = [&](const std::vector<store::EventRecord>& events) -> absl::Status {
    {
      absl::MutexLock lock(&mu_);
      ASSIGN_OR_RETURN(Sub * sub, SameSubLocked(name, sub_id));
      const Instant now = Instant::Of(*deps_.clock);
      for (const store::EventRecord& e : events) {
        if (!MatchesEvent(sub->spec, e)) continue;
        ++scheduled;
        // Held in memory (in flight or about to be sent) or not read yet: it goes out anyway
        // (unless the log read skips it, being parked or a dead letter from before a restart).
        if (sub->items.count(e.sequence) > 0 ||
            (e.sequence > sub->read_pos && sub->parked_ahead.count(e.sequence) == 0)) {
          continue;
        }
        ScheduleNowLocked(*sub, e.sequence, e.id, "replay", now);
      }
    }
    return FlushProgress();
  };

  if (!request.event_ids.empty()) {
    std::vector<store::EventRecord> events;
    for (const std::string& id : request.event_ids) {
      absl::StatusOr<store::EventRecord> e = deps_.events->Get(id);
      if (absl::IsNotFound(e.status())) {
        return absl::NotFoundError(absl::StrCat("event ", id, " is not stored"));
      }
      if (!e.ok()) return e.status();
      e->raw_json.clear();
      events.push_back(*std::move(e));
    }
    RETURN_IF_ERROR(schedule(events));
  } else {
    store::EventQuery query;
    query.types = request.types.empty() ? sub_types : request.types;
    query.created_after = request.created_after;
    query.created_before = request.created_before;
    query.limit = kAdminPage;
    query.omit_raw_json = true;
    while (true) {
      ASSIGN_OR_RETURN(std::vector<store::EventRecord> page, deps_.events->List(query));
      RETURN_IF_ERROR(schedule(page));
      if (static_cast<int>(page.size()) < query.limit) break;
      query.after_sequence = page.back().sequence;
    }
  }
  SB_LOG(INFO) << "replay subscription=" << name << " scheduled=" << scheduled;
  Notify();
  return scheduled;
}

absl::StatusOr<std::vector<store::DeadLetterRecord>> Dispatcher::ListDeadLetters(
    const std::string& subscription, int64_t after_sequence, int limit) {
  if (limit < 1 || limit > kAdminPage) {
    return absl::InvalidArgumentError(absl::StrCat("limit must be 1..", kAdminPage));
  }
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return absl::UnavailableError("the gateway is shutting down");
    if (FindSubLocked(subscription) == nullptr) {
      return absl::NotFoundError(absl::StrCat("no subscription \"", subscription, "\""));
    }
  }
  // Dead letters made in the last few milliseconds are still in memory.
  RETURN_IF_ERROR(FlushProgress());
  return deps_.delivery->ListDeadLetters(subscription, after_sequence, limit);
}

absl::StatusOr<int64_t> Dispatcher::Redrive(const std::string& subscription,
                                            const std::vector<std::string>& event_ids) {
  ASSIGN_OR_RETURN(const int64_t redriven,
                   ApplyToDeadLetters(subscription, event_ids, DeadLetterAction::kRedrive));
  SB_LOG(INFO) << "redrive subscription=" << subscription << " redriven=" << redriven;
  Notify();
  return redriven;
}

absl::StatusOr<int64_t> Dispatcher::DiscardDeadLetters(const std::string& subscription,
                                                       const std::vector<std::string>& event_ids) {
  ASSIGN_OR_RETURN(const int64_t discarded,
                   ApplyToDeadLetters(subscription, event_ids, DeadLetterAction::kDiscard));
  SB_LOG(INFO) << "discard subscription=" << subscription << " discarded=" << discarded;
  return discarded;
}

absl::StatusOr<int64_t> Dispatcher::ApplyToDeadLetters(const std::string& subscription,
                                                       const std::vector<std::string>& event_ids,
                                                       DeadLetterAction action) {
  if (event_ids.size() > static_cast<size_t>(kAdminPage)) {
    return absl::InvalidArgumentError(absl::StrCat("at most ", kAdminPage, " event_ids"));
  }
  absl::MutexLock admin(&admin_mu_);
  uint64_t sub_id = 0;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return absl::UnavailableError("the gateway is shutting down");
    Sub* sub = FindSubLocked(subscription);
    if (sub == nullptr) {
      return absl::NotFoundError(absl::StrCat("no subscription \"", subscription, "\""));
    }
    sub_id = sub->id;
  }
  RETURN_IF_ERROR(FlushProgress());  // every dead letter is in the store now

  if (!event_ids.empty()) {
    // All ids are checked before any is applied: one unknown id changes nothing.
    std::vector<store::DeadLetterRecord> dead;
    std::set<int64_t> found_sequences;
    for (const std::string& id : event_ids) {
      absl::StatusOr<store::EventRecord> e = deps_.events->Get(id);
      if (absl::IsNotFound(e.status())) {
        return absl::NotFoundError(absl::StrCat("event ", id, " is not stored"));
      }
      if (!e.ok()) return e.status();
      ASSIGN_OR_RETURN(std::vector<store::DeadLetterRecord> found,
                       deps_.delivery->ListDeadLetters(subscription, e->sequence - 1, 1));
      if (found.empty() || found[0].event_id != id) {
        return absl::NotFoundError(
            absl::StrCat("event ", id, " is not a dead letter of \"", subscription, "\""));
      }
      if (!found_sequences.insert(found[0].sequence).second) continue;  // named twice
      dead.push_back(std::move(found[0]));
    }
    RETURN_IF_ERROR(ApplyToFound(subscription, sub_id, dead, action));
    return static_cast<int64_t>(dead.size());
  }
  int64_t applied = 0;
  int64_t after = 0;
  while (true) {
    ASSIGN_OR_RETURN(std::vector<store::DeadLetterRecord> page,
                     deps_.delivery->ListDeadLetters(subscription, after, kAdminPage));
    if (page.empty()) break;
    RETURN_IF_ERROR(ApplyToFound(subscription, sub_id, page, action));
    applied += static_cast<int64_t>(page.size());
    if (static_cast<int>(page.size()) < kAdminPage) break;
    after = page.back().sequence;
  }
  return applied;
}

absl::Status Dispatcher::ApplyToFound(const std::string& subscription, uint64_t sub_id,
                                      const std::vector<store::DeadLetterRecord>& dead,
                                      DeadLetterAction action) {
  {
    absl::MutexLock lock(&mu_);
    ASSIGN_OR_RETURN(Sub * sub, SameSubLocked(subscription, sub_id));
    const Instant now = Instant::Of(*deps_.clock);
    for (const store::DeadLetterRecord& d : dead) {
      pending_.DeleteDeadLetter(subscription, d.sequence);
      if (action == DeadLetterAction::kRedrive) {
        ScheduleNowLocked(*sub, d.sequence, d.event_id, "redrive", now);
      }
    }
  }
  return FlushProgress();
}

absl::StatusOr<int64_t> Dispatcher::RemoveDeadLettersOfRemovedEvents() {
  std::vector<std::pair<std::string, uint64_t>> subs;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return absl::UnavailableError("the gateway is shutting down");
    for (const auto& [name, sub] : subs_) subs.emplace_back(name, sub->id);
  }
  // The store then holds every dead letter made so far and none already redriven.
  RETURN_IF_ERROR(FlushProgress());
  // Sequences are never reused, so no event below the oldest stored one exists any more: its
  // dead letters go. Retention cuts by receipt time, which is sequence order but for events
  // received moments apart, so a dead letter just above it whose event a cut removed waits for
  // a later run, when the oldest stored event has moved past it.
  int64_t below = std::numeric_limits<int64_t>::max();  // nothing stored: every one goes
  store::EventQuery oldest;
  oldest.limit = 1;
  oldest.omit_raw_json = true;
  ASSIGN_OR_RETURN(std::vector<store::EventRecord> first, deps_.events->List(oldest));
  if (!first.empty()) below = first[0].sequence;

  // Removes the dead letters of `name` whose event is gone, adding them to `*removed`.
  auto remove_of = [&](const std::string& name, uint64_t sub_id, int64_t* removed) -> absl::Status {
    int64_t after = 0;
    bool more = true;
    while (more) {
      // Per page, so that admin calls (and the worker's member drops) wait for one page at most.
      absl::MutexLock admin(&admin_mu_);
      ASSIGN_OR_RETURN(std::vector<store::DeadLetterRecord> page,
                       deps_.delivery->ListDeadLetters(name, after, kAdminPage));
      more = static_cast<int>(page.size()) == kAdminPage;
      if (more) after = page.back().sequence;
      std::vector<store::DeadLetterRecord> gone;
      for (store::DeadLetterRecord& d : page) {
        if (d.sequence >= below) {
          more = false;
          break;
        }
        gone.push_back(std::move(d));
      }
      if (gone.empty()) continue;
      const absl::Status s = ApplyToFound(name, sub_id, gone, DeadLetterAction::kDiscard);
      if (absl::IsNotFound(s)) break;  // unsubscribed meanwhile, dead letters and all
      RETURN_IF_ERROR(s);
      *removed += static_cast<int64_t>(gone.size());
    }
    return absl::OkStatus();
  };

  int64_t total = 0;
  for (const auto& [name, sub_id] : subs) {
    int64_t removed = 0;
    const absl::Status s = remove_of(name, sub_id, &removed);
    // What was removed before an error is gone for good: reported all the same.
    if (removed > 0) {
      SB_LOG(WARNING) << "retention_removed_dead_letters subscription=" << name
                      << " dead_letters=" << removed
                      << " (retention removed their events: they could not be redriven)";
      retention_dead_letters_->Increment(removed);
      total += removed;
    }
    RETURN_IF_ERROR(s);
  }
  return total;
}

}  // namespace switchboard::server::dispatch
