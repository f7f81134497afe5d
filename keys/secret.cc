#include "keys/secret.h"

#include <sodium.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

namespace rogatory {

namespace {

// sodium_malloc costs an mmap, two mprotects and an mlock (about 23 us here),
// and every message needs a few short-lived keys. Small secrets therefore
// come from slots carved out of large sodium_malloc'd chunks: still locked,
// guarded at the chunk's ends and wiped on release, but a slot is not
// guarded from its neighbours. Larger secrets get their own allocation.
constexpr size_t kSlotBytes = 64;
constexpr size_t kSlotsPerChunk = 1024;

struct SlotPool {
  std::mutex mu;
  std::vector<uint8_t*> free;
};

SlotPool& Pool() {
  static SlotPool* pool = new SlotPool;  // never freed: slots outlive statics
  return *pool;
}

uint8_t* Allocate(size_t size) {
  if (size > kSlotBytes) return static_cast<uint8_t*>(sodium_malloc(size));
  SlotPool& pool = Pool();
  std::lock_guard<std::mutex> lock(pool.mu);
  if (pool.free.empty()) {
    auto* chunk = static_cast<uint8_t*>(sodium_malloc(kSlotBytes * kSlotsPerChunk));
    if (chunk == nullptr) return nullptr;
    for (size_t i = 0; i < kSlotsPerChunk; ++i) pool.free.push_back(chunk + i * kSlotBytes);
  }
  uint8_t* slot = pool.free.back();
  pool.free.pop_back();
  return slot;
}

void Release(uint8_t* data, size_t size) {
  if (size > kSlotBytes) {
    sodium_free(data);  // wipes first
    return;
  }
  sodium_memzero(data, size);
  SlotPool& pool = Pool();
  std::lock_guard<std::mutex> lock(pool.mu);
  pool.free.push_back(data);
}

}  // namespace

SecretBytes::SecretBytes(size_t size) : size_(size) {
  if (size == 0) return;
  data_ = Allocate(size);
  if (data_ == nullptr) std::abort();
  sodium_memzero(data_, size);
}

SecretBytes SecretBytes::From(std::string_view bytes) {
  SecretBytes s(bytes.size());
  if (!bytes.empty()) std::memcpy(s.data_, bytes.data(), bytes.size());
  return s;
}

SecretBytes::~SecretBytes() {
  if (data_ != nullptr) Release(data_, size_);
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) Release(data_, size_);
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

SecretBytes SecretBytes::Clone() const { return From(view()); }

bool SecretBytes::Equals(const SecretBytes& other) const {
  return size_ == other.size_ &&
         (size_ == 0 || sodium_memcmp(data_, other.data_, size_) == 0);
}

void WipeString(std::string& s) {
  if (!s.empty()) sodium_memzero(s.data(), s.size());
  s.clear();
}

}  // namespace rogatory
