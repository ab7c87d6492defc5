#include "tools/trigger/fixtures.h"

namespace switchboard::tools::trigger::internal {
namespace {

// Written for Switchboard (not copied from Stripe's fixtures): small but shaped like real
// deliveries, with the fields handlers usually read. Keep the array sorted by type.
constexpr EventTemplate kTemplates[] = {
    {"charge.refunded", R"json({
  "id": "{{event_id}}",
  "object": "event",
  "api_version": "2024-06-20",
  "created": {{created}},
  "data": {
    "object": {
      "id": "ch_{{id}}",
      "object": "charge",
      "amount": 2500,
      "amount_captured": 2500,
      "amount_refunded": 2500,
      "balance_transaction": "txn_{{id}}",
      "billing_details": {"address": {"city": null, "country": "US", "line1": null, "line2": null, "postal_code": "94107", "state": null}, "email": "ada@example.com", "name": "Ada Lovelace", "phone": null},
      "captured": true,
      "created": {{created}},
      "currency": "usd",
      "customer": "cus_{{id}}",
      "description": "Switchboard trigger: refunded order",
      "livemode": false,
      "metadata": {"order_id": "ord_1042"},
      "paid": true,
      "payment_intent": "pi_{{id}}",
      "payment_method": "pm_{{id}}",
      "payment_method_details": {"card": {"brand": "visa", "country": "US", "exp_month": 12, "exp_year": 2030, "funding": "credit", "last4": "4242", "network": "visa"}, "type": "card"},
      "receipt_email": "ada@example.com",
      "refunded": true,
      "refunds": {
        "object": "list",
        "data": [
          {"id": "re_{{id}}", "object": "refund", "amount": 2500, "charge": "ch_{{id}}", "created": {{created}}, "currency": "usd", "metadata": {}, "payment_intent": "pi_{{id}}", "reason": "requested_by_customer", "status": "succeeded"}
        ],
        "has_more": false,
        "total_count": 1,
        "url": "/v1/charges/ch_{{id}}/refunds"
      },
      "status": "succeeded"
    },
    "previous_attributes": {"amount_refunded": 0, "refunded": false}
  },
  "livemode": false,
  "pending_webhooks": 1,
  "request": {"id": "req_{{id}}", "idempotency_key": "trigger-{{id}}"},
  "type": "charge.refunded"
})json"},
    {"charge.succeeded", R"json({
  "id": "{{event_id}}",
  "object": "event",
  "api_version": "2024-06-20",
  "created": {{created}},
  "data": {
    "object": {
      "id": "ch_{{id}}",
      "object": "charge",
      "amount": 2500,
      "amount_captured": 2500,
      "amount_refunded": 0,
      "balance_transaction": "txn_{{id}}",
      "billing_details": {"address": {"city": null, "country": "US", "line1": null, "line2": null, "postal_code": "94107", "state": null}, "email": "ada@example.com", "name": "Ada Lovelace", "phone": null},
      "calculated_statement_descriptor": "SWITCHBOARD",
      "captured": true,
      "created": {{created}},
      "currency": "usd",
      "customer": "cus_{{id}}",
      "description": "Switchboard trigger: order 1042",
      "disputed": false,
      "failure_code": null,
      "failure_message": null,
      "livemode": false,
      "metadata": {"order_id": "ord_1042"},
      "outcome": {"network_status": "approved_by_network", "reason": null, "risk_level": "normal", "risk_score": 21, "seller_message": "Payment complete.", "type": "authorized"},
      "paid": true,
      "payment_intent": "pi_{{id}}",
      "payment_method": "pm_{{id}}",
      "payment_method_details": {"card": {"brand": "visa", "checks": {"address_line1_check": null, "address_postal_code_check": "pass", "cvc_check": "pass"}, "country": "US", "exp_month": 12, "exp_year": 2030, "funding": "credit", "last4": "4242", "network": "visa"}, "type": "card"},
      "receipt_email": "ada@example.com",
      "receipt_url": "https://pay.stripe.com/receipts/payment/switchboard-trigger-{{id}}",
      "refunded": false,
      "status": "succeeded"
    }
  },
  "livemode": false,
  "pending_webhooks": 1,
  "request": {"id": "req_{{id}}", "idempotency_key": "trigger-{{id}}"},
  "type": "charge.succeeded"
})json"},
    {"checkout.session.completed", R"json({
  "id": "{{event_id}}",
  "object": "event",
  "api_version": "2024-06-20",
  "created": {{created}},
  "data": {
    "object": {
      "id": "cs_test_{{id}}",
      "object": "checkout.session",
      "amount_subtotal": 4000,
      "amount_total": 4000,
      "cancel_url": "https://shop.example.com/cart",
      "client_reference_id": "user_8812",
      "created": {{created}},
      "currency": "usd",
      "customer": "cus_{{id}}",
      "customer_details": {"address": {"city": null, "country": "US", "line1": null, "line2": null, "postal_code": "94107", "state": null}, "email": "ada@example.com", "name": "Ada Lovelace", "phone": null, "tax_exempt": "none", "tax_ids": []},
      "customer_email": null,
      "expires_at": {{created}},
      "livemode": false,
      "metadata": {"cart_id": "cart_5531"},
      "mode": "payment",
      "payment_intent": "pi_{{id}}",
      "payment_method_types": ["card"],
      "payment_status": "paid",
      "status": "complete",
      "subscription": null,
      "success_url": "https://shop.example.com/thanks?session_id={CHECKOUT_SESSION_ID}",
      "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
      "url": null
    }
  },
  "livemode": false,
  "pending_webhooks": 1,
  "request": {"id": null, "idempotency_key": null},
  "type": "checkout.session.completed"
})json"},
    {"customer.created", R"json({
  "id": "{{event_id}}",
  "object": "event",
  "api_version": "2024-06-20",
  "created": {{created}},
  "data": {
    "object": {
      "id": "cus_{{id}}",
      "object": "customer",
      "address": null,
      "balance": 0,
      "created": {{created}},
      "currency": null,
      "default_source": null,
      "delinquent": false,
      "description": "Created by the Switchboard trigger tool",
      "email": "ada@example.com",
      "invoice_prefix": "SWB1042",
      "invoice_settings": {"custom_fields": null, "default_payment_method": null, "footer": null, "rendering_options": null},
      "livemode": false,
      "metadata": {"user_id": "user_8812"},
      "name": "Ada Lovelace",
      "phone": null,
      "preferred_locales": ["en-US"],
      "shipping": null,
      "tax_exempt": "none",
      "test_clock": null
    }
  },
  "livemode": false,
  "pending_webhooks": 1,
  "request": {"id": "req_{{id}}", "idempotency_key": "trigger-{{id}}"},
  "type": "customer.created"
})json"},
    {"customer.subscription.created", R"json({
  "id": "{{event_id}}",
  "object": "event",
  "api_version": "2024-06-20",
  "created": {{created}},
  "data": {
    "object": {
      "id": "sub_{{id}}",
      "object": "subscription",
      "billing_cycle_anchor": {{created}},
      "cancel_at": null,
      "cancel_at_period_end": false,
      "canceled_at": null,
      "collection_method": "charge_automatically",
      "created": {{created}},
      "currency": "usd",
      "current_period_end": {{created}},
      "current_period_start": {{created}},
      "customer": "cus_{{id}}",
      "default_payment_method": "pm_{{id}}",
      "items": {
        "object": "list",
        "data": [
          {
            "id": "si_{{id}}",
            "object": "subscription_item",
            "created": {{created}},
            "metadata": {},
            "price": {"id": "price_switchboard_pro_monthly", "object": "price", "active": true, "currency": "usd", "product": "prod_switchboard_pro", "recurring": {"interval": "month", "interval_count": 1, "usage_type": "licensed"}, "type": "recurring", "unit_amount": 1500},
            "quantity": 1,
            "subscription": "sub_{{id}}"
          }
        ],
        "has_more": false,
        "total_count": 1,
        "url": "/v1/subscription_items?subscription=sub_{{id}}"
      },
      "latest_invoice": "in_{{id}}",
      "livemode": false,
      "metadata": {"plan": "pro"},
      "start_date": {{created}},
      "status": "active",
      "trial_end": null,
      "trial_start": null
    }
  },
  "livemode": false,
  "pending_webhooks": 1,
  "request": {"id": "req_{{id}}", "idempotency_key": "trigger-{{id}}"},
  "type": "customer.subscription.created"
})json"},
    {"customer.subscription.deleted", R"json({
  "id": "{{event_id}}",
  "object": "event",
  "api_version": "2024-06-20",
  "created": {{created}},
  "data": {
    "object": {
      "id": "sub_{{id}}",
      "object": "subscription",
      "cancel_at_period_end": false,
      "canceled_at": {{created}},
      "cancellation_details": {"comment": null, "feedback": "too_expensive", "reason": "cancellation_requested"},
      "collection_method": "charge_automatically",
      "created": {{created}},
      "currency": "usd",
      "customer": "cus_{{id}}",
      "ended_at": {{created}},
      "livemode": false,
      "metadata": {"plan": "pro"},
      "status": "canceled"
    }
  },
  "livemode": false,
  "pending_webhooks": 1,
  "request": {"id": "req_{{id}}", "idempotency_key": "trigger-{{id}}"},
  "type": "customer.subscription.deleted"
})json"},
    {"customer.subscription.updated", R"json({
  "id": "{{event_id}}",
  "object": "event",
  "api_version": "2024-06-20",
  "created": {{created}},
  "data": {
    "object": {
      "id": "sub_{{id}}",
      "object": "subscription",
      "cancel_at": null,
      "cancel_at_period_end": true,
      "canceled_at": {{created}},
      "collection_method": "charge_automatically",
      "created": {{created}},
      "currency": "usd",
      "customer": "cus_{{id}}",
      "livemode": false,
      "metadata": {"plan": "pro"},
      "status": "active"
    },
    "previous_attributes": {"cancel_at_period_end": false, "canceled_at": null}
  },
  "livemode": false,
  "pending_webhooks": 1,
  "request": {"id": "req_{{id}}", "idempotency_key": "trigger-{{id}}"},
  "type": "customer.subscription.updated"
})json"},
    {"customer.updated", R"json({
  "id": "{{event_id}}",
  "object": "event",
  "api_version": "2024-06-20",
  "created": {{created}},
  "data": {
    "object": {
      "id": "cus_{{id}}",
      "object": "customer",
      "address": {"city": "San Francisco", "country": "US", "line1": "510 Townsend St", "line2": null, "postal_code": "94103", "state": "CA"},
      "balance": 0,
      "created": {{created}},
      "currency": "usd",
      "default_source": null,
      "delinquent": false,
      "description": "Created by the Switchboard trigger tool",
      "email": "ada.lovelace@example.com",
      "invoice_settings": {"custom_fields": null, "default_payment_method": "pm_{{id}}", "footer": null, "rendering_options": null},
      "livemode": false,
      "metadata": {"user_id": "user_8812", "tier": "gold"},
      "name": "Ada Lovelace",
      "phone": "+14155550100",
      "tax_exempt": "none"
    },
    "previous_attributes": {
      "address": null,
      "email": "ada@example.com",
      "invoice_settings": {"default_payment_method": null},
      "metadata": {"tier": null},
      "phone": null
    }
  },
  "livemode": false,
  "pending_webhooks": 1,
  "request": {"id": "req_{{id}}", "idempotency_key": "trigger-{{id}}"},
  "type": "customer.updated"
})json"},
    {"invoice.paid", R"json({
  "id": "{{event_id}}",
  "object": "event",
  "api_version": "2024-06-20",
  "created": {{created}},
  "data": {
    "object": {
      "id": "in_{{id}}",
      "object": "invoice",
      "account_country": "US",
      "amount_due": 1500,
      "amount_paid": 1500,
      "amount_remaining": 0,
      "attempt_count": 1,
      "attempted": true,
      "billing_reason": "subscription_create",
      "charge": "ch_{{id}}",
      "collection_method": "charge_automatically",
      "created": {{created}},
      "currency": "usd",
      "customer": "cus_{{id}}",
      "customer_email": "ada@example.com",
      "hosted_invoice_url": "https://invoice.stripe.com/i/switchboard-trigger-{{id}}",
      "lines": {
        "object": "list",
        "data": [
          {"id": "il_{{id}}", "object": "line_item", "amount": 1500, "currency": "usd", "description": "1 x Switchboard Pro (at $15.00 / month)", "period": {"end": {{created}}, "start": {{created}}}, "price": {"id": "price_switchboard_pro_monthly", "object": "price", "currency": "usd", "product": "prod_switchboard_pro", "unit_amount": 1500}, "quantity": 1, "subscription": "sub_{{id}}", "type": "subscription"}
        ],
        "has_more": false,
        "total_count": 1,
        "url": "/v1/invoices/in_{{id}}/lines"
      },
      "livemode": false,
      "metadata": {},
      "number": "SWB1042-0001",
      "paid": true,
      "payment_intent": "pi_{{id}}",
      "period_end": {{created}},
      "period_start": {{created}},
      "status": "paid",
      "status_transitions": {"finalized_at": {{created}}, "marked_uncollectible_at": null, "paid_at": {{created}}, "voided_at": null},
      "subscription": "sub_{{id}}",
      "subtotal": 1500,
      "total": 1500
    }
  },
  "livemode": false,
  "pending_webhooks": 1,
  "request": {"id": null, "idempotency_key": null},
  "type": "invoice.paid"
})json"},
    {"invoice.payment_failed", R"json({
  "id": "{{event_id}}",
  "object": "event",
  "api_version": "2024-06-20",
  "created": {{created}},
  "data": {
    "object": {
      "id": "in_{{id}}",
      "object": "invoice",
      "account_country": "US",
      "amount_due": 1500,
      "amount_paid": 0,
      "amount_remaining": 1500,
      "attempt_count": 1,
      "attempted": true,
      "billing_reason": "subscription_cycle",
      "charge": "ch_{{id}}",
      "collection_method": "charge_automatically",
      "created": {{created}},
      "currency": "usd",
      "customer": "cus_{{id}}",
      "customer_email": "ada@example.com",
      "hosted_invoice_url": "https://invoice.stripe.com/i/switchboard-trigger-{{id}}",
      "livemode": false,
      "metadata": {},
      "next_payment_attempt": {{created}},
      "number": "SWB1042-0002",
      "paid": false,
      "payment_intent": "pi_{{id}}",
      "status": "open",
      "subscription": "sub_{{id}}",
      "subtotal": 1500,
      "total": 1500
    }
  },
  "livemode": false,
  "pending_webhooks": 1,
  "request": {"id": null, "idempotency_key": null},
  "type": "invoice.payment_failed"
})json"},
    {"payment_intent.created", R"json({
  "id": "{{event_id}}",
  "object": "event",
  "api_version": "2024-06-20",
  "created": {{created}},
  "data": {
    "object": {
      "id": "pi_{{id}}",
      "object": "payment_intent",
      "amount": 2500,
      "amount_capturable": 0,
      "amount_received": 0,
      "automatic_payment_methods": {"allow_redirects": "always", "enabled": true},
      "canceled_at": null,
      "capture_method": "automatic_async",
      "client_secret": "pi_{{id}}_secret_switchboardtrigger",
      "confirmation_method": "automatic",
      "created": {{created}},
      "currency": "usd",
      "customer": "cus_{{id}}",
      "description": "Switchboard trigger: order 1042",
      "last_payment_error": null,
      "latest_charge": null,
      "livemode": false,
      "metadata": {"order_id": "ord_1042"},
      "payment_method": null,
      "payment_method_types": ["card", "link"],
      "receipt_email": "ada@example.com",
      "status": "requires_payment_method"
    }
  },
  "livemode": false,
  "pending_webhooks": 1,
  "request": {"id": "req_{{id}}", "idempotency_key": "trigger-{{id}}"},
  "type": "payment_intent.created"
})json"},
    {"payment_intent.payment_failed", R"json({
  "id": "{{event_id}}",
  "object": "event",
  "api_version": "2024-06-20",
  "created": {{created}},
  "data": {
    "object": {
      "id": "pi_{{id}}",
      "object": "payment_intent",
      "amount": 2500,
      "amount_capturable": 0,
      "amount_received": 0,
      "canceled_at": null,
      "capture_method": "automatic_async",
      "client_secret": "pi_{{id}}_secret_switchboardtrigger",
      "confirmation_method": "automatic",
      "created": {{created}},
      "currency": "usd",
      "customer": "cus_{{id}}",
      "description": "Switchboard trigger: order 1042",
      "last_payment_error": {
        "charge": "ch_{{id}}",
        "code": "card_declined",
        "decline_code": "insufficient_funds",
        "doc_url": "https://stripe.com/docs/error-codes/card-declined",
        "message": "Your card has insufficient funds.",
        "payment_method": {"id": "pm_{{id}}", "object": "payment_method", "card": {"brand": "visa", "country": "US", "exp_month": 12, "exp_year": 2030, "funding": "credit", "last4": "9995"}, "created": {{created}}, "customer": null, "livemode": false, "metadata": {}, "type": "card"},
        "type": "card_error"
      },
      "latest_charge": "ch_{{id}}",
      "livemode": false,
      "metadata": {"order_id": "ord_1042"},
      "payment_method": null,
      "payment_method_types": ["card"],
      "receipt_email": "ada@example.com",
      "status": "requires_payment_method"
    }
  },
  "livemode": false,
  "pending_webhooks": 1,
  "request": {"id": "req_{{id}}", "idempotency_key": "trigger-{{id}}"},
  "type": "payment_intent.payment_failed"
})json"},
    {"payment_intent.succeeded", R"json({
  "id": "{{event_id}}",
  "object": "event",
  "api_version": "2024-06-20",
  "created": {{created}},
  "data": {
    "object": {
      "id": "pi_{{id}}",
      "object": "payment_intent",
      "amount": 2500,
      "amount_capturable": 0,
      "amount_received": 2500,
      "automatic_payment_methods": {"allow_redirects": "always", "enabled": true},
      "canceled_at": null,
      "capture_method": "automatic_async",
      "client_secret": "pi_{{id}}_secret_switchboardtrigger",
      "confirmation_method": "automatic",
      "created": {{created}},
      "currency": "usd",
      "customer": "cus_{{id}}",
      "description": "Switchboard trigger: order 1042",
      "last_payment_error": null,
      "latest_charge": "ch_{{id}}",
      "livemode": false,
      "metadata": {"order_id": "ord_1042"},
      "payment_method": "pm_{{id}}",
      "payment_method_types": ["card", "link"],
      "receipt_email": "ada@example.com",
      "shipping": null,
      "status": "succeeded"
    }
  },
  "livemode": false,
  "pending_webhooks": 1,
  "request": {"id": "req_{{id}}", "idempotency_key": "trigger-{{id}}"},
  "type": "payment_intent.succeeded"
})json"},
    {"payment_method.attached", R"json({
  "id": "{{event_id}}",
  "object": "event",
  "api_version": "2024-06-20",
  "created": {{created}},
  "data": {
    "object": {
      "id": "pm_{{id}}",
      "object": "payment_method",
      "billing_details": {"address": {"city": null, "country": "US", "line1": null, "line2": null, "postal_code": "94107", "state": null}, "email": "ada@example.com", "name": "Ada Lovelace", "phone": null},
      "card": {"brand": "visa", "checks": {"address_line1_check": null, "address_postal_code_check": "pass", "cvc_check": "pass"}, "country": "US", "exp_month": 12, "exp_year": 2030, "fingerprint": "SwbTrigger42", "funding": "credit", "last4": "4242", "networks": {"available": ["visa"], "preferred": null}, "wallet": null},
      "created": {{created}},
      "customer": "cus_{{id}}",
      "livemode": false,
      "metadata": {},
      "type": "card"
    }
  },
  "livemode": false,
  "pending_webhooks": 1,
  "request": {"id": "req_{{id}}", "idempotency_key": "trigger-{{id}}"},
  "type": "payment_method.attached"
})json"},
    {"price.created", R"json({
  "id": "{{event_id}}",
  "object": "event",
  "api_version": "2024-06-20",
  "created": {{created}},
  "data": {
    "object": {
      "id": "price_{{id}}",
      "object": "price",
      "active": true,
      "billing_scheme": "per_unit",
      "created": {{created}},
      "currency": "usd",
      "livemode": false,
      "lookup_key": null,
      "metadata": {},
      "nickname": "Pro monthly",
      "product": "prod_{{id}}",
      "recurring": {"aggregate_usage": null, "interval": "month", "interval_count": 1, "usage_type": "licensed"},
      "tax_behavior": "exclusive",
      "type": "recurring",
      "unit_amount": 1500,
      "unit_amount_decimal": "1500"
    }
  },
  "livemode": false,
  "pending_webhooks": 1,
  "request": {"id": "req_{{id}}", "idempotency_key": "trigger-{{id}}"},
  "type": "price.created"
})json"},
    {"product.created", R"json({
  "id": "{{event_id}}",
  "object": "event",
  "api_version": "2024-06-20",
  "created": {{created}},
  "data": {
    "object": {
      "id": "prod_{{id}}",
      "object": "product",
      "active": true,
      "created": {{created}},
      "default_price": null,
      "description": "Everything in Basic, plus priority delivery.",
      "images": [],
      "livemode": false,
      "metadata": {},
      "name": "Switchboard Pro",
      "shippable": null,
      "tax_code": null,
      "type": "service",
      "updated": {{created}},
      "url": null
    }
  },
  "livemode": false,
  "pending_webhooks": 1,
  "request": {"id": "req_{{id}}", "idempotency_key": "trigger-{{id}}"},
  "type": "product.created"
})json"},
};

}  // namespace

absl::Span<const EventTemplate> EventTemplates() { return kTemplates; }

}  // namespace switchboard::tools::trigger::internal
