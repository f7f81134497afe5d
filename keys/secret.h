// Secret key material in sodium_malloc memory (locked, guard pages around
// each allocation or pool chunk, wiped on release). Secrets of 64 bytes or
// less share pooled chunks (see secret.cc). Move-only, no stream operator,
// compared in constant time. Thread-safe to allocate and release.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rogatory {

class SecretBytes {
 public:
  SecretBytes() = default;
  // Allocates `size` zeroed bytes. Aborts if sodium_malloc fails (out of
  // memory is not recoverable for key material).
  explicit SecretBytes(size_t size);
  // Copies `bytes` into secure memory. The caller wipes its own copy.
  static SecretBytes From(std::string_view bytes);
  ~SecretBytes();

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  SecretBytes Clone() const;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::string_view view() const {
    return {reinterpret_cast<const char*>(data_), size_};
  }
  // Constant-time equality.
  bool Equals(const SecretBytes& other) const;

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Wipes a std::string's buffer (protobuf `bytes` fields that held secrets).
void WipeString(std::string& s);

}  // namespace rogatory
