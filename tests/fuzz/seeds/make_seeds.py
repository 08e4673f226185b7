#!/usr/bin/env python3
"""Writes the seed corpora that are not captures (README "Fuzzing"): operation sequences
for dhcp_client built around the captured replies in corpus/dhcp_reply (see the input
format at the top of fuzz_targets/dhcp_client.rs), and typical inputs for the parsers.

  make_seeds.py [MODULES_ALIAS]   (run from anywhere; writes under tests/fuzz/corpus)
"""
import os
import struct
import sys

FUZZ = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(FUZZ, "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# dhcp_client operations
UP, DOWN = b"\x00", b"\x01"
TICK = b"\x04"
RELEASE = b"\x07"


def advance(ms):
    return b"\x02" + struct.pack(">I", ms)


def wakeup(late_ms=0):
    return b"\x03" + struct.pack(">H", late_ms)


def reply(p):
    return b"\x05" + struct.pack(">H", len(p)) + p


def made(kind, yiaddr, server, lease=None, t1=None, t2=None, mask=None, rapid=False, router=False):
    flags = (lease is not None) | (t1 is not None) << 1 | (t2 is not None) << 2
    flags |= (mask is not None) << 3 | rapid << 4 | router << 5
    return b"\x08" + bytes([kind]) + bytes(yiaddr) + bytes(server) + b"".join(
        struct.pack(">I", v or 0) for v in (lease, t1, t2)) + bytes(mask or [0] * 4) + bytes([flags])


def client_seeds():
    r = {}
    for name in os.listdir(os.path.join(CORPUS, "dhcp_reply")):
        with open(os.path.join(CORPUS, "dhcp_reply", name), "rb") as f:
            r[name] = f.read()
    slirp_offer = next(v for k, v in r.items() if k.startswith("slirp-offer"))
    slirp_ack = next(v for k, v in r.items() if k.startswith("slirp-ack"))
    seeds = {
        # Bind, then T1 (renew), the ACK; T1 again, T2 (rebind), expiry, DISCOVER again.
        "dnsmasq-lease-lifetime": b"\x00" + UP + reply(r["dnsmasq-offer"]) + reply(r["dnsmasq-ack"])
        + wakeup() + reply(r["dnsmasq-ack-renew"]) + wakeup() + wakeup() + wakeup(5) + wakeup()
        + wakeup() + wakeup() + TICK,
        # A NAK in REQUESTING, the back-off, a new DISCOVER and a lease; carrier lost and
        # back: INIT-REBOOT, acknowledged; then released.
        "dnsmasq-nak-reboot-release": b"\x02" + UP + reply(r["dnsmasq-offer"]) + reply(r["dnsmasq-nak"])
        + wakeup() + reply(r["dnsmasq-offer"]) + reply(r["dnsmasq-ack"]) + DOWN + advance(30000)
        + UP + reply(r["dnsmasq-ack"]) + advance(1000) + RELEASE + TICK,
        # Rapid commit asked for: the ACK binds from SELECTING.
        "dnsmasq-rapid-commit": b"\x01" + UP + reply(r["dnsmasq-ack-rapid-commit"]) + wakeup()
        + reply(r["dnsmasq-ack-inform"]) + wakeup() + wakeup(),
        # Overloaded options; retransmissions with no answer; an INIT-REBOOT left unanswered.
        "dnsmasq-overload-retransmit": b"\x00" + UP + wakeup() + wakeup() + wakeup()
        + reply(r["dnsmasq-offer-overload"]) + wakeup() + wakeup() + reply(r["dnsmasq-ack"])
        + DOWN + UP + wakeup() + wakeup() + wakeup() + wakeup() + wakeup(),
        # qemu's user network: its OFFER and ACK, then carrier flaps as `set_link` makes them.
        "slirp-boot": b"\x00" + UP + reply(slirp_offer) + reply(slirp_ack) + DOWN + advance(2000)
        + UP + reply(slirp_ack) + wakeup() + reply(slirp_ack) + wakeup(),
        # Replies made here: short leases with T1/T2 given, a change of address on renewal.
        "made-short-leases": b"\x00" + UP
        + made(2, [10, 0, 0, 5], [10, 0, 0, 1], lease=10, mask=[255, 255, 255, 0], router=True)
        + made(5, [10, 0, 0, 5], [10, 0, 0, 1], lease=10, t1=3, t2=6, mask=[255, 255, 255, 0])
        + wakeup() + made(5, [10, 0, 0, 6], [10, 0, 0, 1], lease=4)
        + wakeup() + wakeup() + wakeup() + wakeup(),
        "made-rapid-nak": b"\x03" + UP + made(5, [10, 0, 0, 5], [10, 0, 0, 1], lease=60, rapid=True)
        + wakeup() + made(6, [0, 0, 0, 0], [10, 0, 0, 1]) + wakeup() + wakeup(),
    }
    for name, data in seeds.items():
        write("dhcp_client", name, data)


def text_seeds(modules_alias):
    ips = {
        "dhcp": "dhcp",
        "static-long": "10.0.2.50::10.0.2.2:255.255.255.0:appliance:eth0:off:10.0.2.3",
        "static-prefix": "192.168.1.9:192.168.1.1:192.168.1.1:24:box.lan:enp0s3:none:1.1.1.1:8.8.8.8:192.168.1.1",
        "dracut-device": "eth1:dhcp",
        "cmdline-several": "console=ttyS0 ip=eth0:dhcp ip=10.1.1.2:::16::eth1:off \"ip=::::h::on\" ip=off",
        "ipv6": "[fd00::5]:::64::eth0:none",
    }
    for name, v in ips.items():
        write("ip_param", name, v)
    cmdlines = {
        "readme": "console=ttyS0 qinit.dhcp_timeout=2.5 qinit.phy_wait=0 qinit.dhcp_rapid_commit "
        "qinit.hostname=box qinit.dns=10.0.2.3,1.1.1.1 qinit.search=corp.test qinit.shell=/bin/ash "
        "qinit.console=ttyS1 qinit.modules=virtio_net,e1000e qinit.net=on qinit.debug "
        "\"qinit.exec=/usr/bin/app --port 80 'a b'\" qinit.on_exit=poweroff qinit.shutdown_timeout=2",
        "kernel": "BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro quiet console=tty0 console=ttyS0,115200n8 "
        "ip=10.0.2.50::10.0.2.2:255.255.255.0:appliance:eth0:off:10.0.2.3 panic=-1",
        "bad-values": "qinit.dhcp_timeout=1e300 qinit.phy_wait=-1 qinit.hostname=a_b qinit.shell=sh "
        "qinit.net=maybe qinit.exec=\"'unbalanced\" qinit.on_exit=later qinit.dns=1.2.3 qinit.search=-x",
    }
    for name, v in cmdlines.items():
        write("cmdline", name, v)
    confs = {
        "doc": 'hostname = "box"\ndhcp_timeout = 2.5\nmodules = ["virtio_net"]\n'
        'exec = "/usr/bin/app --flag"\nip = ["dhcp"]\n',
        "all-keys": 'hostname = "vm1"\ndhcp_timeout = 3\nphy_wait = 0x2\ndhcp_rapid_commit = true\n'
        'shutdown_timeout = 1.5\nshell = "/bin/ash"\nconsole = "ttyS1"\nmodules = ["e1000", "virtio_rng"]\n'
        'net = "on"\ndebug = false\nexec = "/bin/app \'with space\'"\non_exit = "reboot"\n'
        'ip = ["eth0:dhcp", "10.0.0.2:::24::eth1:off"]\ndns = ["10.0.2.3", "1.1.1.1"]\nsearch = "corp.test"\n',
        "errors": 'hostname = 5\nunknown = "x"\nexec = "/bin/say \\"hi\\""\nnet = [true]\n[table]\nk = 1\n',
    }
    for name, v in confs.items():
        write("qinit_conf", name, v)
    fstabs = {
        "typical": "# <file system> <mount point> <type> <options> <dump> <pass>\n"
        "/dev/vda1 / ext4 rw,relatime,errors=remount-ro 0 1\n"
        "LABEL=data /mnt/data ext4 defaults,nofail,x-systemd.device-timeout=5 0 2\n"
        "UUID=1234-ABCD /boot/efi vfat umask=0077,noauto 0 2\n"
        "tmpfs /tmp tmpfs nosuid,nodev,size=64m,mode=1777 0 0\n"
        "host0 /mnt/host 9p trans=virtio,version=9p2000.L,ro 0 0\n"
        "10.0.2.2:/srv /mnt/nfs nfs _netdev,vers=4,soft,ro,rw 0 0\n"
        "//10.0.2.2/share /mnt/smb cifs guest,uid=0,_netdev 0 0\n"
        "/srv/dir\\040with\\040space /mnt/bind none bind,ro\n",
        "bad": "/dev/vdb\n/dev/vdc /x ext4 defaults zero one\nPARTUUID=abc /y ext4 defaults 0 0\n\t\n",
    }
    for name, v in fstabs.items():
        write("fstab", name, v)
    write("uevent", "made-pci-add",
          b"add@/devices/pci0000:00/0000:00:04.0\0ACTION=add\0DEVPATH=/devices/pci0000:00/0000:00:04.0\0"
          b"SUBSYSTEM=pci\0PCI_CLASS=20000\0PCI_ID=8086:100E\0PCI_SUBSYS_ID=1AF4:1100\0"
          b"PCI_SLOT_NAME=0000:00:04.0\0MODALIAS=pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00\0"
          b"SEQNUM=1234\0")
    write("uevent", "made-libudev", b"libudev\0\xfe\xed\xca\xfe" + bytes(32) + b"ACTION=add\0MODALIAS=pci:v1\0")
    if modules_alias:
        wanted = ("e1000", "e1000e", "virtio_net", "virtio_pci", "virtio_blk", "virtio_rng", "8139cp",
                  "8139too", "vmxnet3", "nvme", "ahci", "uas", "usb_storage", "serio_raw", "i8042")
        lines = [l for l in open(modules_alias).read().splitlines() if l.startswith("#")
                 or l.split()[-1] in wanted]
        brackets = [l for l in lines if "[" in l][:10]
        plain = [l for l in lines if "[" not in l]
        devices = ["pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00",
                   "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00",
                   "pci:v00001AF4d00001041sv00001AF4sd00001041bc02sc00i00",
                   "virtio:d00000001v00001AF4", "virtio:d00000004v00001AF4", "acpi:PNP0501:",
                   "usb:v13FDp3940d0150dc00dsc00dp00ic08isc06ip50in00",
                   "usb:v152Dp0567d0116dc00dsc00dp00ic08isc06ip62in00", "platform:rtc_cmos"]
        write("modalias", "kernel-net-storage", "\n".join(plain[:25] + brackets) + "\0" + "\n".join(devices))
        write("modalias", "kernel-brackets", "\n".join(brackets) + "\0" + "\n".join(devices[6:8]))
    write("modalias", "globs", "alias pci:v00008086d0000100E* e1000\nalias virtio:d00000001v* virtio-net\n"
          "alias usb:v1645p0007d01[0-2]*dc*ic*in* usb-storage\nalias a[!b-d]?[[:digit:]]\\* m\n"
          "alias x[]]y m2\nalias bad]x m3\n\0pci:v00008086d0000100Esv1\nvirtio:d00000001v00001AF4\n"
          "usb:v1645p0007d0110dc00ic08in00\naa1*\nx]y\nbad]x\n[a-\t[a-")


if __name__ == "__main__":
    client_seeds()
    text_seeds(sys.argv[1] if len(sys.argv) > 1 else None)
