// Time: a clock interface so tests can fake it, and RFC 3339 formatting.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "keys/result.h"

namespace rogatory {

class Clock {
 public:
  virtual ~Clock() = default;
  // Microseconds since the Unix epoch (wall clock).
  virtual int64_t NowMicros() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t NowMicros() const override;
};

// Monotonic milliseconds and microseconds, for timers and deadlines.
int64_t MonotonicMillis();
int64_t MonotonicMicros();

// "2026-11-29T04:05:26.123456Z" (microseconds, UTC).
std::string Rfc3339(int64_t micros);

// Parses "30d", "12h", "90m", "45s", "2w" or an ISO 8601 duration such as
// "P30D", "PT12H", "P1DT2H". Returns microseconds.
Result<int64_t> ParseDuration(std::string_view text);

}  // namespace rogatory
