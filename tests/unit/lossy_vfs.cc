#include "tests/unit/lossy_vfs.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <random>
#include <vector>

namespace rogatory::test {
namespace {

// The unit of a torn write. Smaller than the sector SQLite is told about
// (the default VFS's), so a torn write can split one of its sectors, which
// SQLite must tolerate for data it never synced. Restoring whole units keeps
// the powersafe-overwrite promise: bytes a write did not touch never change.
constexpr int64_t kSector = 512;

// What changed in one file since its last xSync. Present only for files with
// unsynced changes.
struct FileState {
  int64_t synced_size = 0;
  // Sector index -> the synced bytes of that sector below synced_size, as
  // they were before the first unsynced write or truncate touched it.
  std::map<int64_t, std::string> pre;
};

struct ShmNode;

// Our sqlite3_file; the default VFS's file follows it in the same block.
struct LossyFile {
  sqlite3_file base;
  sqlite3_file* real = nullptr;
  std::string path;  // "" for files that are not tracked (temporary ones)
  ShmNode* shm = nullptr;
  uint32_t shm_shared = 0;
  uint32_t shm_excl = 0;
};

constexpr size_t kHeaderSize = (sizeof(LossyFile) + 15) & ~size_t{15};

// The wal-index of one database, in heap memory, shared by its connections.
struct ShmNode {
  std::vector<char*> regions;
  std::vector<LossyFile*> conns;
  ~ShmNode() {
    for (char* r : regions) std::free(r);
  }
};

struct Global {
  std::mutex mu;
  sqlite3_vfs* root = nullptr;
  sqlite3_vfs vfs{};
  bool off = false;
  int64_t countdown = 0;
  double keep = 0;
  std::mt19937_64 rng{1};
  int64_t budget = -1;
  int64_t writes = 0, syncs = 0;
  std::map<std::string, FileState> files;
  std::map<std::string, std::unique_ptr<ShmNode>> shm;
};

// Never destroyed: SQLite may call the VFS while statics are torn down.
Global& G() {
  static Global* g = new Global;
  return *g;
}

LossyFile* L(sqlite3_file* f) { return reinterpret_cast<LossyFile*>(f); }

bool Coin(Global& g, double p) {
  if (p <= 0) return false;
  if (p >= 1) return true;
  return std::bernoulli_distribution(p)(g.rng);
}

// Puts every file with unsynced changes back to its synced state (keeping
// a random subset of sectors when torn writes are on). Caller holds g.mu.
void DoPowerLoss(Global& g) {
  if (g.off) return;
  g.off = true;
  g.countdown = 0;
  for (auto& [path, st] : g.files) {
    // A second descriptor on a file SQLite has locked: closing it drops the
    // process's POSIX locks on it, which only matters to the connections
    // that are about to be closed anyway.
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) continue;  // deleted since: deletion is durable here
    struct stat sb {};
    if (::fstat(fd, &sb) != 0) {
      ::close(fd);
      continue;
    }
    const int64_t cur = sb.st_size;
    int64_t final_size = st.synced_size;
    if (cur > st.synced_size && Coin(g, g.keep)) final_size = cur;
    if (cur != final_size && ::ftruncate(fd, final_size) != 0) std::abort();
    for (const auto& [s, bytes] : st.pre) {
      if (Coin(g, g.keep)) continue;  // this sector reached the disk
      const int64_t start = s * kSector;
      if (start >= final_size) continue;
      const auto n = static_cast<size_t>(std::min<int64_t>(bytes.size(), final_size - start));
      if (::pwrite(fd, bytes.data(), n, start) != static_cast<ssize_t>(n)) std::abort();
    }
    // An extension kept by a torn write: the sectors that did not make it
    // hold garbage.
    for (int64_t s = st.synced_size / kSector;
         s * kSector < final_size && final_size > st.synced_size; ++s) {
      const int64_t start = std::max(s * kSector, st.synced_size);
      const int64_t end = std::min((s + 1) * kSector, final_size);
      if (start >= end || Coin(g, g.keep)) continue;
      std::string junk(static_cast<size_t>(end - start), '\0');
      for (auto& c : junk) c = static_cast<char>(g.rng());
      if (::pwrite(fd, junk.data(), junk.size(), start) != static_cast<ssize_t>(junk.size())) {
        std::abort();
      }
    }
    ::close(fd);
  }
  g.files.clear();
}

// Counts one write, truncate or sync; true when it must fail because the
// power is off (or goes off now). Caller holds g.mu.
bool PowerFails(Global& g) {
  if (g.off) return true;
  if (g.countdown > 0 && --g.countdown == 0) {
    DoPowerLoss(g);
    return true;
  }
  return false;
}

// The undo state of `f`, created on first use with everything so far taken
// as synced. Null on an I/O error. Caller holds g.mu.
FileState* StateOf(Global& g, LossyFile* f) {
  auto it = g.files.find(f->path);
  if (it != g.files.end()) return &it->second;
  sqlite3_int64 size = 0;
  if (f->real->pMethods->xFileSize(f->real, &size) != SQLITE_OK) return nullptr;
  FileState& st = g.files[f->path];
  st.synced_size = size;
  return &st;
}

// Saves the synced pre-image of every sector in [off, off+len) not saved yet.
int Capture(Global& g, LossyFile* f, int64_t off, int64_t len) {
  FileState* st = StateOf(g, f);
  if (st == nullptr) return SQLITE_IOERR_FSTAT;
  for (int64_t s = off / kSector; s * kSector < off + len && s * kSector < st->synced_size; ++s) {
    if (st->pre.count(s) != 0) continue;
    const int64_t start = s * kSector;
    const int64_t end = std::min(start + kSector, st->synced_size);
    std::string bytes(static_cast<size_t>(end - start), '\0');
    // A short read zero-fills: the part was truncated away, and that
    // truncate saved it already.
    const int rc =
        f->real->pMethods->xRead(f->real, bytes.data(), static_cast<int>(bytes.size()), start);
    if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) return rc;
    st->pre.emplace(s, std::move(bytes));
  }
  return SQLITE_OK;
}

