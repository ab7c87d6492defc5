#include "server/store/wal_coalescing_vfs.h"

#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace switchboard::server::store {
namespace {

// A default VFS that can be told to fail every write to a WAL file, registered before the
// coalescing VFS first looks up the default (a static initializer below), so that it wraps
// this one. Everything else passes through to the platform VFS.
std::atomic<bool> g_fail_wal_writes{false};
sqlite3_vfs* g_platform = nullptr;
sqlite3_vfs g_faulty;
sqlite3_io_methods g_faulty_wal_methods;
const sqlite3_io_methods* g_platform_wal_methods = nullptr;

int FaultyWrite(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  if (g_fail_wal_writes.load()) return SQLITE_FULL;
  return g_platform_wal_methods->xWrite(file, data, amount, offset);
}

int FaultyOpen(sqlite3_vfs*, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  const int rc = g_platform->xOpen(g_platform, name, file, flags, out_flags);
  if (rc == SQLITE_OK && (flags & SQLITE_OPEN_WAL) != 0 && file->pMethods != nullptr) {
    // The platform's file object, with its own methods but a failing xWrite.
    g_platform_wal_methods = file->pMethods;
    g_faulty_wal_methods = *file->pMethods;
    g_faulty_wal_methods.xWrite = FaultyWrite;
    file->pMethods = &g_faulty_wal_methods;
  }
  return rc;
}

const bool kFaultyRegistered = [] {
  g_platform = sqlite3_vfs_find(nullptr);
  g_faulty = *g_platform;
  g_faulty.zName = "faulty-default";
  g_faulty.pNext = nullptr;
  g_faulty.xOpen = FaultyOpen;
  return sqlite3_vfs_register(&g_faulty, /*makeDflt=*/1) == SQLITE_OK;
}();

class WalCoalescingVfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = absl::StrCat(::testing::TempDir(), "/vfs_XXXXXX");
    ASSERT_NE(mkdtemp(dir.data()), nullptr);
    path_ = dir + "/test.db";
  }

  // A connection through the coalescing VFS (vfs = true) or the default one. `uri_query` adds
  // URI parameters ("psow=0").
  sqlite3* Open(bool vfs, const std::string& synchronous = "FULL",
                const std::string& uri_query = "") {
    sqlite3* db = nullptr;
    const std::string name = uri_query.empty() ? path_ : "file:" + path_ + "?" + uri_query;
    EXPECT_EQ(sqlite3_open_v2(name.c_str(), &db,
                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
                              vfs ? WalCoalescingVfsName() : nullptr),
              SQLITE_OK);
    Exec(db, "PRAGMA journal_mode = WAL");
    Exec(db, "PRAGMA synchronous = " + synchronous);
    return db;
  }

  // Commits through a VFS writer opened with these settings, each checked at once by a reader
  // on the default VFS: a commit's frames must be in the file when SQLite publishes it.
  void ExpectEveryCommitVisible(const std::string& synchronous, const std::string& uri_query) {
    sqlite3* writer = Open(/*vfs=*/true, synchronous, uri_query);
    Exec(writer, "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)");
    sqlite3* reader = Open(/*vfs=*/false);
    for (int i = 1; i <= 50; ++i) {
      Exec(writer, absl::StrCat("INSERT INTO t (v) VALUES ('", std::string(100 * i, 'x'), "')"));
      ASSERT_EQ(Count(reader, "SELECT count(*) FROM t"), i);
      ASSERT_EQ(Count(reader, absl::StrCat("SELECT length(v) FROM t WHERE k = ", i)), 100 * i);
    }
    sqlite3_close(reader);
    sqlite3_close(writer);
  }

  static void Exec(sqlite3* db, const std::string& sql) {
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
        << sql << ": " << (error ? error : "");
    sqlite3_free(error);
  }

  static int64_t Count(sqlite3* db, const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sql;
    EXPECT_EQ(sqlite3_step(stmt), SQLITE_ROW) << sql;
    const int64_t n = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return n;
  }

  static std::string Text(sqlite3* db, const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sql;
    EXPECT_EQ(sqlite3_step(stmt), SQLITE_ROW) << sql;
    const unsigned char* text = sqlite3_column_text(stmt, 0);
    std::string out = text ? reinterpret_cast<const char*>(text) : "";
    sqlite3_finalize(stmt);
    return out;
  }

  std::string path_;
};

