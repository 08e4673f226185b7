#!/usr/bin/env python3
"""Timing and report for bench/dhcp.sh (standard library only).

  dhcp_timing.py run RUNS.csv CLIENT RUN LOG -- CMD...
      Start CMD (stdin /dev/null, stdout and stderr to LOG), wait for it to exit and
      append one row to RUNS.csv: the wall time on the monotonic clock, in ns, plus the
      start and end on the real-time clock (the clock of the capture's timestamps).
  dhcp_timing.py report RUNS.csv CAPTURE.pcap [OUT.csv]
      Print the tables: time to lease per client, and where the time went, from the
      DHCP packets captured at the server's end of the veth.
"""

import csv
import os
import signal
import statistics
import struct
import sys
import time

TIMEOUT_S = 30
FIELDS = ["client", "run", "exit", "wall_ns", "start_real_ns", "end_real_ns"]
SEGMENTS = [  # (column, title): times in ms, from the capture and the run's start and end
    ("start_discover", "start>DISCOVER"),
    ("discover_offer", "DISCOVER>OFFER"),
    ("offer_request", "OFFER>REQUEST"),
    ("request_ack", "REQUEST>ACK"),
    ("ack_exit", "ACK>exit"),
]


def run(runs_csv, client, run_no, log, cmd):
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, fd, 1),
        (os.POSIX_SPAWN_DUP2, fd, 2),
        (os.POSIX_SPAWN_CLOSE, fd),
    ]
    pid = None

    def on_alarm(_sig, _frame):
        print(f"dhcp_timing: {client} still running after {TIMEOUT_S} s: killing it", file=sys.stderr)
        os.kill(pid, signal.SIGKILL)

    signal.signal(signal.SIGALRM, on_alarm)
    start_real = time.time_ns()
    t0 = time.monotonic_ns()
    pid = os.posix_spawn(cmd[0], cmd, os.environ, file_actions=actions)
    signal.alarm(TIMEOUT_S)
    _, status = os.waitpid(pid, 0)
    t1 = time.monotonic_ns()
    end_real = time.time_ns()
    signal.alarm(0)
    os.close(fd)
    code = os.waitstatus_to_exitcode(status)
    with open(runs_csv, "a", newline="") as f:
        csv.writer(f).writerow([client, run_no, code, t1 - t0, start_real, end_real])
    return 0 if code == 0 else 1


def dhcp_packets(pcap):
    """Yields (time in ns, message type, xid) for each DHCP message in a pcap file."""
    with open(pcap, "rb") as f:
        data = f.read()
    magic = struct.unpack_from("<I", data, 0)[0]
    if magic not in (0xA1B2C3D4, 0xA1B23C4D):
        raise SystemExit(f"dhcp_timing: {pcap}: not a little-endian pcap file")
    frac_ns = 1 if magic == 0xA1B23C4D else 1000
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack_from("<IIII", data, off)
        pkt = data[off + 16 : off + 16 + incl]
        off += 16 + incl
        if len(pkt) < 14 + 20 or pkt[12:14] != b"\x08\x00":
            continue
        ihl = (pkt[14] & 0x0F) * 4
        if pkt[14 + 9] != 17:
            continue
        dhcp = pkt[14 + ihl + 8 :]
        if len(dhcp) < 240 or dhcp[236:240] != b"\x63\x82\x53\x63":
            continue
        i, mtype = 240, None
        while i + 1 < len(dhcp) and dhcp[i] != 255:
            if dhcp[i] == 0:
                i += 1
                continue
            if dhcp[i] == 53 and dhcp[i + 1] == 1 and i + 2 < len(dhcp):
                mtype = dhcp[i + 2]
            i += 2 + dhcp[i + 1]
        if mtype is not None:
            yield sec * 1_000_000_000 + frac * frac_ns, mtype, dhcp[4:8].hex()


def segments(row, packets):
    """Splits one run into the SEGMENTS (ms) from the packets seen during it; None where
    the exchange is incomplete."""
    start, end = int(row["start_real_ns"]), int(row["end_real_ns"])
    seen = [p for p in packets if start <= p[0] <= end]
    out = {"discovers": sum(1 for p in seen if p[1] == 1)}
    want, times = [1, 2, 3, 5], []  # DISCOVER, OFFER, REQUEST, ACK: each the first after the last
    for t, mtype, _xid in seen:
        if want and mtype == want[0]:
            times.append(t)
            want.pop(0)
    if want:
        return out
    marks = [start] + times + [end]
    for (name, _), a, b in zip(SEGMENTS, marks, marks[1:]):
        out[name] = (b - a) / 1e6
    out["server"] = out["discover_offer"] + out["request_ack"]
    return out


def report(runs_csv, pcap, out_csv=None):
    with open(runs_csv, newline="") as f:
        rows = list(csv.DictReader(f, fieldnames=FIELDS))
    packets = list(dhcp_packets(pcap))
    clients = list(dict.fromkeys(r["client"] for r in rows))
    for r in rows:
        r["ms"] = int(r["wall_ns"]) / 1e6
        r.update(segments(r, packets))
    med = {c: statistics.median(r["ms"] for r in rows if r["client"] == c) for c in clients}
    base = med.get("qinit")
    n = max(sum(1 for r in rows if r["client"] == c) for c in clients)

    print(f"time to lease: process start to exit, ms, {n} runs each")
    print(f"{'client':10} {'median':>8} {'min':>8} {'max':>8} {'/ qinit':>8}  failed")
    for c in clients:
        ms = [r["ms"] for r in rows if r["client"] == c]
        failed = sum(1 for r in rows if r["client"] == c and r["exit"] != "0")
        ratio = f"{med[c] / base:8.2f}" if base else f"{'-':>8}"
        print(f"{c:10} {med[c]:8.2f} {min(ms):8.2f} {max(ms):8.2f} {ratio}  {failed}")

    print()
    print("where the time went: medians, ms, from the capture at the server's veth")
    print(f"{'client':10}" + "".join(f" {title:>15}" for _, title in SEGMENTS) + "  DISCOVERs sent")
    for c in clients:
        mine = [r for r in rows if r["client"] == c and "server" in r]
        cells = "".join(f" {statistics.median(r[k] for r in mine):15.3f}" if mine else f" {'-':>15}" for k, _ in SEGMENTS)
        sent = sorted({r["discovers"] for r in rows if r["client"] == c})
        print(f"{c:10}{cells}  {','.join(map(str, sent))}")

    servers = [r["server"] for r in rows if "server" in r]
    if servers and base:
        rtt = statistics.median(servers)
        print()
        print(f"server round trip (dnsmasq's DISCOVER>OFFER + REQUEST>ACK, median of {len(servers)} exchanges): {rtt:.3f} ms")
        print(f"qinit's median minus the server round trip: {base - rtt:.2f} ms (goal: at most 2 ms)")
        fastest = min(clients, key=med.get)
        print(f"fastest median: {fastest}")

    if out_csv:
        cols = ["client", "run", "exit", "ms", "discovers"] + [k for k, _ in SEGMENTS] + ["server"]
        with open(out_csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
        print(f"wrote {out_csv}")


def main(argv):
    if len(argv) >= 7 and argv[1] == "run" and argv[6] == "--":
        return run(argv[2], argv[3], argv[4], argv[5], argv[7:])
    if len(argv) in (4, 5) and argv[1] == "report":
        report(*argv[2:])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