// ---- sqlite3_io_methods

int Close(sqlite3_file* file) {
  Global& g = G();
  LossyFile* f = L(file);
  std::lock_guard lock(g.mu);
  if (f->shm != nullptr) {
    auto& conns = f->shm->conns;
    conns.erase(std::remove(conns.begin(), conns.end(), f), conns.end());
    if (conns.empty()) g.shm.erase(f->path);
    f->shm = nullptr;
  }
  const int rc = f->real->pMethods->xClose(f->real);
  f->~LossyFile();
  return rc;
}

int Read(sqlite3_file* file, void* buf, int n, sqlite3_int64 off) {
  Global& g = G();
  LossyFile* f = L(file);
  std::lock_guard lock(g.mu);
  if (g.off) return SQLITE_IOERR_READ;
  return f->real->pMethods->xRead(f->real, buf, n, off);
}

int Write(sqlite3_file* file, const void* buf, int n, sqlite3_int64 off) {
  Global& g = G();
  LossyFile* f = L(file);
  std::lock_guard lock(g.mu);
  if (PowerFails(g)) return SQLITE_IOERR_WRITE;
  ++g.writes;
  int64_t len = n;
  bool full = false;
  if (g.budget >= 0) {
    if (len > g.budget) {
      len = g.budget;
      full = true;
    }
    g.budget -= len;
  }
  if (len > 0) {
    if (!f->path.empty()) {
      if (int rc = Capture(g, f, off, len); rc != SQLITE_OK) return rc;
    }
    const int rc = f->real->pMethods->xWrite(f->real, buf, static_cast<int>(len), off);
    if (rc != SQLITE_OK) return rc;
  }
  return full ? SQLITE_FULL : SQLITE_OK;
}

