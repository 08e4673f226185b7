#!/usr/bin/env bash
# Boot speed and size: qinit against busybox init + udhcpc, same kernel and modules.
#   qemu/bench.sh [N]   boot each image N times (default 10), alternating, under TCG
# Environment:
#   NIC=e1000|virtio   the guest's network card: e1000 (default, -device e1000) or virtio
#               (-device virtio-net-pci; the baseline insmods virtio_pci, unless built in,
#               and virtio_net with their dependencies, as it does e1000). virtio_net logs
#               neither probe nor link: its "eth0 probed" row stays empty, and carrier is
#               qinit's own "eth0: carrier up" (the baseline's only with BASELINE=tuned,
#               which waits for it and says when)
#   MACHINE=pc|microvm   pc (default), or qemu's microvm (-M microvm,acpi=on): no PCI,
#               virtio-net-device and virtio-rng-device on virtio-mmio (NIC is then
#               virtio; the baseline insmods virtio_mmio and virtio_net); the kernel
#               gets tsc_early_khz=<the host's> (both images), as tests/nics.rs gives it:
#               microvm has no timer to calibrate the TSC against on a loaded host
#   APPEND="words"   more kernel command line, for both images (e.g. qinit.ipv6=off)
#   CSV=path    every boot's figures (default out/bench.csv; out/bench-virtio.csv for virtio,
#               out/bench-microvm.csv for microvm)
#   SVG=path    timeline of the median boot of each image (default out/boot-timeline.svg;
#               out/boot-timeline-virtio.svg for virtio)
#   LOGS=dir    the console logs (default out/bench-logs; out/bench-logs-virtio for virtio)
#   BASELINE=classic|tuned   classic (default): busybox init, udhcpc and the classic
#               script, as commonly set up; tuned: eth0 brought up in qinit's order
#               (IPv6 held until the lease, DISCOVER after carrier; see /etc/start there)
# The baseline is out/stage (the same busybox, modules and /etc, the modules plain .ko as
# busybox needs them) with busybox init as /init and the files in qemu/bench/busybox/ (inittab, /etc/start, udhcpc's script)
# instead of qinit. Both images get qemu/bench/shell-marker appended to /etc/profile
# (for qinit as a second cpio archive after out/initrd, whatever its compression:
# COMPRESS= goes to build.sh; the baseline stays gzip -9, as commonly set up). The driver
# (qemu/bench/boot.py) types commands on the serial console; report.py reads the logs.
# Needs root (as build.sh does: device nodes in the image).
set -eu

say() { echo "bench: $*"; }
die() { echo "bench: error: $*" >&2; exit 1; }

N=${1:-10}
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
OUT=$ROOT/out
STAGE=$OUT/stage
BENCH=$ROOT/qemu/bench
MACHINE=${MACHINE:-pc}
case $MACHINE in
    pc) NIC=${NIC:-e1000} ;;
    microvm) [ "${NIC:-virtio}" = virtio ] || die "MACHINE=microvm has only NIC=virtio"
        NIC=microvm ;;  # boot.py's and report.py's name for virtio-net on microvm
    *) die "MACHINE=$MACHINE: pc or microvm" ;;
esac
# NIC_MODULES: what the baseline loads for the card, in this order (each after the
# dependencies modules.dep gives it); SUFFIX keeps the default outputs of each card apart.
case $NIC in
    e1000) NIC_MODULES="e1000" SUFFIX="" ;;
    virtio) NIC_MODULES="virtio_pci virtio_net" SUFFIX="-virtio" ;;
    microvm) NIC_MODULES="virtio_mmio virtio_net" SUFFIX="-microvm" ;;
    *) die "NIC=$NIC: e1000 or virtio" ;;
esac
CSV=${CSV:-$OUT/bench$SUFFIX.csv}
SVG=${SVG:-$OUT/boot-timeline$SUFFIX.svg}
LOGS=${LOGS:-$OUT/bench-logs$SUFFIX}
QINIT=$STAGE/init  # the binary in the image, as build.sh installed it
BASELINE=${BASELINE:-classic}

case $N in ''|*[!0-9]*|0) die "usage: $0 [N]  (N a positive number of boots per image)" ;; esac
case $BASELINE in
    classic) TITLE="busybox init + udhcpc" ;;
    tuned) TITLE="busybox, tuned" ;;
    *) die "BASELINE=$BASELINE: classic or tuned" ;;
esac
[ "$(id -u)" = 0 ] || die "needs root (device nodes in the baseline image)"
command -v python3 >/dev/null || die "python3 not found"

mkdir -p "$LOGS" "$(dirname "$CSV")" "$(dirname "$SVG")"
say "./build.sh (output in ${LOGS#"$ROOT"/}/build.log)"
"$ROOT/build.sh" > "$LOGS/build.log" 2>&1 || { tail -20 "$LOGS/build.log"; die "./build.sh failed"; }

# A build with other profile settings (cargo bloat, say) can leave debug info in it.
if file "$QINIT" | grep -q 'not stripped'; then say "warning: $QINIT is not stripped"; fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# pack DIR FILE: the tree as a gzip -9 newc cpio, as build.sh packs the image.
pack() {
    (cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -9) > "$2"
}

