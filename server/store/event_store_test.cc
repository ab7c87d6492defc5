#include "server/store/event_store.h"

#include "gtest/gtest.h"

namespace switchboard::server::store {
namespace {

TEST(TypeMatches, ExactPatternMatchesOnlyThatType) {
  EXPECT_TRUE(TypeMatches("payment_intent.succeeded", "payment_intent.succeeded"));
  EXPECT_FALSE(TypeMatches("payment_intent.succeeded", "payment_intent.succeeded.x"));
  EXPECT_FALSE(TypeMatches("payment_intent.succeeded", "payment_intent"));
  EXPECT_FALSE(TypeMatches("Payment_intent.succeeded", "payment_intent.succeeded"));
}

TEST(TypeMatches, PrefixPatternMatchesTypesStartingWithPrefixAndDot) {
  EXPECT_TRUE(TypeMatches("charge.*", "charge.succeeded"));
  EXPECT_TRUE(TypeMatches("charge.*", "charge.dispute.created"));  // Stripe's names nest
  EXPECT_TRUE(TypeMatches("charge.dispute.*", "charge.dispute.created"));
  EXPECT_FALSE(TypeMatches("charge.*", "charge"));
  EXPECT_FALSE(TypeMatches("charge.*", "chargeback.created"));
  EXPECT_FALSE(TypeMatches("charge.*", "charges.x"));
  EXPECT_FALSE(TypeMatches("charge.dispute.*", "charge.succeeded"));
}

TEST(TypeMatches, StarMatchesEverything) {
  EXPECT_TRUE(TypeMatches("*", "charge.succeeded"));
  EXPECT_TRUE(TypeMatches("*", ""));
}

TEST(TypeMatches, StarElsewhereIsLiteral) {
  EXPECT_FALSE(TypeMatches("charge*", "charge.succeeded"));
  EXPECT_TRUE(TypeMatches("charge*", "charge*"));
  EXPECT_FALSE(TypeMatches("*.succeeded", "charge.succeeded"));
  EXPECT_FALSE(TypeMatches("", "charge"));
  EXPECT_TRUE(TypeMatches("", ""));
}

}  // namespace
}  // namespace switchboard::server::store
