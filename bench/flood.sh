#!/usr/bin/env bash
# What a flood of DHCP replies costs `qinit dhcp IFACE` while it looks for a lease.
#   bench/flood.sh [RATE [COUNT]]   COUNT replies of each kind (default 100000) at RATE a
#                                   second (default 20000)
# Environment:
#   QINIT=/path/qinit     the binary to measure (default: the static release build, built first)
#   KINDS="foreign ..."   which kinds of reply to send (default: foreign stale ours; see
#                         bench/flood_send.py)
#   FLOOR=1               also run bench/floor_reader.c (built with cc) on the same link:
#                         one packet socket, one wakeup and one read per reply, no parsing;
#                         what any client pays for a reply the kernel cannot drop for it
# No server answers: the client stays in SELECTING, with its packet socket open, as at
# boot on a link where another host floods. The flooder learns the client's xid and MAC
# from its DISCOVER and broadcasts replies that the client must all drop. For each kind
# it prints the client's CPU time (utime + stime from /proc/PID/stat, before and after)
# per reply sent, and the share of a core the client used meanwhile.
# Needs root. Traffic stays on a veth pair between two network namespaces made here.
set -eu

RATE=${1:-20000}
COUNT=${2:-100000}
KINDS=${KINDS:-foreign stale ours}
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
SEND=$ROOT/bench/flood_send.py
PY=/usr/bin/python3
SRV=qinit-flood-$$-srv
CLI=qinit-flood-$$-cli
NET=10.78.0

say() { echo "flood: $*" >&2; }
die() { echo "flood: error: $*" >&2; exit 1; }
# shellcheck source=bench/veth.sh
. "$ROOT/bench/veth.sh"

case $RATE in ''|*[!0-9]*|0) die "usage: $0 [RATE [COUNT]]  (positive numbers)" ;; esac
case $COUNT in ''|*[!0-9]*|0) die "usage: $0 [RATE [COUNT]]  (positive numbers)" ;; esac
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
command -v ip >/dev/null || die "needs ip (iproute2)"
[ -x "$PY" ] || die "needs $PY"

qinit_binary

TMP=$(mktemp -d)
CLIENT_PID=""
FLOOR_PID=""
cleanup() {
    set +e
    [ -n "$CLIENT_PID" ] && kill "$CLIENT_PID" 2>/dev/null && wait "$CLIENT_PID" 2>/dev/null
    [ -n "$FLOOR_PID" ] && kill "$FLOOR_PID" 2>/dev/null && wait "$FLOOR_PID" 2>/dev/null
    veth_gone
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "namespaces $SRV (flooder, vs0 $NET.1/24) and $CLI (qinit dhcp vc0)"
veth_pair
vc0_up

# `ip netns exec` execs: $! is qinit's own pid.
ip netns exec "$CLI" "$QINIT" dhcp vc0 >"$TMP/qinit.out" 2>"$TMP/qinit.err" </dev/null &
CLIENT_PID=$!
PIDS=$CLIENT_PID
if [ "${FLOOR:-0}" = 1 ]; then
    command -v cc >/dev/null || die "FLOOR=1 needs cc"
    cc -O2 -o "$TMP/floor_reader" "$ROOT/bench/floor_reader.c" || die "building floor_reader"
    ip netns exec "$CLI" "$TMP/floor_reader" vc0 &
    FLOOR_PID=$!
    PIDS=$CLIENT_PID,$FLOOR_PID
fi
say "qinit dhcp vc0 (pid $CLIENT_PID); $COUNT replies of each kind at $RATE/s"
# The flooder learns the xid from a retransmitted DISCOVER (the first leaves at once).
ip netns exec "$SRV" "$PY" "$SEND" vs0 "$NET.1" "$PIDS" "$RATE" "$COUNT" $KINDS >"$TMP/flood.txt" \
    || die "the flooder failed"
kill -0 "$CLIENT_PID" 2>/dev/null || die "qinit dhcp died: $(tail -n 5 "$TMP/qinit.err")"
if [ -s "$TMP/qinit.out" ]; then die "qinit dhcp took a lease from the flood: $(cat "$TMP/qinit.out")"; fi

echo
printf '%-8s %9s %8s %10s %12s %9s %14s\n' kind replies seconds "client ms" "us/reply" "CPU load" "floor us/reply"
while read -r kind sent seconds cpu floor; do
    awk -v k="$kind" -v n="$sent" -v s="$seconds" -v c="$cpu" -v f="${floor:-}" 'BEGIN {
        printf "%-8s %9d %8.2f %10.1f %12.2f %8.0f%%", k, n, s, c / 1000, c / n, 100 * c / 1e6 / s
        if (f != "") printf " %14.2f", f / n
        printf "\n" }'
done < "$TMP/flood.txt"
