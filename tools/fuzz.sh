#!/usr/bin/env bash
# Runs each libFuzzer target for a while (default 60 s each) with clang + ASan (--config=fuzz).
#   tools/fuzz.sh                 # all targets, 60 s each
#   tools/fuzz.sh 600 webhook_request_fuzzer
# New interesting inputs are added to a scratch copy of the corpus; a crash leaves its input in
# /tmp/switchboard-fuzz/<target>/ and the script exits non-zero. Add a crashing input to
# tests/fuzz/corpus/<target>/ once fixed: it then replays in `bazel test //...` forever.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(signature_header_fuzzer event_converter_fuzzer
  webhook_request_fuzzer sdk_delivery_fuzzer gateway_api_fuzzer)

bazel build --config=fuzz "${targets[@]/#/\/\/tests\/fuzz:}"
bin=$(bazel info --config=fuzz bazel-bin)
status=0
for t in "${targets[@]}"; do
  corpus_name=${t%_fuzzer}
  work=/tmp/switchboard-fuzz/$t
  mkdir -p "$work/corpus"
  cp -n tests/fuzz/corpus/"$corpus_name"/* "$work/corpus/" 2>/dev/null || true
  echo "== $t: ${seconds}s"
  if ! (cd "$work" && "$bin/tests/fuzz/$t" -max_total_time="$seconds" -print_final_stats=1 \
        -artifact_prefix="$work/" corpus 2>&1 | tail -n 15); then
    echo "!! $t found a crash: see $work/crash-*"
    status=1
  fi
done
exit $status
