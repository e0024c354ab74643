#!/usr/bin/env bash
# Installs what the netns lab needs (strongSwan with kernel-libipsec, FRR for
# BGP on the customer gateway, nftables, iproute2, ping, ethtool) and makes sure no
# strongSwan or FRR daemon runs in the host namespace. Idempotent: when
# everything is installed it does not call apt, so it is fast and works
# offline. Needs root.
set -euo pipefail

PKGS=(strongswan strongswan-swanctl charon-systemd libcharon-extra-plugins
      libstrongswan-extra-plugins nftables iproute2 iputils-ping procps util-linux
      python3 frr ethtool)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: needs root" >&2
  exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps.sh: installing ${missing[*]}"
  # Keep package scripts from starting strongSwan or FRR services in the host
  # namespace during the install (Debian's policy-rc.d convention).
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    made_policy=1
  fi
  trap 'if [ "$made_policy" = 1 ]; then rm -f "$policy"; fi' EXIT
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q || true # a stale index may still be enough
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "install-deps.sh: all lab packages present"
fi

# The lab runs its own charon per namespace; the distribution's services must
# not hold UDP 500/4500 or /run/charon.* in the host namespace.
systemctl disable --now strongswan-starter strongswan ipsec 2>/dev/null || true
# Likewise FRR: the lab runs zebra + bgpd per namespace with its own sockets;
# the host's frr service must neither run nor start at boot.
systemctl disable --now frr 2>/dev/null || true

host_net=$(readlink /proc/1/ns/net 2>/dev/null || true)
my_mnt=$(readlink /proc/self/ns/mnt 2>/dev/null || true)
for pidfile in /run/charon.pid /run/starter.charon.pid /run/frr/watchfrr.pid /run/frr/bgpd.pid /run/frr/zebra.pid /run/frr/staticd.pid; do
  [ -r "$pidfile" ] || continue
  pid=$(tr -dc '0-9' <"$pidfile")
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || continue
  comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
  case "$comm" in charon | charon-systemd | starter | watchfrr | bgpd | zebra | staticd) ;; *) continue ;; esac
  # Only a daemon of the host (host netns and our mount namespace): lab
  # instances live in their own namespaces with their own /run.
  [ "$(readlink "/proc/$pid/ns/net")" = "$host_net" ] || continue
  [ "$(readlink "/proc/$pid/ns/mnt")" = "$my_mnt" ] || continue
  echo "install-deps.sh: stopping host $comm (pid $pid from $pidfile)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
  [ -d "/proc/$pid" ] && kill -KILL "$pid" 2>/dev/null || true
done

for bin in /usr/lib/ipsec/charon /usr/sbin/swanctl /usr/sbin/nft /usr/bin/ping /usr/bin/unshare \
  /usr/lib/frr/zebra /usr/lib/frr/bgpd /usr/bin/vtysh; do
  [ -x "$bin" ] || { echo "install-deps.sh: $bin missing after install" >&2; exit 1; }
done
[ -e /usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so ] ||
  { echo "install-deps.sh: kernel-libipsec plugin missing (libcharon-extra-plugins)" >&2; exit 1; }
echo "install-deps.sh: ok"
