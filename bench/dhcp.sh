#!/usr/bin/env bash
# Time to lease: `qinit dhcp IFACE --once` against busybox udhcpc, dhcpcd and dhclient.
#   bench/dhcp.sh [N]     N timed runs per client (default 10), interleaved, after one
#                         untimed warm-up round
# Environment:
#   QINIT=/path/qinit     the binary to time (default: the static release build, built first)
#   CSV=/path/runs.csv    also write every run, with its breakdown, as CSV
#   QINIT_ALT=/path/qinit a second qinit binary, timed as client "qinit-alt" (to try a change)
# Each run: dnsmasq restarted with an empty lease file, the client's address flushed and
# its link taken down and up, so every client does a full DISCOVER/OFFER/REQUEST/ACK.
# Clients run in private mount, UTS and PID namespaces with /run, /var/lib/dhcpcd,
# /var/lib/dhcp and /etc/resolv.conf replaced, so nothing they write reaches the host and
# nothing they leave running outlives their run.
# Needs root. Traffic stays on a veth pair between two network namespaces made here.
set -eu

N=${1:-10}
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
TIMING=$ROOT/bench/dhcp_timing.py
PY=/usr/bin/python3
APT_PACKAGES="dnsmasq-base busybox-static dhcpcd-base isc-dhcp-client iproute2 tcpdump python3 util-linux"
SRV=qinit-bench-$$-srv
CLI=qinit-bench-$$-cli
NET=10.77.0
CLIENTS="qinit udhcpc dhcpcd dhclient${QINIT_ALT:+ qinit-alt}"

say() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }
# shellcheck source=bench/veth.sh
. "$ROOT/bench/veth.sh"

case $N in ''|*[!0-9]*|0) die "usage: $0 [N]  (N a positive number of runs)" ;; esac
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, dnsmasq, packet capture)"

install_missing $APT_PACKAGES

qinit_binary
if [ -n "${QINIT_ALT:-}" ]; then
    [ -x "$QINIT_ALT" ] || die "QINIT_ALT=$QINIT_ALT: not an executable"
    QINIT_ALT=$(readlink -f "$QINIT_ALT")
fi
BUSYBOX=$(command -v busybox)
DHCPCD=$(command -v dhcpcd || echo /usr/sbin/dhcpcd)
DHCLIENT=$(command -v dhclient || echo /sbin/dhclient)