int Truncate(sqlite3_file* file, sqlite3_int64 size) {
  Global& g = G();
  LossyFile* f = L(file);
  std::lock_guard lock(g.mu);
  if (PowerFails(g)) return SQLITE_IOERR_TRUNCATE;
  if (!f->path.empty()) {
    sqlite3_int64 cur = 0;
    if (f->real->pMethods->xFileSize(f->real, &cur) != SQLITE_OK) return SQLITE_IOERR_FSTAT;
    FileState* st = StateOf(g, f);
    if (st == nullptr) return SQLITE_IOERR_FSTAT;
    const int64_t end = std::min<int64_t>(cur, st->synced_size);
    if (end > size) {
      if (int rc = Capture(g, f, size, end - size); rc != SQLITE_OK) return rc;
    }
  }
  return f->real->pMethods->xTruncate(f->real, size);
}

// The simulated disk is the real file: a sync only moves the line between
// what a power loss keeps and what it loses, and skips the real fsync (the
// tests run hundreds of commits).
int Sync(sqlite3_file* file, int /*flags*/) {
  Global& g = G();
  LossyFile* f = L(file);
  std::lock_guard lock(g.mu);
  if (PowerFails(g)) return SQLITE_IOERR_FSYNC;
  ++g.syncs;
  if (!f->path.empty()) g.files.erase(f->path);
  return SQLITE_OK;
}

int FileSize(sqlite3_file* file, sqlite3_int64* size) {
  Global& g = G();
  LossyFile* f = L(file);
  std::lock_guard lock(g.mu);
  if (g.off) return SQLITE_IOERR_FSTAT;
  return f->real->pMethods->xFileSize(f->real, size);
}

int Lock(sqlite3_file* file, int level) {
  Global& g = G();
  LossyFile* f = L(file);
  std::lock_guard lock(g.mu);
  if (g.off) return SQLITE_IOERR_LOCK;
  return f->real->pMethods->xLock(f->real, level);
}

int Unlock(sqlite3_file* file, int level) {
  Global& g = G();
  LossyFile* f = L(file);
  std::lock_guard lock(g.mu);
  return f->real->pMethods->xUnlock(f->real, level);
}

int CheckReservedLock(sqlite3_file* file, int* out) {
  Global& g = G();
  LossyFile* f = L(file);
  std::lock_guard lock(g.mu);
  if (g.off) return SQLITE_IOERR_CHECKRESERVEDLOCK;
  return f->real->pMethods->xCheckReservedLock(f->real, out);
}

int FileControl(sqlite3_file* file, int op, void* arg) {
  LossyFile* f = L(file);
  if (op == SQLITE_FCNTL_VFSNAME) {
    *static_cast<char**>(arg) = sqlite3_mprintf("%s", LossyVfs::kName);
    return SQLITE_OK;
  }
  // The default VFS's controls either touch no data or (the size hint) only
  // with a chunk size set, which the store never sets.
  return f->real->pMethods->xFileControl(f->real, op, arg);
}

int SectorSize(sqlite3_file* file) {
  LossyFile* f = L(file);
  return f->real->pMethods->xSectorSize(f->real);
}

int DeviceCharacteristics(sqlite3_file* file) {
  LossyFile* f = L(file);
  return f->real->pMethods->xDeviceCharacteristics(f->real);
}

// The wal-index in heap memory, with the locking of SQLite's test_vfs.c:
// one bit per lock slot and connection.
int ShmMap(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  Global& g = G();
  LossyFile* f = L(file);
  std::lock_guard lock(g.mu);
  *out = nullptr;
  if (g.off) return SQLITE_IOERR_SHMMAP;
  if (f->shm == nullptr) {
    auto& node = g.shm[f->path];
    if (!node) node = std::make_unique<ShmNode>();
    node->conns.push_back(f);
    f->shm = node.get();
  }
  auto& regions = f->shm->regions;
  if (static_cast<size_t>(region) >= regions.size()) {
    if (!extend) return SQLITE_OK;
    while (regions.size() <= static_cast<size_t>(region)) {
      char* r = static_cast<char*>(std::calloc(1, static_cast<size_t>(size)));
      if (r == nullptr) return SQLITE_NOMEM;
      regions.push_back(r);
    }
  }
  *out = regions[static_cast<size_t>(region)];
  return SQLITE_OK;
}

