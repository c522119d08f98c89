#!/usr/bin/env bash
# Installs what dsmip6 needs on a fresh Debian machine (run as root), then builds.
# Usage: scripts/ensure-deps.sh [--runtime | --test | --bench]
#   --runtime  adds what the daemons run: ip (iproute2) and nft (nftables)
#   --test     adds the tools the tests and the demo use: tshark, dumpcap and mergecap
#              (wireshark-common, a dependency of tshark) and the testbed's (iproute2, nftables, ...)
#   --bench  adds what `npm run bench` measures with: the testbed's tools, iperf3, openvpn (the
#            comparison), dumpcap and tshark (handover captures), valgrind (instruction counts)
# Idempotent and quiet when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  local missing=()
  for pair in "$@"; do
    local cmd=${pair%%:*} pkg=${pair##*:}
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "dsmip6: missing Debian packages: ${missing[*]}; run as root or: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "dsmip6: installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # tshark asks whether non-root users may capture; answer no without a prompt.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

if [ "${1:-}" = "--runtime" ]; then
  apt_install ip:iproute2 nft:nftables
fi

if [ "${1:-}" = "--test" ]; then
  # tshark judges the wire format; the rest builds the network-namespace testbed (testbed/):
  # ip and tc (iproute2), nft (nftables), conntrack, sysctl (procps), ping (iputils-ping).
  apt_install tshark:tshark ip:iproute2 tc:iproute2 nft:nftables conntrack:conntrack sysctl:procps ping:iputils-ping
fi

if [ "${1:-}" = "--bench" ]; then
  apt_install ip:iproute2 nft:nftables sysctl:procps iperf3:iperf3 openvpn:openvpn openssl:openssl \
    dumpcap:wireshark-common tshark:tshark valgrind:valgrind
fi

# npm ci when node_modules is missing or older than the lock file; it also builds (prepare).
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "dsmip6: installing npm packages (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

# The native addon: npm ci builds it (node-gyp); rebuild when it is missing or its source changed.
addon=build/Release/dsmip6_io.node
if [ ! -f "$addon" ] || [ -n "$(find native binding.gyp -newer "$addon" -print -quit 2>/dev/null)" ]; then
  echo "dsmip6: building the native addon (node-gyp)" >&2
  npm run --silent build:addon >&2
fi

# Rebuild when any TypeScript source is newer than the last build.
stamp=dist/.build-stamp
if [ ! -f "$stamp" ] || [ -n "$(find mn ha common tunnel ipsec config cli bench types testbed demo tsconfig.json package.json -newer "$stamp" -print -quit 2>/dev/null)" ]; then
  node_modules/.bin/tsc -p tsconfig.json
  touch "$stamp"
fi
