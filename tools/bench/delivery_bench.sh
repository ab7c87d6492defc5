#!/usr/bin/env bash
# Delivery throughput from a stored backlog to one subscription, one run.
#
#   tools/bench/delivery_bench.sh DATA_DIR [BIN_DIR]
#   WARMUP=10 WINDOW=30 MAX_IN_FLIGHT=256 tools/bench/delivery_bench.sh /tmp/sb1m
#
# DATA_DIR holds a filled events.db (tools/bench:fill_store). BIN_DIR has server, test_handler
# and ctl (default: the -c opt bazel-bin, built first). Starts the gateway on free ports, a fresh
# subscription per run (start=beginning, so the whole log is its backlog) served by
# tests/e2e:test_handler --types='*' --record=/dev/null, and reads
# switchboard_delivery_delivered_total from /metrics after WARMUP s and WARMUP+WINDOW s. Prints
# the rate over the window and the gateway's and handler's CPU time, context switches and RSS
# (start-up time: tools/bench/startup_bench.sh). The subscription is deleted at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

DATA=${1:?data dir}
BIN=${2:-}
WARMUP=${WARMUP:-10}
WINDOW=${WINDOW:-30}
MAX_IN_FLIGHT=${MAX_IN_FLIGHT:-256}
# shellcheck source=tools/bench/bench_lib.sh
source tools/bench/bench_lib.sh
if [ -z "$BIN" ]; then
  bazel build -c opt //server //tests/e2e:test_handler //tools/ctl >&2
  B=$(bazel info -c opt bazel-bin 2>/dev/null)
  BIN="$tmp/bin"
  mkdir "$BIN"
  cp "$B/server/server" "$B/tests/e2e/test_handler" "$B/tools/ctl/ctl" "$BIN/"
fi
start_gateway "$BIN/server" "$DATA"
echo "rss_idle_kb=$(awk '/VmRSS/{print $2}' /proc/$gw/status)"
name="bench$(date +%s%N | tail -c 7)"
delivered() {
  curl -s "http://$ops/metrics" |
    awk -v n="$name" '$1 ~ "^switchboard_delivery_delivered_total" && index($1, "\"" n "\"") {print $2}'
}
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Context switches of all the process's threads.
switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {n += $2} END {print n}'; }
"$BIN/test_handler" --gateway="$grpc" --subscription="$name" --start=beginning --types='*' \
  --record=/dev/null --max_in_flight="$MAX_IN_FLIGHT" --listen=127.0.0.1:0 2>"$tmp/handler.log" &
hp=$!
pids+=("$hp")
sleep "$WARMUP"
d0=$(delivered); c0=$(cpu $gw); h0=$(cpu $hp); s0=$(date +%s.%N)
x0=$(switches $gw); y0=$(switches $hp)
sleep "$WINDOW"
d1=$(delivered); c1=$(cpu $gw); h1=$(cpu $hp); s1=$(date +%s.%N)
x1=$(switches $gw); y1=$(switches $hp)
dt=$(echo "$s1 - $s0" | bc)
hz=$(getconf CLK_TCK)
echo "RESULT rate=$(echo "($d1 - $d0) / $dt" | bc) delivered=$d1" \
  "gw_cpu=$(echo "scale=2; ($c1 - $c0) / $hz / $dt" | bc)" \
  "handler_cpu=$(echo "scale=2; ($h1 - $h0) / $hz / $dt" | bc)" \
  "gw_us_per_event=$(echo "($c1 - $c0) * 1000000 / $hz / ($d1 - $d0)" | bc)" \
  "handler_us_per_event=$(echo "($h1 - $h0) * 1000000 / $hz / ($d1 - $d0)" | bc)" \
  "gw_switches_per_event=$(echo "scale=2; ($x1 - $x0) / ($d1 - $d0)" | bc)" \
  "handler_switches_per_event=$(echo "scale=2; ($y1 - $y0) / ($d1 - $d0)" | bc)" \
  "gw_rss_kb=$(awk '/VmRSS/{print $2}' /proc/$gw/status)" \
  "handler_rss_kb=$(awk '/VmRSS/{print $2}' /proc/$hp/status)"
kill "$hp"; wait "$hp" 2>/dev/null || true
"$BIN/ctl" --gateway="$grpc" subs delete "$name" >/dev/null
