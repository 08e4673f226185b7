#!/usr/bin/env bash
# Time from carrier to "a global IPv6 address plus DNS": `qinit dhcp IFACE -6` against
# dhcpcd -6 and the kernel's SLAAC alone (no client, so no DNS).
#   bench/ipv6.sh [N]     N timed runs per client (default 10), interleaved, after one
#                         untimed warm-up round
# Environment:
#   QINIT=/path/qinit     the binary to time (default: the static release build, built first)
#   CSV=/path/runs.csv    also write every run as CSV
#   KEEP=1                keep the files (each run's log; qinit runs with --debug)
# The server is dnsmasq in its own network namespace, sending router advertisements for
# fd00:99::/64 (SLAAC, O flag: stateless DHCPv6) with RDNSS, and answering DHCPv6
# Information-Requests, both with the name server fd00:99::1. Each run: a new veth pair
# (vc0 down, IPv6 state as the kernel makes it) and a new dnsmasq, the client started,
# vc0 brought up (by the client, or by bench/ipv6_timing.py 0.3 s later), the clock
# started at vc0's carrier.
# Clients run in private mount, UTS and PID namespaces with /run, /var/lib/dhcpcd and
# /etc/resolv.conf replaced, as in bench/dhcp.sh.
# Needs root. Traffic stays on a veth pair between two network namespaces made here.
set -eu

N=${1:-10}
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
TIMING=$ROOT/bench/ipv6_timing.py
PY=/usr/bin/python3
APT_PACKAGES="dnsmasq-base dhcpcd-base iproute2 python3 util-linux procps"
SRV=qinit-bench6-$$-srv
CLI=qinit-bench6-$$-cli
NET=10.78.0
CLIENTS="qinit dhcpcd kernel"

say() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }
# shellcheck source=bench/veth.sh
. "$ROOT/bench/veth.sh"

case $N in ''|*[!0-9]*|0) die "usage: $0 [N]  (N a positive number of runs)" ;; esac
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, dnsmasq)"

install_missing $APT_PACKAGES

qinit_binary
DHCPCD=$(command -v dhcpcd || echo /usr/sbin/dhcpcd)