TEST_F(WalCoalescingVfsTest, ATransactionLargerThanOneWriteIsCommittedWhole) {
  sqlite3* db = Open(/*vfs=*/true);
  Exec(db, "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)");
  // ~12 MiB in one transaction: more than the buffer cap and many 124 KiB pieces.
  Exec(db, "BEGIN");
  for (int i = 0; i < 3000; ++i) {
    Exec(db, absl::StrCat("INSERT INTO t (k, v) VALUES (", i, ", randomblob(", 3000 + i, "))"));
  }
  Exec(db, "COMMIT");
  sqlite3* reader = Open(/*vfs=*/false);
  EXPECT_EQ(Count(reader, "SELECT count(*) FROM t"), 3000);
  EXPECT_EQ(Count(reader, "SELECT sum(length(v)) FROM t"), 3000 * 3000 + 2999 * 3000 / 2);
  sqlite3_close(reader);
  sqlite3_close(db);
  // And from the files alone, as after a restart.
  sqlite3* again = Open(/*vfs=*/false);
  EXPECT_EQ(Count(again, "SELECT count(*) FROM t"), 3000);
  EXPECT_EQ(Text(again, "PRAGMA integrity_check"), "ok");
  sqlite3_close(again);
}

TEST_F(WalCoalescingVfsTest, OtherConnectionsSeeEachCommitAsSoonAsItReturns) {
  ExpectEveryCommitVisible("FULL", "");
}

// Without a sync at commit, SQLite publishes the frames right after writing them.
TEST_F(WalCoalescingVfsTest, CommitsAreVisibleWithSynchronousNormal) {
  ExpectEveryCommitVisible("NORMAL", "");
}

// Without powersafe overwrite, padding frames follow the sync inside the commit.
TEST_F(WalCoalescingVfsTest, CommitsAreVisibleWithoutPowersafeOverwrite) {
  ExpectEveryCommitVisible("FULL", "psow=0");
}

TEST_F(WalCoalescingVfsTest, RolledBackAndRewrittenPagesReadBackCorrectly) {
  sqlite3* db = Open(/*vfs=*/true);
  Exec(db, "PRAGMA cache_size = 10");  // spill pages to the WAL mid-transaction
  Exec(db, "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)");
  Exec(db, "BEGIN");
  for (int i = 0; i < 500; ++i) {
    Exec(db, absl::StrCat("INSERT INTO t (k, v) VALUES (", i, ", zeroblob(2000))"));
  }
  Exec(db, "UPDATE t SET v = zeroblob(1000) WHERE k % 2 = 0");  // rewrites spilled pages
  EXPECT_EQ(Count(db, "SELECT sum(length(v)) FROM t"), 250 * 2000 + 250 * 1000);
  Exec(db, "ROLLBACK");
  EXPECT_EQ(Count(db, "SELECT count(*) FROM t"), 0);
  Exec(db, "INSERT INTO t (k, v) VALUES (1, zeroblob(10))");
  sqlite3_close(db);
  sqlite3* again = Open(/*vfs=*/false);
  EXPECT_EQ(Count(again, "SELECT count(*) FROM t"), 1);
  sqlite3_close(again);
}

TEST_F(WalCoalescingVfsTest, AFlushThatFailsDuringAReadFailsTheTransaction) {
  ASSERT_TRUE(kFaultyRegistered);
  sqlite3* db = Open(/*vfs=*/true);
  Exec(db, "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)");
  Exec(db, "PRAGMA cache_size = 10");  // spill pages into the WAL (buffered) mid-transaction
  Exec(db, "BEGIN");
  for (int i = 0; i < 200; ++i) {
    Exec(db, absl::StrCat("INSERT INTO t (k, v) VALUES (", i, ", zeroblob(2000))"));
  }
  // Reading spilled pages back flushes the buffer, and that flush now fails: the read reports
  // it, and even with the disk back the transaction must not commit without those frames.
  g_fail_wal_writes = true;
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT sum(length(v)) FROM t", -1, &stmt, nullptr), SQLITE_OK);
  const int step = sqlite3_step(stmt);
  sqlite3_finalize(stmt);
  g_fail_wal_writes = false;
  EXPECT_NE(step, SQLITE_ROW);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, "INSERT INTO t (k, v) VALUES (1000, x'00'); COMMIT", nullptr,
                              nullptr, &error);
  sqlite3_free(error);
  EXPECT_NE(rc, SQLITE_OK);
  sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  // Nothing of the transaction is visible, and the database is intact.
  sqlite3* again = Open(/*vfs=*/false);
  EXPECT_EQ(Count(again, "SELECT count(*) FROM t"), 0);
  EXPECT_EQ(Text(again, "PRAGMA integrity_check"), "ok");
  sqlite3_close(again);
}

}  // namespace
}  // namespace switchboard::server::store
