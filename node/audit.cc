#include "node/audit.h"

#include <map>

#include "keys/card.h"
#include "keys/strict_parse.h"
#include "keys/tree_head.h"

namespace rogatory {

Result<std::string> StoreHashSource::Leaf(uint64_t index) {
  return store_->AuditLeafHash(static_cast<int64_t>(index));
}

Result<std::optional<std::string>> StoreHashSource::Perfect(uint32_t level, uint64_t index) {
  return store_->AuditNode(level, index);
}

namespace {
// Entries appended before schema v6 get their message id column filled.
Status IndexMessageIds(Store* store) {
  for (;;) {
    ROG_ASSIGN_OR_RETURN(auto rows, store->AuditEntriesWithoutMessageId(4096));
    if (rows.empty()) return {};
    for (const auto& [index, bytes] : rows) {
      wire::LogEntry e;
      // An unreadable entry gets "" and is named by `audit verify`.
      const std::string id = e.ParseFromString(bytes) ? e.message_id() : "";
      ROG_RETURN_IF_ERROR(store->SetAuditMessageId(index, id));
    }
  }
}
}  // namespace

Result<std::unique_ptr<AuditLog>> AuditLog::Load(Store* store) {
  std::unique_ptr<AuditLog> log(new AuditLog(store));
  ROG_RETURN_IF_ERROR(IndexMessageIds(store));
  ROG_RETURN_IF_ERROR(log->Reload());
  return log;
}


Status AuditLog::Reload() {
  ROG_ASSIGN_OR_RETURN(int64_t size, store_->AuditSize());
  ROG_ASSIGN_OR_RETURN(range_, merkle::CompactRange::Load(source_, static_cast<uint64_t>(size)));
  return {};
}

Result<int64_t> AuditLog::Append(const wire::LogEntry& entry) {
  const std::string bytes = SerializeCanonical(entry);
  const std::string leaf = merkle::LeafHash(bytes);
  const auto index = static_cast<int64_t>(range_.size());
  merkle::CompactRange next = range_;
  std::vector<std::tuple<uint32_t, uint64_t, std::string>> nodes;
  for (auto& n : next.Append(leaf)) nodes.emplace_back(n.level, n.index, std::move(n.hash));
  ROG_RETURN_IF_ERROR(store_->AppendAudit(index, bytes, leaf, entry.message_id(), nodes));
  range_ = std::move(next);
  return index;
}

Result<TreeHeadRow> AuditLog::SignHead(const std::string& log_fp, const SigningKey& key,
                                       int64_t now) {
  wire::TreeHead h;
  h.set_version(1);
  h.set_log(log_fp);
  h.set_size(range_.size());
  h.set_root(range_.Root());
  h.set_timestamp(now);
  TreeHeadRow row{static_cast<int64_t>(h.size()), h.root(), now, SignTreeHead(h, key)};
  ROG_RETURN_IF_ERROR(store_->InsertTreeHead(row));
  return row;
}

Result<std::vector<std::string>> AuditLog::InclusionProof(uint64_t index, uint64_t size) {
  return merkle::InclusionProof(source_, index, size);
}

Result<std::vector<std::string>> AuditLog::ConsistencyProof(uint64_t old_size,
                                                            uint64_t new_size) {
  return merkle::ConsistencyProof(source_, old_size, new_size);
}

Result<AuditReport> VerifyAuditLog(Store* store, std::string_view owner_fp,
                                   const std::vector<std::string>& owner_signing_keys) {
  AuditReport r;
  ROG_ASSIGN_OR_RETURN(auto heads, store->ListTreeHeads());
  size_t next_head = 0;
  merkle::CompactRange range;
  std::map<std::pair<uint32_t, uint64_t>, std::string> expected;  // of the last batch
  int64_t next = 0;
  constexpr int kBatch = 4096;
  auto fail = [&](const std::string& why) {
    r.ok = false;
    if (r.first_error.empty()) r.first_error = why;
  };
  // Checks the stored heads signed at the size the replay has reached.
  auto check_heads = [&](const merkle::CompactRange& at) {
    while (next_head < heads.size() &&
           static_cast<uint64_t>(heads[next_head].size) == at.size()) {
      const TreeHeadRow& h = heads[next_head++];
      ++r.heads_checked;
      auto v = WithAnyKey(owner_signing_keys, [&](const std::string& key) {
        return VerifyTreeHead(h.signed_head, key);
      });
      const std::string which = "tree head at size " + std::to_string(h.size);
      if (!v.ok()) {
        fail(which + ": " + v.error().message);
      } else if (v->log() != owner_fp || v->root() != h.root ||
                 static_cast<int64_t>(v->size()) != h.size) {
        fail(which + " does not match its stored columns");
      } else if (v->root() != at.Root()) {
        fail(which + " signed a root that the entries do not give: the log was changed "
             "after entry " + std::to_string(at.size() == 0 ? 0 : at.size() - 1) +
             " or before it");
      }
    }
  };
  check_heads(range);
  for (;;) {
    ROG_ASSIGN_OR_RETURN(auto rows, store->AuditLeaves(next, kBatch));
    if (rows.empty()) break;
    for (const auto& [index, entry, leaf_hash] : rows) {
      if (index != next) {
        fail("audit log entry " + std::to_string(next) + " is missing (the next is " +
             std::to_string(index) + ")");
        return r;
      }
      wire::LogEntry parsed;
      if (!ParseStrict(entry, &parsed, "log entry").ok()) {
        fail("audit log entry " + std::to_string(index) + " is not a valid log entry");
      }
      if (merkle::LeafHash(entry) != leaf_hash) {
        fail("audit log entry " + std::to_string(index) + " does not match its leaf hash");
      }
      for (const auto& n : range.Append(merkle::LeafHash(entry))) {
        ROG_ASSIGN_OR_RETURN(auto stored, store->AuditNode(n.level, n.index));
        ++r.nodes_checked;
        if (!stored || *stored != n.hash) {
          const uint64_t first = n.index << n.level, last = ((n.index + 1) << n.level) - 1;
          fail("audit log entries " + std::to_string(first) + " to " + std::to_string(last) +
               ": the stored subtree hash does not match the entries");
        }
      }
      ++next;
      check_heads(range);
    }
  }
  if (next_head < heads.size()) {
    fail("tree head at size " + std::to_string(heads[next_head].size) + " was signed, but the "
         "log has only " + std::to_string(range.size()) + " entries: entries were removed");
  }
  r.size = range.size();
  r.root = range.Root();
  return r;
}

}  // namespace rogatory
