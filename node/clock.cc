#include "node/clock.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace rogatory {

int64_t SystemClock::NowMicros() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t MonotonicMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t MonotonicMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string Rfc3339(int64_t micros) {
  int64_t secs = micros / 1000000;
  int64_t frac = micros % 1000000;
  if (frac < 0) {
    frac += 1000000;
    secs -= 1;
  }
  const std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(frac));
  return buf;
}

namespace {

Error BadDuration(std::string_view text) {
  return MakeError(Code::kInvalidArgument,
                   "duration '" + std::string(text) +
                       "' is not understood: use for example 30d, 12h, 90m, 45s or P30D");
}

}  // namespace

Result<int64_t> ParseDuration(std::string_view text) {
  constexpr int64_t kSec = 1000000;
  // Far beyond any expiry or deadline, and far from int64 overflow.
  constexpr int64_t kMaxSeconds = 1000LL * 366 * 86400;
  if (text.empty()) return BadDuration(text);
  int64_t total = 0;
  if (text[0] == 'P' || text[0] == 'p') {
    bool in_time = false;
    bool any = false;
    bool any_time = false;
    int64_t num = -1;
    for (size_t i = 1; i < text.size(); ++i) {
      const char c = static_cast<char>(std::toupper(static_cast<unsigned char>(text[i])));
      if (c >= '0' && c <= '9') {
        num = (num < 0 ? 0 : num) * 10 + (c - '0');
        if (num > 100000000) return BadDuration(text);
        continue;
      }
      if (c == 'T' && num < 0 && !in_time) {
        in_time = true;
        continue;
      }
      if (num < 0) return BadDuration(text);
      int64_t unit = 0;
      if (!in_time && c == 'W') unit = 7 * 86400;
      else if (!in_time && c == 'D') unit = 86400;
      else if (in_time && c == 'H') unit = 3600;
      else if (in_time && c == 'M') unit = 60;
      else if (in_time && c == 'S') unit = 1;
      else return BadDuration(text);
      if (num * unit > kMaxSeconds || total + num * unit * kSec > kMaxSeconds * kSec) {
        return BadDuration(text);
      }
      total += num * unit * kSec;
      num = -1;
      any = true;
      any_time |= in_time;
    }
    if (!any || num >= 0 || (in_time && !any_time)) return BadDuration(text);
    return total;
  }
  int64_t num = -1;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c >= '0' && c <= '9') {
      num = (num < 0 ? 0 : num) * 10 + (c - '0');
      if (num > 100000000) return BadDuration(text);
      continue;
    }
    if (num < 0) return BadDuration(text);
    int64_t unit = 0;
    switch (c) {
      case 'w': unit = 7 * 86400; break;
      case 'd': unit = 86400; break;
      case 'h': unit = 3600; break;
      case 'm': unit = 60; break;
      case 's': unit = 1; break;
      default: return BadDuration(text);
    }
    if (num * unit > kMaxSeconds || total + num * unit * kSec > kMaxSeconds * kSec) {
      return BadDuration(text);
    }
    total += num * unit * kSec;
    num = -1;
  }
  if (num >= 0) return BadDuration(text);
  return total;
}

}  // namespace rogatory
