// A fault-injecting SQLite VFS for tests, in the manner of SQLite's own
// crash tests (src/test_vfs.c, the "crash" VFS of test6.c): it wraps the
// default VFS, writes through to the real files, and keeps for every file an
// undo log of the pre-images of the sectors changed since that file's last
// xSync. PowerLoss() puts every file back to what was synced (optionally
// keeping a random subset of the unsynced sectors: torn writes) and makes
// every later I/O fail until PowerOn(). FailWritesAfter() answers
// SQLITE_FULL once a byte budget is spent (a full disk).
//
// The wal-index (-shm) is kept in heap memory, as a power loss would lose a
// memory-mapped file: SQLite rebuilds it from the WAL on the next open. So
// every connection to a database must go through this VFS while any does
// (one process, connections opened with vfs "lossy"); a connection on
// another VFS may open the files once the lossy ones are closed.
//
// The model: the real file is the disk plus the OS cache; a write reaches
// the "disk" when its file's xSync returns (which does not call the real
// fsync: it only moves that line). Creating and deleting files are durable at
// once: directory entries are not modelled (SQLite syncs the directory
// after creating a WAL or journal, never after creating a database file). Writes made
// through this VFS but never synced stay in the undo log until PowerLoss()
// or Settle(): a test that changes the files by other means in between must
// call Settle() first.
//
// Thread-safe: one mutex guards every piece of state.
#pragma once

#include <cstdint>
#include <string>

namespace rogatory::test {

class LossyVfs {
 public:
  // Registers the VFS as kName (not as the default) on the first call and
  // returns the one instance; later calls return the same instance.
  static LossyVfs& Get();
  static constexpr const char* kName = "lossy";

  // Power loss now: every write since the last xSync of its file is undone
  // (torn writes: a random subset of sectors is kept, see SetTornWrites),
  // and every later read, write, sync, lock and open fails with an I/O
  // error until PowerOn(). Closing files still succeeds (it releases their
  // descriptors). Idempotent while powered off.
  void PowerLoss();
  // Power loss at the `ops`-th write, truncate or sync from now (1: the
  // next one), before that operation reaches the file. 0 disarms.
  void PowerLossAfter(int64_t ops);
  // Torn writes on the next power losses: each unsynced sector is kept with
  // probability `keep` (0: none are, the default), a file extended since its
  // last sync keeps its new size with probability `keep`, and extension
  // sectors not kept hold random garbage. `seed` makes it reproducible.
  void SetTornWrites(double keep, uint64_t seed);
  // Power back on. The files are as PowerLoss() left them.
  void PowerOn();
  bool powered_off() const;

  // Full disk: writes fail with SQLITE_FULL once `bytes` more bytes were
  // written (the write that crosses the budget writes its first part, as a
  // real short write does). -1 lifts the limit.
  void FailWritesAfter(int64_t bytes);

  // Treats every unsynced write as durable (an orderly shutdown followed by
  // the OS flushing its cache) and forgets the undo logs.
  void Settle();

  // Writes and syncs since Get(), and the sectors whose pre-images wait in
  // undo logs now.
  int64_t writes() const;
  int64_t syncs() const;
  int64_t unsynced_sectors() const;

 private:
  LossyVfs() = default;
};

}  // namespace rogatory::test
