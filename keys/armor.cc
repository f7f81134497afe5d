#include "keys/armor.h"

#include "keys/crypto.h"

namespace rogatory {

namespace {
constexpr size_t kLine = 64;
std::string Begin(std::string_view type) {
  return "-----BEGIN ROGATORY " + std::string(type) + "-----\n";
}
std::string End(std::string_view type) {
  return "-----END ROGATORY " + std::string(type) + "-----\n";
}
}  // namespace

std::string Armor(std::string_view type, std::string_view bytes) {
  const std::string b64 = ToBase64(bytes);
  std::string out = Begin(type);
  for (size_t i = 0; i < b64.size(); i += kLine) {
    out.append(b64, i, kLine);
    out.push_back('\n');
  }
  out += End(type);
  return out;
}

Result<std::string> Dearmor(std::string_view type, std::string_view text) {
  const std::string begin = Begin(type);
  const std::string end = End(type);
  const std::string lower_type = [&] {
    std::string t(type);
    for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return t;
  }();
  if (text.substr(0, begin.size()) != begin) {
    return MakeError(Code::kInvalidArgument,
                     "not an armored " + lower_type + ": the first line must be '" +
                         begin.substr(0, begin.size() - 1) + "'");
  }
  if (text.size() < begin.size() + end.size() ||
      text.substr(text.size() - end.size()) != end) {
    return MakeError(Code::kInvalidArgument,
                     "armored " + lower_type + " is truncated or has text after '" +
                         end.substr(0, end.size() - 1) + "'");
  }
  std::string_view body =
      text.substr(begin.size(), text.size() - begin.size() - end.size());
  std::string b64;
  size_t line_no = 1;
  while (!body.empty()) {
    ++line_no;
    const size_t nl = body.find('\n');
    if (nl == std::string_view::npos) {
      return MakeError(Code::kInvalidArgument, "armored " + lower_type + ": line " +
                                                   std::to_string(line_no) +
                                                   " does not end with a newline");
    }
    const std::string_view line = body.substr(0, nl);
    body.remove_prefix(nl + 1);
    const bool last = body.empty();
    if (line.empty() || line.size() > kLine || (!last && line.size() != kLine)) {
      return MakeError(Code::kInvalidArgument,
                       "armored " + lower_type + ": line " + std::to_string(line_no) +
                           " has " + std::to_string(line.size()) +
                           " characters; lines hold 64 (the last 1 to 64)");
    }
    b64.append(line);
  }
  if (b64.empty()) {
    return MakeError(Code::kInvalidArgument, "armored " + lower_type + " is empty");
  }
  auto bytes = FromBase64(b64);
  if (!bytes.ok()) {
    return MakeError(Code::kInvalidArgument,
                     "armored " + lower_type + ": " + bytes.error().message);
  }
  return std::move(bytes).value();
}

}  // namespace rogatory
