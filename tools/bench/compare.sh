#!/usr/bin/env bash
# Switchboard vs the logic of Stripe's Node sample, same load, same machine, one run.
#
#   tools/bench/compare.sh                       # closed loop, 50 connections, 10 s each
#   CONNS=50 DURATION=20 RUNS=3 tools/bench/compare.sh
#   RATE=2000 tools/bench/compare.sh             # open loop at a fixed rate
#
# Builds the gateway and tools/loadgen with -c opt, starts each server in turn on a free port
# (Switchboard with a fresh data dir: it really stores every event with fsync), drives it with
# tools/loadgen (unique, correctly signed 1-6 KB events), and prints each RESULT line, the
# server's resident memory, and the ratios. The two servers never run at the same time; the
# load generator shares the 2 cores with the server under test, as for both.
# The secret is generated per run and passed through the environment only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

CONNS=${CONNS:-50}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
RATE=${RATE:-0}
RUNS=${RUNS:-1}

bazel build -c opt //server //tools/loadgen >&2
BIN=$(bazel info -c opt bazel-bin 2>/dev/null)
if [ ! -d tools/bench/node_baseline/node_modules/express ]; then
  (cd tools/bench/node_baseline && npm ci --no-audit --no-fund --silent) >&2
fi

export STRIPE_WEBHOOK_SECRET="whsec_bench_$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

wait_port() {  # wait_port LOGFILE REGEX -> prints the port
  for _ in $(seq 1 200); do
    if port=$(grep -oE "$2" "$1" | head -1 | grep -oE '[0-9]+$'); then
      [ -n "$port" ] && { echo "$port"; return 0; }
    fi
    sleep 0.05
  done
  echo "server did not start; log:" >&2; cat "$1" >&2; return 1
}

load() {  # load PORT -> RESULT line
  "$BIN/tools/loadgen/loadgen" --url="http://127.0.0.1:$1/webhook" --connections="$CONNS" \
    --duration="$DURATION" --warmup="$WARMUP" --rate="$RATE"
}

field() { echo "$1" | grep -oE "(^| )$2=[0-9.]+" | head -1 | cut -d= -f2; }

for run in $(seq 1 "$RUNS"); do
  rm -rf "$tmp/data"
  "$BIN/server/server" --data_dir="$tmp/data" --http_addr=127.0.0.1:0 --grpc_addr=127.0.0.1:0 \
    --ops_addr=127.0.0.1:0 2>"$tmp/sb.log" &
  pid=$!
  port=$(wait_port "$tmp/sb.log" 'http=127.0.0.1:[0-9]+')
  sb=$(load "$port" || true)
  sb_rss=$(ps -o rss= -p "$pid" | tr -d ' ')
  kill -TERM "$pid"; wait "$pid" || true; pid=

  PORT=0 node tools/bench/node_baseline/server.js >"$tmp/node.log" 2>&1 &
  pid=$!
  port=$(wait_port "$tmp/node.log" 'port=[0-9]+')
  nd=$(load "$port" || true)
  nd_rss=$(ps -o rss= -p "$pid" | tr -d ' ')
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=

  echo "run $run"
  echo "switchboard $sb rss_mb=$((sb_rss / 1024))"
  echo "node_sample $nd rss_mb=$((nd_rss / 1024))"
  awk -v a="$(field "$sb" rps)" -v b="$(field "$nd" rps)" -v c="$(field "$sb" p99_ms)" \
      -v d="$(field "$nd" p99_ms)" 'BEGIN {
        printf "RATIO rps=%.2fx p99_switchboard_ms=%s p99_node_ms=%s\n", (b > 0 ? a / b : 0), c, d }'
done
