// Dispatcher: fans stored events out to the subscriptions that want them (DESIGN.md §1 step 5,
// §3.4; user-facing rules in docs/DELIVERY.md). It holds no gRPC: members are reached through
// HandlerConnection, time comes from a Clock and randomness from a RandomSource, all injected.
//
// Per subscription:
//   - a cursor over the event log: events with sequence > cursor are read with EventStore::List
//     (the subscription's type patterns), then filtered by livemode and account. The cursor is a
//     low watermark: it only passes an event once that event is finished (acked, dead-lettered or
//     parked as a retry);
//   - at most max_in_flight unacknowledged deliveries, spread over the connected members (least
//     loaded first, round robin on ties); at most max_in_flight + read_ahead events are held in
//     memory, the rest of the backlog stays in the store;
//   - an ack OK finishes the event. RETRY (or UNSPECIFIED), no ack within delivery_timeout, or the
//     stream breaking while the delivery was outstanding count one attempt and park the event as
//     a RetryRecord due after a full-jitter backoff (at least the ack's retry_after). REJECT or an
//     exhausted RetryPolicy makes it a dead letter. Only attempts that may have reached a
//     handler count: with no member connected nothing is sent, and nothing is spent; a delivery
//     that times out still queued unsent in a stream's outbox (HandlerConnection::Withdraw
//     takes it back) goes back to the queue, sent again at once with the same attempt number;
//   - ordering PER_OBJECT keeps at most one delivery in flight per EventRecord.object_id;
//   - Replay and Redrive park events as retries that are due now (attempts start at 1 again),
//     so they are durable at once and go out beside the cursor without moving it.
//     DiscardDeadLetters removes dead letters for good; the retention job removes those whose
//     event it removed (RemoveDeadLettersOfRemovedEvents).
// Progress (cursors, retries, dead letters) is buffered and committed in batches by
// FlushProgress (every Options::progress_flush_interval once started): after a crash at most the
// deliveries finished since the last commit, plus those in flight, are sent again. After a
// restart the log is read again from the stored cursor, skipping the events above it that have
// a retry record or a dead letter (found when Create loads the subscription): not new events.
//
// Time: what is stored, or compared with what is stored, is on the wall clock (Clock::Now): a
// retry's next_at and first_attempt_at (so retry_policy.max_age), dead_at, received_at (the
// latency metric), created_at and registered_at. A parked retry falls due when the wall clock
// reaches its next_at. Intervals that live only in memory are on the monotonic clock
// (Clock::Monotonic): delivery deadlines (delivery_timeout), member_grace and the put-off member
// drops, the poll and the log read's store-error backoff, the worker's next wake-up. A wall-clock
// step (NTP, a resumed VM) neither fires nor stretches them. Both clocks are read together
// (Instant).
//
// Threads, once Start()ed: one worker runs ProcessDue whenever something happens (Notify() after
// an Append, a connection event, a timer), one flusher commits progress, and one reaper
// destroys the connections of removed members (closing a stream to a handler that stopped
// reading waits up to its close_grace, which the worker must not). Store reads happen on
// the worker; a slow or absent member only ever fills its own subscription's window, so other
// subscriptions and the ingress never wait for it. Tests do not call Start(): they drive
// ProcessDue(Instant::Of(clock)) and FlushProgress() by hand with a FakeClock and
// FakeHandlerConnections.
//
// Example:
//   ASSIGN_OR_RETURN(std::unique_ptr<Dispatcher> dispatcher, Dispatcher::Create(options, deps));
//   dispatcher->Start();
//   webhook_deps.on_stored = [d = dispatcher.get()] { d->Notify(); };
//   ASSIGN_OR_RETURN(switchboard::v1::Subscription s, dispatcher->Subscribe(spec,
//   "10.0.0.7:7001"));
//   ...
//   dispatcher->Shutdown();  // before the store closes
//
// Thread-safety: every public method may be called from any thread, except that ProcessDue must
// not run concurrently with itself and not at all after Start().
#ifndef SWITCHBOARD_SERVER_DISPATCH_DISPATCHER_H_
#define SWITCHBOARD_SERVER_DISPATCH_DISPATCHER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "protos/switchboard/v1/handler.pb.h"
#include "protos/switchboard/v1/subscription.pb.h"
#include "server/base/clock.h"
#include "server/convert/event_converter.h"
#include "server/dispatch/handler_connection.h"
#include "server/dispatch/progress_buffer.h"
#include "server/dispatch/retry_policy.h"
#include "server/dispatch/subscription_spec.h"
#include "server/metrics/metrics.h"
#include "server/store/delivery_store.h"
#include "server/store/event_store.h"

