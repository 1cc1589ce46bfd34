#!/usr/bin/env bash
# The two-namespace lab of the interop tests, by hand (docs/network-lab.md explains it):
# a client namespace where braid runs on its TUN device, a server namespace for a Linux
# MPTCP peer, one veth pair per path between them.
#
#   netns-lab.sh [OPTIONS] up       build it (again: re-running fixes what is missing)
#   netns-lab.sh [OPTIONS] status   show namespaces, addresses, rules, routes, MPTCP
#   netns-lab.sh [OPTIONS] down     delete both namespaces, and so everything in them
#
# Options (or the environment variable in brackets):
#   --client NAME     client namespace            [LAB_CLIENT, default braidlab-client]
#   --server NAME     server namespace            [LAB_SERVER, default braidlab-server]
#   --paths N         paths, 1 to 8               [LAB_PATHS, default 2]
#   --link-net A.B    path N is A.B.N.0/24: client A.B.N.1, server A.B.N.2
#                                                 [LAB_LINK_NET, default 10.0]
#   --braid-net A.B   braid's address on path N is A.B.N.1
#                                                 [LAB_BRAID_NET, default 10.1]
#   --no-ipv6         IPv4 only (otherwise also fd00:N::1/2 on the veths and braid's
#                     fd01:N::1)                  [LAB_IPV6=0]
#   --mptcp-flags F   flags of the Linux side's path manager endpoint for each path
#                     after the first, e.g. "signal", "subflow", "signal subflow", or
#                     "none" for no endpoint      [LAB_MPTCP_FLAGS, default signal]
#
# Nothing is added to the namespace the script runs in: the veths are created inside
# the lab's namespaces, and `down` deletes those.
set -euo pipefail

CLIENT=${LAB_CLIENT:-braidlab-client}
SERVER=${LAB_SERVER:-braidlab-server}
PATHS=${LAB_PATHS:-2}
LINK_NET=${LAB_LINK_NET:-10.0}
BRAID_NET=${LAB_BRAID_NET:-10.1}
IPV6=${LAB_IPV6:-1}
MPTCP_FLAGS=${LAB_MPTCP_FLAGS:-signal}
# IPv6 prefixes: the veths' fd00:N::/64, braid's fd01:N::/64 (as braid-testkit's
# Topology has them).
LINK_NET6=fd00
BRAID_NET6=fd01

me=$(basename "$0")
all_args="$*"

die() {
  echo "$me: $*" >&2
  exit 1
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

command=""
while [ $# -gt 0 ]; do
  case "$1" in
    --client) CLIENT=${2:?--client needs a name}; shift 2 ;;
    --server) SERVER=${2:?--server needs a name}; shift 2 ;;
    --paths) PATHS=${2:?--paths needs a number}; shift 2 ;;
    --link-net) LINK_NET=${2:?--link-net needs A.B}; shift 2 ;;
    --braid-net) BRAID_NET=${2:?--braid-net needs A.B}; shift 2 ;;
    --no-ipv6) IPV6=0; shift ;;
    --mptcp-flags) MPTCP_FLAGS=${2:?--mptcp-flags needs flags or none}; shift 2 ;;
    -h|--help) usage 0 ;;
    up|down|status)
      [ -z "$command" ] || die "one command at a time (got $command and $1)"
      command=$1; shift ;;
    *) echo "$me: unknown argument: $1" >&2; usage 2 ;;
  esac
done
[ -n "$command" ] || usage 2

