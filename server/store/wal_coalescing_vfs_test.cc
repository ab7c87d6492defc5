#include "server/store/wal_coalescing_vfs.h"

#include <sqlite3.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace switchboard::server::store {
namespace {

class WalCoalescingVfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = absl::StrCat(::testing::TempDir(), "/vfs_XXXXXX");
    ASSERT_NE(mkdtemp(dir.data()), nullptr);
    path_ = dir + "/test.db";
  }

  // A connection through the coalescing VFS (vfs = true) or the default one.
  sqlite3* Open(bool vfs) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                              vfs ? WalCoalescingVfsName() : nullptr),
              SQLITE_OK);
    Exec(db, "PRAGMA journal_mode = WAL");
    Exec(db, "PRAGMA synchronous = FULL");
    return db;
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
  sqlite3* writer = Open(/*vfs=*/true);
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

}  // namespace
}  // namespace switchboard::server::store
