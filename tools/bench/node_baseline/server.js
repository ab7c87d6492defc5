// The benchmark baseline: the logic of Stripe's Node webhook sample (Express with a raw body,
// stripe-node's constructEvent, a switch on the type, {received: true}), nothing more: no
// storage, no fan-out. Used only by tools/bench/compare.sh.
'use strict';
const express = require('express');
const stripe = require('stripe')('sk_test_not_used_for_webhooks');

const secret = process.env.STRIPE_WEBHOOK_SECRET;
const app = express();

app.post('/webhook', express.raw({type: 'application/json'}), (req, res) => {
  let event;
  try {
    event = stripe.webhooks.constructEvent(req.body, req.headers['stripe-signature'], secret);
  } catch (err) {
    res.status(400).send(`Webhook Error: ${err.message}`);
    return;
  }
  switch (event.type) {
    case 'payment_intent.succeeded':
    case 'payment_method.attached':
    default:
      break;
  }
  res.json({received: true});
});

const server = app.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  console.log(`listening port=${server.address().port}`);
});
