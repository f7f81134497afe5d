#include "keys/strict_parse.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/reflection.h>
#include <google/protobuf/unknown_field_set.h>

namespace rogatory {

namespace {

bool HasUnknownFields(const google::protobuf::Message& msg) {
  const auto* refl = msg.GetReflection();
  if (!refl->GetUnknownFields(msg).empty()) return true;
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  refl->ListFields(msg, &fields);
  for (const auto* f : fields) {
    if (f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < refl->FieldSize(msg, f); ++i) {
        if (HasUnknownFields(refl->GetRepeatedMessage(msg, f, i))) return true;
      }
    } else if (HasUnknownFields(refl->GetMessage(msg, f))) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::string SerializeCanonical(const google::protobuf::Message& msg) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream raw(&out);
    google::protobuf::io::CodedOutputStream coded(&raw);
    coded.SetSerializationDeterministic(true);
    msg.SerializeToCodedStream(&coded);
  }
  return out;
}

Status ParseStrict(std::string_view bytes, google::protobuf::Message* msg,
                   std::string_view what) {
  if (!msg->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return MakeError(Code::kInvalidArgument, std::string(what) + " is malformed");
  }
  if (HasUnknownFields(*msg)) {
    return MakeError(Code::kInvalidArgument,
                     std::string(what) + " carries unknown fields");
  }
  if (SerializeCanonical(*msg) != bytes) {
    return MakeError(Code::kInvalidArgument,
                     std::string(what) + " is not in canonical form");
  }
  return {};
}

}  // namespace rogatory
