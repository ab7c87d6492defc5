// WalCoalescingVfs: an SQLite VFS that sends a transaction's write-ahead-log frames to the
// file in one write instead of two per page.
//
// SQLite writes each WAL frame as two pwrite calls (a 24-byte header, then the page), so one
// group commit of ~30 events costs ~250 system calls before its fsync (measured with strace:
// 8 per event, ~11% of the gateway's CPU under load, all on the single writer thread). This
// VFS forwards everything to the platform's default VFS, except that for files SQLite opens as
// a WAL it keeps contiguous writes in memory and hands them over as one write when SQLite next
// does anything else with that file: sync (every commit syncs with synchronous=FULL), read,
// truncate, size, a file control, a non-contiguous write, close, or when the buffer reaches
// kMaxBufferedBytes. Durability is unchanged: nothing is acknowledged before the sync, and the
// sync comes after the buffered bytes are written. Other connections see frames only after the
// commit updates the WAL index, which follows the sync. A write error of buffered bytes is
// reported by the call that flushed them (the sync, for a commit), which fails the transaction.
//
// Example:
//   sqlite3_open_v2(path, &db, flags, WalCoalescingVfsName());
//
// Thread-safety: registration is done once (thread-safe); each file is used the way SQLite
// uses files (one connection's calls at a time).
#ifndef SWITCHBOARD_SERVER_STORE_WAL_COALESCING_VFS_H_
#define SWITCHBOARD_SERVER_STORE_WAL_COALESCING_VFS_H_

namespace switchboard::server::store {

// Registers the VFS on first use (not as the default) and returns its name for
// sqlite3_open_v2. Aborts if SQLite has no default VFS (a broken build).
const char* WalCoalescingVfsName();

}  // namespace switchboard::server::store

#endif  // SWITCHBOARD_SERVER_STORE_WAL_COALESCING_VFS_H_