say "qinit image: out/initrd ($(readlink "$OUT/initrd")) + /etc/profile with the shell marker"
mkdir -p "$TMP/qinit-extra/etc"
cat "$STAGE/etc/profile" "$BENCH/shell-marker" > "$TMP/qinit-extra/etc/profile"
pack "$TMP/qinit-extra" "$TMP/qinit-extra.cpio.gz"
cat "$OUT/initrd" "$TMP/qinit-extra.cpio.gz" > "$TMP/qinit.cpio.gz"

say "busybox image ($BASELINE): out/stage without qinit, /init -> busybox init, qemu/bench/busybox/etc"
B=$TMP/busybox-root
cp -a "$STAGE" "$B"
rm -f "$B/init" "$B/bin/qinit"
ln -s bin/busybox "$B/init"
# busybox --install's /sbin/modprobe, which qinit's image leaves to PID 1 to make.
ln -sfn /bin/busybox "$B/sbin/modprobe"
cp -a "$BENCH/busybox/." "$B/"
chmod 755 "$B/etc/start" "$B/etc/udhcpc/default.script"
cat "$STAGE/etc/profile" "$BENCH/shell-marker" > "$B/etc/profile"
if [ "$BASELINE" = tuned ]; then touch "$B/etc/bench-tuned"; fi
if [ "$NIC" != e1000 ]; then touch "$B/etc/bench-virtio"; fi  # no e1000 autonegotiation
KVER=$(ls "$STAGE/lib/modules")
MODDIR=$STAGE/lib/modules/$KVER
# Its modules plain, as in such images: busybox's modprobe and insmod cannot read the
# .ko.zst that build.sh makes of the modules no boot waits for (and qinit reads).
find "$B/lib/modules" -name '*.ko.zst' -exec zstd -q -d --rm {} +
depmod -b "$B" "$KVER"
# The card's modules not built into the kernel (e1000: e1000; virtio: virtio_pci, a module
# in Debian's kernel, then virtio_net), each after its dependencies, the last listed in
# modules.dep loaded first, each once (virtio and virtio_ring serve both).
load=""
for m in $NIC_MODULES; do
    if grep -Eq "/$m\.ko(\.[a-z]+)?\$" "$MODDIR/modules.builtin" 2>/dev/null; then
        say "  $m is built into the kernel"
    else
        load="$load $m"
    fi
done
awk -v dir="/lib/modules/$KVER" -v want="$load" '
    function name(path) { sub(":$", "", path); sub(".*/", "", path); sub("\\.ko(\\.[a-z]+)?$", "", path)
        gsub("-", "_", path); return path }
    { deps[name($1)] = $0 }
    function add(path) { sub(":$", "", path); if (!(path in done)) { done[path] = 1; print dir "/" path } }
    END {
        n = split(want, w, " ")
        for (j = 1; j <= n; j++) {
            if (!(w[j] in deps)) { print w[j] ".ko not in modules.dep" > "/dev/stderr"; exit 1 }
            k = split(deps[w[j]], f, " ")
            for (i = k; i >= 2; i--) add(f[i])
            add(f[1])
        }
    }' "$MODDIR/modules.dep" > "$B/etc/bench-modules" \
    || die "$NIC_MODULES: not all in out/stage/lib/modules/$KVER/modules.dep"
if [ -s "$B/etc/bench-modules" ]; then
    say "  insmod $(tr '\n' ' ' < "$B/etc/bench-modules")"
else
    say "  insmod nothing: $NIC_MODULES built in"
fi
pack "$B" "$TMP/busybox.cpio.gz"

rm -f "$LOGS"/qinit-*.log "$LOGS"/busybox-*.log
say "$N boots of each image, alternating (TCG, about 10 s each)"
failed=0
for i in $(seq 1 "$N"); do
    for image in qinit busybox; do
        log=$LOGS/$image-$(printf %02d "$i").log
        python3 "$BENCH/boot.py" "$OUT/vmlinuz" "$TMP/$image.cpio.gz" "$log" "$NIC" \
            || failed=$((failed + 1))
        python3 "$BENCH/report.py" line "$log" "$NIC"
    done
done
[ "$failed" = 0 ] || say "warning: $failed boot(s) did not answer: see $LOGS"

python3 "$BENCH/report.py" table "$LOGS" "$CSV" "$SVG" "$TITLE" "$NIC"

row() { printf '%-34s %10s %12s\n' "$@"; }
gz() { gzip -9c "$1" | wc -c; }
# tree_gz DIR: the image's gzip -9 size without lib/modules (the same in both).
tree_gz() {
    (cd "$1" && find . -path ./lib/modules -prune -o -print | LC_ALL=C sort \
        | cpio -o -H newc -R 0:0 --quiet | gzip -9 | wc -c)
}
echo
row "Sizes, bytes" file "gzip -9"
row "qinit binary (static)" "$(stat -c %s "$QINIT")" "$(gz "$QINIT")"
row "busybox binary (static)" "$(stat -c %s /bin/busybox)" "$(gz /bin/busybox)"
row "" "image" "gz w/o modules"
row "qinit image (out/$(readlink "$OUT/initrd"))" "$(stat -L -c %s "$OUT/initrd")" "$(tree_gz "$STAGE")"
row "busybox image ($BASELINE)" "$(stat -c %s "$TMP/busybox.cpio.gz")" "$(tree_gz "$B")"
echo "(the qinit image also holds busybox, for the shell and its applets)"
echo
say "CSV: $CSV"
say "SVG: $SVG"
say "logs: $LOGS"
