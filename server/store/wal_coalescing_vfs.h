// WalCoalescingVfs: an SQLite VFS that sends a transaction's write-ahead-log frames to the
// file in one write instead of two per page.
//
// SQLite writes each WAL frame as two pwrite calls (a 24-byte header, then the page), so one
// group commit of ~30 events costs ~250 system calls before its fsync (measured with strace:
// 8 per event, ~11% of the gateway's CPU under load, all on the single writer thread). This
// VFS forwards everything to the platform's default VFS, except that for files SQLite opens as
// a WAL it keeps contiguous writes in memory and hands them over in few large writes: when the
// page of a commit frame arrives (from then on every write goes straight through until the
// next non-commit frame header, i.e. the next transaction), or before SQLite does anything else
// with the file (sync, read, truncate, size, file control, a non-contiguous write, close), or
// at kMaxBufferedBytes. So a commit's frames are in the file before SQLite publishes the commit
// to other connections, whatever `synchronous` and powersafe-overwrite say, and a failure to
// write them fails that commit. A failed flush during a read, size or file control (frames of
// a transaction still open, spilled from the cache) is also returned by the next write or sync,
// so that transaction cannot commit. Durability is SQLite's own: nothing changes about when it
// syncs.
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