if [ -d /dev/shm ]; then TMP=$(mktemp -d /dev/shm/qinit-bench6.XXXXXX); else TMP=$(mktemp -d); fi
DNSMASQ_PID=""
DNSMASQ_LOG=/dev/null
if [ -n "${KEEP:-}" ]; then DNSMASQ_LOG=$TMP/dnsmasq.log; fi
cleanup() {
    set +e
    [ -n "$DNSMASQ_PID" ] && kill "$DNSMASQ_PID" 2>/dev/null && wait "$DNSMASQ_PID" 2>/dev/null
    veth_gone
    if [ -n "${KEEP:-}" ]; then say "files kept in $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# As bench/dhcp.sh's: "$@" in the client namespace, in mount, UTS and PID namespaces of
# its own, /etc/resolv.conf bound to $TMP/resolv.conf (dhcpcd's hook writes it).
in_client() {
    ip netns exec "$CLI" unshare --uts --pid --fork --mount-proc sh -ec '
        if [ -f /etc/resolv.conf ]; then mount --bind "$0" /etc/resolv.conf; fi
        for d in /run /var/lib/dhcpcd /var/lib/dhcp; do
            if [ -d "$d" ]; then mount -t tmpfs qinit-bench "$d"; fi
        done
        exec "$@"' "$TMP/resolv.conf" "$@"
}

# IPv6 on in both namespaces (veth_pair turns it off), so on every link made after.
ipv6_on() {
    for ns in "$SRV" "$CLI"; do
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0
    done
}

# A new veth pair: the kernel keeps a link's IPv6 state across down/up and even
# disable_ipv6 (the last router advertisement's M and O flags, which qinit reads at once;
# the sysctls a client changed), so every run gets links of its own, vc0 as the kernel
# makes it. vs0 gets fd00:99::1 and no DAD, so that its link-local address, from which
# router advertisements go, is usable at once.
new_pair() {
    ip -n "$SRV" link del vs0 2>/dev/null || true
    ip link add vs0 netns "$SRV" type veth peer name vc0 netns "$CLI"
    ip netns exec "$SRV" sysctl -qw net.ipv6.conf.vs0.accept_dad=0
    ip -n "$SRV" addr add fd00:99::1/64 dev vs0 nodad
    ip -n "$SRV" link set vs0 up
}

start_dnsmasq() {
    # ra-param: unsolicited advertisements 600 s apart once dnsmasq settles, so that
    # what reaches a client answers its solicitation. dnsmasq still sends some of its
    # own: 0-5 s after it starts, 1 s after a route change (as vc0's carrier brings
    # vs0's), then 5-20 s apart for a minute (src/radv.c); they can shorten a slow
    # client's wait.
    ip netns exec "$SRV" dnsmasq --no-daemon --conf-file=/dev/null --port=0 \
        --interface=vs0 --bind-interfaces --enable-ra --ra-param=vs0,600 \
        --dhcp-range=::,constructor:vs0,ra-stateless,64 \
        --dhcp-option=option6:dns-server,[fd00:99::1] \
        --dhcp-leasefile="$TMP/dnsmasq.leases" --pid-file= ${KEEP:+--log-dhcp} --log-facility="$DNSMASQ_LOG" \
        2>>"$TMP/dnsmasq.err" &
    DNSMASQ_PID=$!
    for i in $(seq 250); do
        if [ -n "$(ip netns exec "$SRV" ss -Hlun 'sport = :547')" ]; then return 0; fi
        sleep 0.02
    done
    die "dnsmasq did not open port 547 (see its errors: $(cat "$TMP/dnsmasq.err"))"
}

# Every client starts alike: a fresh dnsmasq on a fresh pair, vc0 down, empty
# resolv.conf files.
reset() {
    if [ -n "$DNSMASQ_PID" ]; then kill "$DNSMASQ_PID"; wait "$DNSMASQ_PID" || true; fi
    DNSMASQ_PID=""
    new_pair
    start_dnsmasq
    : > "$TMP/resolv.conf"
    rm -rf "$TMP/etc"
    mkdir "$TMP/etc"
}

client_cmd() {
    case $1 in
        qinit) echo "$QINIT dhcp vc0 -6 --etc $TMP/etc${KEEP:+ --debug}" ;;
        dhcpcd) echo "$DHCPCD -f $TMP/dhcpcd.conf -6 -B vc0" ;;
        kernel) echo "" ;;
    esac
}

resolv_of() {
    case $1 in
        qinit) echo "$TMP/etc/resolv.conf" ;;
        *) echo "$TMP/resolv.conf" ;;
    esac
}

# One timed run of client $1; $2 is the run number (0: warm-up), $3 the CSV to append to.
run_one() {
    local cmd
    reset
    cmd=$(client_cmd "$1")
    # shellcheck disable=SC2086
    in_client "$PY" "$TIMING" run "$3" "$1" "$2" "$TMP/logs/$1-$2.log" vc0 "$(resolv_of "$1")" \
        ${cmd:+-- $cmd} \
        || say "$1 run $2 failed: $(tail -n 3 "$TMP/logs/$1-$2.log" | tr '\n' ' ')"
}

say "namespaces $SRV (dnsmasq, vs0 fd00:99::1/64) and $CLI (clients, vc0), files in $TMP"
mkdir -p "$TMP/logs"
: > "$TMP/resolv.conf"
# dhcpcd: no random initial delay (up to 1 s); the rest its defaults (RA handled by
# dhcpcd itself, stateless DHCPv6 on the O flag, resolv.conf by its 20-resolv.conf hook).
printf 'nodelay\n' > "$TMP/dhcpcd.conf"
veth_pair
ipv6_on

for c in $CLIENTS; do say "$c: $(client_cmd "$c")"; done
say "warm-up round (not counted)"
for c in $CLIENTS; do run_one "$c" 0 "$TMP/warmup.csv"; done
for run in $(seq "$N"); do
    say "round $run of $N"
    for c in $CLIENTS; do run_one "$c" "$run" "$TMP/runs.csv"; done
done

echo
"$PY" "$TIMING" report "$TMP/runs.csv" ${CSV:+"$CSV"}