[[ "$PATHS" =~ ^[1-8]$ ]] || die "--paths must be 1 to 8, not '$PATHS'"
for net in "$LINK_NET" "$BRAID_NET"; do
  [[ "$net" =~ ^[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "a network is two octets like 10.0, not '$net'"
done
[ "$LINK_NET" != "$BRAID_NET" ] || die "--link-net and --braid-net must differ"
[ "$CLIENT" != "$SERVER" ] || die "the client and server namespaces must have different names"
for name in "$CLIENT" "$SERVER"; do
  [[ "$name" =~ ^[A-Za-z0-9_.-]{1,64}$ && "$name" != .* ]] \
    || die "'$name' is not a usable namespace name (letters, digits, . _ -)"
done

command -v ip >/dev/null || die "the ip command is missing: install iproute2 (apt-get install iproute2)"
[ "$(id -u)" -eq 0 ] || die "network namespaces need root: sudo $0 $all_args"

ns_exists() {
  ip netns list | awk '{print $1}' | grep -qx -- "$1"
}

# Writes a sysctl inside a namespace (/proc/sys/net follows the namespace of the
# process reading it; `ip netns exec` runs the shell in it).
ns_sysctl() {
  local ns=$1 key=$2 value=$3
  ip netns exec "$ns" sh -c "echo $value > /proc/sys/${key//.//}" \
    || die "cannot set $key=$value in $ns"
}

# `ip -n NS ARGS`, saying which command failed.
nip() {
  local ns=$1
  shift
  ip -n "$ns" "$@" || die "failed in $ns: ip $*"
}

up() {
  local n c s metric
  for ns in "$CLIENT" "$SERVER"; do
    ns_exists "$ns" || ip netns add "$ns" || die "cannot create namespace $ns"
    nip "$ns" link set lo up
    ns_sysctl "$ns" net.ipv4.conf.all.rp_filter 0
    ns_sysctl "$ns" net.ipv4.conf.default.rp_filter 0
    if [ "$IPV6" = 1 ]; then
      # No duplicate address detection: the addresses are usable at once.
      ns_sysctl "$ns" net.ipv6.conf.all.accept_dad 0
      ns_sysctl "$ns" net.ipv6.conf.default.accept_dad 0
    fi
  done
  # The client's kernel forwards braid's packets between its TUN device and the veths.
  ns_sysctl "$CLIENT" net.ipv4.ip_forward 1
  if [ "$IPV6" = 1 ]; then
    ns_sysctl "$CLIENT" net.ipv6.conf.all.forwarding 1
  fi

  for n in $(seq 1 "$PATHS"); do
    c=c$n s=s$n
    if ! ip -n "$CLIENT" link show "$c" >/dev/null 2>&1; then
      # Made inside the two namespaces, never in the caller's.
      ip link add "$c" netns "$CLIENT" type veth peer name "$s" netns "$SERVER" \
        || die "cannot create the veth pair $c/$s (a leftover $s in $SERVER? run: $me down)"
    fi
    # A device takes `default`'s rp_filter when it is made; one made earlier (before a
    # re-run changed the sysctls) is set here.
    ns_sysctl "$CLIENT" "net.ipv4.conf.$c.rp_filter" 0
    ns_sysctl "$SERVER" "net.ipv4.conf.$s.rp_filter" 0
    nip "$CLIENT" addr replace "$LINK_NET.$n.1/24" dev "$c"
    nip "$SERVER" addr replace "$LINK_NET.$n.2/24" dev "$s"
    if [ "$IPV6" = 1 ]; then
      nip "$CLIENT" -6 addr replace "$LINK_NET6:$n::1/64" dev "$c" nodad
      nip "$SERVER" -6 addr replace "$LINK_NET6:$n::2/64" dev "$s" nodad
    fi
    nip "$CLIENT" link set "$c" up
    nip "$SERVER" link set "$s" up
  done

  for n in $(seq 1 "$PATHS"); do
    c=c$n s=s$n metric=$((100 + n))
    # Client: what braid sends from its path-N address leaves by cN (policy routing by
    # source); the kernel's own sockets may reach the server by any path.
    ip -n "$CLIENT" rule del from "$BRAID_NET.$n.1" table "$n" 2>/dev/null || true
    nip "$CLIENT" rule add from "$BRAID_NET.$n.1" table "$n"
    nip "$CLIENT" route replace default via "$LINK_NET.$n.2" dev "$c" table "$n"
    nip "$CLIENT" route replace default via "$LINK_NET.$n.2" dev "$c" metric "$metric"
    # Server: replies to braid's addresses go back by the path they belong to.
    nip "$SERVER" route replace "$BRAID_NET.$n.0/24" via "$LINK_NET.$n.1"
    nip "$SERVER" route replace default via "$LINK_NET.$n.1" dev "$s" metric "$metric"
    if [ "$IPV6" = 1 ]; then
      ip -n "$CLIENT" -6 rule del from "$BRAID_NET6:$n::1" table "$n" 2>/dev/null || true
      nip "$CLIENT" -6 rule add from "$BRAID_NET6:$n::1" table "$n"
      nip "$CLIENT" -6 route replace default via "$LINK_NET6:$n::2" dev "$c" table "$n"
      nip "$CLIENT" -6 route replace default via "$LINK_NET6:$n::2" dev "$c" metric "$metric"
      nip "$SERVER" -6 route replace "$BRAID_NET6:$n::/64" via "$LINK_NET6:$n::1"
      nip "$SERVER" -6 route replace default via "$LINK_NET6:$n::1" dev "$s" metric "$metric"
    fi
  done

  # The Linux side's in-kernel path manager: room for every path, and an endpoint for
  # each address besides the first.
  ip -n "$SERVER" mptcp limits set subflow 8 add_addr_accepted 8 2>/dev/null \
    || die "cannot configure MPTCP in $SERVER: a kernel without MPTCP (CONFIG_MPTCP), \
net.mptcp.enabled=0, or an iproute2 older than 5.7"
  nip "$SERVER" mptcp endpoint flush
  if [ "$MPTCP_FLAGS" != none ]; then
    for n in $(seq 2 "$PATHS"); do
      # shellcheck disable=SC2086 # the flags are words
      nip "$SERVER" mptcp endpoint add "$LINK_NET.$n.2" dev "s$n" $MPTCP_FLAGS
    done
  fi

  echo "lab up: $CLIENT (braid: TUN + $BRAID_NET.N.1) <-> $SERVER (Linux: $LINK_NET.N.2), $PATHS path(s)"
  echo "braid's addresses:$(for n in $(seq 1 "$PATHS"); do printf ' %s' "$BRAID_NET.$n.1"; done)"
  echo "Linux's addresses:$(for n in $(seq 1 "$PATHS"); do printf ' %s' "$LINK_NET.$n.2"; done)"
}

down() {
  local gone=0
  for ns in "$CLIENT" "$SERVER"; do
    if ns_exists "$ns"; then
      ip netns del "$ns" || die "cannot delete namespace $ns (a process still inside? ip netns pids $ns)"
      gone=$((gone + 1))
    fi
  done
  echo "lab down: $gone namespace(s) deleted"
}

status() {
  local missing=0
  for ns in "$CLIENT" "$SERVER"; do
    if ! ns_exists "$ns"; then
      echo "== $ns: missing"
      missing=1
      continue
    fi
    echo "== $ns"
    echo "-- addresses"
    ip -n "$ns" -br addr show
    echo "-- rules"
    ip -n "$ns" rule show
    if [ "$IPV6" = 1 ]; then ip -n "$ns" -6 rule show; fi
    echo "-- routes (local, broadcast and multicast ones left out)"
    ip -n "$ns" -4 route show table all | grep -v -e '^local ' -e '^broadcast ' -e '^multicast ' || true
    if [ "$IPV6" = 1 ]; then
      ip -n "$ns" -6 route show table all \
        | grep -v -e '^local ' -e '^multicast ' -e '^anycast ' -e '^fe80::/64' || true
    fi
    echo "-- forwarding, rp_filter"
    ip netns exec "$ns" sh -c 'echo "ip_forward=$(cat /proc/sys/net/ipv4/ip_forward) rp_filter(all)=$(cat /proc/sys/net/ipv4/conf/all/rp_filter)"'
    echo "-- MPTCP"
    ip -n "$ns" mptcp limits show 2>/dev/null || echo "(no MPTCP)"
    ip -n "$ns" mptcp endpoint show 2>/dev/null || true
  done
  return "$missing"
}

"$command"
