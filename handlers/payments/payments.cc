#include "handlers/payments/payments.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "protos/stripe/v1/resources.pb.h"

namespace switchboard::handlers::payments {

void Register(sdk::Router& router, std::function<void(absl::string_view)> print) {
  router.On<stripe::v1::PaymentIntent>(
      "payment_intent.succeeded",
      [print](const sdk::EventContext& ctx, const stripe::v1::PaymentIntent& intent) {
        // Amounts are in the currency's smallest unit (cents for usd).
        print(absl::StrCat("PaymentIntent for ", intent.amount(), " ", intent.currency(),
                           " was successful (", intent.id(), ", event ", ctx.id(), ")"));
        return absl::OkStatus();
      });
  router.On<stripe::v1::PaymentMethod>(
      "payment_method.attached",
      [print](const sdk::EventContext& ctx, const stripe::v1::PaymentMethod& method) {
        print(absl::StrCat("PaymentMethod ", method.id(), " (", method.type(), ") attached to ",
                           method.has_customer_id() ? method.customer_id() : "no customer",
                           " (event ", ctx.id(), ")"));
        return absl::OkStatus();
      });
}

}  // namespace switchboard::handlers::payments