# On tmpfs when there is one: dnsmasq fsyncs its lease file, and a disk adds its latency.
if [ -d /dev/shm ]; then TMP=$(mktemp -d /dev/shm/qinit-bench.XXXXXX); else TMP=$(mktemp -d); fi
DNSMASQ_PID=""
TCPDUMP_PID=""
cleanup() {
    set +e
    [ -n "$DNSMASQ_PID" ] && kill "$DNSMASQ_PID" 2>/dev/null && wait "$DNSMASQ_PID" 2>/dev/null
    [ -n "$TCPDUMP_PID" ] && kill "$TCPDUMP_PID" 2>/dev/null && wait "$TCPDUMP_PID" 2>/dev/null
    veth_gone
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Run "$@" in the client namespace, in mount, UTS and PID namespaces of its own. The PID
# namespace ends with "$@": the daemon dhclient leaves behind once it has its lease, and
# any helper process of a client, are killed and reaped by the kernel then.
in_client() {
    ip netns exec "$CLI" unshare --uts --pid --fork --mount-proc sh -ec '
        if [ -f /etc/resolv.conf ]; then mount --bind "$0" /etc/resolv.conf; fi
        for d in /run /var/lib/dhcpcd /var/lib/dhcp; do
            if [ -d "$d" ]; then mount -t tmpfs qinit-bench "$d"; fi
        done
        exec "$@"' "$TMP/resolv.conf" "$@"
}

start_dnsmasq() {
    : > "$TMP/dnsmasq.leases"
    ip netns exec "$SRV" dnsmasq --no-daemon --conf-file=/dev/null --port=0 --no-ping \
        --interface=vs0 --bind-interfaces --dhcp-range=$NET.100,$NET.200,2m \
        --dhcp-leasefile="$TMP/dnsmasq.leases" --pid-file= --log-facility=/dev/null \
        2>>"$TMP/dnsmasq.err" &
    DNSMASQ_PID=$!
    for i in $(seq 250); do
        if [ -n "$(ip netns exec "$SRV" ss -Hlun 'sport = :67')" ]; then return 0; fi
        sleep 0.02
    done
    die "dnsmasq did not open port 67 (see its errors: $(cat "$TMP/dnsmasq.err"))"
}

# Every client starts alike: fresh server, no address, link just up with carrier.
reset() {
    if [ -n "$DNSMASQ_PID" ]; then kill "$DNSMASQ_PID"; wait "$DNSMASQ_PID" || true; fi
    ip -n "$CLI" addr flush dev vc0
    ip -n "$CLI" link set vc0 down
    ip -n "$SRV" neigh flush dev vs0
    vc0_up
    start_dnsmasq
}

client_cmd() {
    case $1 in
        qinit) echo "$QINIT dhcp vc0 --once --timeout 20" ;;
        qinit-alt) echo "$QINIT_ALT dhcp vc0 --once --timeout 20" ;;
        udhcpc) echo "$BUSYBOX udhcpc -q -n -f -i vc0 -s /bin/true" ;;
        dhcpcd) echo "$DHCPCD -f $TMP/dhcpcd.conf -c /bin/true -1 -4 -B vc0" ;;
        dhclient) echo "$DHCLIENT -1 -4 -cf $TMP/dhclient.conf -sf /bin/true -lf $TMP/dhclient.leases -pf $TMP/dhclient.pid vc0" ;;
    esac
}

# One timed run of client $1; $2 is the run number (0: warm-up), $3 the CSV to append to.
run_one() {
    reset
    rm -f "$TMP/dhclient.leases" "$TMP/dhclient.pid"
    # shellcheck disable=SC2046
    in_client "$PY" "$TIMING" run "$3" "$1" "$2" "$TMP/logs/$1-$2.log" -- $(client_cmd "$1") \
        || say "$1 run $2 failed: $(tail -n 3 "$TMP/logs/$1-$2.log" | tr '\n' ' ')"
}

say "namespaces $SRV (dnsmasq, vs0 $NET.1/24) and $CLI (clients, vc0), files in $TMP"
mkdir -p "$TMP/logs"
: > "$TMP/resolv.conf"
: > "$TMP/dhclient.conf"
# dhcpcd: no random initial delay (up to 1 s) and no ARP probe of the lease (about 5 s);
# qinit does neither.
printf 'nodelay\nnoarp\n' > "$TMP/dhcpcd.conf"
veth_pair

ip netns exec "$SRV" tcpdump -Z root -i vs0 -n --immediate-mode --time-stamp-precision=nano \
    -w "$TMP/dhcp.pcap" udp port 67 or udp port 68 2>"$TMP/tcpdump.err" &
TCPDUMP_PID=$!
for i in $(seq 250); do grep -q 'listening on' "$TMP/tcpdump.err" && break; sleep 0.02; done
grep -q 'listening on' "$TMP/tcpdump.err" || die "tcpdump did not start: $(cat "$TMP/tcpdump.err")"

for c in $CLIENTS; do say "$c: $(client_cmd "$c")"; done
say "warm-up round (not counted)"
for c in $CLIENTS; do run_one "$c" 0 "$TMP/warmup.csv"; done
for run in $(seq "$N"); do
    say "round $run of $N"
    for c in $CLIENTS; do run_one "$c" "$run" "$TMP/runs.csv"; done
done
sleep 0.1
kill "$TCPDUMP_PID"
wait "$TCPDUMP_PID" || true
TCPDUMP_PID=""

echo
"$PY" "$TIMING" report "$TMP/runs.csv" "$TMP/dhcp.pcap" ${CSV:+"$CSV"}
