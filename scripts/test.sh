#!/usr/bin/env bash
# The whole test suite, from a fresh machine: system packages, build, lints, tests.
# Run as root on a fresh machine (CI does); as another user, install the packages
# listed below yourself first.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests need:
#   tshark    the reference decoder braid's MPTCP parsing is compared with
#   iproute2  network namespaces for the interop tests against Linux
#   iptables  random loss on the interop path (the statistic match)
#   iputils-ping  the check that scripts/netns-lab.sh's paths carry packets
PACKAGES=(tshark iproute2 iptables iputils-ping)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: missing Debian packages: ${missing[*]}; run as root or: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "== installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Tests that need root, network namespaces or tshark fail instead of skipping.
export BRAID_REQUIRE_NETNS=1
export BRAID_REQUIRE_TSHARK=1

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
