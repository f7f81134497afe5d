// Shared helpers for unit tests.
#pragma once

#include <gtest/gtest.h>

#include "keys/crypto.h"
#include "keys/envelope.h"
#include "keys/identity.h"

namespace rogatory::test {

inline Identity NewIdentity(const std::string& id) {
  EXPECT_TRUE(InitCrypto().ok());
  auto r = Identity::Generate({id, "Authority " + id, "FR", {"tcp://127.0.0.1:7000"},
                               1'000'000, 4'102'444'800LL * 1'000'000});
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return std::move(r).value();
}

inline Recipient RecipientOf(const Identity& id) {
  return {id.fingerprint(), id.encryption().public_key};
}

inline Draft SimpleDraft(const std::vector<const Identity*>& to, const std::string& body) {
  Draft d;
  d.message_id = NewMessageId(1'700'000'000'000'000);
  d.created_at_us = 1'700'000'000'000'000;
  d.expires_at_us = d.created_at_us + 3600LL * 1'000'000;
  for (const Identity* r : to) d.recipients.push_back(RecipientOf(*r));
  d.inner.set_subject("subject");
  d.inner.set_kind(wire::KIND_REQUEST);
  d.body = body;
  return d;
}

}  // namespace rogatory::test
