#!/usr/bin/env bash
# Switchboard vs the logic of Stripe's Node sample, same load, same machine.
#
#   tools/bench/compare.sh                       # closed loop, 50 connections, 10 s each
#   CONNS=50 DURATION=20 RUNS=3 tools/bench/compare.sh
#   RATE=2000 tools/bench/compare.sh             # open loop at a fixed rate
#   SUBSCRIBERS=1 tools/bench/compare.sh         # Switchboard with one subscriber attached
#
# Builds the gateway, tools/loadgen (and its sink) with -c opt, starts each server in turn on a
# free port (Switchboard with a fresh data dir: it really stores every event with fsync), drives
# it with tools/loadgen (unique, correctly signed 1-6 KB events; an epoll client that costs ~20 us
# of CPU per request), and prints each RESULT line, the server's resident memory, the ratios, and
# the CPU each process spent per request (CPU_US_PER_REQUEST: /proc CPU times, and loadgen's own
# cpu_s, over warm-up + duration, divided by requests at the measured rate).
# The two servers never run at the same time; the load generator shares the 2 cores with the
# server under test, as for both.
#
# SUBSCRIBERS=N attaches N tools/loadgen:sink handlers (each its own subscription to `*`,
# MAX_IN_FLIGHT=256 unacknowledged deliveries) to Switchboard for its run, and prints right after
# the load the subscriptions' BACKLOG (`tools/ctl subs list`) and that backlog in seconds of the
# measured ingest rate (the ingest target counts only with a subscriber that keeps up: backlog
# under one second of traffic), then lets the sinks drain and prints each sink's end-to-end
# latency (received -> handled, every event of the run).
# With RUNS > 1 it ends with the median of each figure over the runs (MEDIAN lines).
#
# SERVER_CPUS=LIST CLIENT_CPUS=LIST (taskset lists, e.g. 0-1 and 2-3) pin the server under test
# (Switchboard's gateway, then the Node sample) to SERVER_CPUS and the load generator and the
# sinks to CLIENT_CPUS, so neither steals the other's cores: the measurement with the load
# generator and the subscriber elsewhere. Unset: all share every core.
# The secret is generated per run and passed through the environment only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

CONNS=${CONNS:-50}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
RATE=${RATE:-0}
RUNS=${RUNS:-1}
SUBSCRIBERS=${SUBSCRIBERS:-0}
MAX_IN_FLIGHT=${MAX_IN_FLIGHT:-256}
SERVER_CPUS=${SERVER_CPUS:-}
CLIENT_CPUS=${CLIENT_CPUS:-}
server_pin=()
client_pin=()
if [ -n "$SERVER_CPUS" ]; then server_pin=(taskset -c "$SERVER_CPUS"); fi
if [ -n "$CLIENT_CPUS" ]; then client_pin=(taskset -c "$CLIENT_CPUS"); fi

bazel build -c opt //server //tools/loadgen //tools/loadgen:sink //tools/ctl >&2
BIN=$(bazel info -c opt bazel-bin 2>/dev/null)
if [ ! -d tools/bench/node_baseline/node_modules/express ]; then
  (cd tools/bench/node_baseline && npm ci --no-audit --no-fund --silent) >&2
fi

# shellcheck source=tools/bench/bench_lib.sh
source tools/bench/bench_lib.sh

load() {  # load PORT -> RESULT line
  "${client_pin[@]}" "$BIN/tools/loadgen/loadgen" --url="http://127.0.0.1:$1/webhook" --connections="$CONNS" \
    --duration="$DURATION" --warmup="$WARMUP" --rate="$RATE"
}

