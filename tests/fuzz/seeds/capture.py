#!/usr/bin/env python3
"""Real DHCP replies for the fuzz corpora (README "Fuzzing"), as UDP payloads, one file each.

  capture.py dnsmasq OUTDIR   dnsmasq in a network namespace made here (veth pair,
                              traffic only between the two namespaces; both deleted at
                              the end), asked by a scripted client for an OFFER, ACKs
                              (select, renew, rapid commit, INFORM), a NAK and an
                              overloaded reply; needs root, ip and dnsmasq.
  capture.py uevents OUTDIR   the kernel's uevents for a veth pair created and deleted in
                              a network namespace made here (add and remove messages).
  capture.py pcap FILE OUTDIR the replies (UDP from port 67) in a pcap file, such as
                              qemu's `-object filter-dump` writes for its user network.
"""
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

SERVER_NS, CLIENT_NS = "qfz-srv", "qfz-cli"
SERVER_IF, CLIENT_IF = "qfzs0", "qfzc0"
PRL = bytes([1, 3, 6, 12, 15, 26, 28, 42, 51, 54, 58, 59, 119, 121])


def ip(*args):
    subprocess.run(["ip", *args], check=True)


def request(kind, mac, xid, *, broadcast=True, ciaddr="0.0.0.0", options=b"", prl=PRL):
    b = struct.pack("!BBBBIHH", 1, 1, 6, 0, xid, 1, 0x8000 if broadcast else 0)
    b += socket.inet_aton(ciaddr) + bytes(12) + mac + bytes(10) + bytes(192)
    b += bytes([99, 130, 83, 99, 53, 1, kind, 61, 7, 1]) + mac
    if prl:
        b += bytes([55, len(prl)]) + prl
    return (b + options + b"\xff").ljust(300, b"\0")


def udp_replies(frame):
    """The DHCP payload of an Ethernet frame carrying UDP from port 67, or None."""
    if len(frame) < 42 or frame[12:14] != b"\x08\x00" or frame[23] != 17:
        return None
    ihl = (frame[14] & 15) * 4
    udp = frame[14 + ihl:]
    sport, _, length = struct.unpack("!HHH", udp[:6])
    return udp[8:length] if sport == 67 else None