int ShmLock(sqlite3_file* file, int offset, int n, int flags) {
  Global& g = G();
  LossyFile* f = L(file);
  std::lock_guard lock(g.mu);
  const uint32_t mask = ((1u << n) - 1) << offset;
  if (flags & SQLITE_SHM_UNLOCK) {
    f->shm_shared &= ~mask;
    f->shm_excl &= ~mask;
    return SQLITE_OK;
  }
  if (g.off || f->shm == nullptr) return SQLITE_IOERR_SHMLOCK;
  for (const LossyFile* other : f->shm->conns) {
    if (other == f) continue;
    const uint32_t held =
        (flags & SQLITE_SHM_SHARED) ? other->shm_excl : (other->shm_excl | other->shm_shared);
    if (held & mask) return SQLITE_BUSY;
  }
  if (flags & SQLITE_SHM_SHARED) {
    f->shm_shared |= mask;
  } else {
    f->shm_excl |= mask;
  }
  return SQLITE_OK;
}

void ShmBarrier(sqlite3_file* /*file*/) {
  std::lock_guard lock(G().mu);  // a full barrier
}

int ShmUnmap(sqlite3_file* file, int /*delete_flag*/) {
  Global& g = G();
  LossyFile* f = L(file);
  std::lock_guard lock(g.mu);
  if (f->shm != nullptr) {
    auto& conns = f->shm->conns;
    conns.erase(std::remove(conns.begin(), conns.end(), f), conns.end());
    if (conns.empty()) g.shm.erase(f->path);
    f->shm = nullptr;
  }
  f->shm_shared = f->shm_excl = 0;
  return SQLITE_OK;
}

const sqlite3_io_methods kMethods = {
    .iVersion = 2,
    .xClose = Close,
    .xRead = Read,
    .xWrite = Write,
    .xTruncate = Truncate,
    .xSync = Sync,
    .xFileSize = FileSize,
    .xLock = Lock,
    .xUnlock = Unlock,
    .xCheckReservedLock = CheckReservedLock,
    .xFileControl = FileControl,
    .xSectorSize = SectorSize,
    .xDeviceCharacteristics = DeviceCharacteristics,
    .xShmMap = ShmMap,
    .xShmLock = ShmLock,
    .xShmBarrier = ShmBarrier,
    .xShmUnmap = ShmUnmap,
    .xFetch = nullptr,  // version 2: no memory-mapped reads, every read goes through xRead
    .xUnfetch = nullptr,
};

// ---- sqlite3_vfs

int Open(sqlite3_vfs* /*vfs*/, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  Global& g = G();
  std::lock_guard lock(g.mu);
  file->pMethods = nullptr;
  if (g.off) return SQLITE_IOERR;
  auto* f = new (file) LossyFile();
  f->base.pMethods = nullptr;
  f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + kHeaderSize);
  f->real->pMethods = nullptr;
  const int rc = g.root->xOpen(g.root, name, f->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    if (f->real->pMethods != nullptr) f->real->pMethods->xClose(f->real);
    f->~LossyFile();
    file->pMethods = nullptr;
    return rc;
  }
  if (name != nullptr && !(flags & SQLITE_OPEN_DELETEONCLOSE)) f->path = name;
  f->base.pMethods = &kMethods;
  return SQLITE_OK;
}

int Delete(sqlite3_vfs* /*vfs*/, const char* name, int sync_dir) {
  Global& g = G();
  std::lock_guard lock(g.mu);
  if (g.off) return SQLITE_IOERR_DELETE;
  g.files.erase(name);
  return g.root->xDelete(g.root, name, sync_dir);
}

int Access(sqlite3_vfs* /*vfs*/, const char* name, int flags, int* out) {
  Global& g = G();
  std::lock_guard lock(g.mu);
  if (g.off) return SQLITE_IOERR_ACCESS;
  return g.root->xAccess(g.root, name, flags, out);
}

