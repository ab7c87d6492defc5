#!/usr/bin/python3
"""A Switchboard handler in Python, from the .proto files alone.

Proves the EventHandler contract is language-neutral: the message classes come from
`protoc --python_out` (no gRPC Python plugin), the Deliver stream is served through a generic
handler, and the subscription is registered with a generic unary call to Gateway.Subscribe.

Each delivery is acknowledged OK and recorded as one line in --record:
    <event id> <type> attempt=<n> subscription=<name> object=<data.object_id>

On SIGTERM or SIGINT it stops taking deliveries, unsubscribes this member and exits 0.

Usage: python_handler.py --gateway=HOST:PORT --subscription=NAME --types=a,b --record=FILE
"""

import argparse
import signal
import sys
import threading
from concurrent import futures

import grpc

from protos.switchboard.v1 import gateway_pb2
from protos.switchboard.v1 import handler_pb2
from protos.switchboard.v1 import subscription_pb2


def log(text):
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


class Handler:
    def __init__(self, record_path):
        self._record = open(record_path, "a", buffering=1)
        self._lock = threading.Lock()

    def deliver(self, request_iterator, context):
        """Deliver(stream Delivery) returns (stream Ack): one Ack per Delivery."""
        for delivery in request_iterator:
            event = delivery.event
            with self._lock:
                self._record.write(
                    "%s %s attempt=%d subscription=%s object=%s\n"
                    % (event.id, event.type, delivery.attempt, delivery.subscription,
                       event.data.object_id or "-"))
            yield handler_pb2.Ack(delivery_id=delivery.delivery_id, outcome=handler_pb2.Ack.OK)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gateway", default="127.0.0.1:50051")
    parser.add_argument("--subscription", default="python")
    parser.add_argument("--types", default="*")
    parser.add_argument("--record", required=True)
    args = parser.parse_args()

    handler = Handler(args.record)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        options=[
            # The gateway pings every 30 s; permit that without calls (as the C++ SDK does).
            ("grpc.http2.min_ping_interval_without_data_ms", 10000),
            ("grpc.keepalive_permit_without_calls", 1),
        ])
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "switchboard.v1.EventHandler", {
            "Deliver": grpc.stream_stream_rpc_method_handler(
                handler.deliver,
                request_deserializer=handler_pb2.Delivery.FromString,
                response_serializer=handler_pb2.Ack.SerializeToString),
        }),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    member = "127.0.0.1:%d" % port

    channel = grpc.insecure_channel(args.gateway)
    subscribe = channel.unary_unary(
        "/switchboard.v1.Gateway/Subscribe",
        request_serializer=gateway_pb2.SubscribeRequest.SerializeToString,
        response_deserializer=subscription_pb2.Subscription.FromString)
    unsubscribe = channel.unary_unary(
        "/switchboard.v1.Gateway/Unsubscribe",
        request_serializer=gateway_pb2.UnsubscribeRequest.SerializeToString,
        response_deserializer=gateway_pb2.UnsubscribeResponse.FromString)

    spec = subscription_pb2.Subscription(name=args.subscription,
                                         event_types=args.types.split(","))
    registered = subscribe(gateway_pb2.SubscribeRequest(subscription=spec, member_address=member),
                           timeout=60, wait_for_ready=True)
    log("python_handler ready subscription=%s member=%s types=%s"
        % (registered.name, member, ",".join(registered.event_types)))

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(1):
        pass

    try:
        unsubscribe(gateway_pb2.UnsubscribeRequest(name=args.subscription, member_address=member),
                    timeout=5)
    except grpc.RpcError as e:
        log("python_handler unsubscribe failed: %s" % e.code())
    server.stop(grace=5).wait()
    log("python_handler stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