namespace switchboard::server::dispatch {

class Dispatcher {
 public:
  struct Options {
    // How often the flusher commits progress (Config.delivery.progress_flush_ms).
    absl::Duration progress_flush_interval = absl::Milliseconds(50);
    // A member of a dynamic subscription (or a Subscribe-registered member of a static one)
    // unreachable this long, on the monotonic clock, is removed (Config.delivery.member_grace_ms).
    absl::Duration member_grace = absl::Seconds(60);
    // The log is re-read this often even without Notify() (a safety net; Notify is the fast path).
    absl::Duration poll_interval = absl::Seconds(1);
    // Events held in memory per subscription beyond max_in_flight. The log is read in chunks of
    // up to this many (at most a quarter of max_in_flight + read_ahead).
    int read_ahead = 128;
    // When only acks woke the worker (Start()ed dispatchers) while many deliveries are in
    // flight, it waits up to this long for more (or for anything else to do) before its pass,
    // so a stream of acks is applied in bursts rather than one wake-up each. Zero: no wait.
    absl::Duration ack_batch_delay = absl::Milliseconds(1);
    // Threads that help the worker turn stored JSON into the Events deliveries carry (the
    // costliest step of sending), once Start()ed. 0: the worker does it alone.
    int encoder_threads = 1;
    // A Delivery larger than this (serialized) is dead-lettered instead of sent: gRPC servers
    // refuse messages over 4 MiB by default, and a refused message would break the stream.
    int64_t max_delivery_bytes = (4 << 20) - (64 << 10);
    // Static subscriptions (Config.subscriptions): created or updated at Create and marked
    // static. Their members are the listed ones (plus any registered through Subscribe).
    std::vector<switchboard::v1::Subscription> static_subscriptions;
  };

  // Both readings of the Clock at one moment (see base::Clock). A pass reads it once and hands it
  // down where it needs "now": `wall` for times that are stored or compared with stored ones,
  // `monotonic` for intervals that live only in memory (see "Time" above).
  struct Instant {
    absl::Time wall;
    absl::Time monotonic;
    static Instant Of(const base::Clock& clock) { return {clock.Now(), clock.Monotonic()}; }
  };

  struct Deps {
    store::EventStore* events = nullptr;                 // must outlive the dispatcher
    store::DeliveryStore* delivery = nullptr;            // must outlive the dispatcher
    const convert::EventConverter* converter = nullptr;  // must outlive the dispatcher
    HandlerConnectionFactory* connections = nullptr;     // must outlive the dispatcher
    const base::Clock* clock = nullptr;                  // must outlive the dispatcher
    RandomSource* random = nullptr;                      // must outlive the dispatcher
    metrics::Registry* metrics = nullptr;                // must outlive the dispatcher
  };

  // Loads the stored subscriptions, creates/updates the static ones, and dials every member.
  // Nothing is delivered before Start() (or ProcessDue). Errors: kInvalidArgument for bad
  // options, a missing dependency or an invalid static subscription (fail fast at start);
  // the store's errors (kUnavailable, ...) when it cannot be read or written.
  static absl::StatusOr<std::unique_ptr<Dispatcher>> Create(Options options, Deps deps);

  // Shutdown() if it has not been called.
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Starts the worker, flusher, reaper and encoder threads. Call once.
  void Start();

  // Stops the threads, closes every stream (all at once; each HandlerConnection bounds its own
  // close, see GrpcHandlerConnection's close_grace), applies the acks that arrived meanwhile and
  // commits progress. Deliveries still unacked are sent again after the next start, with the
  // same attempt number. Admin calls fail kUnavailable afterwards. Idempotent; the store must
  // still be open.
  void Shutdown();

  // New events may be in the store: wake the worker. Cheap and non-blocking (the ingress calls
  // it after each Append).
  void Notify();

  // One pass of the dispatcher's work at `now`: applies connection events and acks, expires
  // timed-out deliveries, drops members past their grace, reads due retries and new events, and
  // sends what the windows allow. Deliveries are sent at the clock's time after the reads and
  // the encoding (not before `now`); their deadlines count from then. Returns when it next has
  // timed work to do, as a monotonic time (compare with Clock::Monotonic; a parked retry's
  // next_at, a wall time, counts by how far it lies ahead of the wall clock), InfiniteFuture if
  // nothing is timed; a Notify or connection event may come sooner.
  // REQUIRES: not concurrently with itself; not after Start().
  absl::Time ProcessDue(Instant now);

