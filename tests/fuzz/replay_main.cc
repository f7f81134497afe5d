// Replays a corpus through a fuzz harness without libFuzzer, so that every
// build (GCC included) runs every seed and every saved crash reproducer as
// a ctest test (fuzz_replay.<name>), and the sanitizer build runs them under
// ASan and UBSan.
//
//   fuzz_replay_<name> [DIR_OR_FILE...]   default: the harness's corpus dir
//
// Each input is copied into a buffer of exactly its size, so a read past
// the end is caught by ASan as it would be under libFuzzer. Exits 0 after
// replaying at least one input; 1 if there was nothing to replay or a path
// could not be read. A crash in the harness is the test's failure.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

bool ReadFile(const std::filesystem::path& p, std::vector<char>* out) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<std::string> roots(argv + 1, argv + argc);
#ifdef ROGATORY_FUZZ_CORPUS
  if (roots.empty()) roots.push_back(ROGATORY_FUZZ_CORPUS);
#endif
  if (roots.empty()) {
    std::fprintf(stderr, "usage: %s DIR_OR_FILE...\n", argv[0]);
    return 2;
  }
  std::vector<fs::path> files;
  for (const auto& r : roots) {
    std::error_code ec;
    if (fs::is_directory(r, ec)) {
      for (const auto& e : fs::directory_iterator(r, ec)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
    } else if (fs::is_regular_file(r, ec)) {
      files.push_back(r);
    } else {
      std::fprintf(stderr, "fuzz replay: cannot read %s\n", r.c_str());
      return 1;
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "fuzz replay: no inputs in the given paths\n");
    return 1;
  }
  for (const auto& f : files) {
    std::vector<char> bytes;
    if (!ReadFile(f, &bytes)) {
      std::fprintf(stderr, "fuzz replay: cannot read %s\n", f.c_str());
      return 1;
    }
    // Exactly-sized heap copy (an empty input gets a non-null pointer).
    std::unique_ptr<uint8_t[]> copy(new uint8_t[std::max<size_t>(bytes.size(), 1)]);
    if (!bytes.empty()) std::memcpy(copy.get(), bytes.data(), bytes.size());
    std::fprintf(stderr, "replaying %s (%zu bytes)\n", f.filename().c_str(), bytes.size());
    LLVMFuzzerTestOneInput(copy.get(), bytes.size());
  }
  std::printf("replayed %zu inputs\n", files.size());
  return 0;
}
