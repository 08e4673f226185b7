#!/usr/bin/env bash
# Boot out/vmlinuz + out/initrd (the initramfs build.sh made) with the serial console on this terminal.
#   APPEND="words"  more kernel command line
#   QEMU_KVM=0      force TCG (default: KVM when /dev/kvm is usable, TCG otherwise)
#   extra arguments are passed to qemu-system-x86_64
set -euo pipefail

ROOT=$(dirname "$(dirname "$(readlink -f "$0")")")
OUT=$ROOT/out
for f in "$OUT/vmlinuz" "$OUT/initrd"; do
    [ -f "$f" ] || { echo "qemu: $f missing: run ./build.sh first" >&2; exit 1; }
done

# KVM when the host has it: `-accel kvm -accel tcg` lets qemu fall back to TCG by itself
# if KVM cannot start; `-cpu max` is the most a guest can get from either.
if [ "${QEMU_KVM:-}" = 0 ]; then
    accel=(-accel tcg)
    echo "qemu: TCG (QEMU_KVM=0)"
elif [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
    accel=(-accel kvm -accel tcg -cpu max)
    echo "qemu: KVM (/dev/kvm is usable; qemu falls back to TCG if it cannot start it)"
else
    accel=(-accel tcg)
    echo "qemu: TCG (no usable /dev/kvm)"
fi

echo "qemu: booting ${OUT}/vmlinuz (append: console=ttyS0 ${APPEND:-})"
echo "qemu: Ctrl-A x to quit"
exec qemu-system-x86_64 -m 256M -nographic -serial mon:stdio -no-reboot \
    "${accel[@]}" \
    -kernel "$OUT/vmlinuz" -initrd "$OUT/initrd" \
    -append "console=ttyS0 ${APPEND:-}" \
    -netdev user,id=n0 -device e1000,netdev=n0 -device virtio-rng-pci \
    "$@"
