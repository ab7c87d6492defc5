#!/usr/bin/env bash
# Installs every Debian 12 package Switchboard's build, tests and tools need.
# Idempotent: when everything is already installed it returns in well under a second
# without touching the network. Run as root (or with sudo available).
set -euo pipefail

packages=(
  bazel-bootstrap                                          # Bazel 4.2.3 (WORKSPACE mode) + JDK
  libgrpc++-dev protobuf-compiler-grpc                     # gRPC 1.51 + grpc_cpp_plugin
  libprotobuf-dev protobuf-compiler                        # protobuf 3.21 + protoc
  libabsl-dev rapidjson-dev libcpp-httplib-dev libssl-dev  # abseil, RapidJSON, httplib 0.11, OpenSSL 3
  libgtest-dev libgmock-dev libbenchmark-dev libsqlite3-dev
  clang lld libclang-rt-14-dev                             # sanitizer and fuzz configs
  python3-grpcio python3-protobuf                          # the cross-language handler test
  nodejs npm                                               # stripe-node signer compatibility test
  sqlite3 curl ca-certificates
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

# node/npm may come from elsewhere on a developer machine; only install them when absent.
filtered=()
for p in "${missing[@]}"; do
  case "$p" in
    nodejs) command -v node >/dev/null || filtered+=("$p") ;;
    npm) command -v npm >/dev/null || filtered+=("$p") ;;
    *) filtered+=("$p") ;;
  esac
done
missing=("${filtered[@]+"${filtered[@]}"}")

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The stripe-node signer used by tests/stripe_node_compat (pinned in its package-lock.json).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
node_dir="$here/third_party/stripe_node"
if [ -f "$node_dir/package.json" ] && [ ! -d "$node_dir/node_modules/stripe" ]; then
  echo "setup: npm ci in third_party/stripe_node"
  (cd "$node_dir" && npm ci --no-audit --no-fund --silent)
fi
echo "setup: ok"
