#!/usr/bin/env python3
"""The flooder of bench/flood.sh (standard library only), run in the server namespace.

  flood_send.py IFACE SERVER_IP CLIENT_PID[,PID...] RATE COUNT KIND... [--follow]

Waits for the client's DISCOVER on IFACE (port 67) to learn its xid and MAC, then for
each KIND broadcasts COUNT replies to port 68 at RATE a second, every one of which a
correct client drops, and prints one line per KIND:

  KIND SENT SECONDS CPU_US [CPU_US...]

CPU_US: the client's utime + stime (/proc/CLIENT_PID/stat) spent from just before the
first reply until it has read the last (measured once its CPU time stops growing); one
figure for each PID given, in their order (bench/flood.sh FLOOR=1 adds floor_reader's).
CLIENT_PID 0: a client that is not a process here (a qemu guest's); its CPU reads 0.

--follow: keep reading DISCOVERs while flooding and aim at the latest xid, for a client
that starts new exchanges during a long flood (tests/pid1_flood.rs).

Kinds (each cycles through its variants, every reply different from the last):
  foreign  replies to other clients: another xid and another MAC
  stale    our MAC, another xid (an old exchange, or a guessing attacker)
  ours     our xid and MAC, but unusable: no server id, yiaddr broadcast or 0, an ACK
           while selecting, DHCPINFORM, a bad hlen, op BOOTREQUEST, no magic cookie,
           cut short
"""

import os
import socket
import struct
import sys
import time

CLIENT_PORT = 68
SERVER_PORT = 67
MAGIC = b"\x63\x82\x53\x63"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_us(pid):
    if pid == 0:
        return 0
    with open(f"/proc/{pid}/stat") as f:
        # Fields after the command name, which is in parentheses and may hold spaces.
        rest = f.read().rsplit(")", 1)[1].split()
    utime, stime = int(rest[11]), int(rest[12])
    return (utime + stime) * 1_000_000 // TICK


def reply(xid, mac, server, yiaddr=(10, 78, 0, 50), kind=2, opts=None, op=2, hlen=6):
    b = bytearray(struct.pack("!BBBBI", op, 1, hlen, 0, xid))
    b += bytes(8)  # secs, flags, ciaddr
    b += bytes(yiaddr) + bytes(8)  # yiaddr, siaddr, giaddr
    b += mac + bytes(10) + bytes(64 + 128)
    b += MAGIC
    if opts is None:
        opts = [(53, bytes([kind])), (54, server)]
    for code, value in opts:
        b += bytes([code, len(value)]) + value
    b += bytes([1, 4, 255, 255, 255, 0, 3, 4]) + server
    b += bytes([6, 4]) + server + bytes([51, 4, 0, 0, 14, 16, 255])
    b += bytes(max(0, 300 - len(b)))
    return bytes(b)


def variants(kind, xid, mac, server):
    """A list of replies to cycle through, each one a correct client must drop."""
    out = []
    if kind == "foreign":
        for i in range(256):
            other = bytes([0x02, 0x42, 0, 0, i, (i * 7) & 0xFF])
            out.append(reply((xid ^ (0x9E3779B9 * (i + 1))) & 0xFFFFFFFF, other, server))
    elif kind == "stale":
        for i in range(256):
            out.append(reply((xid + 1 + i * 0x10001) & 0xFFFFFFFF, mac, server))
    elif kind == "ours":
        out.append(reply(xid, mac, server, opts=[(53, b"\x02")]))
        out.append(reply(xid, mac, server, yiaddr=(255, 255, 255, 255)))
        out.append(reply(xid, mac, server, yiaddr=(0, 0, 0, 0)))
        out.append(reply(xid, mac, server, kind=5))
        out.append(reply(xid, mac, server, kind=8))
        out.append(reply(xid, mac, server, hlen=16))
        out.append(reply(xid, mac, server, op=1))
        good = reply(xid, mac, server)
        out.append(good[:236] + b"\0\0\0\0" + good[240:])
        out.append(good[:200])
    else:
        raise SystemExit(f"flood_send: unknown kind {kind}")
    return out


def wait_discover(sock):
    sock.settimeout(90)
    while True:
        got = discover(sock.recvfrom(2048)[0])
        if got:
            return got


def settle(pid):
    """The client's CPU time once it stops growing: it has read what was queued."""
    last = cpu_us(pid)
    while True:
        time.sleep(0.3)
        now = cpu_us(pid)
        if now == last:
            return now
        last = now


def discover(data):
    """(xid, MAC) of a DHCPDISCOVER, else None."""
    if len(data) >= 240 and data[0] == 1 and data[236:240] == MAGIC and b"\x35\x01\x01" in data[240:]:
        return struct.unpack_from("!I", data, 4)[0], data[28:34]
    return None


def newer_xid(sock, xid):
    """The xid of the latest DISCOVER queued on `sock`, or `xid` if none came."""
    sock.setblocking(False)
    try:
        while True:
            got = discover(sock.recvfrom(2048)[0])
            if got:
                xid = got[0]
    except BlockingIOError:
        pass
    sock.setblocking(True)
    return xid


def flood(sock, pids, rate, count, make, xid, follow):
    dest = ("255.255.255.255", CLIENT_PORT)
    packets = make(xid)
    before = [settle(pid) for pid in pids]
    t0 = time.monotonic()
    sent = 0
    batch = max(1, rate // 1000)
    n = len(packets)
    while sent < count:
        due = t0 + sent / rate
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        if follow and sent % (batch * 50) == 0:
            latest = newer_xid(sock, xid)
            if latest != xid:
                xid, packets = latest, make(latest)
                n = len(packets)
                print(f"flood_send: now aiming at xid {xid:#010x}", file=sys.stderr)
        for _ in range(min(batch, count - sent)):
            try:
                sock.sendto(packets[sent % n], dest)
            except OSError:  # ENOBUFS: the queue is full; that one is not counted
                continue
            sent += 1
    seconds = time.monotonic() - t0
    for pid in pids:
        os.kill(pid, 0)  # still alive
    return sent, seconds, [settle(pid) - b for pid, b in zip(pids, before)]


def main():
    if len(sys.argv) < 7:
        raise SystemExit(__doc__)
    iface, server_ip, pid, rate, count = sys.argv[1:6]
    pids = [int(p) for p in pid.split(",")]
    rate, count = int(rate), int(count)
    server = socket.inet_aton(server_ip)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
    sock.bind(("0.0.0.0", SERVER_PORT))
    xid, mac = wait_discover(sock)
    print(f"flood_send: client xid {xid:#010x} MAC {mac.hex(':')}", file=sys.stderr)
    sock.setblocking(True)
    sock.settimeout(None)
    follow = "--follow" in sys.argv[6:]
    for kind in [k for k in sys.argv[6:] if k != "--follow"]:
        make = lambda x: variants(kind, x, mac, server)  # noqa: E731
        sent, seconds, cpu = flood(sock, pids, rate, count, make, xid, follow)
        print(f"{kind} {sent} {seconds:.3f} {' '.join(map(str, cpu))}", flush=True)


if __name__ == "__main__":
    main()