  // Commits buffered progress in one DeliveryStore::CommitProgress. On failure the batch is kept
  // and retried with the next one; returns the store's error.
  absl::Status FlushProgress();

  // For the retention job, before it removes the events received before `cutoff`: counts, per
  // subscription, the matching events it has not finished (after its cursor, or parked as
  // retries) that would go, logs each such subscription at ERROR and adds the total to
  // switchboard_retention_unfinished_removed_total. Returns the total: the events after the
  // cursor counted by type with no cap, however far behind the subscription is; the parked
  // retries at or below the cursor counted up to 10,000 per subscription; events acked out of
  // order above the cursor count as unfinished. The store's errors otherwise.
  absl::StatusOr<int64_t> CountUnfinishedBefore(absl::Time cutoff);

  // --- Gateway API (server/rpc/gateway_service.cc) ---

  // Creates `spec.name` (start position from spec.start) or updates it (spec fields replaced,
  // position kept; an update with no event_types changes nothing but the members), then registers
  // `member_address` (may be empty) as a member and dials it. With `types` kAdd an update adds
  // spec.event_types to the subscription's (existing ones first, in their order) instead of
  // replacing them; the other fields still replace; on a static subscription they must be among
  // the config's. Creation ignores `types`. Durable on return. Returns the subscription as
  // ListSubscriptions shows it. Errors: kInvalidArgument (bad spec or address, over 100 event
  // types once added), kFailedPrecondition (changing a static subscription's spec, adding a type
  // its config lacks), kUnavailable (shut down, store).
  absl::StatusOr<switchboard::v1::Subscription> Subscribe(
      const switchboard::v1::Subscription& spec, const std::string& member_address,
      EventTypesUpdate types = EventTypesUpdate::kReplace);

  // Removes member `member_address` (it gets no new deliveries; its stream is closed once its
  // in-flight deliveries are answered or time out) or, when empty, the whole subscription with
  // its retries and dead letters. Errors: kNotFound (no such subscription or member),
  // kFailedPrecondition (a static subscription, or a member listed in the config file).
  absl::Status Unsubscribe(const std::string& name, const std::string& member_address);

  // Every subscription with its members (connected or not) and stats: backlog (events after the
  // cursor matching its types, counted up to 1,000,000, plus parked retries, counted up to
  // 10,000), in_flight, delivered and retries (since this process started), dead_letters
  // (stored, counted up to 10,000). Commits buffered progress first, so the counts agree with
  // the snapshot. Errors: kUnavailable (shut down), the store's errors.
  absl::StatusOr<std::vector<switchboard::v1::Subscription>> ListSubscriptions();

  struct ReplayRequest {
    std::string subscription;
    // Either ids (at most 1000; kNotFound if one is not stored)...
    std::vector<std::string> event_ids;
    // ...or a filter: type patterns (empty: the subscription's) and a half-open range on
    // `created`.
    std::vector<std::string> types;
    absl::Time created_after = absl::InfinitePast();
    absl::Time created_before = absl::InfiniteFuture();
  };
  // Delivers stored events again to one subscription (only those its filters match). Returns how
  // many will be delivered. Durable on return. Replayed deliveries are extra: they never move the
  // cursor. An event already in flight or not yet delivered is not doubled.
  absl::StatusOr<int64_t> Replay(const ReplayRequest& request);

  // Dead letters of `subscription` with sequence > after_sequence, ascending, at most `limit`
  // (1..1000). kNotFound for an unknown subscription.
  absl::StatusOr<std::vector<store::DeadLetterRecord>> ListDeadLetters(
      const std::string& subscription, int64_t after_sequence, int limit);

  // Moves dead letters (all of the subscription's when `event_ids` is empty, else at most 1000
  // ids; an id named twice counts once) back to delivery, due now, attempts starting again at 1.
  // Durable on return. Returns how many. kNotFound for an unknown subscription or an id that is
  // not one of its dead letters (nothing is moved then); kInvalidArgument for over 1000 ids.
  absl::StatusOr<int64_t> Redrive(const std::string& subscription,
                                  const std::vector<std::string>& event_ids);