int FullPathname(sqlite3_vfs* /*vfs*/, const char* name, int n, char* out) {
  return G().root->xFullPathname(G().root, name, n, out);
}
void* DlOpen(sqlite3_vfs* /*vfs*/, const char* name) { return G().root->xDlOpen(G().root, name); }
void DlError(sqlite3_vfs* /*vfs*/, int n, char* out) { G().root->xDlError(G().root, n, out); }
void (*DlSym(sqlite3_vfs* /*vfs*/, void* h, const char* sym))(void) {
  return G().root->xDlSym(G().root, h, sym);
}
void DlClose(sqlite3_vfs* /*vfs*/, void* h) { G().root->xDlClose(G().root, h); }
int Randomness(sqlite3_vfs* /*vfs*/, int n, char* out) {
  return G().root->xRandomness(G().root, n, out);
}
int Sleep(sqlite3_vfs* /*vfs*/, int us) { return G().root->xSleep(G().root, us); }
int CurrentTime(sqlite3_vfs* /*vfs*/, double* out) { return G().root->xCurrentTime(G().root, out); }
int GetLastError(sqlite3_vfs* /*vfs*/, int n, char* out) {
  return G().root->xGetLastError ? G().root->xGetLastError(G().root, n, out) : 0;
}
int CurrentTimeInt64(sqlite3_vfs* /*vfs*/, sqlite3_int64* out) {
  return G().root->xCurrentTimeInt64(G().root, out);
}

}  // namespace

LossyVfs& LossyVfs::Get() {
  static LossyVfs* instance = [] {
    Global& g = G();
    g.root = sqlite3_vfs_find(nullptr);
    if (g.root == nullptr || g.root->iVersion < 2) std::abort();
    sqlite3_vfs& v = g.vfs;
    v.iVersion = 2;
    v.szOsFile = static_cast<int>(kHeaderSize) + g.root->szOsFile;
    v.mxPathname = g.root->mxPathname;
    v.zName = kName;
    v.xOpen = Open;
    v.xDelete = Delete;
    v.xAccess = Access;
    v.xFullPathname = FullPathname;
    v.xDlOpen = DlOpen;
    v.xDlError = DlError;
    v.xDlSym = DlSym;
    v.xDlClose = DlClose;
    v.xRandomness = Randomness;
    v.xSleep = Sleep;
    v.xCurrentTime = CurrentTime;
    v.xGetLastError = GetLastError;
    v.xCurrentTimeInt64 = CurrentTimeInt64;
    if (sqlite3_vfs_register(&v, 0) != SQLITE_OK) std::abort();
    return new LossyVfs();
  }();
  return *instance;
}

void LossyVfs::PowerLoss() {
  std::lock_guard lock(G().mu);
  DoPowerLoss(G());
}

void LossyVfs::PowerLossAfter(int64_t ops) {
  std::lock_guard lock(G().mu);
  G().countdown = ops > 0 ? ops : 0;
}

void LossyVfs::SetTornWrites(double keep, uint64_t seed) {
  std::lock_guard lock(G().mu);
  G().keep = keep;
  G().rng.seed(seed);
}

void LossyVfs::PowerOn() {
  std::lock_guard lock(G().mu);
  G().off = false;
  G().countdown = 0;
}

bool LossyVfs::powered_off() const {
  std::lock_guard lock(G().mu);
  return G().off;
}

void LossyVfs::FailWritesAfter(int64_t bytes) {
  std::lock_guard lock(G().mu);
  G().budget = bytes < 0 ? -1 : bytes;
}

void LossyVfs::Settle() {
  std::lock_guard lock(G().mu);
  G().files.clear();
}

int64_t LossyVfs::writes() const {
  std::lock_guard lock(G().mu);
  return G().writes;
}

int64_t LossyVfs::syncs() const {
  std::lock_guard lock(G().mu);
  return G().syncs;
}

int64_t LossyVfs::unsynced_sectors() const {
  std::lock_guard lock(G().mu);
  int64_t n = 0;
  for (const auto& [path, st] : G().files) n += static_cast<int64_t>(st.pre.size());
  return n;
}

}  // namespace rogatory::test
