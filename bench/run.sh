#!/usr/bin/env bash
# `make bench`: vpgw vs strongSwan vs wireguard-go in the netns lab, one run
# (see bench/main.go). Installs the bench's own deps first (the lab's
# packages, iperf3, wireguard-tools' `wg`, wireguard-go into bin/), builds
# the bench program and runs it under an overall time limit. The table is
# printed and written to bench/results.md. Needs root.
#
#   bash bench/run.sh [bench flags...]      e.g. -t 8 -sas 500 -only ss,sv,ike
#   bash bench/run.sh -only udp,failover,rekey   (sections: tcp,udp,ike,failover,rekey;
#                                               paths ss,sv,wg,vv narrow tcp and udp)
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
export PATH="/usr/local/go/bin:$PATH"
WIREGUARD_GO_VERSION=${WIREGUARD_GO_VERSION:-v0.0.0-20250521234502-f333402bd9cb}
BENCH_MAX=${BENCH_MAX:-30m}

if [ "$(id -u)" -ne 0 ]; then
  echo "bench/run.sh: needs root (network namespaces, TUN, strongSwan)" >&2
  exit 1
fi

# --- deps (bench only; not part of make test) ---
bash lab/install-deps.sh >/dev/null
apt_pkgs=()
command -v iperf3 >/dev/null || apt_pkgs+=(iperf3)
command -v wg >/dev/null || apt_pkgs+=(wireguard-tools)
if [ "${#apt_pkgs[@]}" -gt 0 ]; then
  echo "bench/run.sh: installing ${apt_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q || true
  # --no-install-recommends: wireguard-tools would otherwise pull a kernel image.
  timeout 600 apt-get install -y -q --no-install-recommends "${apt_pkgs[@]}"
fi
if [ -z "${VPGW_WIREGUARD_GO:-}" ] && ! command -v wireguard-go >/dev/null && [ ! -x "$root/bin/wireguard" ]; then
  echo "bench/run.sh: installing wireguard-go $WIREGUARD_GO_VERSION into bin/"
  mkdir -p "$root/bin"
  # One try: if the module proxy does not serve it, the bench reports
  # wireguard-go as not measured.
  GOFLAGS= GOBIN="$root/bin" timeout 300 go install "golang.zx2c4.com/wireguard@$WIREGUARD_GO_VERSION" ||
    echo "bench/run.sh: wireguard-go install failed; its row will say not measured" >&2
fi

# The wireguard-go lab helpers' own self-test (kept out of make test, which
# does not install wireguard-go).
timeout 120 go test -count=1 -tags bench -run TestWireGuardPair ./lab

# --- build and run ---
tmp=$(mktemp -d /tmp/vpgw-bench-run-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
timeout 300 go build -o "$tmp/bench" ./bench
export VPGW_BENCH_CMD="bench/run.sh${*:+ $*}"
# The program cleans up on SIGTERM and at its own -max-time; timeout's KILL
# after 60 s more is the last resort (then run `bin/vpgw-lab down --prefix vbench`).
timeout -k 60 "$BENCH_MAX" "$tmp/bench" -max-time "$BENCH_MAX" -out "$root/bench/results.md" "$@"