def dnsmasq(outdir):
    for ns in (SERVER_NS, CLIENT_NS):
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
        ip("netns", "add", ns)
    tmp = tempfile.mkdtemp()
    server = None
    try:
        ip("link", "add", SERVER_IF, "netns", SERVER_NS, "type", "veth",
           "peer", "name", CLIENT_IF, "netns", CLIENT_NS)
        ip("-n", SERVER_NS, "addr", "add", "10.77.0.1/24", "dev", SERVER_IF)
        for ns, dev in ((SERVER_NS, SERVER_IF), (CLIENT_NS, CLIENT_IF), (CLIENT_NS, "lo")):
            ip("-n", ns, "link", "set", dev, "up")
        long_search = ",".join(f"zone{i}.{chr(97 + i) * 40}.example{i}.test" for i in range(4))
        server = subprocess.Popen([
            "ip", "netns", "exec", SERVER_NS, "dnsmasq", "--no-daemon",
            "--conf-file=/dev/null", "--port=0", f"--interface={SERVER_IF}",
            "--bind-interfaces", "--dhcp-authoritative", "--dhcp-rapid-commit",
            "--no-ping", "--dhcp-range=10.77.0.50,10.77.0.99,255.255.255.0,1h",
            "--dhcp-option=option:router,10.77.0.1",
            "--dhcp-option=option:dns-server,10.77.0.1,10.77.0.2",
            "--dhcp-option=option:ntp-server,10.77.0.1",
            "--dhcp-option=option:mtu,1400",
            "--dhcp-option=option:classless-static-route,10.10.0.0/16,10.77.0.1,0.0.0.0/0,10.77.0.1",
            "--domain=corp.test", "--dhcp-host=02:00:00:00:00:01,10.77.0.60,vm1",
            f"--dhcp-option=tag:big,option:domain-search,{long_search}",
            "--dhcp-mac=set:big,02:00:00:00:00:03",
            f"--dhcp-leasefile={tmp}/leases", "--log-facility=-", "--quiet-dhcp"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        # The client side runs in the client namespace: re-exec this script there.
        subprocess.run(["ip", "netns", "exec", CLIENT_NS, sys.executable,
                        os.path.abspath(__file__), "client", outdir], check=True)
    finally:
        if server:
            server.terminate()
            server.wait()
        for ns in (SERVER_NS, CLIENT_NS):
            subprocess.run(["ip", "netns", "del", ns])


def client(outdir):
    """Inside the client namespace: ask, and keep every reply seen on the link."""
    sniff = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    sniff.bind((CLIENT_IF, 0))
    sniff.settimeout(0.3)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, CLIENT_IF.encode())
    udp.bind(("0.0.0.0", 68))
    saved = []

    def exchange(name, msg, to="255.255.255.255"):
        udp.sendto(msg, (to, 67))
        got = None
        deadline = time.time() + 3
        while time.time() < deadline:
            try:
                frame = sniff.recv(2048)
            except socket.timeout:
                continue
            payload = udp_replies(frame)
            if payload and payload[4:8] == msg[4:8]:
                got = payload
                break
        if got is None:
            print(f"capture: no reply to {name}", file=sys.stderr)
            return None
        path = os.path.join(outdir, f"dnsmasq-{name}")
        with open(path, "wb") as f:
            f.write(got)
        saved.append(path)
        return got

    mac = bytes([2, 0, 0, 0, 0, 1])
    host = bytes([12, 6]) + b"fuzzvm"
    offer = exchange("offer", request(1, mac, 0x1001, options=host))
    yiaddr = socket.inet_ntoa(offer[16:20])
    sel = bytes([50, 4]) + offer[16:20] + bytes([54, 4]) + socket.inet_aton("10.77.0.1")
    exchange("ack", request(3, mac, 0x1002, options=sel + host))
    # RENEWING: unicast from the bound address, ciaddr set, answered unicast.
    ip("addr", "add", f"{yiaddr}/24", "dev", CLIENT_IF)
    time.sleep(0.5)
    exchange("ack-renew", request(3, mac, 0x1003, broadcast=False, ciaddr=yiaddr), to="10.77.0.1")
    exchange("ack-inform", request(8, mac, 0x1004, broadcast=False, ciaddr=yiaddr), to="10.77.0.1")
    ip("addr", "del", f"{yiaddr}/24", "dev", CLIENT_IF)
    # INIT-REBOOT asking for an address of another subnet: an authoritative server NAKs.
    exchange("nak", request(3, mac, 0x1005, options=bytes([50, 4, 192, 168, 7, 7])))
    # Rapid commit (RFC 4039): an ACK straight away, with option 80.
    mac2 = bytes([2, 0, 0, 0, 0, 2])
    exchange("ack-rapid-commit", request(1, mac2, 0x1006, options=bytes([80, 0])))
    # A long search list and a 576-byte limit: dnsmasq overloads file/sname (option 52).
    mac3 = bytes([2, 0, 0, 0, 0, 3])
    exchange("offer-overload", request(1, mac3, 0x1007, options=bytes([57, 2, 2, 64])))
    # No parameter request list: only what dnsmasq always sends.
    exchange("offer-no-prl", request(1, bytes([2, 0, 0, 0, 0, 4]), 0x1008, prl=b""))
    print("\n".join(saved))


def uevents(outdir):
    ns = "qfz-uev"
    subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
    ip("netns", "add", ns)
    try:
        subprocess.run(["ip", "netns", "exec", ns, sys.executable,
                        os.path.abspath(__file__), "uevents-inside", outdir], check=True)
    finally:
        subprocess.run(["ip", "netns", "del", ns])


def uevents_inside(outdir):
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 15)  # NETLINK_KOBJECT_UEVENT
    s.bind((0, 1))
    s.settimeout(1)
    ip("link", "add", "qfzu0", "type", "veth", "peer", "name", "qfzu1")
    ip("link", "del", "qfzu0")
    seen = {}
    while True:
        try:
            m = s.recv(8192)
        except socket.timeout:
            break
        action, _, path = m.split(b"\0")[0].decode().partition("@")
        name = f"kernel-{action}-{'queue' if '/queues/' in path else 'net'}"
        if name not in seen:
            seen[name] = m
            with open(os.path.join(outdir, name), "wb") as f:
                f.write(m)
            print(os.path.join(outdir, name))


def pcap(path, outdir):
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    off, n = 24, 0
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        payload = udp_replies(frame)
        if payload:
            kind = dict(((2, "offer"), (5, "ack"), (6, "nak"))).get(message_type(payload), "reply")
            name = os.path.join(outdir, f"slirp-{kind}-{n}")
            with open(name, "wb") as f:
                f.write(payload)
            print(name)
            n += 1


def message_type(p):
    i = 240
    while i + 1 < len(p) and p[i] != 255:
        if p[i] == 0:
            i += 1
            continue
        if p[i] == 53:
            return p[i + 2]
        i += 2 + p[i + 1]
    return None


if __name__ == "__main__":
    {"dnsmasq": lambda a: dnsmasq(*a), "client": lambda a: client(*a),
     "pcap": lambda a: pcap(*a), "uevents": lambda a: uevents(*a),
     "uevents-inside": lambda a: uevents_inside(*a)}[sys.argv[1]](sys.argv[2:])