  // Removes dead letters for good (same selection, limits and errors as Redrive): nothing is
  // delivered for them; their events stay stored until retention. Durable on return. Returns
  // how many.
  absl::StatusOr<int64_t> DiscardDeadLetters(const std::string& subscription,
                                             const std::vector<std::string>& event_ids);

  // For the retention job, after it removed events: removes, for every subscription, the dead
  // letters whose event is no longer stored (such a dead letter could never be redriven),
  // durably: those below the sequence of the oldest stored event (every one when none is),
  // since sequences are never reused. Logs each subscription with such dead letters at
  // WARNING (`retention_removed_dead_letters`, with the count) and adds the total to
  // switchboard_retention_dead_letters_removed_total; returns the total. The store's errors
  // otherwise (what was removed before the error stays removed and counted).
  // Cost: one read of the oldest event, and the pages of dead letters it removes, plus one page
  // per subscription: retention cuts by receipt time, which follows sequence order. A dead
  // letter whose event was received out of sequence order right at a cut (events received
  // within moments of each other may be stored in either order) is left for a later run, the
  // first whose cut also removes the events stored before it. Admin calls wait for at most one
  // page (1000 dead letters) at a time.
  absl::StatusOr<int64_t> RemoveDeadLettersOfRemovedEvents();

  // For tests: how many events above `subscription`'s cursor, parked or dead-lettered before the
  // restart, the log read still has to skip (found at Create; each is forgotten once the read
  // has passed it). -1 for an unknown subscription.
  int64_t ParkedAheadForTesting(const std::string& subscription) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Item;
  struct Member;
  struct Sub;
  struct SubMetrics;
  struct InboxEntry;
  class MemberListener;
  struct Retired;
  struct EncodeJob {
    std::string subscription;
    uint64_t sub_id = 0;
    store::EventRecord record;
    absl::StatusOr<std::shared_ptr<const std::string>> result;
    // Other subscriptions (name, id) whose item of the same event takes this encoding.
    std::vector<std::pair<std::string, uint64_t>> also;
  };

  Dispatcher(Options options, Deps deps);

  absl::Status Load();
  absl::StatusOr<int64_t> ResolveStart(const switchboard::v1::StartPosition& start);
  std::shared_ptr<SubMetrics> MetricsFor(const std::string& name);
  void Post(InboxEntry entry);
  void WorkerLoop();
  void FlusherLoop();
  // Removes members whose grace expired (persisting the spec first). While an admin call holds
  // admin_mu_ it does not wait: the drops are put off by a moment (Member::drop_retry_at).
  void DropExpiredMembers(const Instant& now,
                          const std::vector<std::pair<std::string, std::string>>& drops);
  // Closes the connections of removed members and destroys them: on the reaper once Start()ed,
  // else (tests) here.
  void BuryRetired();
  void ReaperLoop();

  // What Redrive and DiscardDeadLetters do with each dead letter they find.
  enum class DeadLetterAction { kRedrive, kDiscard };
  // Redrive and DiscardDeadLetters: checks the request, finds the dead letters of `subscription`
  // (those of `event_ids`, or every one, a page at a time) and applies `action` to them. Returns
  // how many.
  absl::StatusOr<int64_t> ApplyToDeadLetters(const std::string& subscription,
                                             const std::vector<std::string>& event_ids,
                                             DeadLetterAction action)
      ABSL_LOCKS_EXCLUDED(admin_mu_, commit_mu_, mu_);
  // Takes `dead` (dead letters of `subscription`, while it is still the one numbered `sub_id`)
  // off the dead-letter list, parks each as a retry due now for kRedrive, and commits.
  // kNotFound when the subscription was removed meanwhile; FlushProgress's errors.
  absl::Status ApplyToFound(const std::string& subscription, uint64_t sub_id,
                            const std::vector<store::DeadLetterRecord>& dead,
                            DeadLetterAction action) ABSL_LOCKS_EXCLUDED(commit_mu_, mu_);

