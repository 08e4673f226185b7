#!/usr/bin/env python3
"""One timed boot for qemu/bench.sh (standard library only).

  boot.py KERNEL INITRD LOG [NIC]

Boots KERNEL and INITRD under TCG with NIC (e1000, the default, or virtio: qemu's
virtio-net-pci, both on `-M pc`; or microvm: `-M microvm,acpi=on` with virtio-net-device
and virtio-rng-device on virtio-mmio) on qemu's user network and the console on a pty,
saves everything the console prints to LOG, and drives it like a user at the keyboard:
  - from the kernel's "Run /init" line on, types `echo BENCH cmd $(cut ...)` every
    PROBE_S seconds until one answers (typed-ahead lines wait in the tty until the shell
    reads them, so the first answer is the first command the shell ran);
  - once the console is quiet, types one line that prints PID 1's VmHWM, VmRSS, Rss
    and Pss and the guest's MemAvailable;
  - then kills the qemu it started, by its pid.
Exit status 0 when both answers came, 1 otherwise (LOG then says how far it got).
"""

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

APPEND = "console=ttyS0"  # the same for both images; no `quiet`: the kernel's lines are data
BOOT_TIMEOUT_S = 90
PROBE_S = 0.5
QUIET_S = 1.0
PROBE = b"echo BENCH cmd $(cut -d' ' -f1 /proc/uptime)\r"
# VmRSS and VmHWM as the issue asks; on this kernel (6.1) they come from per-task counters
# that a sleeping process may not have flushed, so smaps_rollup's Rss and Pss (a walk of
# the page tables) are taken too.
MEM = (b"echo BENCH mem $(grep -E 'VmRSS|VmHWM' /proc/1/status)"
       b" $(grep -E '^(Rss|Pss):' /proc/1/smaps_rollup) $(grep MemAvailable /proc/meminfo)\r")
RUN_INIT = re.compile(rb"Run /\S+ as init process")
CMD_ANSWER = re.compile(rb"BENCH cmd \d+\.\d+")
MEM_ANSWER = re.compile(rb"BENCH mem VmHWM:.*MemAvailable:\s+\d+ kB")
# NIC: (qemu's machine arguments, its NIC -device, its rng -device)
NIC_DEVICES = {
    "e1000": ([], "e1000", "virtio-rng-pci"),
    "virtio": ([], "virtio-net-pci", "virtio-rng-pci"),
    "microvm": (["-M", "microvm,acpi=on"], "virtio-net-device", "virtio-rng-device"),
}


def tsc_khz():
    """The host's TSC in kHz from /proc/cpuinfo, or None. microvm has no HPET or PM
    timer, and on a loaded host the kernel's quick TSC calibration against the PIT
    fails; it then marks the TSC unstable and stalls before /init. Under TCG the guest
    reads the host's TSC, so its frequency is the host's (as tests/nics.rs gives it)."""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("cpu MHz"):
                try:
                    return int(float(line.split(":")[1]) * 1000)
                except ValueError:
                    return None
    return None


def append(nic):
    """The kernel command line, the same for both images."""
    khz = tsc_khz() if nic == "microvm" else None
    extra = os.environ.get("APPEND", "").strip()
    return APPEND + (f" tsc_early_khz={khz}" if khz else "") + (f" {extra}" if extra else "")


def qemu_command(kernel, initrd, nic="e1000"):
    machine, card, rng = NIC_DEVICES[nic]
    return [
        "qemu-system-x86_64", "-accel", "tcg", *machine, "-m", "256M", "-no-reboot",
        "-nographic", "-serial", "mon:stdio",
        "-kernel", kernel, "-initrd", initrd, "-append", append(nic),
        "-netdev", "user,id=n0", "-device", f"{card},netdev=n0",
        "-device", rng,
    ]


class Console:
    """qemu on a pty; everything read is appended to the log file."""

    def __init__(self, cmd, log):
        self.fd, slave = pty.openpty()
        self.proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave,
                                     start_new_session=True)
        os.close(slave)
        self.log = log
        self.seen = b""
        self.last_data = time.monotonic()

    def read(self, timeout):
        """Reads what arrives within `timeout` seconds; False once qemu's side is closed."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:
            return False
        if not data:
            return False
        self.log.write(data)
        self.seen += data
        self.last_data = time.monotonic()
        return True

    def type(self, line):
        os.write(self.fd, line)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        os.close(self.fd)


def drive(con, deadline):
    """Returns the step that failed, or None."""
    next_probe = None
    while not CMD_ANSWER.search(con.seen):
        now = time.monotonic()
        if now > deadline:
            return "no answer to the first command"
        if next_probe is None and RUN_INIT.search(con.seen):
            next_probe = now
        if next_probe is not None and now >= next_probe:
            con.type(PROBE)
            next_probe = now + PROBE_S
        if not con.read(0.05):
            return "qemu exited before the first command ran"
    # Let the typed-ahead probes run out before the memory line.
    while time.monotonic() - con.last_data < QUIET_S:
        if time.monotonic() > deadline:
            return "console never went quiet"
        if not con.read(0.1):
            return "qemu exited"
    con.type(MEM)
    while not MEM_ANSWER.search(con.seen):
        if time.monotonic() > deadline:
            return "no answer to the memory line"
        if not con.read(0.1):
            return "qemu exited"
    return None


def main():
    if len(sys.argv) not in (4, 5) or (len(sys.argv) == 5 and sys.argv[4] not in NIC_DEVICES):
        sys.exit(f"usage: boot.py KERNEL INITRD LOG [{'|'.join(NIC_DEVICES)}]")
    kernel, initrd, log_path = sys.argv[1:4]
    nic = sys.argv[4] if len(sys.argv) == 5 else "e1000"
    start = time.monotonic()
    with open(log_path, "wb") as log:
        with open("/proc/loadavg") as f:  # other work on the host slows TCG down
            log.write(f"BENCH host load {f.read().split()[0]}\n".encode())
        con = Console(qemu_command(kernel, initrd, nic), log)
        try:
            failed = drive(con, start + BOOT_TIMEOUT_S)
        finally:
            con.kill()
        log.write(f"\nBENCH host {time.monotonic() - start:.2f} s\n".encode())
        if failed:
            log.write(f"BENCH failed: {failed}\n".encode())
    if failed:
        print(f"boot.py: {log_path}: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
