#include "server/store/wal_coalescing_vfs.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>
#include <string>

#include "server/base/log.h"

namespace switchboard::server::store {
namespace {

constexpr char kName[] = "switchboard-wal-coalescing";

// The unix VFS writes at most 128 KiB - 1 bytes per call (it masks larger lengths): flushes go
// in pieces of this size.
constexpr size_t kMaxWriteBytes = 124 << 10;

// Past this, buffered frames are written out even before the sync (a huge transaction).
constexpr size_t kMaxBufferedBytes = 4 << 20;

sqlite3_vfs* g_base = nullptr;  // the platform VFS everything is forwarded to
sqlite3_vfs g_vfs;              // a copy of it with our name, file size and xOpen

// The WAL file format (sqlite.org/fileformat2.html#walformat): a 32-byte header, then frames of
// a 24-byte header and one page. Bytes 4..7 of a frame header hold the database size after the
// commit for a commit frame, 0 for any other frame; SQLite writes each frame header with one
// call of its own.
constexpr int kWalHeaderBytes = 32;
constexpr int kFrameHeaderBytes = 24;

// A WAL file: our state, then (at kBaseOffset) the base VFS's own file object.
struct WalFile {
  sqlite3_file file;  // first, as SQLite requires; pMethods = &kWalMethods
  sqlite3_file* base;
  std::string pending;  // contiguous bytes not yet written, starting at pending_offset
  sqlite3_int64 pending_offset = 0;
  // Page size, once seen in the WAL header; tells frame headers from pieces of pages.
  int page_size = 0;
  // Since the last commit frame header, and until the next frame header that is no commit:
  // every write goes to the file at once. SQLite publishes a commit to other connections right
  // after its frames, and with synchronous below FULL (or padding frames written after the
  // sync when powersafe overwrite is off) without a sync in between, so a commit's bytes are
  // never left here, and a failure to write them fails the commit itself.
  bool write_through = false;
  // A failed flush during a call whose error does not fail the transaction (a read, a size, a
  // file control): returned by the next write or sync, so that transaction cannot commit.
  int deferred_error = SQLITE_OK;
};

constexpr size_t kBaseOffset = (sizeof(WalFile) + 15) & ~size_t{15};
static_assert(alignof(WalFile) <= 8, "SQLite allocates file objects 8-byte aligned");

WalFile* Wal(sqlite3_file* file) { return reinterpret_cast<WalFile*>(file); }
sqlite3_file* Base(sqlite3_file* file) { return Wal(file)->base; }

uint32_t BigEndian32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Writes the buffered bytes; the buffer is empty afterwards either way.
int Flush(WalFile* wal) {
  int rc = SQLITE_OK;
  for (size_t done = 0; rc == SQLITE_OK && done < wal->pending.size(); done += kMaxWriteBytes) {
    const size_t n = std::min(kMaxWriteBytes, wal->pending.size() - done);
    rc = wal->base->pMethods->xWrite(wal->base, wal->pending.data() + done, static_cast<int>(n),
                                     wal->pending_offset + static_cast<sqlite3_int64>(done));
  }
  wal->pending.clear();
  return rc;
}

// Flush() before a call that is not a write: a failure is also kept for the next write/sync.
int FlushBeforeOther(WalFile* wal) {
  const int rc = Flush(wal);
  if (rc != SQLITE_OK && wal->deferred_error == SQLITE_OK) wal->deferred_error = SQLITE_IOERR_WRITE;
  return rc;
}

int TakeDeferredError(WalFile* wal) {
  const int rc = wal->deferred_error;
  wal->deferred_error = SQLITE_OK;
  return rc;
}

// Adds the bytes to the buffer (or writes them, when they do not extend it or are too many).
int Buffer(WalFile* wal, const void* data, int amount, sqlite3_int64 offset) {
  const auto size = static_cast<size_t>(amount);
  const auto end = wal->pending_offset + static_cast<sqlite3_int64>(wal->pending.size());
  try {
    if (!wal->pending.empty() && offset == end && wal->pending.size() + size <= kMaxBufferedBytes) {
      wal->pending.append(static_cast<const char*>(data), size);
      return SQLITE_OK;
    }
    if (int rc = Flush(wal); rc != SQLITE_OK) return rc;
    if (size > kMaxWriteBytes) return wal->base->pMethods->xWrite(wal->base, data, amount, offset);
    wal->pending.assign(static_cast<const char*>(data), size);
  } catch (const std::bad_alloc&) {  // never unwind through SQLite's C frames
    wal->pending.clear();
    return SQLITE_IOERR_NOMEM;
  }
  wal->pending_offset = offset;
  return SQLITE_OK;
}

int Close(sqlite3_file* file) {
  WalFile* wal = Wal(file);
  const int flushed = Flush(wal);
  const int closed = wal->base->pMethods->xClose(wal->base);
  wal->~WalFile();
  return flushed != SQLITE_OK ? flushed : closed;
}

int Read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  if (int rc = FlushBeforeOther(Wal(file)); rc != SQLITE_OK) return rc;
  return Base(file)->pMethods->xRead(Base(file), out, amount, offset);
}

int Write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  WalFile* wal = Wal(file);
  if (int rc = TakeDeferredError(wal); rc != SQLITE_OK) {
    wal->pending.clear();
    return rc;
  }
  const auto* bytes = static_cast<const unsigned char*>(data);
  if (offset == 0 && amount >= kWalHeaderBytes) {
    wal->page_size = static_cast<int>(BigEndian32(bytes + 8));
  }
  const bool frame_header =
      amount == kFrameHeaderBytes &&
      (wal->page_size == 0 ||
       (offset - kWalHeaderBytes) % (kFrameHeaderBytes + wal->page_size) == 0);
  if (frame_header) wal->write_through = BigEndian32(bytes + 4) != 0;
  int rc = Buffer(wal, data, amount, offset);
  // A commit frame's header waits for its page; from the page on, everything goes out at once.
  if (rc == SQLITE_OK && wal->write_through && !frame_header) rc = Flush(wal);
  return rc;
}

