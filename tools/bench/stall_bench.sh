#!/usr/bin/env bash
# Gateway memory with stalled subscribers over a large backlog, one run.
#
#   tools/bench/stall_bench.sh DATA_DIR [BIN_DIR]
#   LOAD_S=60 tools/bench/stall_bench.sh /tmp/sb1m /tmp/bin
#
# DATA_DIR holds a filled events.db (tools/bench:fill_store; 1,000,000 events for the issue-6
# figure). BIN_DIR has server, test_handler, ctl and loadgen (default: built with -c opt). Starts
# the gateway, then two subscriptions that see the whole log as backlog and never finish
# anything: "connected but not acking" (tests/e2e:test_handler --delay=1h, max_in_flight 256)
# and "not connected" (a member address nobody listens on). Meanwhile /metrics is scraped every
# second (the backlog gauge counts up to 1e6 rows) and `ctl subs list` runs every 5 s, and
# tools/loadgen adds events for LOAD_S seconds at RATE/s (default 3000), so the backlogs grow. Prints the gateway's RSS
# every 5 s and its maximum. The subscriptions are deleted at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

DATA=${1:?data dir}
BIN=${2:-}
LOAD_S=${LOAD_S:-60}
# shellcheck source=tools/bench/bench_lib.sh
source tools/bench/bench_lib.sh
if [ -z "$BIN" ]; then
  bazel build -c opt //server //tests/e2e:test_handler //tools/ctl //tools/loadgen >&2
  B=$(bazel info -c opt bazel-bin 2>/dev/null)
  BIN="$tmp/bin"
  mkdir "$BIN"
  cp "$B/server/server" "$B/tests/e2e/test_handler" "$B/tools/ctl/ctl" "$B/tools/loadgen/loadgen" \
    "$BIN/"
fi
secret_file="$tmp/secret"
printf '%s' "$STRIPE_WEBHOOK_SECRET" >"$secret_file"
start_gateway "$BIN/server" "$DATA"
rss() { awk '/VmRSS/{print $2}' "/proc/$gw/status"; }
echo "rss_start_kb=$(rss)"
tag=$(date +%s%N | tail -c 7)
"$BIN/test_handler" --gateway="$grpc" --subscription="stalled$tag" --start=beginning \
  --types='*' --record=/dev/null --max_in_flight=256 --delay=1h --listen=127.0.0.1:0 \
  2>/dev/null &
stalled=$!
pids+=("$stalled")
"$BIN/ctl" --gateway="$grpc" subs create "absent$tag" --types='*' --member=127.0.0.1:9 \
  --start=beginning >/dev/null
(while true; do curl -s "http://$ops/metrics" >/dev/null; sleep 1; done) &
pids+=("$!")
(while true; do timeout 60 "$BIN/ctl" --gateway="$grpc" subs list >/dev/null 2>&1; sleep 5; done) &
pids+=("$!")
"$BIN/loadgen" --url="http://$http/webhook" --secret_file="$secret_file" --connections=20 \
  --duration="$LOAD_S" --warmup=0 --rate="${RATE:-3000}" >"$tmp/loadgen.out" 2>&1 &
load=$!
pids+=("$load")
max=0
t=0
while kill -0 "$load" 2>/dev/null; do
  sleep 1
  t=$((t + 1))
  r=$(rss)
  [ "$r" -gt "$max" ] && max=$r
  [ $((t % 5)) -eq 0 ] && echo "t=${t}s rss_kb=$r"
done
grep RESULT "$tmp/loadgen.out" || true
"$BIN/ctl" --gateway="$grpc" subs list | grep -E "NAME|stalled$tag|absent$tag" || true
echo "RESULT rss_max_kb=$max rss_end_kb=$(rss)"
"$BIN/ctl" --gateway="$grpc" subs delete "absent$tag" >/dev/null
"$BIN/ctl" --gateway="$grpc" subs delete "stalled$tag" >/dev/null || true
# The stalled handler would drain for its --drain_timeout on SIGTERM: it is killed outright.
kill -9 "$stalled" 2>/dev/null || true
