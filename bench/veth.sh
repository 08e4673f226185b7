# Sourced by bench/dhcp.sh, bench/flood.sh and bench/ipv6.sh: what both need to run `qinit dhcp` on a
# veth pair between two network namespaces of their own. The caller sets ROOT, SRV, CLI
# and NET, and defines say and die.

# Installs those of the Debian packages "$@" that are missing.
install_missing() {
    local missing="" p
    for p in "$@"; do
        if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]; then
            missing="$missing $p"
        fi
    done
    [ -n "$missing" ] || return 0
    say "apt-get update"
    apt-get update -qq
    say "apt-get install$missing"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
}

# QINIT: the binary to measure; by default the static release build, built first.
qinit_binary() {
    if [ -z "${QINIT:-}" ]; then
        say "./build.sh binary (the static binary the image gets)"
        QINIT=$("$ROOT/build.sh" binary | tail -n 1)
    fi
    [ -x "$QINIT" ] || die "$QINIT: not an executable"
    QINIT=$(readlink -f "$QINIT")
}

# Namespaces $SRV (vs0, $NET.1/24, up) and $CLI (vc0, down), IPv6 off, lo up.
veth_pair() {
    ip netns add "$SRV"
    ip netns add "$CLI"
    for ns in "$SRV" "$CLI"; do
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        ip -n "$ns" link set lo up
    done
    ip link add vs0 netns "$SRV" type veth peer name vc0 netns "$CLI"
    ip -n "$SRV" addr add "$NET.1/24" dev vs0
    ip -n "$SRV" link set vs0 up
}

# Brings vc0 up and waits (up to 5 s) for its carrier and for vs0 to have its qdisc
# (before that, what the server side sends is dropped).
vc0_up() {
    ip -n "$CLI" link set vc0 up
    for _ in $(seq 250); do
        if ip -n "$CLI" link show vc0 2>/dev/null | grep -q LOWER_UP \
            && ! ip -n "$SRV" link show vs0 | grep -q 'qdisc noop'; then
            return 0
        fi
        sleep 0.02
    done
    die "vc0 has no carrier"
}

# Removes both namespaces (and so the pair); for the caller's cleanup.
veth_gone() {
    ip netns del "$CLI" 2>/dev/null
    ip netns del "$SRV" 2>/dev/null
}
