#!/usr/bin/env bash
# Boot out/vmlinuz + out/initramfs.cpio.gz with the serial console on this terminal.
#   APPEND="words"  more kernel command line
#   QEMU_KVM=1      use KVM if /dev/kvm is usable (default: TCG)
#   extra arguments are passed to qemu-system-x86_64
set -euo pipefail

ROOT=$(dirname "$(dirname "$(readlink -f "$0")")")
OUT=$ROOT/out
for f in "$OUT/vmlinuz" "$OUT/initramfs.cpio.gz"; do
    [ -f "$f" ] || { echo "qemu: $f missing: run ./build.sh first" >&2; exit 1; }
done

accel=()
if [ "${QEMU_KVM:-}" = 1 ]; then
    if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
        accel=(-enable-kvm -cpu host)
    else
        echo "qemu: /dev/kvm not usable, using TCG"
    fi
fi

echo "qemu: booting ${OUT}/vmlinuz (append: console=ttyS0 ${APPEND:-})"
echo "qemu: Ctrl-A x to quit"
exec qemu-system-x86_64 -m 256M -nographic -serial mon:stdio -no-reboot \
    "${accel[@]}" \
    -kernel "$OUT/vmlinuz" -initrd "$OUT/initramfs.cpio.gz" \
    -append "console=ttyS0 ${APPEND:-}" \
    -netdev user,id=n0 -device e1000,netdev=n0 -device virtio-rng-pci \
    "$@"
