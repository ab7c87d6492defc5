#!/usr/bin/env bash
# Gateway start-up time on an existing data dir: process start to the "listening" log line, and
# to the first 200 from /readyz (ops listener). RUNS runs (default 5), one line each.
#
#   tools/bench/startup_bench.sh DATA_DIR [BIN_DIR]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
DATA=${1:?data dir}
BIN=${2:-}
if [ -z "$BIN" ]; then
  bazel build -c opt //server >&2
  BIN=$(bazel info -c opt bazel-bin 2>/dev/null)/server
fi
# shellcheck source=tools/bench/bench_lib.sh
source tools/bench/bench_lib.sh
log="$tmp/gateway.log"
# Polls every 2 ms (wait_for's 50 ms would blur a ~40 ms figure).
for _ in $(seq 1 "${RUNS:-5}"); do
  : >"$log"
  t0=$(date +%s%N)
  "$BIN/server" --data_dir="$DATA" --http_addr=127.0.0.1:0 --grpc_addr=127.0.0.1:0 \
    --ops_addr=127.0.0.1:0 2>"$log" &
  gw=$!
  pids=("$gw")
  until grep -q " listening " "$log"; do sleep 0.002; done
  t1=$(date +%s%N)
  ops=$(gateway_addr "$log" ops)
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$ops/readyz")" = 200 ]; do
    sleep 0.002
  done
  t2=$(date +%s%N)
  echo "RESULT listening_ms=$(((t1 - t0) / 1000000)) ready_ms=$(((t2 - t0) / 1000000))"
  kill "$gw"
  wait "$gw" || true
done
