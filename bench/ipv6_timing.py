#!/usr/bin/env python3
"""Timing and report for bench/ipv6.sh (standard library only).

  ipv6_timing.py run RUNS.csv CLIENT RUN LOG IFACE RESOLV [-- CMD...]
      Start CMD if given (stdin /dev/null, stdout and stderr to LOG), bring IFACE up
      0.3 s later if the client has not, and poll every millisecond: IFACE's carrier
      (/sys/class/net), its global addresses (/proc/net/if_inet6) and RESOLV (for
      DNS_SERVER). Append one row to RUNS.csv with the times from carrier, in ns: to a
      usable global address (optimistic counts), to one with DAD done, to the name server
      in RESOLV. Stop when both the DAD-done address and the name server are there (or,
      without CMD, the address alone), or after TIMEOUT_S; then end CMD (SIGTERM).
  ipv6_timing.py report RUNS.csv [OUT.csv]
      Print the table: medians per client.
"""

import csv
import os
import signal
import statistics
import subprocess
import sys
import time

TIMEOUT_S = 15
DNS_SERVER = "fd00:99::1"
FIELDS = ["client", "run", "exit", "usable_ns", "address_ns", "dns_ns"]
IFA_F_OPTIMISTIC = 0x04
IFA_F_DADFAILED = 0x08
IFA_F_TENTATIVE = 0x40


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def addresses(iface):
    """(usable, dad_done): whether IFACE has a global address usable now (optimistic
    counts) and one whose DAD is over."""
    usable = done = False
    for line in read("/proc/net/if_inet6").splitlines():
        f = line.split()
        if len(f) != 6 or f[5] != iface or f[3] != "00":
            continue
        flags = int(f[4], 16)
        if flags & IFA_F_DADFAILED:
            continue
        if not flags & IFA_F_TENTATIVE:
            usable = done = True
        elif flags & IFA_F_OPTIMISTIC:
            usable = True
    return usable, done


def has_dns(resolv):
    return any(
        line.split()[1:2] == [DNS_SERVER]
        for line in read(resolv).splitlines()
        if line.startswith("nameserver")
    )


def run(runs_csv, client, run_no, log, iface, resolv, cmd):
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    pid = None
    t_spawn = time.monotonic_ns()
    if cmd:
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, fd, 1),
            (os.POSIX_SPAWN_DUP2, fd, 2),
            (os.POSIX_SPAWN_CLOSE, fd),
        ]
        pid = os.posix_spawn(cmd[0], cmd, os.environ, file_actions=actions)
    carrier = usable = address = dns = None
    raised = False
    code = 0
    while True:
        now = time.monotonic_ns()
        if now - t_spawn > TIMEOUT_S * 10**9:
            print(f"ipv6_timing: {client} run {run_no}: not ready within {TIMEOUT_S} s", file=sys.stderr)
            code = 1
            break
        if not raised and (pid is None or now - t_spawn > 300_000_000):
            raised = True
            if not int(read(f"/sys/class/net/{iface}/flags").strip() or "0", 16) & 1:
                subprocess.run(["ip", "link", "set", iface, "up"], check=True)
        if carrier is None:
            if read(f"/sys/class/net/{iface}/carrier").strip() == "1":
                carrier = now
            else:
                time.sleep(0.001)
                continue
        u, d = addresses(iface)
        if u and usable is None:
            usable = now
        if d and address is None:
            address = now
        if dns is None and has_dns(resolv):
            dns = now
        if address is not None and (dns is not None or not cmd):
            break
        if pid is not None:
            p, status = os.waitpid(pid, os.WNOHANG)
            if p:
                pid = None
                if os.waitstatus_to_exitcode(status) != 0:
                    print(f"ipv6_timing: {client} run {run_no}: exited with {status}", file=sys.stderr)
                    code = 1
                    break
        time.sleep(0.001)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 3
        while not os.waitpid(pid, os.WNOHANG)[0]:
            if time.monotonic() >= deadline:
                print(f"ipv6_timing: {client} run {run_no}: still running 3 s after SIGTERM: killing it", file=sys.stderr)
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                break
            time.sleep(0.01)
    os.close(fd)

    def since(t):
        return "" if t is None or carrier is None else t - carrier

    with open(runs_csv, "a", newline="") as f:
        csv.writer(f).writerow([client, run_no, code, since(usable), since(address), since(dns)])
    return code


def report(runs_csv, out_csv):
    rows = list(csv.DictReader(open(runs_csv), fieldnames=FIELDS))
    if out_csv:
        with open(out_csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(FIELDS)
            for r in rows:
                w.writerow([r[k] for k in FIELDS])
    clients = list(dict.fromkeys(r["client"] for r in rows))

    def med(vals):
        vals = [int(v) / 1e6 for v in vals if v != ""]
        return f"{statistics.median(vals):.0f}" if vals else "-"

    def spread(vals):
        vals = [int(v) / 1e6 for v in vals if v != ""]
        return f"{min(vals):.0f}-{max(vals):.0f}" if vals else "-"

    def both(r, key):
        if r[key] == "" or r["dns_ns"] == "":
            return ""
        return max(int(r[key]), int(r["dns_ns"]))

    print("Time from carrier, ms (medians of the runs that got there):")
    head = (
        f"{'client':<8} {'runs':>5} {'address':>9} {'DAD done':>9} {'DNS':>7} {'both':>7}"
        f" {'both, DAD':>10} {'both, min-max':>14}"
    )
    print(head)
    print("-" * len(head))
    for c in clients:
        rs = [r for r in rows if r["client"] == c]
        ok = sum(1 for r in rs if r["exit"] == "0")
        print(
            f"{c:<8} {f'{ok}/{len(rs)}':>5} {med(r['usable_ns'] for r in rs):>9}"
            f" {med(r['address_ns'] for r in rs):>9} {med(r['dns_ns'] for r in rs):>7}"
            f" {med(both(r, 'usable_ns') for r in rs):>7} {med(both(r, 'address_ns') for r in rs):>10}"
            f" {spread(both(r, 'usable_ns') for r in rs):>14}"
        )
    print()
    print("address: a global address usable (optimistic counts); DAD done: not tentative;")
    print(f"DNS: {DNS_SERVER} in the client's resolv.conf; both: the later of the two.")


def main(argv):
    if len(argv) >= 8 and argv[1] == "run":
        cmd = argv[9:] if len(argv) > 8 and argv[8] == "--" else []
        return run(argv[2], argv[3], argv[4], argv[5], argv[6], argv[7], cmd)
    if len(argv) in (3, 4) and argv[1] == "report":
        return report(argv[2], argv[3] if len(argv) == 4 else None) or 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