  // Everything below runs with mu_ held.
  Sub* FindSubLocked(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The subscription `name` while it is still the one numbered `id` (not removed, nor removed and
  // created again since a long admin call looked it up); else kNotFound.
  absl::StatusOr<Sub*> SameSubLocked(const std::string& name, uint64_t id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Sub* AddSubLocked(const switchboard::v1::Subscription& stored, int64_t cursor,
                    const std::set<std::string>& config_members,
                    std::shared_ptr<SubMetrics> metrics, const Instant& now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplySpecLocked(Sub& sub, const switchboard::v1::Subscription& stored, const Instant& now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  switchboard::v1::Subscription StoredSpecLocked(const Sub& sub) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  switchboard::v1::Subscription OutputLocked(const Sub& sub) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddMemberLocked(Sub& sub, const std::string& address, absl::Time registered_at,
                       bool from_config, const Instant& now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveMemberLocked(Sub& sub, uint64_t member_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveSubLocked(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DrainInboxLocked(const Instant& now, bool final) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HandleAckLocked(Sub& sub, Member& member, uint64_t stream, const switchboard::v1::Ack& ack,
                       const Instant& now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // What one pass reads once for every subscription it serves.
  struct PassReads {
    // The store's LastSequence, read before the pass's first log read.
    std::optional<absl::StatusOr<int64_t>> last_sequence;
  };
  void ProcessSubLocked(Sub& sub, const Instant& now,
                        std::vector<std::pair<std::string, std::string>>* drops, PassReads* reads)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LoadRetriesLocked(Sub& sub, const Instant& now, int* budget)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LoadLogLocked(Sub& sub, const Instant& now, int budget, PassReads* reads)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // True when `sub` should read the log now: it may have more, has room for a chunk of events
  // (or nothing left to send), and is not backing off after a store error.
  bool WantsLogReadLocked(const Sub& sub, const Instant& now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adds to `jobs` the items of `sub` that SendLocked would send next and that have no encoded
  // event yet (one already encoded for another subscription is shared instead); their raw JSON
  // moves into the job.
  // `job_of` maps the sequences of this pass's jobs to their index (one job per event).
  void CollectEncodeJobsLocked(Sub& sub, std::vector<EncodeJob>* jobs,
                               absl::flat_hash_map<int64_t, size_t>* job_of)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Encodes every job, on this thread and the encoder threads. Called without mu_.
  void EncodeJobs(std::vector<EncodeJob>& jobs) ABSL_LOCKS_EXCLUDED(mu_);
  void EncoderLoop();
  // Gives the items that still exist their encoding (dead-letters those that failed).
  void AttachEncodedLocked(std::vector<EncodeJob>& jobs, const Instant& now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SendLocked(Sub& sub, const Instant& now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Member* PickMemberLocked(Sub& sub) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AdvanceCursorLocked(Sub& sub) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseLocked(Sub& sub, Item& item) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A delivery the gateway takes back without counting an attempt (never written: withdrawn, or
  // queued when its stream ended; or its member was removed): released and queued again at its
  // place, sent again at once.
  void RequeueUnsentLocked(Sub& sub, int64_t sequence) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseItemLocked(Sub& sub, int64_t sequence) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // True when the store may hold a retry record of `item`'s event for `sub`, to be removed
  // when the item finishes: a retry item, or a log item read again after a restart.
  bool MayHaveRetryLocked(const Sub& sub, const Item& item) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishOkLocked(Sub& sub, Item& item, const Instant& now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FailAttemptLocked(Sub& sub, Item& item, const Instant& now, const std::string& reason,
                         absl::Duration retry_after) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DeadLetterLocked(Sub& sub, Item& item, int32_t attempts, const std::string& reason,
                        const Instant& now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ScheduleNowLocked(Sub& sub, int64_t sequence, const std::string& event_id,
                         absl::string_view why, const Instant& now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // When the worker next has timed work (ProcessDue's return value): a monotonic time.
  absl::Time NextWakeLocked(const Instant& now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  const Deps deps_;
  metrics::Counter* unknown_acks_;
  metrics::Counter* dropped_acks_;
  metrics::Counter* commit_failures_;
  metrics::Counter* missing_events_;
  metrics::Counter* retention_unfinished_;
  metrics::Counter* retention_dead_letters_;
  metrics::Counter* typed_misses_;

  // Lock order: admin_mu_ -> commit_mu_ -> mu_ -> inbox_mu_ -> wake_mu_. A HandlerConnection's
  // own lock comes after mu_ (Send) and before inbox_mu_ (its Listener calls).
  // Serializes changes to stored subscription specs (Subscribe, Unsubscribe, member drops,
  // Replay) and to dead letters (Redrive, DiscardDeadLetters, RemoveDeadLettersOfRemovedEvents).
  absl::Mutex admin_mu_ ABSL_ACQUIRED_BEFORE(commit_mu_);
  // Held across a CommitProgress, so a batch is either wholly in `in_commit_` or in the store.
  absl::Mutex commit_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_ ABSL_ACQUIRED_BEFORE(inbox_mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::unique_ptr<Sub>> subs_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, Sub*> sub_of_member_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_delivery_ ABSL_GUARDED_BY(mu_) = 0;
  std::string delivery_prefix_;
  absl::Time next_poll_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();  // monotonic
  ProgressBuffer pending_ ABSL_GUARDED_BY(mu_);
  // The batch being committed (empty unless FlushProgress is in CommitProgress).
  ProgressBuffer in_commit_ ABSL_GUARDED_BY(mu_);
  bool commit_failing_ ABSL_GUARDED_BY(mu_) = false;
  // Serialized events by sequence, while some held item uses them (converted once for all
  // subscriptions and attempts).
  absl::flat_hash_map<int64_t, std::weak_ptr<const std::string>> encoded_ ABSL_GUARDED_BY(mu_);
  size_t encoded_sweep_at_ ABSL_GUARDED_BY(mu_) = 1024;
  // Connections (with their listeners) of removed members, destroyed outside mu_.
  std::vector<std::unique_ptr<Retired>> retired_ ABSL_GUARDED_BY(mu_);

  absl::Mutex metrics_mu_;
  std::map<std::string, std::shared_ptr<SubMetrics>> metrics_ ABSL_GUARDED_BY(metrics_mu_);

  // Connection events and acks, applied by the next ProcessDue.
  absl::Mutex inbox_mu_ ABSL_ACQUIRED_BEFORE(wake_mu_);
  std::vector<InboxEntry> inbox_ ABSL_GUARDED_BY(inbox_mu_);

  std::atomic<bool> notified_{true};
  absl::Mutex wake_mu_;
  bool wake_ ABSL_GUARDED_BY(wake_mu_) = false;
  // Many deliveries are in flight (as of the last pass): acks are worth gathering. With few in
  // flight each ack is applied at once (low latency when traffic is light).
  std::atomic<bool> busy_{false};
  // Something other than an ack (or a full batch of acks) is waiting: no ack_batch_delay.
  bool urgent_ ABSL_GUARDED_BY(wake_mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(wake_mu_) = false;
  bool started_ ABSL_GUARDED_BY(wake_mu_) = false;
  bool shutdown_done_ ABSL_GUARDED_BY(wake_mu_) = false;
  std::thread worker_;
  std::thread flusher_;

  // Closed connections waiting for the reaper to destroy them.
  absl::Mutex reap_mu_ ABSL_ACQUIRED_AFTER(mu_);
  std::vector<std::unique_ptr<Retired>> to_reap_ ABSL_GUARDED_BY(reap_mu_);
  bool reaping_ ABSL_GUARDED_BY(reap_mu_) = false;  // a reaper thread runs
  bool reap_stop_ ABSL_GUARDED_BY(reap_mu_) = false;
  std::thread reaper_;

  // Encoder threads (Options::encoder_threads, once Start()ed) take part in EncodeJobs.
  absl::Mutex encode_mu_;
  std::vector<std::thread> encoders_ ABSL_GUARDED_BY(encode_mu_);
  // The current EncodeJobs' work, while it may still be picked up (null otherwise).
  std::function<void()> encode_task_ ABSL_GUARDED_BY(encode_mu_);
  uint64_t encode_generation_ ABSL_GUARDED_BY(encode_mu_) = 0;
  // Encoder threads running a task they picked up.
  int encode_running_ ABSL_GUARDED_BY(encode_mu_) = 0;
  bool encode_stopping_ ABSL_GUARDED_BY(encode_mu_) = false;
};

namespace internal {

// What the dispatcher keeps of a handler's Ack until its worker applies it: delivery_id (empty
// when longer than any id the gateway issues: it names no delivery), outcome, retry_after and
// the first 512 bytes of message (cut on a UTF-8 boundary; the rest would be cut off the
// retry's or dead letter's reason anyway). A few hundred bytes, whatever the Ack's size (up to
// 64 KiB): the inbox holds up to 100,000 of them.
switchboard::v1::Ack AckToApply(const switchboard::v1::Ack& ack);

}  // namespace internal

}  // namespace switchboard::server::dispatch

#endif  // SWITCHBOARD_SERVER_DISPATCH_DISPATCHER_H_
