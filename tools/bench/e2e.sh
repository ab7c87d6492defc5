#!/usr/bin/env bash
# End-to-end latency: HTTP received by the gateway -> handled by a subscriber, open loop.
#
#   tools/bench/e2e.sh                          # 1,000 events/s, 3 subscribers, 10 s (+2 s warm-up)
#   RATE=2000 SINKS=1 DURATION=20 RUNS=5 tools/bench/e2e.sh
#
# Per run: builds with -c opt (once), starts the gateway with a fresh data dir on free ports,
# starts SINKS tools/loadgen:sink processes (each its own subscription to `*`), drives the
# webhook with tools/loadgen in open loop (RATE events/s over CONNS keep-alive connections,
# unique correctly signed 1-6 KB events), waits until every sink has been idle for 3 s, and
# prints the loadgen RESULT line, each sink's RESULT line (now - Event.received_at when its
# handler ran: p50/p90/p99/p99.9/max), and the backlog from `tools/ctl subs list`. With RUNS > 1
# it ends with the median of each figure over all runs and sinks (MEDIAN line).
# Knobs (env): RATE=1000 SINKS=3 CONNS=50 DURATION=10 WARMUP=2 RUNS=1 MAX_IN_FLIGHT=0 (gateway
# default) WORKERS=8 LOADGEN_ARGS= (extra flags). The secret is generated per run and passed
# through the environment only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

RATE=${RATE:-1000}
SINKS=${SINKS:-3}
CONNS=${CONNS:-50}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
RUNS=${RUNS:-1}
MAX_IN_FLIGHT=${MAX_IN_FLIGHT:-0}
WORKERS=${WORKERS:-8}
LOADGEN_ARGS=${LOADGEN_ARGS:-}

bazel build -c opt //server //tools/loadgen //tools/loadgen:sink //tools/ctl >&2
BIN=$(bazel info -c opt bazel-bin 2>/dev/null)

# shellcheck source=tools/bench/bench_lib.sh
source tools/bench/bench_lib.sh

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
ticks_to_s() { awk -v t="$1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'; }

results="$tmp/results"
: >"$results"
for run in $(seq 1 "$RUNS"); do
  rm -rf "$tmp/data"
  "$BIN/server/server" --data_dir="$tmp/data" --http_addr=127.0.0.1:0 --grpc_addr=127.0.0.1:0 \
    --ops_addr=127.0.0.1:0 2>"$tmp/gateway.log" &
  gw=$!
  pids=("$gw")
  http=$(wait_for "$tmp/gateway.log" 'http=127.0.0.1:[0-9]+' | grep -oE '[0-9]+$')
  grpc=$(wait_for "$tmp/gateway.log" 'grpc=127.0.0.1:[0-9]+' | grep -oE '[0-9]+$')

  sinks=()
  for i in $(seq 1 "$SINKS"); do
    "$BIN/tools/loadgen/sink" --gateway="127.0.0.1:$grpc" --subscription="e2e-sink-$i" \
      --max_in_flight="$MAX_IN_FLIGHT" --workers="$WORKERS" --warmup="${WARMUP}s" \
      --idle_exit=3s >"$tmp/sink$i.out" 2>"$tmp/sink$i.log" &
    sinks+=($!)
    pids+=($!)
  done
  for i in $(seq 1 "$SINKS"); do wait_for "$tmp/sink$i.log" 'sink ready' >/dev/null; done

  load0=$(cut -d' ' -f1 /proc/loadavg)
  gw_cpu0=$(cpu_ticks "$gw")
  # shellcheck disable=SC2086  # LOADGEN_ARGS is a list of flags
  lg=$("$BIN/tools/loadgen/loadgen" --url="http://127.0.0.1:$http/webhook" --connections="$CONNS" \
    --rate="$RATE" --duration="$DURATION" --warmup="$WARMUP" $LOADGEN_ARGS || true)
  gw_cpu1=$(cpu_ticks "$gw")
  sinks_cpu=0
  for p in "${sinks[@]}"; do sinks_cpu=$((sinks_cpu + $(cpu_ticks "$p"))); done
  backlog=$("$BIN/tools/ctl/ctl" --gateway="127.0.0.1:$grpc" subs list 2>&1 || true)
  # The sinks stop by themselves 3 s after their last event; SIGTERM the stragglers after 60 s.
  wait_exit 60 "${sinks[@]}"
  for p in "${sinks[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" || true; done
  gw_rss=$(ps -o rss= -p "$gw" | tr -d ' ')
  kill -TERM "$gw"; wait "$gw" || true
  pids=()

  echo "run $run (rate=$RATE sinks=$SINKS connections=$CONNS; load average before: $load0;" \
    "CPU seconds during the load: gateway $(ticks_to_s $((gw_cpu1 - gw_cpu0)))," \
    "sinks $(ticks_to_s "$sinks_cpu") since start)"
  echo "loadgen $lg"
  for i in $(seq 1 "$SINKS"); do
    line=$(grep '^RESULT ' "$tmp/sink$i.out" || echo "RESULT sink=e2e-sink-$i missing")
    echo "$line"
    echo "$line" >>"$results"
  done
  echo "gateway rss_mb=$((gw_rss / 1024)); subscriptions right after the load:"
  echo "$backlog"
done

if [ "$RUNS" -gt 1 ]; then
  # Median over every sink of every run, per figure.
  median() {
    grep -oE " $1=[0-9.]+" "$results" | cut -d= -f2 | sort -g |
      awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
                                else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
  }
  echo "MEDIAN runs=$RUNS sinks=$SINKS rate=$RATE measured=$(median measured)" \
    "p50_ms=$(median p50_ms) p90_ms=$(median p90_ms) p99_ms=$(median p99_ms)" \
    "p999_ms=$(median p999_ms) max_ms=$(median max_ms)"
fi
