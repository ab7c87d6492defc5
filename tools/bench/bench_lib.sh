# shellcheck shell=bash
# Shared by the benchmark scripts in tools/bench (sourced, not run).
#
# Sets STRIPE_WEBHOOK_SECRET to a fresh random secret (environment only, never on a command
# line), makes a temporary directory $tmp, and kills every PID in the array $pids (and removes
# $tmp) on exit. Functions:
#   wait_for LOGFILE REGEX    prints the first match once it appears (30 s at most, else prints
#                             the log to stderr and fails)
#   wait_port LOGFILE REGEX   the same, then only the number the match ends with
#   gateway_addr LOGFILE NAME the address the gateway's "listening" line gives for NAME (http,
#                             grpc or ops), once the line appears
#   start_gateway SERVER DATA_DIR
#                             starts the gateway binary SERVER on free loopback ports over
#                             DATA_DIR (log: $tmp/gateway.log); sets gw (its PID, also added to
#                             pids) and http, grpc, ops (host:port) once it listens
#   wait_exit SECONDS PID...  waits until every PID has exited, SECONDS at most
# REQUIRES: bash with `set -euo pipefail`.

STRIPE_WEBHOOK_SECRET="whsec_bench_$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"
export STRIPE_WEBHOOK_SECRET
tmp=$(mktemp -d)
pids=()
bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap bench_cleanup EXIT

wait_for() {
  local m
  for _ in $(seq 1 600); do
    if m=$(grep -oE "$2" "$1" 2>/dev/null | head -1) && [ -n "$m" ]; then
      echo "$m"
      return 0
    fi
    sleep 0.05
  done
  echo "'$2' did not appear in $1:" >&2
  cat "$1" >&2
  return 1
}

wait_port() {
  local m
  m=$(wait_for "$1" "$2") || return 1
  grep -oE '[0-9]+$' <<<"$m"
}

gateway_addr() {
  local m
  m=$(wait_for "$1" " listening .*" | grep -oE " $2=[^ ]+") || return 1
  echo "${m#*=}"
}

# shellcheck disable=SC2034 # gw, http, grpc, ops are for the sourcing script
start_gateway() {
  "$1" --data_dir="$2" --http_addr=127.0.0.1:0 --grpc_addr=127.0.0.1:0 --ops_addr=127.0.0.1:0 \
    2>"$tmp/gateway.log" &
  gw=$!
  pids+=("$gw")
  http=$(gateway_addr "$tmp/gateway.log" http)
  grpc=$(gateway_addr "$tmp/gateway.log" grpc)
  ops=$(gateway_addr "$tmp/gateway.log" ops)
}

wait_exit() {
  local limit=$1 alive
  shift
  for _ in $(seq 1 $((limit * 10))); do
    alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && return 0
    sleep 0.1
  done
  return 0
}