int Truncate(sqlite3_file* file, sqlite3_int64 size) {
  WalFile* wal = Wal(file);
  if (int rc = Flush(wal); rc != SQLITE_OK) return rc;
  if (int rc = TakeDeferredError(wal); rc != SQLITE_OK) return rc;
  return wal->base->pMethods->xTruncate(wal->base, size);
}

int Sync(sqlite3_file* file, int flags) {
  WalFile* wal = Wal(file);
  if (int rc = Flush(wal); rc != SQLITE_OK) return rc;
  if (int rc = TakeDeferredError(wal); rc != SQLITE_OK) return rc;
  return wal->base->pMethods->xSync(wal->base, flags);
}

int FileSize(sqlite3_file* file, sqlite3_int64* size) {
  if (int rc = FlushBeforeOther(Wal(file)); rc != SQLITE_OK) return rc;
  return Base(file)->pMethods->xFileSize(Base(file), size);
}

int Lock(sqlite3_file* file, int level) { return Base(file)->pMethods->xLock(Base(file), level); }

int Unlock(sqlite3_file* file, int level) {
  return Base(file)->pMethods->xUnlock(Base(file), level);
}

int CheckReservedLock(sqlite3_file* file, int* out) {
  return Base(file)->pMethods->xCheckReservedLock(Base(file), out);
}

int FileControl(sqlite3_file* file, int op, void* arg) {
  if (int rc = FlushBeforeOther(Wal(file)); rc != SQLITE_OK) return rc;
  return Base(file)->pMethods->xFileControl(Base(file), op, arg);
}

int SectorSize(sqlite3_file* file) { return Base(file)->pMethods->xSectorSize(Base(file)); }

int DeviceCharacteristics(sqlite3_file* file) {
  return Base(file)->pMethods->xDeviceCharacteristics(Base(file));
}

// SQLite calls the shared-memory and memory-map methods on database files, not on a WAL; they
// are forwarded anyway so the object is a complete file.
int ShmMap(sqlite3_file* file, int page, int page_size, int extend, void volatile** out) {
  return Base(file)->pMethods->xShmMap(Base(file), page, page_size, extend, out);
}

int ShmLock(sqlite3_file* file, int offset, int n, int flags) {
  return Base(file)->pMethods->xShmLock(Base(file), offset, n, flags);
}

void ShmBarrier(sqlite3_file* file) { Base(file)->pMethods->xShmBarrier(Base(file)); }

int ShmUnmap(sqlite3_file* file, int delete_flag) {
  return Base(file)->pMethods->xShmUnmap(Base(file), delete_flag);
}

int Fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  if (int rc = FlushBeforeOther(Wal(file)); rc != SQLITE_OK) return rc;
  return Base(file)->pMethods->xFetch(Base(file), offset, amount, out);
}

int Unfetch(sqlite3_file* file, sqlite3_int64 offset, void* page) {
  return Base(file)->pMethods->xUnfetch(Base(file), offset, page);
}

const sqlite3_io_methods kWalMethods = {
    3,
    Close,
    Read,
    Write,
    Truncate,
    Sync,
    FileSize,
    Lock,
    Unlock,
    CheckReservedLock,
    FileControl,
    SectorSize,
    DeviceCharacteristics,
    ShmMap,
    ShmLock,
    ShmBarrier,
    ShmUnmap,
    Fetch,
    Unfetch,
};

int Open(sqlite3_vfs* /*vfs*/, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  if ((flags & SQLITE_OPEN_WAL) == 0) return g_base->xOpen(g_base, name, file, flags, out_flags);
  auto* wal = new (file) WalFile();
  wal->file.pMethods = nullptr;  // until the base file is open: SQLite then never closes it
  wal->base = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + kBaseOffset);
  const int rc = g_base->xOpen(g_base, name, wal->base, flags, out_flags);
  if (rc != SQLITE_OK || wal->base->pMethods == nullptr || wal->base->pMethods->iVersion < 3) {
    if (rc == SQLITE_OK && wal->base->pMethods != nullptr) wal->base->pMethods->xClose(wal->base);
    wal->~WalFile();
    file->pMethods = nullptr;
    return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
  }
  wal->file.pMethods = &kWalMethods;
  return SQLITE_OK;
}

}  // namespace

const char* WalCoalescingVfsName() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_base = sqlite3_vfs_find(nullptr);
    if (g_base == nullptr) {
      SB_LOG(FATAL) << "wal_coalescing_vfs error=\"sqlite has no default VFS\"";
    }
    // The base's other methods (paths, access, randomness, time, ...) take the VFS object and
    // read only fields a copy keeps (mxPathname, pAppData).
    g_vfs = *g_base;
    g_vfs.pNext = nullptr;
    g_vfs.zName = kName;
    g_vfs.szOsFile = static_cast<int>(kBaseOffset) + g_base->szOsFile;
    g_vfs.xOpen = Open;
    const int rc = sqlite3_vfs_register(&g_vfs, /*makeDflt=*/0);
    if (rc != SQLITE_OK) {
      SB_LOG(FATAL) << "wal_coalescing_vfs error=\"register failed\" rc=" << rc;
    }
  });
  return kName;
}

}  // namespace switchboard::server::store