field() { echo "$1" | grep -oE "(^| )$2=[0-9.]+" | head -1 | cut -d= -f2; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
hz=$(getconf CLK_TCK)
# us_per_request CPU_SECONDS RPS: CPU over warm-up + duration at the measured rate.
us_per_request() {
  awk -v c="$1" -v r="$2" -v t="$((WARMUP + DURATION))" \
    'BEGIN { printf "%.0f", (r > 0 ? c * 1e6 / (r * t) : 0) }'
}
# The same for a CPU time in clock ticks (from /proc).
ticks_per_request() { us_per_request "$(awk -v t="$1" -v h="$hz" 'BEGIN { print t / h }')" "$2"; }

summary="$tmp/summary"
: >"$summary"
for run in $(seq 1 "$RUNS"); do
  rm -rf "$tmp/data"
  "${server_pin[@]}" "$BIN/server/server" --data_dir="$tmp/data" --http_addr=127.0.0.1:0 --grpc_addr=127.0.0.1:0 \
    --ops_addr=127.0.0.1:0 2>"$tmp/sb.log" &
  pid=$!
  pids=("$pid")
  port=$(wait_port "$tmp/sb.log" 'http=127.0.0.1:[0-9]+')
  grpc=$(wait_port "$tmp/sb.log" 'grpc=127.0.0.1:[0-9]+')
  sinks=()
  for i in $(seq 1 "$SUBSCRIBERS"); do
    "${client_pin[@]}" "$BIN/tools/loadgen/sink" --gateway="127.0.0.1:$grpc" --subscription="bench-sink-$i" \
      --max_in_flight="$MAX_IN_FLIGHT" --warmup="${WARMUP}s" --idle_exit=2s \
      >"$tmp/sink$i.out" 2>"$tmp/sink$i.log" &
    sinks+=($!)
    pids+=($!)
    wait_port "$tmp/sink$i.log" 'sink ready subscription=[^ ]+ port=[0-9]+' >/dev/null
  done
  load0=$(cut -d' ' -f1 /proc/loadavg)
  g0=$(cpu_ticks "$pid")
  k0=0
  for p in "${sinks[@]}"; do k0=$((k0 + $(cpu_ticks "$p"))); done
  sb=$(load "$port" || true)
  g1=$(cpu_ticks "$pid")
  k1=0
  for p in "${sinks[@]}"; do k1=$((k1 + $(cpu_ticks "$p"))); done
  sb_rss=$(ps -o rss= -p "$pid" | tr -d ' ')
  subs=
  if [ "$SUBSCRIBERS" -gt 0 ]; then
    subs=$("$BIN/tools/ctl/ctl" --gateway="127.0.0.1:$grpc" subs list 2>&1 || true)
    # Let the sinks drain the backlog (each stops 2 s after its last event; SIGTERM after 60 s),
    # so their latency figures include the events that were still queued.
    drain0=$SECONDS
    wait_exit 60 "${sinks[@]}"
    drain_s=$((SECONDS - drain0))
    for p in "${sinks[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" || true; done
  fi
  kill -TERM "$pid"; wait "$pid" || true
  pids=()

  PORT=0 "${server_pin[@]}" node tools/bench/node_baseline/server.js >"$tmp/node.log" 2>&1 &
  pid=$!
  pids=("$pid")
  port=$(wait_port "$tmp/node.log" 'port=[0-9]+')
  n0=$(cpu_ticks "$pid")
  nd=$(load "$port" || true)
  n1=$(cpu_ticks "$pid")
  nd_rss=$(ps -o rss= -p "$pid" | tr -d ' ')
  kill "$pid"; wait "$pid" 2>/dev/null || true
  pids=()

  echo "run $run (load average before: $load0)${SERVER_CPUS:+ server_cpus=$SERVER_CPUS}${CLIENT_CPUS:+ client_cpus=$CLIENT_CPUS}"
  echo "switchboard $sb rss_mb=$((sb_rss / 1024)) subscribers=$SUBSCRIBERS"
  echo "node_sample $nd rss_mb=$((nd_rss / 1024))"
  ratio=$(awk -v a="$(field "$sb" rps)" -v b="$(field "$nd" rps)" \
    'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
  echo "RATIO rps=${ratio}x p99_switchboard_ms=$(field "$sb" p99_ms) p99_node_ms=$(field "$nd" p99_ms)"
  sb_rps=$(field "$sb" rps)
  nd_rps=$(field "$nd" rps)
  gw_us=$(ticks_per_request $((g1 - g0)) "$sb_rps")
  sink_us=$(ticks_per_request $((k1 - k0)) "$sb_rps")
  lg_us=$(us_per_request "$(field "$sb" cpu_s)" "$sb_rps")
  node_us=$(ticks_per_request $((n1 - n0)) "$nd_rps")
  echo "CPU_US_PER_REQUEST switchboard=$gw_us sinks=$sink_us loadgen=$lg_us" \
    "total=$((gw_us + sink_us + lg_us)) node_sample=$node_us loadgen_on_node=$(us_per_request \
    "$(field "$nd" cpu_s)" "$nd_rps")"
  line="sb_rps=$sb_rps sb_p50_ms=$(field "$sb" p50_ms) sb_p99_ms=$(field "$sb" p99_ms)"
  line="$line node_rps=$nd_rps node_p99_ms=$(field "$nd" p99_ms) ratio=$ratio"
  line="$line sb_cpu_us=$gw_us sink_cpu_us=$sink_us loadgen_cpu_us=$lg_us node_cpu_us=$node_us"
  if [ "$SUBSCRIBERS" -gt 0 ]; then
    echo "subscriptions right after the load:"
    echo "$subs"
    # The BACKLOG column of `subs list` (found by its header: MEMBERS may contain spaces); the
    # worst subscription counts.
    backlog=$(echo "$subs" | awk '$1 == "NAME" { at = index($0, "BACKLOG") }
      at && $1 ~ /^bench-sink-/ { split(substr($0, at), f, " "); if (f[1] + 0 > m) m = f[1] + 0 }
      END { print m + 0 }')
    backlog_s=$(awk -v b="$backlog" -v r="$(field "$sb" rps)" \
      'BEGIN { printf "%.2f", (r > 0 ? b / r : 0) }')
    echo "BACKLOG events=$backlog seconds_of_traffic=$backlog_s (target: under 1 s)" \
      "drained_within_s=$drain_s (including the sinks' 2 s idle exit)"
    line="$line backlog=$backlog backlog_s=$backlog_s"
    for i in $(seq 1 "$SUBSCRIBERS"); do
      sink_line=$(grep '^RESULT ' "$tmp/sink$i.out" || echo "RESULT sink=bench-sink-$i missing")
      echo "$sink_line"
      line="$line sink_p99_ms=$(field "$sink_line" p99_ms)"
    done
  fi
  echo "$line" >>"$summary"
done

if [ "$RUNS" -gt 1 ]; then
  median() {
    grep -oE "(^| )$1=[0-9.]+" "$summary" | cut -d= -f2 | sort -g |
      awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
                                else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
  }
  out="MEDIAN runs=$RUNS subscribers=$SUBSCRIBERS"
  for f in sb_rps sb_p50_ms sb_p99_ms node_rps node_p99_ms ratio sb_cpu_us sink_cpu_us \
    loadgen_cpu_us node_cpu_us; do
    out="$out $f=$(median $f)"
  done
  if [ "$SUBSCRIBERS" -gt 0 ]; then
    for f in backlog backlog_s sink_p99_ms; do out="$out $f=$(median $f)"; done
  fi
  echo "$out"
fi
