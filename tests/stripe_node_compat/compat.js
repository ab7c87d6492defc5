// Runs the official stripe-node webhook helpers on a batch of requests, for
// stripe_node_compat_test.cc. Usage: node compat.js STRIPE_NODE_DIR REQUESTS_JSON
//   STRIPE_NODE_DIR  third_party/stripe_node (holds node_modules/stripe)
//   REQUESTS_JSON    [{op: "sign", secret, timestamp, payload_base64}
//                     | {op: "construct", secret, header, tolerance, received_at_ms, payload_base64}]
// Prints {"stripe_version": "...", "results": [{header} | {ok, error_type, message}]}.
'use strict';
const fs = require('fs');
const path = require('path');

const [stripeDir, requestsPath] = process.argv.slice(2);
const Stripe = require(require.resolve('stripe', {paths: [stripeDir]}));
const stripe = new Stripe('sk_test_unused');  // only the offline webhook helpers are called
const version =
    JSON.parse(fs.readFileSync(path.join(stripeDir, 'node_modules/stripe/package.json'))).version;

const results = JSON.parse(fs.readFileSync(requestsPath, 'utf8')).map((r) => {
  const body = Buffer.from(r.payload_base64, 'base64');
  if (r.op === 'sign') {
    return {
      header: stripe.webhooks.generateTestHeaderString(
          {payload: body.toString('utf8'), secret: r.secret, timestamp: r.timestamp}),
    };
  }
  try {
    // A Buffer, as a web framework's raw-body middleware hands it over.
    stripe.webhooks.constructEvent(body, r.header, r.secret, r.tolerance, undefined,
                                   r.received_at_ms);
    return {ok: true};
  } catch (e) {
    return {ok: false, error_type: e.type || e.name, message: String(e.message).split('\n')[0]};
  }
});
process.stdout.write(JSON.stringify({stripe_version: version, results}));
